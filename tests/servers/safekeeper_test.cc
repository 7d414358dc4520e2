// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Three safekeeper processes and a storage broker on loopback, driven by the consensus
// library's Proposer over gRPC ProposerStream connections: replication and commit, WAL
// streamed back byte for byte, reader feedback, kill -9 and restart, two proposers racing,
// term bumps fencing a proposer, peer recovery of a lagging safekeeper, WAL backup to object
// storage and WAL removal below the horizon.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "consensus/wal_storage.h"
#include "servers/broker_process.h"
#include "servers/safekeeper_process.h"
#include "servers/safekeeper_proposer_util.h"

namespace neon::testing {
namespace {

using nlohmann::json;
using consensus::ProposerPhase;

constexpr char kTenant[] = "3aa8fcc61f6d357410b7de754b1d9001";
constexpr char kTimeline[] = "de200bd42b49cc1814412c7e592dd6e9";
constexpr uint64_t kSeg = 1 << 20;               // 1 MiB segments keep the tests small
constexpr uint64_t kStart = 16 * kSeg + 0x28;    // segment 16, past its page header
constexpr int kWaitMs = 60000;

bool WaitFor(const std::function<bool()>& pred, int timeout_ms = kWaitMs) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SafekeeperClusterTest : public ::testing::Test {
 protected:
  void StartBroker() {
    std::string error;
    broker_ = BrokerProcess::Start({}, &error);
    ASSERT_NE(broker_, nullptr) << error;
  }
  std::string WorkDir(int i) const { return dir_.path() + "/sk" + std::to_string(i + 1); }
  void StartSk(int i) {
    std::vector<std::string> args = {"--id=" + std::to_string(i + 1)};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    if (broker_) args.push_back("--broker-endpoint=" + broker_->grpc_target());
    std::string error;
    sks_[i] = SafekeeperProcess::Start(WorkDir(i), args, &error);
    ASSERT_NE(sks_[i], nullptr) << error;
  }
  void StartAll() {
    for (int i = 0; i < 3; i++) ASSERT_NO_FATAL_FAILURE(StartSk(i));
  }
  void CreateTimeline(int i) {
    const json body = {{"tenant_id", kTenant}, {"timeline_id", kTimeline},
                       {"pg_version", 150002}, {"start_lsn", LsnText(kStart)},
                       {"wal_seg_size", kSeg}, {"peer_ids", {1, 2, 3}}};
    HttpReply r = HttpCall(sks_[i]->http_port(), "POST", "/v1/tenant/timeline", body.dump());
    ASSERT_EQ(r.status, 200) << r.text;
  }
  void CreateOnAll() {
    for (int i = 0; i < 3; i++) ASSERT_NO_FATAL_FAILURE(CreateTimeline(i));
  }
  json Status(int i) {
    HttpReply r = HttpCall(sks_[i]->http_port(), "GET",
                           std::string("/v1/tenant/") + kTenant + "/timeline/" + kTimeline);
    EXPECT_EQ(r.status, 200) << r.text;
    return r.body;
  }
  uint64_t StatusLsn(int i, const char* field) {
    json s = Status(i);
    return s.is_object() && s.contains(field) ? ParseLsnText(s[field].get<std::string>()) : 0;
  }
  std::unique_ptr<GrpcProposer> NewProposer() {
    consensus::ProposerOptions o;
    o.tenant_id = *TenantId::Parse(kTenant);
    o.timeline_id = *TimelineId::Parse(kTimeline);
    std::vector<std::string> targets;
    for (int i = 0; i < 3; i++) {
      const int port = sks_[i] ? sks_[i]->pg_port() : 1;  // a stopped node: never connected
      o.mconf.members.push_back({consensus::NodeId(i + 1), "127.0.0.1", uint16_t(port)});
      targets.push_back("127.0.0.1:" + std::to_string(port));
    }
    o.server = {150002, 0, uint32_t(kSeg)};
    return std::make_unique<GrpcProposer>(o, targets);
  }
  // Connects `p` to `nodes` and runs it until elected.
  void Elect(GrpcProposer& p, const std::vector<int>& nodes) {
    for (int i : nodes) p.Connect(i);
    ASSERT_TRUE(p.RunUntil([&] { return p.proposer().phase() == ProposerPhase::kElected; }))
        << "phase " << consensus::ProposerPhaseName(p.proposer().phase()) << ": "
        << p.proposer().stop_reason().ToString();
  }
  // Proposes `n` bytes and runs until all of it is committed.
  void WriteAndCommit(GrpcProposer& p, size_t n) {
    ASSERT_TRUE(p.ProposeBytes(n));
    ASSERT_TRUE(p.RunUntil([&] { return p.proposer().commit_lsn() == p.proposer().available_lsn(); }));
  }
  // Keeps `p` running (heartbeats carry the commit LSN) until every node in `nodes` reports
  // commit_lsn >= lsn over HTTP.
  void WaitCommitted(GrpcProposer& p, const std::vector<int>& nodes, uint64_t lsn) {
    auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
    ASSERT_TRUE(p.RunUntil(
        [&] {
          if (std::chrono::steady_clock::now() - last < std::chrono::milliseconds(100)) return false;
          last = std::chrono::steady_clock::now();
          for (int i : nodes) {
            if (StatusLsn(i, "commit_lsn") < lsn) return false;
          }
          return true;
        },
        kWaitMs));
  }
  std::string Wal(int i, uint64_t from, uint64_t to, bool uncommitted = false) {
    std::string wal;
    grpc::Status s = ReadWal(sks_[i]->pg_target(), kTenant, kTimeline, from, to, uncommitted, &wal);
    EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    return wal;
  }

  TempDir dir_;
  std::vector<std::string> extra_args_ = {"--no-sync"};
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<SafekeeperProcess> sks_[3];
};

TEST_F(SafekeeperClusterTest, ReplicatesCommitsAndStreamsCommittedWal) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_NO_FATAL_FAILURE(CreateOnAll());
  auto p = NewProposer();
  ASSERT_NO_FATAL_FAILURE(Elect(*p, {0, 1, 2}));
  const uint64_t term = p->proposer().term().value();
  EXPECT_EQ(p->proposer().term_start_lsn().value(), kStart);
  ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, 600 * 1024));
  const uint64_t end = p->proposer().available_lsn().value();
  ASSERT_NO_FATAL_FAILURE(WaitCommitted(*p, {0, 1, 2}, end));
  for (int i = 0; i < 3; i++) {
    json s = Status(i);
    EXPECT_EQ(s["term"], term);
    EXPECT_EQ(s["last_log_term"], term);
    EXPECT_EQ(s["acceptor_state"]["epoch"], term);
    EXPECT_EQ(s["flush_lsn"], LsnText(end));
    EXPECT_EQ(s["commit_lsn"], LsnText(end));
    EXPECT_EQ(s["proposer_connections"], 1);
    ASSERT_EQ(s["acceptor_state"]["term_history"].size(), 2u) << s.dump();
    EXPECT_EQ(s["acceptor_state"]["term_history"][1]["term"], term);
    EXPECT_EQ(s["acceptor_state"]["term_history"][1]["lsn"], LsnText(kStart));
  }
  // Every safekeeper streams back exactly the proposed bytes, from any start LSN.
  const std::string expected = SkWalBytes(term, kStart, end - kStart);
  for (int i = 0; i < 3; i++) EXPECT_TRUE(Wal(i, kStart, end) == expected) << "node " << i;
  EXPECT_TRUE(Wal(1, kStart + 12345, end) == expected.substr(12345));

  // A reader that started ahead of the commit LSN gets new WAL as it commits.
  std::string tail;
  std::thread reader([&] {
    ReadWal(sks_[2]->pg_target(), kTenant, kTimeline, end, end + 100000, false, &tail, kWaitMs);
  });
  ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, 100000));
  ASSERT_NO_FATAL_FAILURE(WaitCommitted(*p, {2}, end + 100000));
  reader.join();
  EXPECT_TRUE(tail == SkWalBytes(term, end, 100000));

  // Feedback: shown per reader while it is connected, then kept as remote_consistent_lsn.
  ::safekeeper::PageserverFeedback fb;
  fb.set_last_received_lsn(end);
  fb.set_disk_consistent_lsn(end - 1000);
  fb.set_remote_consistent_lsn(kStart + 4096);
  fb.set_current_timeline_size(8192);
  grpc::ClientContext ctx;
  ctx.AddMetadata("neon-tenant-id", kTenant);
  ctx.AddMetadata("neon-timeline-id", kTimeline);
  auto stub = ::safekeeper::SafekeeperService::NewStub(
      grpc::CreateChannel(sks_[0]->pg_target(), grpc::InsecureChannelCredentials()));
  auto stream = stub->StreamWal(&ctx);
  ::safekeeper::StreamWalRequest req;
  req.mutable_start()->set_start_lsn(end);
  req.mutable_start()->set_reader_node_id(42);
  ASSERT_TRUE(stream->Write(req));
  *req.mutable_feedback() = fb;
  ASSERT_TRUE(stream->Write(req));
  EXPECT_TRUE(WaitFor([&] {
    json s = Status(0);
    for (const json& w : s["walsenders"]) {
      if (w["reader_node_id"] == 42 && w["feedback"].is_object() &&
          w["feedback"]["remote_consistent_lsn"] == LsnText(kStart + 4096)) {
        return true;
      }
    }
    return false;
  }));
  EXPECT_TRUE(WaitFor([&] {
    json s = Status(0);
    return s["remote_consistent_lsn"] == LsnText(kStart + 4096) &&
           s["persisted"]["remote_consistent_lsn"] == LsnText(kStart + 4096);
  })) << Status(0).dump();
  ctx.TryCancel();
  stream->Finish();

  HttpReply metrics = HttpCall(sks_[0]->http_port(), "GET", "/metrics");
  EXPECT_NE(metrics.text.find("safekeeper_flushes_total"), std::string::npos);
  EXPECT_NE(metrics.text.find("safekeeper_wal_sent_bytes_total"), std::string::npos);
}

// Many small appends with acknowledgements interleaved, as a WAL stream of short commits
// produces: every append is contiguous, no connection is refused or dropped.
TEST_F(SafekeeperClusterTest, SmallInterleavedAppendsStayContiguous) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_NO_FATAL_FAILURE(CreateOnAll());
  auto p = NewProposer();
  ASSERT_NO_FATAL_FAILURE(Elect(*p, {0, 1, 2}));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  size_t appended = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    for (int k = 0; k < 20; k++) {
      ASSERT_TRUE(p->ProposeBytes(200 + (appended % 7) * 37, 1000));
      appended++;
    }
    const uint64_t target = p->proposer().available_lsn().value();
    p->RunUntil([&] { return p->proposer().commit_lsn().value() >= target; }, 50);
  }
  const bool all_committed = p->RunUntil([&] {
    return p->proposer().commit_lsn() == p->proposer().available_lsn();
  });
  for (const std::string& e : p->step_errors) ADD_FAILURE() << "step error: " << e;
  for (const auto& [node, st] : p->closed) {
    ADD_FAILURE() << "node " << node + 1 << " closed: " << st.error_message();
  }
  ASSERT_TRUE(all_committed) << p->proposer().commit_lsn().ToString() << " of "
                             << p->proposer().available_lsn().ToString();
  std::printf("[ safekeeper ] %zu small appends, %lu bytes, all contiguous\n", appended,
              static_cast<unsigned long>(p->proposer().available_lsn().value() - kStart));
}

TEST_F(SafekeeperClusterTest, ReadersGetUncommittedWalOnlyWhenAskedFor) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_NO_FATAL_FAILURE(CreateOnAll());
  auto p = NewProposer();
  ASSERT_NO_FATAL_FAILURE(Elect(*p, {0, 1, 2}));
  const uint64_t term = p->proposer().term().value();
  ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, 50000));
  const uint64_t committed = p->proposer().commit_lsn().value();
  ASSERT_NO_FATAL_FAILURE(WaitCommitted(*p, {0}, committed));
  // Without a quorum nothing more commits, but node 0 still flushes what it is sent.
  p->Disconnect(1);
  p->Disconnect(2);
  ASSERT_TRUE(p->ProposeBytes(30000));
  const uint64_t flushed = committed + 30000;
  ASSERT_TRUE(p->RunUntil([&] { return StatusLsn(0, "flush_lsn") == flushed; }));
  EXPECT_EQ(StatusLsn(0, "commit_lsn"), committed);

  std::string wal;
  grpc::Status s = ReadWal(sks_[0]->pg_target(), kTenant, kTimeline, committed - 1000, flushed,
                           false, &wal, 3000);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(wal == SkWalBytes(term, committed - 1000, 1000)) << wal.size();
  EXPECT_TRUE(Wal(0, committed - 1000, flushed, /*uncommitted=*/true) ==
              SkWalBytes(term, committed - 1000, flushed - committed + 1000));
}

TEST_F(SafekeeperClusterTest, AcknowledgedWalSurvivesKillNine) {
  extra_args_.clear();  // real fsyncs
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_NO_FATAL_FAILURE(CreateOnAll());
  auto p = NewProposer();
  ASSERT_NO_FATAL_FAILURE(Elect(*p, {0, 1, 2}));
  const uint64_t term1 = p->proposer().term().value();
  ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, 300 * 1024));
  const uint64_t end1 = p->proposer().available_lsn().value();
  ASSERT_NO_FATAL_FAILURE(WaitCommitted(*p, {0, 1, 2}, end1));
  const uint64_t flushed = StatusLsn(1, "flush_lsn");
  ASSERT_EQ(flushed, end1);
  p.reset();

  sks_[1]->Kill();
  ASSERT_NO_FATAL_FAILURE(StartSk(1));
  json s = Status(1);
  EXPECT_EQ(s["flush_lsn"], LsnText(flushed)) << s.dump();
  EXPECT_EQ(s["term"], term1);
  EXPECT_GE(ParseLsnText(s["commit_lsn"]), kStart);
  EXPECT_TRUE(Wal(1, kStart, flushed, /*uncommitted=*/true) ==
              SkWalBytes(term1, kStart, flushed - kStart));

  // A new proposer elects itself over all three (the restarted one included) and continues.
  auto p2 = NewProposer();
  ASSERT_NO_FATAL_FAILURE(Elect(*p2, {0, 1, 2}));
  const uint64_t term2 = p2->proposer().term().value();
  ASSERT_GT(term2, term1);
  EXPECT_EQ(p2->proposer().term_start_lsn().value(), end1);
  ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p2, 50000));
  const uint64_t end2 = p2->proposer().available_lsn().value();
  ASSERT_NO_FATAL_FAILURE(WaitCommitted(*p2, {0, 1, 2}, end2));
  EXPECT_TRUE(Wal(1, kStart, end2) == SkWalBytes(term1, kStart, end1 - kStart) +
                                          SkWalBytes(term2, end1, end2 - end1));
}

// Term history check: bytes below `switch_lsn` belong to `t1`, the rest to `t2`.
void ExpectTwoTerms(const std::string& wal, uint64_t t1, uint64_t t2, uint64_t switch_lsn,
                    const std::string& what) {
  ASSERT_GE(kStart + wal.size(), switch_lsn) << what;
  EXPECT_TRUE(wal.substr(0, switch_lsn - kStart) == SkWalBytes(t1, kStart, switch_lsn - kStart))
      << what << ": term " << t1 << " WAL differs";
  EXPECT_TRUE(wal.substr(switch_lsn - kStart) ==
              SkWalBytes(t2, switch_lsn, wal.size() - (switch_lsn - kStart)))
      << what << ": term " << t2 << " WAL differs";
}

TEST_F(SafekeeperClusterTest, SecondProposerWinsAndFencesTheFirst) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_NO_FATAL_FAILURE(CreateOnAll());
  auto p1 = NewProposer();
  ASSERT_NO_FATAL_FAILURE(Elect(*p1, {0, 1, 2}));
  ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p1, 200000));
  const uint64_t committed1 = p1->proposer().commit_lsn().value();
  const uint64_t t1 = p1->proposer().term().value();

  // p1 keeps writing while p2 campaigns: p1's appends race with p2's votes.
  auto p2 = NewProposer();
  for (int i = 0; i < 3; i++) p2->Connect(i);
  ASSERT_TRUE(p1->ProposeBytes(64 * 1024));
  ASSERT_TRUE(p2->RunUntil(
      [&] {
        p1->Poll();  // p1 goes on processing acknowledgements meanwhile
        return p2->proposer().phase() == ProposerPhase::kElected;
      },
      kWaitMs));
  const uint64_t t2 = p2->proposer().term().value();
  ASSERT_GT(t2, t1);
  const uint64_t switch_lsn = p2->proposer().term_start_lsn().value();
  EXPECT_GE(switch_lsn, committed1) << "committed WAL of term 1 must survive";

  // p1 is fenced: whatever it sends now is refused and it stops.
  p1->ProposeBytes(64 * 1024);
  EXPECT_TRUE(p1->RunUntil([&] { return p1->proposer().phase() == ProposerPhase::kStopped; }))
      << consensus::ProposerPhaseName(p1->proposer().phase());
  EXPECT_NE(p1->proposer().stop_reason().message().find("term"), std::string_view::npos)
      << p1->proposer().stop_reason().ToString();
  EXPECT_LE(p1->proposer().commit_lsn().value(), switch_lsn)
      << "everything p1 saw committed is in p2's history";

  ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p2, 150000));
  const uint64_t end = p2->proposer().available_lsn().value();
  ASSERT_NO_FATAL_FAILURE(WaitCommitted(*p2, {0, 1, 2}, end));
  for (int i = 0; i < 3; i++) {
    json s = Status(i);
    EXPECT_EQ(s["term"], t2);
    EXPECT_EQ(s["flush_lsn"], LsnText(end)) << "node " << i;
    ExpectTwoTerms(Wal(i, kStart, end), t1, t2, switch_lsn, "node " + std::to_string(i));
  }

  // An operator's term bump fences p2 the same way.
  for (int i = 0; i < 3; i++) {
    HttpReply r = HttpCall(sks_[i]->http_port(), "POST",
                           std::string("/v1/tenant/") + kTenant + "/timeline/" + kTimeline +
                               "/term_bump",
                           "{}");
    ASSERT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(r.body["previous_term"], t2);
    EXPECT_EQ(r.body["current_term"], t2 + 1);
  }
  p2->ProposeBytes(1000);
  EXPECT_TRUE(p2->RunUntil([&] { return p2->proposer().phase() == ProposerPhase::kStopped; }));
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(Status(i)["commit_lsn"], LsnText(end));
    EXPECT_TRUE(Wal(i, end - 1000, end) == SkWalBytes(t2, end - 1000, 1000));
  }
}

TEST_F(SafekeeperClusterTest, LaggingSafekeeperCatchesUpFromPeers) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_NO_FATAL_FAILURE(CreateOnAll());
  ASSERT_EQ(sks_[2]->Stop(), 0) << sks_[2]->Log();
  auto p = NewProposer();
  ASSERT_NO_FATAL_FAILURE(Elect(*p, {0, 1}));
  const uint64_t term = p->proposer().term().value();
  ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, 400 * 1024));
  const uint64_t end = p->proposer().available_lsn().value();
  ASSERT_NO_FATAL_FAILURE(WaitCommitted(*p, {0, 1}, end));

  ASSERT_NO_FATAL_FAILURE(StartSk(2));  // no proposer connects to it
  p->SetTarget(2, sks_[2]->pg_target());
  EXPECT_TRUE(WaitFor([&] { return StatusLsn(2, "flush_lsn") == end; }))
      << Status(2).dump() << "\n" << sks_[2]->Log();
  json s = Status(2);
  EXPECT_EQ(s["commit_lsn"], LsnText(end));
  EXPECT_EQ(s["term"], term);
  EXPECT_EQ(s["last_log_term"], term);
  EXPECT_GE(s["peers"].size(), 1u);
  EXPECT_TRUE(Wal(2, kStart, end) == SkWalBytes(term, kStart, end - kStart));
  EXPECT_NE(sks_[2]->Log().find("event=peer_recovery_ended"), std::string::npos);

  // The recovered node serves the proposer like any other.
  p->Connect(2);
  ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, 70000));
  const uint64_t end2 = p->proposer().available_lsn().value();
  ASSERT_NO_FATAL_FAILURE(WaitCommitted(*p, {0, 1, 2}, end2));
  EXPECT_TRUE(Wal(2, end, end2) == SkWalBytes(term, end, end2 - end));
}

TEST_F(SafekeeperClusterTest, BacksUpFullSegmentsAndRemovesWalBelowTheHorizon) {
  const std::string remote = dir_.path() + "/remote";
  extra_args_.push_back("--remote-storage-dir=" + remote);
  // Peers stay "alive" long enough that the offloader is chosen on the full view even on a
  // slow machine.
  extra_args_.push_back("--heartbeat-timeout-ms=60000");
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_NO_FATAL_FAILURE(CreateOnAll());
  auto p = NewProposer();
  ASSERT_NO_FATAL_FAILURE(Elect(*p, {0, 1, 2}));
  const uint64_t term = p->proposer().term().value();
  ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, 3 * kSeg + 200000));
  const uint64_t end = p->proposer().available_lsn().value();
  ASSERT_NO_FATAL_FAILURE(WaitCommitted(*p, {0, 1, 2}, end));
  const uint64_t full_end = end / kSeg * kSeg;  // 19 MiB: segments 16, 17, 18 are full
  ASSERT_EQ(full_end, 19 * kSeg);

  for (int i = 0; i < 3; i++) {
    EXPECT_TRUE(WaitFor([&] { return StatusLsn(i, "backup_lsn") == full_end; }))
        << Status(i).dump();
    EXPECT_EQ(Status(i)["persisted"]["backup_lsn"], LsnText(full_end));
  }
  const std::string prefix = remote + "/wal/" + kTenant + "/" + kTimeline + "/";
  for (uint64_t segno = 16; segno < 19; segno++) {
    const std::string name = consensus::WalSegmentName(segno, kSeg);
    const std::string object = ReadFile(prefix + name);
    ASSERT_EQ(object.size(), kSeg) << name;
    const uint64_t begin = std::max(segno * kSeg, kStart);
    EXPECT_TRUE(object.substr(begin - segno * kSeg) == SkWalBytes(term, begin, (segno + 1) * kSeg - begin))
        << name;
    EXPECT_EQ(object.substr(0, begin - segno * kSeg), std::string(begin - segno * kSeg, '\0'));
  }
  EXPECT_FALSE(std::filesystem::exists(prefix + consensus::WalSegmentName(19, kSeg)));
  int uploaders = 0;  // one member, chosen by all alike, uploads
  for (int i = 0; i < 3; i++) {
    uploaders += sks_[i]->Log().find("event=wal_backed_up") != std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(uploaders, 1);

  // Reads across segment boundaries (full segments and the .partial one).
  EXPECT_TRUE(Wal(2, 17 * kSeg - 1000, end) == SkWalBytes(term, 17 * kSeg - 1000, end - 17 * kSeg + 1000));

  // Nothing is removed while the pageserver has not made the WAL durable remotely.
  const std::string seg16 = "/" + std::string(kTenant) + "/" + kTimeline + "/" +
                            consensus::WalSegmentName(16, kSeg);
  for (int i = 0; i < 3; i++) EXPECT_TRUE(std::filesystem::exists(WorkDir(i) + seg16));

  // One reader's feedback reaches every member through the broker; then segments below
  // min(backup, commit, remote_consistent, peer horizon) go.
  ::safekeeper::PageserverFeedback fb;
  fb.set_remote_consistent_lsn(end);
  fb.set_last_received_lsn(end);
  std::string ignored;
  ASSERT_TRUE(ReadWal(sks_[0]->pg_target(), kTenant, kTimeline, end - 10, end, false, &ignored,
                      kWaitMs, "", fb)
                  .ok());
  auto last = std::chrono::steady_clock::now();
  ASSERT_TRUE(p->RunUntil(  // keeps heartbeats (commit and peer horizon) flowing
      [&] {
        if (std::chrono::steady_clock::now() - last < std::chrono::milliseconds(100)) return false;
        last = std::chrono::steady_clock::now();
        for (int i = 0; i < 3; i++) {
          if (StatusLsn(i, "wal_start_lsn") != full_end) return false;
        }
        return true;
      },
      kWaitMs))
      << Status(0).dump() << Status(1).dump() << Status(2).dump();
  for (int i = 0; i < 3; i++) {
    EXPECT_FALSE(std::filesystem::exists(WorkDir(i) + seg16)) << i;
    EXPECT_EQ(Status(i)["remote_consistent_lsn"], LsnText(end));
  }
  // WAL below what is kept is OUT_OF_RANGE; above, it is still served.
  std::string wal;
  grpc::Status s = ReadWal(sks_[1]->pg_target(), kTenant, kTimeline, kStart, end, false, &wal);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE) << s.error_message();
  EXPECT_TRUE(Wal(1, full_end, end) == SkWalBytes(term, full_end, end - full_end));
}

TEST_F(SafekeeperClusterTest, RestartedMemberServesCommittedWalWithoutAProposer) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_NO_FATAL_FAILURE(CreateOnAll());
  auto p = NewProposer();
  ASSERT_NO_FATAL_FAILURE(Elect(*p, {0, 1, 2}));
  const uint64_t term = p->proposer().term().value();
  ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, 300000));
  const uint64_t end = p->proposer().available_lsn().value();
  ASSERT_NO_FATAL_FAILURE(WaitCommitted(*p, {0, 1, 2}, end));
  p.reset();
  // The control file's commit LSN lags the live one; after kill -9 the member learns the
  // rest from its peers (same last_log_term) and serves all committed WAL to readers.
  std::cout << "persisted commit before kill -9: "
            << Status(0)["persisted"]["commit_lsn"].get<std::string>() << ", live "
            << LsnText(end) << "\n";
  sks_[0]->Kill();
  ASSERT_NO_FATAL_FAILURE(StartSk(0));
  EXPECT_TRUE(WaitFor([&] { return StatusLsn(0, "commit_lsn") == end; })) << Status(0).dump();
  EXPECT_TRUE(Wal(0, kStart, end) == SkWalBytes(term, kStart, end - kStart));
}

TEST_F(SafekeeperClusterTest, RestartServesTimelinesAgain) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_NO_FATAL_FAILURE(CreateOnAll());
  auto p = NewProposer();
  ASSERT_NO_FATAL_FAILURE(Elect(*p, {0, 1, 2}));
  ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, 100000));
  const uint64_t end = p->proposer().available_lsn().value();
  ASSERT_NO_FATAL_FAILURE(WaitCommitted(*p, {0, 1, 2}, end));
  const json before = Status(0);
  // A clean stop with a proposer stream and a WAL reader open: both end, the process exits 0.
  std::string tail;
  grpc::Status reader_status;
  std::thread reader([&] {
    reader_status = ReadWal(sks_[0]->pg_target(), kTenant, kTimeline, kStart, end + 1, false,
                            &tail, kWaitMs);
  });
  ASSERT_TRUE(WaitFor([&] { return Status(0)["walsenders"].size() == 1; }));
  ASSERT_EQ(sks_[0]->Stop(), 0) << sks_[0]->Log();
  reader.join();
  EXPECT_EQ(reader_status.error_code(), grpc::StatusCode::UNAVAILABLE) << reader_status.error_message();
  EXPECT_TRUE(tail == SkWalBytes(p->proposer().term().value(), kStart, end - kStart));
  EXPECT_TRUE(p->RunUntil([&] { return !p->connected(0); }));
  p.reset();
  ASSERT_NO_FATAL_FAILURE(StartSk(0));
  const json after = Status(0);
  for (const char* f : {"term", "flush_lsn", "commit_lsn", "acceptor_state", "backup_lsn"}) {
    EXPECT_EQ(before[f], after[f]) << f;
  }
  HttpReply list = HttpCall(sks_[0]->http_port(), "GET", "/v1/tenant/timeline");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body.size(), 1u);
}

}  // namespace
}  // namespace neon::testing
