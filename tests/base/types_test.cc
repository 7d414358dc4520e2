// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Text forms and ordering of the core identifier types (include/neon/types.h).

#include "neon/types.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace neon {
namespace {

// ---- Lsn --------------------------------------------------------------------

TEST(LsnTest, ParsesNeonExamples) {
  auto a = Lsn::Parse("0/16960E8");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->value(), 0x16960E8u);

  auto b = Lsn::Parse("16/B374D848");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->value(), (uint64_t{0x16} << 32) | 0xB374D848u);

  auto lower = Lsn::Parse("16/b374d848");
  ASSERT_TRUE(lower.ok()) << lower.status();
  EXPECT_EQ(*lower, *b);

  auto max = Lsn::Parse("FFFFFFFF/FFFFFFFF");
  ASSERT_TRUE(max.ok()) << max.status();
  EXPECT_EQ(*max, Lsn::Max());
}

TEST(LsnTest, ToStringIsUpperCaseWithoutLeadingZeros) {
  EXPECT_EQ(Lsn(0).ToString(), "0/0");
  EXPECT_EQ(Lsn(0x16960E8).ToString(), "0/16960E8");
  EXPECT_EQ(Lsn((uint64_t{0x16} << 32) | 0xB374D848u).ToString(), "16/B374D848");
  EXPECT_EQ(Lsn::Max().ToString(), "FFFFFFFF/FFFFFFFF");
  EXPECT_EQ(Lsn(uint64_t{1} << 32).ToString(), "1/0");
}

TEST(LsnTest, RoundTripsRandomValues) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 1000; i++) {
    Lsn l(rng());
    auto p = Lsn::Parse(l.ToString());
    ASSERT_TRUE(p.ok()) << l.ToString() << ": " << p.status();
    EXPECT_EQ(*p, l);
  }
}

TEST(LsnTest, RejectsMalformedText) {
  const std::vector<std::string> bad = {
      "",      "1",         "/",         "G/0",    "123456789/0", "0/",     "/0",
      "0/123456789", "0/0/0", " 0/0",    "0/0 ",   "-1/0",        "+1/0",   "0x1/0",
      "0/G",   "0//0",      "1:2",       "00000000/000000000"};
  for (const auto& s : bad) {
    auto r = Lsn::Parse(s);
    EXPECT_FALSE(r.ok()) << "\"" << s << "\" parsed as " << r->ToString();
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << s;
    }
  }
}

TEST(LsnTest, Arithmetic) {
  EXPECT_FALSE(Lsn::Invalid().valid());
  EXPECT_TRUE(Lsn(1).valid());
  EXPECT_EQ(Lsn(1).Align(), Lsn(8));
  EXPECT_EQ(Lsn(8).Align(), Lsn(8));
  EXPECT_EQ(Lsn(0).Align(), Lsn(0));
  EXPECT_TRUE(Lsn(16).IsAligned());
  EXPECT_FALSE(Lsn(17).IsAligned());
  EXPECT_EQ(Lsn::Max().Next(), Lsn::Max());
  EXPECT_EQ(Lsn(0).Prev(), Lsn(0));
  EXPECT_EQ(Lsn(5).Next(), Lsn(6));
  EXPECT_EQ(Lsn(5).Prev(), Lsn(4));
  EXPECT_EQ(Lsn(10).Minus(Lsn(3)), 7u);
  EXPECT_EQ(Lsn(3).Minus(Lsn(10)), 0u);
  EXPECT_EQ(Lsn(10).Plus(5), Lsn(15));
  EXPECT_EQ(Lsn(0x1234567).SegmentOffset(16 << 20), 0x234567u);
  EXPECT_LT(Lsn(1), Lsn(2));
}

// ---- TenantId / TimelineId --------------------------------------------------

constexpr const char* kTenantHex = "3aa8fcc61f6d357410b7de754b1d9001";

TEST(Id128Test, ParsesAndPrintsLowerCase) {
  auto t = TenantId::Parse(kTenantHex);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->ToString(), kTenantHex);
  EXPECT_EQ(t->bytes()[0], 0x3a);
  EXPECT_EQ(t->bytes()[15], 0x01);

  auto upper = TimelineId::Parse("3AA8FCC61F6D357410B7DE754B1D9001");
  ASSERT_TRUE(upper.ok()) << upper.status();
  EXPECT_EQ(upper->ToString(), kTenantHex);
  EXPECT_FALSE(upper->IsZero());
  EXPECT_TRUE(TenantId().IsZero());
}

TEST(Id128Test, RejectsWrongLengthAndNonHex) {
  std::string s = kTenantHex;
  const std::vector<std::string> bad = {
      "", s.substr(0, 31), s + "0", s.substr(0, 31) + "g", "z" + s.substr(1),
      s.substr(0, 16) + " " + s.substr(17), s.substr(0, 30) + "-1"};
  for (const auto& b : bad) {
    auto r = TenantId::Parse(b);
    EXPECT_FALSE(r.ok()) << b;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << b;
    }
    EXPECT_FALSE(TimelineId::Parse(b).ok()) << b;
  }
}

TEST(Id128Test, GenerateIsRandomAndRoundTrips) {
  TenantId a = TenantId::Generate();
  TenantId b = TenantId::Generate();
  EXPECT_NE(a, b);
  EXPECT_FALSE(a.IsZero());
  auto p = TenantId::Parse(a.ToString());
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, a);
}

TEST(Id128Test, FromBytes) {
  std::string raw(16, '\0');
  for (int i = 0; i < 16; i++) raw[i] = char(i * 17);
  auto id = TimelineId::FromBytes(raw);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->ToString(), "00112233445566778899aabbccddeeff");
  EXPECT_EQ(TimelineId::FromBytes(raw.substr(0, 15)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TimelineId::FromBytes(raw + "x").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Id128Test, OrderingFollowsBytes) {
  auto a = TenantId::Parse("00000000000000000000000000000001");
  auto b = TenantId::Parse("00000000000000000000000000000100");
  auto c = TenantId::Parse("10000000000000000000000000000000");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_LT(*a, *b);
  EXPECT_LT(*b, *c);
}

// ---- ShardIndex / TenantShardId --------------------------------------------

TEST(ShardIndexTest, ParsesAndPrints) {
  auto s = ShardIndex::Parse("0104");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->number, 1);
  EXPECT_EQ(s->count, 4);
  EXPECT_EQ(s->ToString(), "0104");
  EXPECT_FALSE(s->IsUnsharded());

  auto u = ShardIndex::Parse("0000");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_TRUE(u->IsUnsharded());

  auto big = ShardIndex::Parse("fEFF");
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->number, 0xFE);
  EXPECT_EQ(big->count, 0xFF);
  EXPECT_EQ(big->ToString(), "feff");
}

TEST(ShardIndexTest, RejectsBadText) {
  // number >= count (and a nonzero number with the unsharded count 0).
  for (const char* b : {"0404", "0504", "0101", "ff01", "0100", "", "01", "010", "01040", "0g04",
                        "-104"}) {
    auto r = ShardIndex::Parse(b);
    EXPECT_FALSE(r.ok()) << b;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << b;
    }
  }
}

TEST(TenantShardIdTest, RoundTrips) {
  auto tenant = TenantId::Parse(kTenantHex);
  ASSERT_TRUE(tenant.ok());

  std::string sharded = std::string(kTenantHex) + "-0104";
  auto id = TenantShardId::Parse(sharded);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->tenant_id, *tenant);
  EXPECT_EQ(id->shard.number, 1);
  EXPECT_EQ(id->shard.count, 4);
  EXPECT_EQ(id->ToString(), sharded);

  auto unsharded = TenantShardId::Parse(kTenantHex);
  ASSERT_TRUE(unsharded.ok()) << unsharded.status();
  EXPECT_EQ(*unsharded, TenantShardId::Unsharded(*tenant));
  EXPECT_TRUE(unsharded->shard.IsUnsharded());
  EXPECT_EQ(unsharded->ToString(), kTenantHex);

  // A single modern shard (count 1) keeps its suffix.
  std::string single = std::string(kTenantHex) + "-0001";
  auto one = TenantShardId::Parse(single);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->ToString(), single);
  EXPECT_NE(*one, *unsharded);
}

TEST(TenantShardIdTest, RejectsBadText) {
  std::string t = kTenantHex;
  const std::vector<std::string> bad = {
      "",           t.substr(0, 31),      t + "-",           t + "-01",     t + "-010",
      t + "-0404",  t + "-0805",          t + "_0104",       t + "0104",    t + "-01044",
      t + "-0x04",  t.substr(0, 31) + "g-0104", "-0104",     t + "-0100"};
  for (const auto& b : bad) {
    auto r = TenantShardId::Parse(b);
    EXPECT_FALSE(r.ok()) << b;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << b;
    }
  }
}

// ---- Generation -------------------------------------------------------------

TEST(GenerationTest, SuffixAndParse) {
  EXPECT_EQ(Generation::None().Suffix(), "");
  EXPECT_TRUE(Generation::None().is_none());
  EXPECT_EQ(Generation::Of(42).Suffix(), "-0000002a");
  EXPECT_EQ(Generation::Of(0xFFFFFFFF).Suffix(), "-ffffffff");

  auto g = Generation::Parse("0000002a");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_FALSE(g->is_none());
  EXPECT_EQ(g->value(), 42u);
  EXPECT_EQ(*g, Generation::Of(42));

  auto upper = Generation::Parse("DEADBEEF");
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(upper->value(), 0xDEADBEEFu);
}

TEST(GenerationTest, RejectsBadText) {
  for (const char* b : {"", "2a", "0000002", "000000002a", "-0000002a", "0000002g", "0x00002a"}) {
    auto r = Generation::Parse(b);
    EXPECT_FALSE(r.ok()) << b;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << b;
    }
  }
}

TEST(GenerationTest, NoneSortsBelowEveryValidGeneration) {
  EXPECT_LT(Generation::None(), Generation::Of(0));
  EXPECT_LT(Generation::Of(0), Generation::Of(1));
  EXPECT_LT(Generation::Of(1), Generation::Of(0xFFFFFFFF));
  EXPECT_EQ(Generation::None(), Generation());
  EXPECT_NE(Generation::None(), Generation::Of(0));
}

// ---- RelTag -----------------------------------------------------------------

TEST(RelTagTest, ToStringAndOrdering) {
  EXPECT_EQ((RelTag{1663, 12990, 16384, 0}).ToString(), "1663/12990/16384");
  EXPECT_EQ((RelTag{1663, 12990, 16384, 1}).ToString(), "1663/12990/16384_fsm");
  EXPECT_EQ((RelTag{1663, 12990, 16384, 2}).ToString(), "1663/12990/16384_vm");
  EXPECT_EQ((RelTag{1663, 12990, 16384, 3}).ToString(), "1663/12990/16384_init");
  EXPECT_LT((RelTag{1, 2, 3, 0}), (RelTag{1, 2, 3, 1}));
  EXPECT_LT((RelTag{1, 2, 3, 9}), (RelTag{1, 2, 4, 0}));
  EXPECT_LT((RelTag{1, 9, 9, 9}), (RelTag{2, 0, 0, 0}));
}

}  // namespace
}  // namespace neon
