// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// CRC32C: published check values, incremental Extend, and agreement with a
// bit-at-a-time reference on every length and alignment.

#include "base/crc32c.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace neon {
namespace {

// The definition: reflected Castagnoli polynomial, one bit at a time.
uint32_t ReferenceCrc32c(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return ~c;
}

TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(crc32c::Value("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c::Value(""), 0u);
  // RFC 3720 (iSCSI) B.4 test vectors.
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c::Value(zeros), 0x8A9136AAu);
  std::string ones(32, '\xFF');
  EXPECT_EQ(crc32c::Value(ones), 0x62A8AB43u);
  std::string inc(32, '\0');
  for (int i = 0; i < 32; i++) inc[i] = char(i);
  EXPECT_EQ(crc32c::Value(inc), 0x46DD794Eu);
  std::string dec(32, '\0');
  for (int i = 0; i < 32; i++) dec[i] = char(31 - i);
  EXPECT_EQ(crc32c::Value(dec), 0x113FDB5Cu);
}

TEST(Crc32cTest, AgreesWithReferenceOnAllLengthsAndAlignments) {
  std::mt19937_64 rng(5);
  std::string buf(600, '\0');
  for (auto& c : buf) c = char(rng());
  const auto* p = reinterpret_cast<const uint8_t*>(buf.data());
  for (size_t off = 0; off < 9; off++) {
    for (size_t n = 0; n + off <= 300; n++) {
      ASSERT_EQ(crc32c::Value(p + off, n), ReferenceCrc32c(p + off, n)) << off << "+" << n;
    }
  }
  EXPECT_EQ(crc32c::Value(p, buf.size()), ReferenceCrc32c(p, buf.size()));
}

TEST(Crc32cTest, ExtendIsIncremental) {
  std::mt19937_64 rng(6);
  std::string data(4096 + 13, '\0');
  for (auto& c : data) c = char(rng());
  uint32_t whole = crc32c::Value(data);
  for (int trial = 0; trial < 200; trial++) {
    // Split into random pieces (some of length 0, some below 8 bytes).
    uint32_t crc = 0;
    size_t pos = 0;
    while (pos < data.size()) {
      size_t n = std::min<size_t>(data.size() - pos, rng() % 3 == 0 ? rng() % 8 : rng() % 700);
      crc = crc32c::Extend(crc, data.data() + pos, n);
      pos += n;
    }
    ASSERT_EQ(crc, whole) << trial;
  }
  EXPECT_EQ(crc32c::Extend(crc32c::Value("1234"), "56789", 5), 0xE3069283u);
}

TEST(Crc32cTest, HardwareFlagIsStable) {
  // Whichever path is in use, results match the reference above; the flag
  // itself must not change between calls.
  bool hw = crc32c::IsHardwareAccelerated();
  EXPECT_EQ(crc32c::IsHardwareAccelerated(), hw);
}

TEST(Crc32cTest, MaskRoundTripsAndDiffers) {
  std::mt19937 rng(8);
  for (int i = 0; i < 1000; i++) {
    uint32_t c = rng();
    uint32_t m = crc32c::Mask(c);
    EXPECT_EQ(crc32c::Unmask(m), c);
    EXPECT_NE(m, c);
    EXPECT_NE(crc32c::Mask(m), m);  // masking twice is not the identity either
  }
  uint32_t c = crc32c::Value("foo");
  EXPECT_NE(c, crc32c::Mask(c));
  EXPECT_NE(c, crc32c::Mask(crc32c::Mask(c)));
  EXPECT_EQ(c, crc32c::Unmask(crc32c::Mask(c)));
}

}  // namespace
}  // namespace neon
