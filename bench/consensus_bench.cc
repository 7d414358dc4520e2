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

#include <deque>
#include <memory>
#include <string>
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

BENCHMARK(BM_AppendToString)->Arg(128)->Arg(8192)->Arg(131072);
BENCHMARK(BM_ConsensusPure)->Arg(128)->Arg(8192)->Arg(131072);
BENCHMARK(BM_ConsensusMemFs)->Arg(128)->Arg(8192)->Arg(131072);

}  // namespace
}  // namespace neon::consensus

BENCHMARK_MAIN();
