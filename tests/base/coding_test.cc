// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Fixed-width and varint encodings (lib/base/coding.h).

#include "base/coding.h"

#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace neon {
namespace {

TEST(CodingTest, FixedBigEndianLayout) {
  std::string s;
  PutFixed16BE(&s, 0x0102);
  PutFixed32BE(&s, 0x03040506);
  PutFixed64BE(&s, 0x0708090A0B0C0D0Eull);
  PutU8(&s, 0x0F);
  ASSERT_EQ(s.size(), 15u);
  for (size_t i = 0; i < s.size(); i++) EXPECT_EQ(uint8_t(s[i]), i + 1) << i;

  std::string_view in = s;
  uint16_t a;
  uint32_t b;
  uint64_t c;
  uint8_t d;
  ASSERT_TRUE(GetFixed16BE(&in, &a));
  ASSERT_TRUE(GetFixed32BE(&in, &b));
  ASSERT_TRUE(GetFixed64BE(&in, &c));
  ASSERT_TRUE(GetU8(&in, &d));
  EXPECT_EQ(a, 0x0102);
  EXPECT_EQ(b, 0x03040506u);
  EXPECT_EQ(c, 0x0708090A0B0C0D0Eull);
  EXPECT_EQ(d, 0x0F);
  EXPECT_TRUE(in.empty());
  EXPECT_FALSE(GetU8(&in, &d));
}

TEST(CodingTest, FixedLittleEndianLayout) {
  std::string s;
  PutFixed32LE(&s, 0x04030201);
  PutFixed64LE(&s, 0x0C0B0A0908070605ull);
  ASSERT_EQ(s.size(), 12u);
  for (size_t i = 0; i < s.size(); i++) EXPECT_EQ(uint8_t(s[i]), i + 1) << i;
  std::string_view in = s;
  uint32_t a;
  uint64_t b;
  ASSERT_TRUE(GetFixed32LE(&in, &a));
  ASSERT_TRUE(GetFixed64LE(&in, &b));
  EXPECT_EQ(a, 0x04030201u);
  EXPECT_EQ(b, 0x0C0B0A0908070605ull);
}

TEST(CodingTest, FixedRejectsShortInput) {
  std::string s(7, '\x01');
  for (size_t n = 0; n < 8; n++) {
    std::string_view in = std::string_view(s).substr(0, std::min<size_t>(n, s.size()));
    uint64_t v;
    uint32_t w;
    uint16_t h;
    std::string_view copy = in;
    EXPECT_FALSE(GetFixed64BE(&copy, &v));
    copy = in;
    EXPECT_FALSE(GetFixed64LE(&copy, &v));
    copy = in;
    EXPECT_EQ(GetFixed32BE(&copy, &w), n >= 4);
    copy = in;
    EXPECT_EQ(GetFixed32LE(&copy, &w), n >= 4);
    copy = in;
    EXPECT_EQ(GetFixed16BE(&copy, &h), n >= 2);
  }
}

TEST(CodingTest, VarintRoundTrip) {
  std::vector<uint64_t> values = {0, 1, 127, 128, 255, 256, 16383, 16384,
                                  (1ull << 32) - 1, 1ull << 32, std::numeric_limits<uint64_t>::max()};
  std::mt19937_64 rng(3);
  for (int i = 0; i < 1000; i++) values.push_back(rng() >> (rng() % 64));
  std::string s;
  for (uint64_t v : values) {
    size_t before = s.size();
    PutVarint64(&s, v);
    EXPECT_EQ(s.size() - before, size_t(VarintLength(v))) << v;
  }
  std::string_view in = s;
  for (uint64_t v : values) {
    uint64_t got;
    ASSERT_TRUE(GetVarint64(&in, &got));
    EXPECT_EQ(got, v);
  }
  EXPECT_TRUE(in.empty());
}

TEST(CodingTest, VarintKnownBytes) {
  std::string s;
  PutVarint32(&s, 300);
  EXPECT_EQ(s, std::string("\xAC\x02", 2));
  EXPECT_EQ(VarintLength(0), 1);
  EXPECT_EQ(VarintLength(127), 1);
  EXPECT_EQ(VarintLength(128), 2);
  EXPECT_EQ(VarintLength(std::numeric_limits<uint64_t>::max()), 10);
}

TEST(CodingTest, VarintRejectsTruncatedAndOverflow) {
  std::string s;
  PutVarint64(&s, std::numeric_limits<uint64_t>::max());
  for (size_t n = 0; n < s.size(); n++) {
    std::string_view in = std::string_view(s).substr(0, n);
    uint64_t v;
    EXPECT_FALSE(GetVarint64(&in, &v)) << n;
  }
  // 10th byte above 1 overflows 64 bits.
  std::string over(9, '\xFF');
  over.push_back('\x02');
  std::string_view in = over;
  uint64_t v;
  EXPECT_FALSE(GetVarint64(&in, &v));
  // 11 continuation bytes.
  std::string longer(11, '\x80');
  in = longer;
  EXPECT_FALSE(GetVarint64(&in, &v));
  // Varint32 rejects values above 32 bits.
  std::string big;
  PutVarint64(&big, 1ull << 32);
  in = big;
  uint32_t w;
  EXPECT_FALSE(GetVarint32(&in, &w));
  std::string ok;
  PutVarint32(&ok, 0xFFFFFFFFu);
  in = ok;
  ASSERT_TRUE(GetVarint32(&in, &w));
  EXPECT_EQ(w, 0xFFFFFFFFu);
}

TEST(CodingTest, LengthPrefixed) {
  std::string s;
  PutLengthPrefixed(&s, "hello");
  PutLengthPrefixed(&s, "");
  PutLengthPrefixed(&s, std::string(300, 'x'));
  std::string_view in = s;
  std::string_view out;
  ASSERT_TRUE(GetLengthPrefixed(&in, &out));
  EXPECT_EQ(out, "hello");
  ASSERT_TRUE(GetLengthPrefixed(&in, &out));
  EXPECT_EQ(out, "");
  ASSERT_TRUE(GetLengthPrefixed(&in, &out));
  EXPECT_EQ(out, std::string(300, 'x'));
  EXPECT_TRUE(in.empty());

  std::string trunc;
  PutLengthPrefixed(&trunc, "hello");
  trunc.pop_back();
  in = trunc;
  EXPECT_FALSE(GetLengthPrefixed(&in, &out));
}

TEST(CodingTest, GetBytes) {
  std::string_view in = "abcdef";
  std::string_view out;
  ASSERT_TRUE(GetBytes(&in, 2, &out));
  EXPECT_EQ(out, "ab");
  EXPECT_EQ(in, "cdef");
  EXPECT_FALSE(GetBytes(&in, 5, &out));
  ASSERT_TRUE(GetBytes(&in, 4, &out));
  EXPECT_EQ(out, "cdef");
  EXPECT_TRUE(in.empty());
}

}  // namespace
}  // namespace neon
