// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The proposer's C API (bindings/c/neon_consensus_c.h) driving real C++
// acceptors (AcceptorNode on an in-memory file system) through the wire
// codec to an election and commits; then sync-safekeepers through the C API.

#include <memory>
#include <string>
#include <vector>

#include "consensus/acceptor_node.h"
#include "gtest/gtest.h"
#include "neon_consensus_c.h"

namespace neon::consensus {
namespace {

constexpr int kAcceptors = 3;
constexpr uint64_t kSegSize = 4096;
const Lsn kStart(0x10000 + 40);
const char* kTenant = "0123456789abcdef0123456789abcdef";
const char* kTimeline = "fedcba9876543210fedcba9876543210";

class CApiCluster {
 public:
  CApiCluster() : fs_(NewMemFileSystem()) {
    MembershipConfig m;
    for (int i = 0; i < kAcceptors; i++) m.members.push_back({NodeId(i + 1), "", 0});
    for (int i = 0; i < kAcceptors; i++) {
      PersistentState st = PersistentState::NewTimeline(
          *TenantId::Parse(kTenant), *TimelineId::Parse(kTimeline), m,
          {170004, 0, uint32_t(kSegSize)}, kStart);
      std::string dir = "/sk" + std::to_string(i);
      EXPECT_TRUE(AcceptorNode::CreateTimeline(*fs_, dir, st).ok());
      nodes_.push_back(std::move(*AcceptorNode::Open(fs_.get(), {NodeId(i + 1), dir, {}})));
    }
  }

  neon_proposer_t* NewProposer(int mode, uint64_t start) {
    char* err = nullptr;
    const uint64_t ids[kAcceptors] = {1, 2, 3};
    neon_proposer_t* p = neon_proposer_create(kTenant, kTimeline, ids, kAcceptors, 170004, 0,
                                              uint32_t(kSegSize), mode, start, &err);
    EXPECT_EQ(err, nullptr) << err;
    neon_free(err);
    conn_++;
    for (uint64_t id = 1; id <= kAcceptors; id++) {
      EXPECT_EQ(neon_proposer_connected(p, id, &err), NEON_OK);
    }
    return p;
  }

  // Delivers messages both ways until quiet; returns how many went out.
  int Pump(neon_proposer_t* p) {
    int n = 0;
    uint64_t to = 0;
    size_t len = 0;
    char* msg;
    while ((msg = neon_proposer_next_message(p, &to, &len)) != nullptr) {
      n++;
      AcceptorNode& node = *nodes_[to - 1];
      absl::Status s = node.Receive(ConnId(conn_), std::string_view(msg, len));
      neon_free(msg);
      EXPECT_TRUE(s.ok()) << s;
      EXPECT_TRUE(node.Flush().ok());
      for (auto& [conn, bytes] : node.TakeOutbox()) {
        char* err = nullptr;
        int rc = neon_proposer_step(p, to, bytes.data(), bytes.size(), &err);
        EXPECT_EQ(rc, NEON_OK) << err;
        neon_free(err);
      }
    }
    return n;
  }

  AcceptorNode& node(int i) { return *nodes_[i]; }

 private:
  std::shared_ptr<FileSystem> fs_;
  std::vector<std::unique_ptr<AcceptorNode>> nodes_;
  uint64_t conn_ = 0;
};

TEST(ConsensusCApiTest, ProposerReachesCommitAgainstRealAcceptors) {
  CApiCluster c;
  neon_proposer_t* p = c.NewProposer(NEON_PROPOSER_NORMAL, kStart.value());
  EXPECT_GT(c.Pump(p), 0);
  ASSERT_EQ(neon_proposer_phase(p), NEON_PROPOSER_ELECTED);
  EXPECT_EQ(neon_proposer_term(p), 1u);
  EXPECT_EQ(neon_proposer_available_lsn(p), kStart.value());

  std::string wal;
  for (int i = 0; i < 5; i++) {
    std::string chunk(1000 + size_t(i) * 3000, char('a' + i));
    char* err = nullptr;
    ASSERT_EQ(neon_proposer_propose(p, chunk.data(), chunk.size(), &err), NEON_OK) << err;
    wal += chunk;
    c.Pump(p);
    EXPECT_EQ(neon_proposer_commit_lsn(p), kStart.value() + wal.size());
  }
  EXPECT_EQ(neon_proposer_available_lsn(p), kStart.value() + wal.size());

  // A malformed message from a live acceptor is refused without effect.
  const char junk[] = {1, 2, 3};
  char* err = nullptr;
  EXPECT_EQ(neon_proposer_step(p, 1, junk, sizeof(junk), &err), NEON_INVALID_ARGUMENT);
  EXPECT_NE(err, nullptr);
  neon_free(err);
  EXPECT_EQ(neon_proposer_phase(p), NEON_PROPOSER_ELECTED);
  EXPECT_EQ(neon_proposer_pending_messages(p), 0u);

  // Heartbeats carry the commit LSN to the acceptors.
  for (int i = 0; i < 2; i++) {
    neon_proposer_tick(p);
    c.Pump(p);
  }
  for (int i = 0; i < kAcceptors; i++) {
    EXPECT_EQ(c.node(i).acceptor().flush_lsn().value(), kStart.value() + wal.size());
    EXPECT_EQ(c.node(i).acceptor().commit_lsn().value(), kStart.value() + wal.size());
  }
  neon_proposer_destroy(p);

  // sync-safekeepers through the C API finds the same WAL end.
  neon_proposer_t* s = c.NewProposer(NEON_PROPOSER_SYNC_SAFEKEEPERS, 0);
  c.Pump(s);
  EXPECT_EQ(neon_proposer_phase(s), NEON_PROPOSER_SYNCED);
  EXPECT_EQ(neon_proposer_sync_lsn(s), kStart.value() + wal.size());
  EXPECT_EQ(neon_proposer_term(s), 2u);
  neon_proposer_destroy(s);
}

TEST(ConsensusCApiTest, WrongStartLsnStopsTheProposer) {
  CApiCluster c;
  neon_proposer_t* p = c.NewProposer(NEON_PROPOSER_NORMAL, kStart.value() + 8);
  c.Pump(p);
  EXPECT_EQ(neon_proposer_phase(p), NEON_PROPOSER_STOPPED);
  char* reason = neon_proposer_stop_reason(p);
  ASSERT_NE(reason, nullptr);
  EXPECT_NE(std::string(reason), "");
  neon_free(reason);
  char* err = nullptr;
  EXPECT_EQ(neon_proposer_propose(p, "x", 1, &err), NEON_FAILED_PRECONDITION);
  neon_free(err);
  neon_proposer_destroy(p);
}

}  // namespace
}  // namespace neon::consensus
