// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Proposer + acceptors + storage end to end over perfect links.

#include "base/check.h"
#include "base/str_cat.h"
#include "consensus/test_cluster.h"
#include "sim/checker.h"
#include "gtest/gtest.h"

namespace neon::consensus::testing {
namespace {

TEST(ClusterTest, SyncSafekeepersOnEmptyCluster) {
  TestCluster c(3);
  int p = c.AddProposer(c.ProposerOpts(ProposerMode::kSyncSafekeepers));
  for (int i = 0; i < 3; i++) c.Connect(p, i);
  c.DeliverAll();
  EXPECT_TRUE(c.errors.empty()) << c.errors[0];
  ASSERT_EQ(c.proposer(p).phase(), ProposerPhase::kSynced)
      << ProposerPhaseName(c.proposer(p).phase());
  EXPECT_EQ(c.proposer(p).sync_lsn(), TestStartLsn());
  EXPECT_EQ(c.proposer(p).term(), Term(1));
}

TEST(ClusterTest, NormalProposerCommitsAndSurvivesRestart) {
  TestCluster c(3);
  int p = c.AddProposer(c.ProposerOpts(ProposerMode::kNormal));
  for (int i = 0; i < 3; i++) c.Connect(p, i);
  c.DeliverAll();
  ASSERT_EQ(c.proposer(p).phase(), ProposerPhase::kElected);
  for (int k = 0; k < 20; k++) {
    c.Propose(p, 1000);
    c.DeliverAll();
  }
  Lsn end = TestStartLsn().Plus(20000);
  EXPECT_EQ(c.proposer(p).available_lsn(), end);
  EXPECT_EQ(c.proposer(p).commit_lsn(), end);
  c.Tick(p);
  c.DeliverAll();
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(c.node(i).acceptor().flush_lsn(), end);
    EXPECT_EQ(c.node(i).acceptor().commit_lsn(), end);
  }
  c.CrashAndRestart(1);
  EXPECT_EQ(c.node(1).acceptor().flush_lsn(), end);
  EXPECT_EQ(*c.node(1).wal().Read(TestStartLsn(), end), WalBytes(Term(1), TestStartLsn(), 20000));
  EXPECT_TRUE(c.errors.empty());

  // A second proposer takes over; the first is deposed.
  int q = c.AddProposer(c.ProposerOpts(ProposerMode::kSyncSafekeepers));
  for (int i = 0; i < 3; i++) c.Connect(q, i);
  c.DeliverAll();
  ASSERT_EQ(c.proposer(q).phase(), ProposerPhase::kSynced);
  EXPECT_EQ(c.proposer(q).sync_lsn(), end);
  c.Propose(p, 10);
  c.DeliverAll();
  EXPECT_EQ(c.proposer(p).phase(), ProposerPhase::kStopped);
}

TEST(ClusterTest, LaggingAcceptorCatchesUpFromDonor) {
  TestCluster c(3);
  int p = c.AddProposer(c.ProposerOpts(ProposerMode::kNormal));
  c.Connect(p, 0);
  c.Connect(p, 1);
  c.DeliverAll();
  ASSERT_EQ(c.proposer(p).phase(), ProposerPhase::kElected);
  for (int k = 0; k < 10; k++) {
    c.Propose(p, 30000);
    c.DeliverAll();
  }
  Lsn end = TestStartLsn().Plus(300000);
  EXPECT_EQ(c.proposer(p).commit_lsn(), end);
  // New leader elected by 0 and 2: acceptor 2 lags by 300000 bytes and must
  // get them from the donor (acceptor 0 or 1).
  int q = c.AddProposer(c.ProposerOpts(ProposerMode::kSyncSafekeepers));
  c.Connect(q, 0);
  c.Connect(q, 2);
  c.DeliverAll();
  EXPECT_TRUE(c.errors.empty()) << c.errors[0];
  ASSERT_EQ(c.proposer(q).phase(), ProposerPhase::kSynced);
  EXPECT_EQ(c.proposer(q).sync_lsn(), end);
  EXPECT_EQ(c.node(2).acceptor().flush_lsn(), end);
  EXPECT_EQ(*c.node(2).wal().Read(TestStartLsn(), end), WalBytes(Term(1), TestStartLsn(), 300000));
}

TEST(ClusterTest, LaggingAcceptorReadsTrimmedOwnWalBackFromAPeer) {
  TestCluster c(3);
  ProposerOptions o = c.ProposerOpts(ProposerMode::kNormal);
  o.max_buffered_wal_bytes = 64 * 1024;  // committed WAL is dropped past 32 KiB
  int p = c.AddProposer(o);
  c.Connect(p, 0);
  c.Connect(p, 1);
  c.DeliverAll();
  for (int k = 0; k < 50; k++) {
    c.Propose(p, 4000);
    c.DeliverAll();
  }
  Lsn end = TestStartLsn().Plus(200000);
  ASSERT_EQ(c.proposer(p).commit_lsn(), end);
  c.Connect(p, 2);  // needs all 200000 bytes, most no longer buffered
  c.DeliverAll();
  EXPECT_TRUE(c.errors.empty()) << c.errors[0];
  EXPECT_EQ(c.node(2).acceptor().flush_lsn(), end);
  EXPECT_EQ(*c.node(2).wal().Read(TestStartLsn(), end), WalBytes(Term(1), TestStartLsn(), 200000));
  EXPECT_EQ(c.proposer(p).phase(), ProposerPhase::kElected);
}

}  // namespace
}  // namespace neon::consensus::testing

namespace neon::consensus::testing {
namespace {

struct Figure8Result {
  sim::SafetyChecker checker;  // fed every commit and election, as in neon_sim
  Lsn committed;          // what the term 3 proposer committed
  TermHistory committed_history;
  TermHistory next_history;  // the term 4 leader's history
  Lsn next_start;
};

// Raft's figure 8 in Neon's terms, with acceptors A=0, B=1, C=2:
//  term 1 commits 100 bytes everywhere, then writes 50 more to A only;
//  term 2 is elected by B and C, but its ProposerElected never reaches C;
//    it writes 30 bytes to B only;
//  term 3 is elected by A and C with A as donor (start = A's end); it
//    catches C up from A in 20-byte chunks and sees C acknowledge 20;
//  term 4 is elected by B and C: B's last log term (2) beats C's (1).
// Counting C's acknowledgement of term 1 WAL (the broken knob) commits
// bytes that term 4 then overwrites with term 2 WAL.
Figure8Result RunFigure8(bool broken) {
  TestCluster c(3);
  const Lsn s = TestStartLsn();
  int p0 = c.AddProposer(c.ProposerOpts(ProposerMode::kNormal));
  for (int i = 0; i < 3; i++) c.Connect(p0, i);
  c.DeliverAll();
  Figure8Result r;
  auto propose = [&](int p, size_t n) {
    c.Propose(p, n);
    r.checker.OnWalProduced(c.proposer(p).term(), c.proposer(p).available_lsn());
  };
  propose(p0, 100);
  c.DeliverAll();
  r.checker.OnProposerCommit(0, TermHistory({{Term(0), s}}), s);
  r.checker.OnProposerCommit(1, c.proposer(p0).history(), c.proposer(p0).commit_lsn());
  c.Disconnect(p0, 1);
  c.Disconnect(p0, 2);
  propose(p0, 50);
  c.DeliverAll();

  int p1 = c.AddProposer(c.ProposerOpts(ProposerMode::kNormal));
  c.Connect(p1, 1);
  c.Connect(p1, 2);
  c.DeliverBetween(p1, 1, 2);  // greetings
  c.DeliverBetween(p1, 2, 2);
  c.DeliverBetween(p1, 1, 2);  // votes
  c.DeliverBetween(p1, 2, 2);
  NEON_CHECK(c.proposer(p1).phase() == ProposerPhase::kElected);
  c.Disconnect(p1, 2);  // ProposerElected to C is lost
  propose(p1, 30);
  c.DeliverAll();

  ProposerOptions o3 = c.ProposerOpts(ProposerMode::kNormal);
  o3.knobs.commit_previous_term_entries = broken;
  o3.max_append_bytes = 20;
  o3.max_inflight_bytes = 20;
  int p2 = c.AddProposer(o3);
  c.Disconnect(p0, 0);
  c.Connect(p2, 0);
  c.Connect(p2, 2);
  const std::string acked =
      StrCat("a2->p", p2, " AppendResponse{term=3 flush=", s.Plus(120).ToString());
  c.trace.clear();
  for (int k = 0; k < 200; k++) {
    bool seen = false;
    for (const std::string& line : c.trace) seen |= line.rfind(acked, 0) == 0;
    if (seen) break;
    c.DeliverBetween(p2, 0, 1);
    c.DeliverBetween(p2, 2, 1);
  }
  NEON_CHECK(c.proposer(p2).term() == Term(3));
  NEON_CHECK(c.proposer(p2).term_start_lsn() == s.Plus(150));
  r.committed = c.proposer(p2).commit_lsn();
  r.committed_history = c.proposer(p2).history();
  if (r.committed.valid()) r.checker.OnProposerCommit(3, r.committed_history, r.committed);

  c.Disconnect(p2, 0);
  c.Disconnect(p2, 2);
  int p3 = c.AddProposer(c.ProposerOpts(ProposerMode::kSyncSafekeepers));
  c.Connect(p3, 1);
  c.Connect(p3, 2);
  c.DeliverAll();
  r.next_history = c.proposer(p3).history();
  r.next_start = c.proposer(p3).term_start_lsn();
  r.checker.OnElected(4, c.proposer(p3).term(), r.next_history, r.next_start);
  return r;
}

TEST(ClusterTest, Figure8CorrectProposerDoesNotCommitOldTermWal) {
  Figure8Result r = RunFigure8(/*broken=*/false);
  EXPECT_FALSE(r.committed.valid()) << r.committed.ToString();
  EXPECT_EQ(r.next_history.back().term, Term(4));
  EXPECT_TRUE(r.checker.ok()) << r.checker.failure();
}

TEST(ClusterTest, Figure8BrokenKnobLosesCommittedWal) {
  Figure8Result r = RunFigure8(/*broken=*/true);
  const Lsn s = TestStartLsn();
  ASSERT_EQ(r.committed, s.Plus(120)) << "the knob commits term-1 WAL acknowledged in term 3";
  // The next leader's log says the committed bytes [s+100, s+120) are term
  // 2's, not term 1's: committed WAL was lost (what the simulator's checker
  // reports as "contradicts the log committed in an earlier term").
  EXPECT_EQ(r.committed_history.TermAt(s.Plus(110)), Term(1));
  EXPECT_EQ(r.next_history.TermAt(s.Plus(110)), Term(2)) << r.next_history.ToString();
  ASSERT_FALSE(r.checker.ok()) << "the simulator's checker must catch this";
  EXPECT_NE(r.checker.failure().find("contradicts the log"), std::string::npos)
      << r.checker.failure();
}

}  // namespace
}  // namespace neon::consensus::testing
