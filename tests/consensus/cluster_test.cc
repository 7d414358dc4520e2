// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Proposer + acceptors + storage end to end over perfect links.

#include "consensus/test_cluster.h"
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

}  // namespace
}  // namespace neon::consensus::testing
