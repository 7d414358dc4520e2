// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The Proposer state machine alone, fed hand-made acceptor messages.

#include "consensus/proposer.h"

#include "gtest/gtest.h"

namespace neon::consensus {
namespace {

const Lsn kStart(0x10000);

ProposerOptions Opts(ProposerMode mode = ProposerMode::kNormal) {
  ProposerOptions o;
  for (uint64_t i = 1; i <= 3; i++) o.mconf.members.push_back({NodeId(i), "sk", 5454});
  o.server = {170004, 0, 4096};
  o.mode = mode;
  return o;
}

std::string Sent(const ProposerReady& r) {
  std::string out;
  for (const Outgoing& o : r.messages) {
    if (!out.empty()) out += "; ";
    out += std::to_string(o.to.value()) + ":" + DebugString(o.msg);
  }
  return out;
}

void Greet(Proposer& p, uint64_t node, Term term, ProposerReady* r) {
  p.OnConnected(NodeId(node), r);
  ASSERT_TRUE(p.Step(NodeId(node), AcceptorGreeting{NodeId(node), {}, term}, r).ok());
}

VoteResponse Vote(Term t, Lsn flush, TermHistory h, Lsn truncate = kStart) {
  return VoteResponse{Generation::None(), t, true, flush, truncate, std::move(h)};
}

TEST(ProposerTest, TermIsMaxOfAQuorumPlusOne) {
  Proposer p(Opts());
  ProposerReady r;
  Greet(p, 1, Term(4), &r);
  EXPECT_EQ(p.phase(), ProposerPhase::kCollectingTerms);
  Greet(p, 2, Term(7), &r);
  EXPECT_EQ(p.phase(), ProposerPhase::kCampaign);
  EXPECT_EQ(p.term(), Term(8));
  r.messages.clear();
  Greet(p, 3, Term(2), &r);  // late: gets a vote request at once
  EXPECT_EQ(Sent(r), "3:ProposerGreeting{gen=none members=3 seg=4096}; 3:VoteRequest{term=8}");
}

TEST(ProposerTest, DonorIsHighestLastLogTermThenFlush) {
  Proposer p(Opts());
  ProposerReady r;
  for (uint64_t n = 1; n <= 3; n++) Greet(p, n, Term(3), &r);
  ASSERT_EQ(p.term(), Term(4));
  TermHistory h1({{Term(0), kStart}, {Term(1), kStart}});
  TermHistory h3({{Term(0), kStart}, {Term(1), kStart}, {Term(3), kStart.Plus(50)}});
  // Node 1 has more WAL, but of an older term: node 2 wins.
  ASSERT_TRUE(p.Step(NodeId(1), Vote(Term(4), kStart.Plus(500), h1), &r).ok());
  r.messages.clear();
  ASSERT_TRUE(p.Step(NodeId(2), Vote(Term(4), kStart.Plus(60), h3), &r).ok());
  ASSERT_EQ(p.phase(), ProposerPhase::kElected);
  EXPECT_EQ(p.donor(), NodeId(2));
  EXPECT_EQ(p.term_start_lsn(), kStart.Plus(60));
  TermHistory want({{Term(0), kStart}, {Term(1), kStart}, {Term(3), kStart.Plus(50)},
                    {Term(4), kStart.Plus(60)}});
  EXPECT_EQ(p.history(), want);
  // Node 1 is truncated where term 3 began; it then needs donor WAL.
  std::string sent = Sent(r);
  EXPECT_NE(sent.find("1:ProposerElected{term=4 start=0/10032"), std::string::npos) << sent;
  EXPECT_NE(sent.find("2:WalReadRequest{term=4 0/10032..0/1003C}"), std::string::npos) << sent;
}

TEST(ProposerTest, CommitsOnlyFromItsOwnTermStart) {
  for (bool broken : {false, true}) {
    ProposerOptions o = Opts();
    o.knobs.commit_previous_term_entries = broken;
    Proposer p(o);
    ProposerReady r;
    for (uint64_t n = 1; n <= 3; n++) Greet(p, n, Term(1), &r);
    TermHistory h({{Term(0), kStart}, {Term(1), kStart}});
    ASSERT_TRUE(p.Step(NodeId(1), Vote(Term(2), kStart.Plus(100), h), &r).ok());
    ASSERT_TRUE(p.Step(NodeId(2), Vote(Term(2), kStart.Plus(10), h), &r).ok());
    ASSERT_EQ(p.term_start_lsn(), kStart.Plus(100));
    // Node 2 caught up to 80 of the old term's 100 bytes; node 1 is at 100.
    AppendResponse a1{Generation::None(), Term(2), kStart.Plus(100), kStart, {}, {}};
    AppendResponse a2{Generation::None(), Term(2), kStart.Plus(80), kStart, {}, {}};
    ASSERT_TRUE(p.Step(NodeId(1), a1, &r).ok());
    ASSERT_TRUE(p.Step(NodeId(2), a2, &r).ok());
    if (broken) {
      EXPECT_EQ(p.commit_lsn(), kStart.Plus(80)) << "the broken knob commits old-term WAL";
    } else {
      EXPECT_FALSE(p.commit_lsn().valid()) << "old-term WAL is not committed by counting";
    }
    a2.flush_lsn = kStart.Plus(100);
    ASSERT_TRUE(p.Step(NodeId(2), a2, &r).ok());
    EXPECT_EQ(p.commit_lsn(), kStart.Plus(100));
  }
}

TEST(ProposerTest, StepsDownOnAHigherTerm) {
  Proposer p(Opts());
  ProposerReady r;
  for (uint64_t n = 1; n <= 2; n++) Greet(p, n, Term(1), &r);
  TermHistory h({{Term(0), kStart}});
  ASSERT_TRUE(p.Step(NodeId(1), Vote(Term(2), kStart, h), &r).ok());
  ASSERT_TRUE(p.Step(NodeId(2), Vote(Term(2), kStart, h), &r).ok());
  ASSERT_EQ(p.phase(), ProposerPhase::kElected);
  AppendResponse higher{Generation::None(), Term(5), Lsn(), Lsn(), {}, {}};
  ASSERT_TRUE(p.Step(NodeId(1), higher, &r).ok());
  EXPECT_EQ(p.phase(), ProposerPhase::kStopped);
  EXPECT_EQ(p.stop_reason().code(), absl::StatusCode::kAborted);
  EXPECT_FALSE(p.Propose("x", &r).ok());
}

TEST(ProposerTest, RefusedVoteWhileCampaigningStops) {
  Proposer p(Opts());
  ProposerReady r;
  for (uint64_t n = 1; n <= 2; n++) Greet(p, n, Term(1), &r);
  VoteResponse no = Vote(Term(2), kStart, TermHistory({{Term(0), kStart}}));
  no.vote_given = false;
  ASSERT_TRUE(p.Step(NodeId(1), no, &r).ok());
  EXPECT_EQ(p.phase(), ProposerPhase::kStopped);
}

TEST(ProposerTest, StartMismatchWithBasebackupStops) {
  ProposerOptions o = Opts();
  o.expected_start_lsn = kStart.Plus(1);
  Proposer p(o);
  ProposerReady r;
  for (uint64_t n = 1; n <= 2; n++) Greet(p, n, Term(1), &r);
  TermHistory h({{Term(0), kStart}});
  ASSERT_TRUE(p.Step(NodeId(1), Vote(Term(2), kStart, h), &r).ok());
  ASSERT_TRUE(p.Step(NodeId(2), Vote(Term(2), kStart, h), &r).ok());
  EXPECT_EQ(p.phase(), ProposerPhase::kStopped);
  EXPECT_EQ(p.stop_reason().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ProposerTest, StreamsInChunksWithinTheWindowAndApplyBackPressure) {
  ProposerOptions o = Opts();
  o.max_inflight_bytes = 200000;
  o.max_buffered_wal_bytes = 300000;
  Proposer p(o);
  ProposerReady r;
  for (uint64_t n = 1; n <= 2; n++) Greet(p, n, Term(1), &r);
  TermHistory h({{Term(0), kStart}});
  ASSERT_TRUE(p.Step(NodeId(1), Vote(Term(2), kStart, h), &r).ok());
  ASSERT_TRUE(p.Step(NodeId(2), Vote(Term(2), kStart, h), &r).ok());
  r.messages.clear();
  ASSERT_TRUE(p.Propose(std::string(250000, 'w'), &r).ok());
  size_t appends = 0;
  for (const Outgoing& m : r.messages) {
    auto* a = std::get_if<AppendRequest>(&m.msg);
    ASSERT_NE(a, nullptr);
    EXPECT_LE(a->wal.size(), kMaxSendSize);
    appends++;
  }
  EXPECT_EQ(appends, 4u) << "two chunks per acceptor: the window stops the second at 262144";
  EXPECT_EQ(p.Propose(std::string(60000, 'w'), &r).code(), absl::StatusCode::kResourceExhausted);
}

TEST(ProposerTest, SyncModeWaitsForEveryLiveAcceptor) {
  Proposer p(Opts(ProposerMode::kSyncSafekeepers));
  ProposerReady r;
  for (uint64_t n = 1; n <= 3; n++) Greet(p, n, Term(1), &r);
  TermHistory h({{Term(0), kStart}, {Term(1), kStart}});
  for (uint64_t n = 1; n <= 3; n++) {
    ASSERT_TRUE(p.Step(NodeId(n), Vote(Term(2), kStart.Plus(n == 3 ? 5 : 10), h), &r).ok());
  }
  ASSERT_EQ(p.phase(), ProposerPhase::kElected);
  Lsn s = kStart.Plus(10);
  AppendResponse done{Generation::None(), Term(2), s, s, {}, {}};
  ASSERT_TRUE(p.Step(NodeId(1), done, &r).ok());
  ASSERT_TRUE(p.Step(NodeId(2), done, &r).ok());
  EXPECT_EQ(p.commit_lsn(), s);
  EXPECT_EQ(p.phase(), ProposerPhase::kElected) << "node 3 is connected and behind";
  AppendResponse lagging{Generation::None(), Term(2), s, kStart.Plus(5), {}, {}};
  ASSERT_TRUE(p.Step(NodeId(3), lagging, &r).ok());
  EXPECT_EQ(p.phase(), ProposerPhase::kElected) << "its persisted commit is still behind";
  ASSERT_TRUE(p.Step(NodeId(3), done, &r).ok());
  EXPECT_EQ(p.phase(), ProposerPhase::kSynced);
  EXPECT_EQ(p.sync_lsn(), s);
}

TEST(ProposerTest, ProtocolViolationsAreErrors) {
  Proposer p(Opts());
  ProposerReady r;
  EXPECT_FALSE(p.Step(NodeId(1), AcceptorGreeting{NodeId(1), {}, Term(1)}, &r).ok())
      << "not connected";
  p.OnConnected(NodeId(1), &r);
  EXPECT_FALSE(p.Step(NodeId(1), AcceptorGreeting{NodeId(2), {}, Term(1)}, &r).ok())
      << "wrong node id";
  EXPECT_FALSE(p.Step(NodeId(1), Vote(Term(1), kStart, TermHistory({{Term(0), kStart}})), &r).ok())
      << "vote before greeting";
}

}  // namespace
}  // namespace neon::consensus
