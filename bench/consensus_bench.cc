// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Commit throughput of the consensus state machines in one process: one
// proposer and three acceptors exchanging encoded messages, per WAL chunk
// proposed until it is committed. Peers in the same run:
//   BM_AppendToString      baseline: append the chunk to a buffer
//   BM_ConsensusPure       Proposer + 3 Acceptor state machines, ops dropped
//   BM_ConsensusMemFs      Proposer + 3 AcceptorNodes on an in-memory FS
// The ratio of the last two to the first is the cost of the protocol
// machinery (codec, state machines, storage code) without real fsync.
//
// With real files and fsync (a fresh directory under /tmp per benchmark):
//   BM_FsyncSingleAcceptor/<chunk>/<batch>
//       baseline: the same WAL stream to ONE acceptor (a one-member
//       cluster): write + fdatasync per round, one round trip
//   BM_ConsensusFsync3/<chunk>/<batch>
//       Proposer + 3 AcceptorNodes, each acceptor's receive + fsync on its
//       own thread (as on three machines), commit = quorum of two
// Each iteration proposes <batch> chunks of <chunk> bytes and delivers
// until they are committed; the acceptors fsync once per inbound batch
// (Acceptor::Flush). Counters: p50_us / p99_us wall-clock per commit
// round, MB/s of committed WAL.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "consensus/acceptor_node.h"
#include "consensus/proposer.h"

namespace neon::consensus {
namespace {

constexpr int kAcceptors = 3;
const Lsn kStart(0x1000000);

MembershipConfig Members() {
  MembershipConfig m;
  for (int i = 0; i < kAcceptors; i++) m.members.push_back({NodeId(i + 1), "sk", 5454});
  return m;
}

ProposerOptions Opts() {
  ProposerOptions o;
  o.mconf = Members();
  o.server = {170004, 0, uint32_t(kDefaultWalSegmentSize)};
  o.max_inflight_bytes = 16 << 20;
  return o;
}

// Acceptors as pure state machines or as storage-backed nodes; messages
// pass through the codec both ways.
class Cluster {
 public:
  explicit Cluster(bool with_storage) {
    if (with_storage) fs_ = NewMemFileSystem();
    for (int i = 0; i < kAcceptors; i++) {
      PersistentState st = PersistentState::NewTimeline(
          TenantId(), TimelineId(), Members(), {170004, 0, uint32_t(kDefaultWalSegmentSize)}, kStart);
      if (with_storage) {
        std::string dir = "/sk" + std::to_string(i);
        (void)AcceptorNode::CreateTimeline(*fs_, dir, st);
        nodes_.push_back(std::move(*AcceptorNode::Open(fs_.get(), {NodeId(i + 1), dir, {}})));
      } else {
        pure_.push_back(std::make_unique<Acceptor>(AcceptorOptions{NodeId(i + 1), {}}, st, kStart));
      }
    }
    ProposerReady r;
    for (int i = 0; i < kAcceptors; i++) proposer_.OnConnected(NodeId(i + 1), &r);
    Pump(r);
  }

  Proposer& proposer() { return proposer_; }

  // Delivers everything until quiet.
  void Pump(ProposerReady& first) {
    std::deque<std::pair<int, std::string>> to_acceptor, to_proposer;
    auto route = [&](ProposerReady& r) {
      for (Outgoing& o : r.messages) {
        to_acceptor.emplace_back(int(o.to.value()) - 1, EncodeProposerMessage(o.msg));
      }
      r.messages.clear();
    };
    route(first);
    while (!to_acceptor.empty() || !to_proposer.empty()) {
      while (!to_acceptor.empty()) {
        auto [i, bytes] = std::move(to_acceptor.front());
        to_acceptor.pop_front();
        for (std::string& reply : Receive(i, bytes)) to_proposer.emplace_back(i, std::move(reply));
      }
      while (!to_proposer.empty()) {
        auto [i, bytes] = std::move(to_proposer.front());
        to_proposer.pop_front();
        ProposerReady r;
        (void)proposer_.Step(NodeId(i + 1), *DecodeAcceptorMessage(bytes), &r);
        route(r);
      }
    }
  }

 private:
  std::vector<std::string> Receive(int i, const std::string& bytes) {
    std::vector<std::string> out;
    if (!nodes_.empty()) {
      (void)nodes_[i]->Receive(ConnId(1), bytes);
      (void)nodes_[i]->Flush();
      for (auto& [conn, b] : nodes_[i]->TakeOutbox()) out.push_back(std::move(b));
      return out;
    }
    AcceptorReady r;
    (void)pure_[i]->Step(ConnId(1), *DecodeProposerMessage(bytes), &r);
    pure_[i]->Flush(&r);
    for (AcceptorOp& op : r.ops) {
      if (auto* s = std::get_if<SendOp>(&op)) out.push_back(EncodeAcceptorMessage(s->msg));
    }
    return out;
  }

  std::shared_ptr<FileSystem> fs_;
  std::vector<std::unique_ptr<AcceptorNode>> nodes_;
  std::vector<std::unique_ptr<Acceptor>> pure_;
  Proposer proposer_{Opts()};
};

void BM_AppendToString(benchmark::State& state) {
  std::string chunk(size_t(state.range(0)), 'w');
  std::string buf;
  for (auto _ : state) {
    if (buf.size() > (64 << 20)) buf.clear();
    buf.append(chunk);
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
}

void RunConsensus(benchmark::State& state, bool with_storage) {
  std::string chunk(size_t(state.range(0)), 'w');
  auto cluster = std::make_unique<Cluster>(with_storage);
  if (cluster->proposer().phase() != ProposerPhase::kElected) {
    state.SkipWithError("no leader");
    return;
  }
  for (auto _ : state) {
    ProposerReady r;
    absl::Status s = cluster->proposer().Propose(chunk, &r);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
    cluster->Pump(r);
    if (cluster->proposer().commit_lsn() != cluster->proposer().available_lsn()) {
      state.SkipWithError("not committed");
      return;
    }
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
  state.counters["commits/s"] = benchmark::Counter(double(state.iterations()),
                                                   benchmark::Counter::kIsRate);
}

void BM_ConsensusPure(benchmark::State& state) { RunConsensus(state, false); }
void BM_ConsensusMemFs(benchmark::State& state) { RunConsensus(state, true); }

// ---- Real files and fsync -----------------------------------------------------

// Proposer + n AcceptorNodes on the POSIX file system in a fresh temp dir.
// Per round, every acceptor with inbound messages receives them all,
// flushes (fsync) once and replies; with `parallel` the acceptors do so
// on their own threads, as separate machines would.
class FsyncCluster {
 public:
  FsyncCluster(int n, bool parallel) : n_(n), parallel_(parallel) {
    char tmpl[] = "/tmp/neon_consensus_bench.XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    if (d == nullptr) {
      error_ = "mkdtemp failed";
      return;
    }
    root_ = d;
    fs_ = NewPosixFileSystem();
    MembershipConfig m;
    for (int i = 0; i < n; i++) m.members.push_back({NodeId(i + 1), "sk", 5454});
    ProposerOptions o = Opts();
    o.mconf = m;
    proposer_ = std::make_unique<Proposer>(o);
    for (int i = 0; i < n; i++) {
      PersistentState st = PersistentState::NewTimeline(
          TenantId(), TimelineId(), m, {170004, 0, uint32_t(kDefaultWalSegmentSize)}, kStart);
      std::string dir = root_ + "/sk" + std::to_string(i);
      if (absl::Status s = AcceptorNode::CreateTimeline(*fs_, dir, st); !s.ok()) {
        error_ = s.ToString();
        return;
      }
      auto node = AcceptorNode::Open(fs_.get(), {NodeId(i + 1), dir, {}});
      if (!node.ok()) {
        error_ = node.status().ToString();
        return;
      }
      nodes_.push_back(std::move(*node));
    }
    inbox_.resize(size_t(n));
    ProposerReady r;
    for (int i = 0; i < n; i++) proposer_->OnConnected(NodeId(i + 1), &r);
    Pump(r);
  }
  ~FsyncCluster() {
    nodes_.clear();
    std::error_code ec;
    if (!root_.empty()) std::filesystem::remove_all(root_, ec);
  }

  const std::string& error() const { return error_; }
  Proposer& proposer() { return *proposer_; }

  void Pump(ProposerReady& first) {
    Route(first);
    while (true) {
      std::vector<std::vector<std::string>> replies(static_cast<size_t>(n_));
      std::vector<int> busy;
      for (int i = 0; i < n_; i++) {
        if (!inbox_[size_t(i)].empty()) busy.push_back(i);
      }
      if (busy.empty()) return;
      auto serve = [&](int i) {
        AcceptorNode& node = *nodes_[size_t(i)];
        for (const std::string& bytes : inbox_[size_t(i)]) (void)node.Receive(ConnId(1), bytes);
        inbox_[size_t(i)].clear();
        (void)node.Flush();  // one fsync for the inbound batch
        for (auto& [conn, b] : node.TakeOutbox()) replies[size_t(i)].push_back(std::move(b));
      };
      if (parallel_ && busy.size() > 1) {
        std::vector<std::thread> threads;
        for (size_t k = 1; k < busy.size(); k++) threads.emplace_back(serve, busy[k]);
        serve(busy[0]);
        for (std::thread& t : threads) t.join();
      } else {
        for (int i : busy) serve(i);
      }
      for (int i = 0; i < n_; i++) {
        for (const std::string& bytes : replies[size_t(i)]) {
          ProposerReady r;
          (void)proposer_->Step(NodeId(uint64_t(i) + 1), *DecodeAcceptorMessage(bytes), &r);
          Route(r);
        }
      }
    }
  }

 private:
  void Route(ProposerReady& r) {
    for (Outgoing& o : r.messages) {
      inbox_[size_t(o.to.value() - 1)].push_back(EncodeProposerMessage(o.msg));
    }
    r.messages.clear();
  }

  int n_;
  bool parallel_;
  std::string root_;
  std::string error_;
  std::shared_ptr<FileSystem> fs_;
  std::vector<std::unique_ptr<AcceptorNode>> nodes_;
  std::vector<std::vector<std::string>> inbox_;
  std::unique_ptr<Proposer> proposer_;
};

void RunFsync(benchmark::State& state, int acceptors) {
  std::string chunk(size_t(state.range(0)), 'w');
  const int64_t batch = state.range(1);
  FsyncCluster cluster(acceptors, /*parallel=*/true);
  if (!cluster.error().empty()) {
    state.SkipWithError(cluster.error().c_str());
    return;
  }
  if (cluster.proposer().phase() != ProposerPhase::kElected) {
    state.SkipWithError("no leader");
    return;
  }
  std::vector<double> us;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    ProposerReady r;
    for (int64_t b = 0; b < batch; b++) {
      absl::Status s = cluster.proposer().Propose(chunk, &r);
      if (!s.ok()) {
        state.SkipWithError(std::string(s.message()).c_str());
        return;
      }
    }
    cluster.Pump(r);
    if (cluster.proposer().commit_lsn() != cluster.proposer().available_lsn()) {
      state.SkipWithError("not committed");
      return;
    }
    us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  auto pct = [&](double q) {
    return us.empty() ? 0.0 : us[std::min(us.size() - 1, size_t(q * double(us.size())))];
  };
  state.counters["p50_us"] = pct(0.50);
  state.counters["p99_us"] = pct(0.99);
  state.counters["commits/s"] = benchmark::Counter(double(state.iterations()),
                                                   benchmark::Counter::kIsRate);
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0) * batch);
}

void BM_FsyncSingleAcceptor(benchmark::State& state) { RunFsync(state, 1); }
void BM_ConsensusFsync3(benchmark::State& state) { RunFsync(state, 3); }

// <chunk bytes>/<chunks per commit round>: one 8 KiB commit (latency), and
// batched rounds of 128 KiB and 1 MiB (throughput).
void FsyncArgs(benchmark::internal::Benchmark* b) {
  b->Args({8192, 1})->Args({8192, 16})->Args({131072, 8})->UseRealTime();
}
BENCHMARK(BM_FsyncSingleAcceptor)->Apply(FsyncArgs);
BENCHMARK(BM_ConsensusFsync3)->Apply(FsyncArgs);

BENCHMARK(BM_AppendToString)->Arg(128)->Arg(8192)->Arg(131072);
BENCHMARK(BM_ConsensusPure)->Arg(128)->Arg(8192)->Arg(131072);
BENCHMARK(BM_ConsensusMemFs)->Arg(128)->Arg(8192)->Arg(131072);

}  // namespace
}  // namespace neon::consensus

BENCHMARK_MAIN();
