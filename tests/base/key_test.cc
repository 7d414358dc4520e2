// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Key encoding, text form, ordering and the key-space constructors.

#include "neon/key.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace neon {
namespace {

Key RandomKey(std::mt19937_64& rng) {
  // Small field values make equal prefixes (and so deeper comparisons) common.
  auto pick32 = [&]() -> uint32_t {
    switch (rng() % 4) {
      case 0: return uint32_t(rng() % 3);
      case 1: return 0xFFFFFFFFu - uint32_t(rng() % 2);
      default: return uint32_t(rng());
    }
  };
  auto pick8 = [&]() -> uint8_t { return rng() % 2 ? uint8_t(rng() % 3) : uint8_t(rng()); };
  return Key(pick8(), pick32(), pick32(), pick32(), pick8(), pick32());
}

TEST(KeyTest, ParsesNeonExampleKey) {
  auto k = Key::Parse("000000067F000032BE0000400000000070B6");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->field1, 0x00);
  EXPECT_EQ(k->field2, 1663u);   // spc
  EXPECT_EQ(k->field3, 12990u);  // db
  EXPECT_EQ(k->field4, 16384u);  // rel
  EXPECT_EQ(k->field5, 0);       // fork
  EXPECT_EQ(k->field6, 0x70B6u); // blk
  EXPECT_TRUE(k->IsRelBlock());
  EXPECT_EQ(k->rel(), (RelTag{1663, 12990, 16384, 0}));
  EXPECT_EQ(k->block(), 0x70B6u);
  EXPECT_EQ(*k, Key::RelBlock(RelTag{1663, 12990, 16384, 0}, 0x70B6));
  EXPECT_EQ(k->ToString(), "000000067F000032BE0000400000000070B6");
}

TEST(KeyTest, ParseAcceptsLowerCasePrintsUpperCase) {
  auto k = Key::Parse("000000067f000032be0000400000000070b6");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->ToString(), "000000067F000032BE0000400000000070B6");
}

TEST(KeyTest, RejectsBadText) {
  std::string good = "000000067F000032BE0000400000000070B6";
  const std::vector<std::string> bad = {"",
                                        good.substr(0, 35),
                                        good + "0",
                                        good.substr(0, 35) + "G",
                                        " " + good.substr(1),
                                        good.substr(0, 17) + "-" + good.substr(18),
                                        std::string(36, 'x')};
  for (const auto& b : bad) {
    auto r = Key::Parse(b);
    EXPECT_FALSE(r.ok()) << b;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << b;
    }
  }
}

TEST(KeyTest, EncodeDecodeAndTextRoundTrip) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; i++) {
    Key k = RandomKey(rng);
    Key::Encoded e = k.Encode();
    EXPECT_EQ(Key::Decode(e.data()), k);
    uint8_t buf[Key::kEncodedSize];
    k.EncodeTo(buf);
    EXPECT_EQ(std::memcmp(buf, e.data(), Key::kEncodedSize), 0);
    std::string text = k.ToString();
    EXPECT_EQ(text.size(), Key::kTextSize);
    auto p = Key::Parse(text);
    ASSERT_TRUE(p.ok()) << text;
    EXPECT_EQ(*p, k);
  }
}

TEST(KeyTest, EncodingIsBigEndianFieldOrder) {
  Key k(0x01, 0x02030405, 0x06070809, 0x0A0B0C0D, 0x0E, 0x0F101112);
  Key::Encoded e = k.Encode();
  for (size_t i = 0; i < Key::kEncodedSize; i++) EXPECT_EQ(e[i], i + 1) << i;
}

TEST(KeyTest, ByteOrderEqualsKeyOrder) {
  std::mt19937_64 rng(1234);
  std::vector<Key> keys;
  for (int i = 0; i < 3000; i++) keys.push_back(RandomKey(rng));
  for (size_t i = 0; i + 1 < keys.size(); i++) {
    const Key& a = keys[i];
    const Key& b = keys[i + 1];
    int c = std::memcmp(a.Encode().data(), b.Encode().data(), Key::kEncodedSize);
    EXPECT_EQ(c < 0, a < b) << a.ToString() << " vs " << b.ToString();
    EXPECT_EQ(c == 0, a == b);
    // Text order agrees too (fixed-width upper-case hex).
    EXPECT_EQ(a.ToString() < b.ToString(), a < b);
  }
  // Sorting by bytes and by key gives the same sequence.
  std::vector<Key> by_key = keys, by_bytes = keys;
  std::sort(by_key.begin(), by_key.end());
  std::sort(by_bytes.begin(), by_bytes.end(), [](const Key& a, const Key& b) {
    return std::memcmp(a.Encode().data(), b.Encode().data(), Key::kEncodedSize) < 0;
  });
  EXPECT_EQ(by_key, by_bytes);
}

TEST(KeyTest, NextIncrementsAndCarries) {
  EXPECT_EQ(Key(0, 0, 0, 0, 0, 0).Next(), Key(0, 0, 0, 0, 0, 1));
  EXPECT_EQ(Key(0, 1, 2, 3, 4, 0xFFFFFFFF).Next(), Key(0, 1, 2, 3, 5, 0));
  EXPECT_EQ(Key(0, 1, 2, 3, 0xFF, 0xFFFFFFFF).Next(), Key(0, 1, 2, 4, 0, 0));
  EXPECT_EQ(Key(0, 1, 2, 0xFFFFFFFF, 0xFF, 0xFFFFFFFF).Next(), Key(0, 1, 3, 0, 0, 0));
  EXPECT_EQ(Key(0, 1, 0xFFFFFFFF, 0xFFFFFFFF, 0xFF, 0xFFFFFFFF).Next(), Key(0, 2, 0, 0, 0, 0));
  EXPECT_EQ(Key(7, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFF, 0xFFFFFFFF).Next(),
            Key(8, 0, 0, 0, 0, 0));
  EXPECT_EQ(Key::Max().Next(), Key::Max());
}

TEST(KeyTest, NextIsTheSmallestGreaterKey) {
  std::mt19937_64 rng(99);
  for (int i = 0; i < 2000; i++) {
    Key k = RandomKey(rng);
    if (k == Key::Max()) continue;
    Key n = k.Next();
    EXPECT_LT(k, n);
    // As an 18-byte big-endian number, Next() is +1.
    Key::Encoded e = k.Encode();
    for (int b = Key::kEncodedSize - 1; b >= 0; b--) {
      if (++e[b] != 0) break;
    }
    EXPECT_EQ(Key::Decode(e.data()), n) << k.ToString();
  }
}

TEST(KeyTest, KeySpaceConstructors) {
  RelTag rel{1663, 5, 16384, 0};
  Key blk = Key::RelBlock(rel, 10);
  EXPECT_TRUE(blk.IsRelBlock());
  EXPECT_FALSE(blk.IsRelSize());
  Key size = Key::RelSize(rel);
  EXPECT_TRUE(size.IsRelSize());
  EXPECT_FALSE(size.IsRelBlock());
  EXPECT_LT(blk, size);

  KeyRange fork{Key::RelRangeStart(rel), Key::RelRangeEnd(rel)};
  EXPECT_TRUE(fork.Contains(blk));
  EXPECT_TRUE(fork.Contains(size));
  EXPECT_FALSE(fork.Contains(Key::RelBlock(RelTag{1663, 5, 16384, 1}, 0)));
  EXPECT_FALSE(fork.Contains(Key::RelBlock(RelTag{1663, 5, 16383, 0}, 0xFFFF)));

  EXPECT_FALSE(Key::RelDir(1663, 5).IsRelBlock());
  EXPECT_FALSE(Key::RelMap(1663, 5).IsRelBlock());
  EXPECT_FALSE(Key::DbDir().IsRelBlock());
  EXPECT_TRUE(Key::SlruBlock(SlruKind::kClog, 3, 7).IsSlruBlock());
  EXPECT_FALSE(Key::SlruSegmentSize(SlruKind::kClog, 3).IsSlruBlock());
  EXPECT_FALSE(Key::SlruDir(SlruKind::kClog).IsSlruBlock());
  EXPECT_LT(Key::SlruDir(SlruKind::kClog), Key::SlruBlock(SlruKind::kClog, 0, 0));

  uint64_t xid = 0x123456789AULL;
  Key tp = Key::TwoPhaseFile(xid);
  uint64_t back = (uint64_t(tp.field4) << 40) | (uint64_t(tp.field5) << 32) | tp.field6;
  EXPECT_EQ(back, xid);
  EXPECT_LT(Key::ControlFile(), Key::Checkpoint());
  EXPECT_TRUE(Key(0x60, 0, 0, 0, 0, 0).IsSparse());
  EXPECT_TRUE(Key(0x7F, 0, 0, 0, 0, 0).IsSparse());
  EXPECT_FALSE(Key(0x80, 0, 0, 0, 0, 0).IsSparse());
  EXPECT_FALSE(Key(0x5F, 0, 0, 0, 0, 0).IsSparse());
}

TEST(KeyRangeTest, ContainsOverlapsEmpty) {
  KeyRange r{Key(0, 0, 0, 0, 0, 10), Key(0, 0, 0, 0, 0, 20)};
  EXPECT_TRUE(r.Contains(Key(0, 0, 0, 0, 0, 10)));
  EXPECT_FALSE(r.Contains(Key(0, 0, 0, 0, 0, 20)));
  EXPECT_TRUE(r.Overlaps(KeyRange{Key(0, 0, 0, 0, 0, 19), Key(0, 0, 0, 0, 0, 30)}));
  EXPECT_FALSE(r.Overlaps(KeyRange{Key(0, 0, 0, 0, 0, 20), Key(0, 0, 0, 0, 0, 30)}));
  EXPECT_FALSE(r.IsEmpty());
  EXPECT_TRUE((KeyRange{r.end, r.start}).IsEmpty());
  EXPECT_TRUE(KeyRange::All().Contains(Key::Min()));

  LsnRange lr{Lsn(5), Lsn(8)};
  EXPECT_TRUE(lr.Contains(Lsn(5)));
  EXPECT_FALSE(lr.Contains(Lsn(8)));
  EXPECT_TRUE((LsnRange{Lsn(8), Lsn(8)}).IsEmpty());
}

}  // namespace
}  // namespace neon
