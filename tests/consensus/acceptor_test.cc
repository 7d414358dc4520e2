// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The Acceptor state machine alone: which ops it emits, in which order.

#include "consensus/acceptor.h"

#include "gtest/gtest.h"

namespace neon::consensus {
namespace {

const Lsn kStart(0x10000);
const ConnId kConn(7);

MembershipConfig Members() {
  MembershipConfig m;
  for (uint64_t i = 1; i <= 3; i++) m.members.push_back({NodeId(i), "sk", 5454});
  return m;
}

Acceptor NewAcceptor(AcceptorTestingKnobs knobs = {}) {
  PersistentState st = PersistentState::NewTimeline(TenantId(), TimelineId(), Members(),
                                                    {170004, 0, 4096}, kStart);
  return Acceptor({NodeId(1), knobs}, st, kStart);
}

// Names of the ops, e.g. "sync,persist,send:VoteResponse".
std::string Ops(const AcceptorReady& r) {
  std::string out;
  for (const AcceptorOp& op : r.ops) {
    if (!out.empty()) out += ",";
    if (auto* t = std::get_if<TruncateWalOp>(&op)) out += "truncate@" + t->end.ToString();
    if (auto* a = std::get_if<AppendWalOp>(&op)) out += "append@" + a->begin.ToString();
    if (std::holds_alternative<SyncWalOp>(op)) out += "sync";
    if (auto* p = std::get_if<PersistStateOp>(&op)) {
      out += "persist(term=" + std::to_string(p->state.term.value()) + ")";
    }
    if (auto* s = std::get_if<SendOp>(&op)) out += "send:" + DebugString(s->msg);
    if (std::holds_alternative<SendWalOp>(op)) out += "sendwal";
  }
  return out;
}

// Brings a fresh acceptor into term `t` as led by a proposer whose history
// is [(0,start),(t,start)], and appends `n` bytes.
void Lead(Acceptor& a, Term t, size_t n) {
  AcceptorReady r;
  ASSERT_TRUE(a.Step(kConn, VoteRequest{Generation::None(), t}, &r).ok());
  TermHistory h({{Term(0), kStart}, {t, kStart}});
  ASSERT_TRUE(a.Step(kConn, ProposerElected{Generation::None(), t, kStart, h}, &r).ok());
  if (n > 0) {
    ASSERT_TRUE(a.Step(kConn, AppendRequest{Generation::None(), t, kStart, kStart.Plus(n),
                                            Lsn(), Lsn(), std::string(n, 'x')}, &r).ok());
  }
  a.Flush(&r);
}

TEST(AcceptorTest, VotesOncePerTermPersistingBeforeAnswering) {
  Acceptor a = NewAcceptor();
  AcceptorReady r;
  ASSERT_TRUE(a.Step(kConn, VoteRequest{Generation::None(), Term(3)}, &r).ok());
  EXPECT_EQ(Ops(r),
            "persist(term=3),send:VoteResponse{term=3 given=true flush=0/10000 truncate=0/10000 "
            "history=[(0, 0/10000)]}");
  r.ops.clear();
  ASSERT_TRUE(a.Step(ConnId(8), VoteRequest{Generation::None(), Term(3)}, &r).ok());
  EXPECT_EQ(Ops(r), "send:VoteResponse{term=3 given=false flush=0/10000 truncate=0/10000 "
                    "history=[(0, 0/10000)]}");
  r.ops.clear();
  ASSERT_TRUE(a.Step(kConn, VoteRequest{Generation::None(), Term(2)}, &r).ok());
  EXPECT_NE(Ops(r).find("given=false"), std::string::npos);
  EXPECT_EQ(a.term(), Term(3));
}

TEST(AcceptorTest, BrokenKnobVotesWithoutPersisting) {
  Acceptor a = NewAcceptor({.vote_without_persisting_term = true});
  AcceptorReady r;
  ASSERT_TRUE(a.Step(kConn, VoteRequest{Generation::None(), Term(3)}, &r).ok());
  EXPECT_EQ(Ops(r).find("persist"), std::string::npos);
}

TEST(AcceptorTest, VoteSyncsWrittenWalFirstAndReportsHistoryUpToFlush) {
  Acceptor a = NewAcceptor();
  Lead(a, Term(1), 0);
  AcceptorReady r;
  ASSERT_TRUE(a.Step(kConn, AppendRequest{Generation::None(), Term(1), kStart, kStart.Plus(10),
                                          Lsn(), Lsn(), std::string(10, 'x')}, &r).ok());
  EXPECT_EQ(Ops(r), "append@0/10000");
  r.ops.clear();
  ASSERT_TRUE(a.Step(kConn, VoteRequest{Generation::None(), Term(2)}, &r).ok());
  EXPECT_EQ(Ops(r), "sync,persist(term=2),send:VoteResponse{term=2 given=true flush=0/1000A "
                    "truncate=0/10000 history=[(0, 0/10000), (1, 0/10000)]}");
}

TEST(AcceptorTest, ElectedTruncatesAtDivergenceThenAdoptsHistory) {
  Acceptor a = NewAcceptor();
  Lead(a, Term(1), 100);  // term 1 WAL [start, start+100)
  // Term 3's leader continued term 1 only up to start+50 (its donor had less).
  TermHistory h({{Term(0), kStart}, {Term(1), kStart}, {Term(3), kStart.Plus(50)}});
  AcceptorReady r;
  ASSERT_TRUE(a.Step(kConn, VoteRequest{Generation::None(), Term(3)}, &r).ok());
  r.ops.clear();
  ASSERT_TRUE(
      a.Step(kConn, ProposerElected{Generation::None(), Term(3), kStart.Plus(50), h}, &r).ok());
  EXPECT_EQ(Ops(r), "truncate@0/10032,persist(term=3)");
  EXPECT_EQ(a.history(), h);
  EXPECT_EQ(a.flush_lsn(), kStart.Plus(50));
  EXPECT_EQ(a.last_log_term(), Term(3));
}

TEST(AcceptorTest, ElectedWithWrongStartIsRefusedAndChangesNothing) {
  Acceptor a = NewAcceptor();
  Lead(a, Term(1), 100);
  TermHistory h({{Term(0), kStart}, {Term(1), kStart}, {Term(3), kStart.Plus(50)}});
  AcceptorReady r;
  absl::Status s =
      a.Step(kConn, ProposerElected{Generation::None(), Term(3), kStart.Plus(40), h}, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(r.ops.empty());
  EXPECT_EQ(a.flush_lsn(), kStart.Plus(100));
  EXPECT_EQ(a.term(), Term(1));
}

TEST(AcceptorTest, NeverTruncatesBelowCommit) {
  Acceptor a = NewAcceptor();
  Lead(a, Term(1), 100);
  AcceptorReady r;
  ASSERT_TRUE(a.Step(kConn, AppendRequest{Generation::None(), Term(1), kStart.Plus(100),
                                          kStart.Plus(100), kStart.Plus(80), Lsn(), ""}, &r).ok());
  a.Flush(&r);
  EXPECT_EQ(a.commit_lsn(), kStart.Plus(80));
  // A (buggy) leader whose history drops term 1 after start+50.
  TermHistory h({{Term(0), kStart}, {Term(1), kStart}, {Term(4), kStart.Plus(50)}});
  r.ops.clear();
  absl::Status s =
      a.Step(kConn, ProposerElected{Generation::None(), Term(4), kStart.Plus(50), h}, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_TRUE(r.ops.empty());
}

TEST(AcceptorTest, AppendsMustBeContiguousAndInTheElectedTerm) {
  Acceptor a = NewAcceptor();
  AcceptorReady r;
  ASSERT_TRUE(a.Step(kConn, VoteRequest{Generation::None(), Term(1)}, &r).ok());
  AppendRequest early{Generation::None(), Term(1), kStart, kStart.Plus(1), Lsn(), Lsn(), "x"};
  EXPECT_EQ(a.Step(kConn, early, &r).code(), absl::StatusCode::kFailedPrecondition)
      << "append before ProposerElected";
  Lead(a, Term(1), 10);
  AppendRequest gap{Generation::None(), Term(1), kStart.Plus(11), kStart.Plus(12), Lsn(), Lsn(), "x"};
  AppendRequest rewrite{Generation::None(), Term(1), kStart.Plus(9), kStart.Plus(10), Lsn(), Lsn(), "x"};
  EXPECT_FALSE(a.Step(kConn, gap, &r).ok());
  EXPECT_FALSE(a.Step(kConn, rewrite, &r).ok());
  AppendRequest newer{Generation::None(), Term(2), kStart.Plus(10), kStart.Plus(11), Lsn(), Lsn(), "x"};
  EXPECT_FALSE(a.Step(kConn, newer, &r).ok());
  r.ops.clear();
  AppendRequest older{Generation::None(), Term(0), kStart.Plus(10), kStart.Plus(11), Lsn(), Lsn(), "x"};
  ASSERT_TRUE(a.Step(kConn, older, &r).ok());
  EXPECT_EQ(Ops(r), "send:AppendResponse{term=1 flush=0/0 commit=0/0}") << "term-only refusal";
  AppendRequest gen{Generation::Of(5), Term(1), kStart.Plus(10), kStart.Plus(11), Lsn(), Lsn(), "x"};
  EXPECT_EQ(a.Step(kConn, gen, &r).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(AcceptorTest, FlushAcknowledgesAndCommitIsCappedByFlush) {
  Acceptor a = NewAcceptor();
  Lead(a, Term(1), 0);
  AcceptorReady r;
  ASSERT_TRUE(a.Step(kConn, AppendRequest{Generation::None(), Term(1), kStart, kStart.Plus(10),
                                          kStart.Plus(500), Lsn(), std::string(10, 'x')}, &r).ok());
  r.ops.clear();
  a.Flush(&r);
  // The reply carries the persisted commit LSN, which lags.
  EXPECT_EQ(Ops(r), "sync,send:AppendResponse{term=1 flush=0/1000A commit=0/10000}");
  EXPECT_EQ(a.commit_lsn(), kStart.Plus(10));  // min(candidate, flush)
  r.ops.clear();
  ASSERT_TRUE(a.Step(kConn, AppendRequest{Generation::None(), Term(1), kStart.Plus(10),
                                          kStart.Plus(10), kStart.Plus(5), Lsn(), ""}, &r).ok());
  a.Flush(&r);
  EXPECT_EQ(a.commit_lsn(), kStart.Plus(10)) << "commit never decreases";
  r.ops.clear();
  a.Flush(&r);
  EXPECT_TRUE(r.ops.empty()) << "nothing to acknowledge";
}

TEST(AcceptorTest, PersistsCommitWhenItReachesTheTermStart) {
  Acceptor a = NewAcceptor();
  Lead(a, Term(1), 10);
  TermHistory h({{Term(0), kStart}, {Term(1), kStart}, {Term(2), kStart.Plus(10)}});
  AcceptorReady r;
  ASSERT_TRUE(a.Step(kConn, VoteRequest{Generation::None(), Term(2)}, &r).ok());
  ASSERT_TRUE(
      a.Step(kConn, ProposerElected{Generation::None(), Term(2), kStart.Plus(10), h}, &r).ok());
  r.ops.clear();
  ASSERT_TRUE(a.Step(kConn, AppendRequest{Generation::None(), Term(2), kStart.Plus(10),
                                          kStart.Plus(10), kStart.Plus(10), Lsn(), ""}, &r).ok());
  a.Flush(&r);
  EXPECT_EQ(Ops(r), "persist(term=2),send:AppendResponse{term=2 flush=0/1000A commit=0/1000A}");
}

TEST(AcceptorTest, BrokenKnobAcksWithoutSync) {
  Acceptor a = NewAcceptor({.ack_before_fsync = true});
  Lead(a, Term(1), 0);
  AcceptorReady r;
  ASSERT_TRUE(a.Step(kConn, AppendRequest{Generation::None(), Term(1), kStart, kStart.Plus(10),
                                          Lsn(), Lsn(), std::string(10, 'x')}, &r).ok());
  r.ops.clear();
  a.Flush(&r);
  EXPECT_EQ(Ops(r).find("sync"), std::string::npos);
}

TEST(AcceptorTest, WalReadOnlyInTheSameTermAndBelowFlush) {
  Acceptor a = NewAcceptor();
  Lead(a, Term(2), 100);
  AcceptorReady r;
  EXPECT_EQ(a.Step(kConn, WalReadRequest{Term(1), kStart, kStart.Plus(10)}, &r).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(a.Step(kConn, WalReadRequest{Term(2), kStart, kStart.Plus(101)}, &r).code(),
            absl::StatusCode::kOutOfRange);
  ASSERT_TRUE(a.Step(kConn, WalReadRequest{Term(2), kStart, kStart.Plus(100)}, &r).ok());
  EXPECT_EQ(Ops(r), "sendwal");
}

TEST(AcceptorTest, RemovalHorizonIsMinOfPersistedPositions) {
  Acceptor a = NewAcceptor();
  Lead(a, Term(1), 100);
  AcceptorReady r;
  ASSERT_TRUE(a.Step(kConn, AppendRequest{Generation::None(), Term(1), kStart.Plus(100),
                                          kStart.Plus(100), kStart.Plus(90), kStart.Plus(90),
                                          ""}, &r).ok());
  a.Flush(&r);
  a.UpdateBackupLsn(kStart.Plus(70));
  EXPECT_EQ(a.RemovalHorizon(), kStart) << "remote_consistent still at the start";
  a.UpdateRemoteConsistentLsn(kStart.Plus(80));
  EXPECT_EQ(a.RemovalHorizon(), kStart) << "not persisted yet";
  a.Checkpoint(&r);
  EXPECT_EQ(a.RemovalHorizon(), kStart.Plus(70));
}

TEST(TermHistoryTest, HighestCommonPointExamplesFromNeon) {
  TermHistory prop({{Term(1), Lsn(10)}, {Term(2), Lsn(20)}, {Term(4), Lsn(40)}});
  TermHistory sk({{Term(1), Lsn(10)}, {Term(2), Lsn(20)}, {Term(3), Lsn(30)}});
  EXPECT_EQ(FindHighestCommonPoint(prop, sk, Lsn(40)), (TermSwitch{Term(2), Lsn(30)}));
  TermHistory sk2({{Term(1), Lsn(10)}, {Term(2), Lsn(20)}});
  EXPECT_EQ(FindHighestCommonPoint(prop, sk2, Lsn(32)), (TermSwitch{Term(2), Lsn(32)}));
  TermHistory prop3({{Term(1), Lsn(10)}, {Term(2), Lsn(20)}});
  EXPECT_EQ(FindHighestCommonPoint(prop3, sk2, Lsn(32)), (TermSwitch{Term(2), Lsn(32)}));
  EXPECT_FALSE(FindHighestCommonPoint(prop, TermHistory({{Term(5), Lsn(1)}}), Lsn(9)));
  EXPECT_EQ(prop.UpTo(Lsn(20)).LastTerm(), Term(2));
  EXPECT_EQ(prop.TermAt(Lsn(39)), Term(2));
  EXPECT_EQ(prop.TermAt(Lsn(40)), Term(4));
  EXPECT_EQ(prop.TermAt(Lsn(5)), Term(0));
  EXPECT_FALSE(TermHistory({{Term(2), Lsn(10)}, {Term(2), Lsn(20)}}).Validate().ok());
  EXPECT_FALSE(TermHistory({{Term(2), Lsn(20)}, {Term(3), Lsn(10)}}).Validate().ok());
}

TEST(MembershipTest, QuorumsIncludingJoint) {
  MembershipConfig m = Members();
  EXPECT_FALSE(m.IsQuorum({NodeId(1)}));
  EXPECT_TRUE(m.IsQuorum({NodeId(1), NodeId(3)}));
  m.new_members = {{NodeId(3), "", 0}, {NodeId(4), "", 0}, {NodeId(5), "", 0}};
  EXPECT_FALSE(m.IsQuorum({NodeId(1), NodeId(2)}));
  EXPECT_TRUE(m.IsQuorum({NodeId(1), NodeId(3), NodeId(4)}));
  EXPECT_EQ(m.AllNodes().size(), 5u);
}

}  // namespace
}  // namespace neon::consensus
