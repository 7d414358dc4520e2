// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Codec tests: round trips, and byte mutations / truncations / extensions of
// every message, which must be rejected with an error or decode to something
// that re-encodes cleanly, and never crash.

#include <random>

// GCC 12 reports a false -Wmaybe-uninitialized on vectors of variants built
// from temporaries below.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "gtest/gtest.h"
#include "neon/consensus.h"

namespace neon::consensus {
namespace {

MembershipConfig ThreeMembers() {
  MembershipConfig m;
  m.generation = Generation::Of(3);
  for (uint64_t i = 1; i <= 3; i++) m.members.push_back({NodeId(i), "sk" + std::to_string(i), 5454});
  m.new_members.push_back({NodeId(4), "sk4", 5455});
  return m;
}

TermHistory History() { return TermHistory({{Term(1), Lsn(0x100)}, {Term(3), Lsn(0x180)}}); }

std::vector<ProposerMessage> ProposerSamples() {
  TenantId tenant = *TenantId::Parse("0123456789abcdef0123456789abcdef");
  TimelineId timeline = *TimelineId::Parse("fedcba9876543210fedcba9876543210");
  std::vector<ProposerMessage> out;
  out.push_back(ProposerGreeting{tenant, timeline, ThreeMembers(), {170004, 42, 16 << 20}});
  out.push_back(VoteRequest{Generation::Of(3), Term(7)});
  out.push_back(ProposerElected{Generation::None(), Term(7), Lsn(0x150), History()});
  out.push_back(AppendRequest{Generation::None(), Term(7), Lsn(0x150), Lsn(0x15a), Lsn(0x140),
                              Lsn(0x100), "0123456789"});
  out.push_back(AppendRequest{Generation::None(), Term(7), Lsn(0x150), Lsn(0x150), Lsn(0x140),
                              Lsn(0x100), ""});
  out.push_back(WalReadRequest{Term(7), Lsn(0x100), Lsn(0x200)});
  return out;
}

std::vector<AcceptorMessage> AcceptorSamples() {
  std::vector<AcceptorMessage> out;
  out.push_back(AcceptorGreeting{NodeId(2), ThreeMembers(), Term(6)});
  out.push_back(VoteResponse{Generation::None(), Term(7), true, Lsn(0x190), Lsn(0x120), History()});
  out.push_back(AppendResponse{Generation::None(), Term(7), Lsn(0x190), Lsn(0x150), {1, 2, 3}, {}});
  PageserverFeedback ps{100, Lsn(1), Lsn(2), Lsn(3), 4, 5};
  out.push_back(AppendResponse{Generation::Of(2), Term(7), Lsn(0x190), Lsn(0x150), {}, ps});
  out.push_back(WalReadResponse{Term(7), Lsn(0x100), std::string(300, 'x')});
  return out;
}

TEST(CodecTest, ProposerRoundTrip) {
  for (const auto& m : ProposerSamples()) {
    std::string enc = EncodeProposerMessage(m);
    auto dec = DecodeProposerMessage(enc);
    ASSERT_TRUE(dec.ok()) << dec.status() << " " << DebugString(m);
    EXPECT_EQ(dec->index(), m.index());
    EXPECT_EQ(EncodeProposerMessage(*dec), enc) << DebugString(m);
  }
}

TEST(CodecTest, AcceptorRoundTrip) {
  for (const auto& m : AcceptorSamples()) {
    std::string enc = EncodeAcceptorMessage(m);
    auto dec = DecodeAcceptorMessage(enc);
    ASSERT_TRUE(dec.ok()) << dec.status() << " " << DebugString(m);
    EXPECT_EQ(dec->index(), m.index());
    EXPECT_EQ(EncodeAcceptorMessage(*dec), enc) << DebugString(m);
  }
}

TEST(CodecTest, FieldsSurviveRoundTrip) {
  auto dec = DecodeProposerMessage(EncodeProposerMessage(ProposerSamples()[0]));
  ASSERT_TRUE(dec.ok());
  const auto& g = std::get<ProposerGreeting>(*dec);
  EXPECT_EQ(g.mconf, ThreeMembers());
  EXPECT_EQ(g.server.system_id, 42u);
  EXPECT_EQ(g.tenant_id.ToString(), "0123456789abcdef0123456789abcdef");
  auto vr = DecodeAcceptorMessage(EncodeAcceptorMessage(AcceptorSamples()[1]));
  ASSERT_TRUE(vr.ok());
  EXPECT_EQ(std::get<VoteResponse>(*vr).history, History());
  EXPECT_TRUE(std::get<VoteResponse>(*vr).vote_given);
}

// Decoding must never crash; if it succeeds the result must re-encode to a
// message that decodes again (the codec is closed under its own output).
template <typename Decode, typename Encode>
void CheckRobust(const std::string& bytes, Decode decode, Encode encode) {
  auto dec = decode(bytes);
  if (!dec.ok()) {
    EXPECT_EQ(dec.status().code(), absl::StatusCode::kInvalidArgument);
    return;
  }
  std::string again = encode(*dec);
  EXPECT_TRUE(decode(again).ok());
}

template <typename Msg, typename Decode, typename Encode>
void MutateAll(const std::vector<Msg>& samples, Decode decode, Encode encode) {
  std::mt19937_64 rng(7);
  for (const auto& m : samples) {
    std::string enc = encode(m);
    for (size_t len = 0; len < enc.size(); len++) {  // every truncation fails
      EXPECT_FALSE(decode(enc.substr(0, len)).ok()) << DebugString(m) << " len " << len;
    }
    EXPECT_FALSE(decode(enc + "x").ok()) << "trailing byte accepted: " << DebugString(m);
    for (size_t i = 0; i < enc.size(); i++) {
      for (int bit = 0; bit < 8; bit++) {
        std::string b = enc;
        b[i] = char(uint8_t(b[i]) ^ (1u << bit));
        CheckRobust(b, decode, encode);
      }
      std::string b = enc;
      b[i] = char(rng());
      CheckRobust(b, decode, encode);
    }
  }
}

TEST(CodecTest, ProposerMutations) {
  MutateAll(ProposerSamples(), DecodeProposerMessage, EncodeProposerMessage);
}

TEST(CodecTest, AcceptorMutations) {
  MutateAll(AcceptorSamples(), DecodeAcceptorMessage, EncodeAcceptorMessage);
}

TEST(CodecTest, RandomGarbageNeverCrashes) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 20000; i++) {
    std::string b(rng() % 96, '\0');
    for (auto& c : b) c = char(rng());
    if (b.size() >= 2 && i % 2 == 0) b[0] = char(kWireVersion);
    CheckRobust(b, DecodeProposerMessage, EncodeProposerMessage);
    CheckRobust(b, DecodeAcceptorMessage, EncodeAcceptorMessage);
  }
}

TEST(CodecTest, RejectsBadVersionTagAndFlags) {
  std::string enc = EncodeProposerMessage(VoteRequest{Generation::None(), Term(1)});
  std::string bad = enc;
  bad[0] = 2;
  EXPECT_EQ(DecodeProposerMessage(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = enc;
  bad[1] = 'z';
  EXPECT_FALSE(DecodeProposerMessage(bad).ok());
  EXPECT_FALSE(DecodeProposerMessage("").ok());
  std::string vr = EncodeAcceptorMessage(AcceptorSamples()[1]);
  vr[2 + 4 + 8] = 2;  // vote_given
  EXPECT_FALSE(DecodeAcceptorMessage(vr).ok());
}

TEST(CodecTest, RejectsOversizedAndShortAppend) {
  AppendRequest big{Generation::None(), Term(1), Lsn(0), Lsn(kMaxSendSize), Lsn(0), Lsn(0),
                    std::string(kMaxSendSize, 'w')};
  std::string enc = EncodeProposerMessage(big);
  EXPECT_TRUE(DecodeProposerMessage(enc).ok());
  std::string over = enc + "w";  // one byte more than the range says
  EXPECT_FALSE(DecodeProposerMessage(over).ok());
  std::string huge(kMaxMessageSize + 1, 'a');
  huge[0] = char(kWireVersion);
  huge[1] = 'a';
  EXPECT_FALSE(DecodeProposerMessage(huge).ok());
  // A range larger than kMaxSendSize is refused even if the bytes are there.
  AppendRequest ok_req = big;
  std::string e2 = EncodeProposerMessage(ok_req);
  // end_lsn field: after version, tag, gen(4), term(8), begin(8).
  e2[2 + 4 + 8 + 8 + 7] = char(uint8_t(e2[2 + 4 + 8 + 8 + 7]) + 1);
  EXPECT_FALSE(DecodeProposerMessage(e2).ok());
}

TEST(CodecTest, RejectsInvalidHistory) {
  ProposerElected e{Generation::None(), Term(7), Lsn(0x150),
                    TermHistory({{Term(3), Lsn(0x100)}, {Term(2), Lsn(0x180)}})};
  // The encoder does not validate semantics; the decoder does.
  EXPECT_FALSE(DecodeProposerMessage(EncodeProposerMessage(e)).ok());
}

}  // namespace
}  // namespace neon::consensus
