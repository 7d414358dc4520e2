// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "consensus/control_file.h"

#include <random>

#include "base/coding.h"
#include "base/crc32c.h"
#include "base/fault_injection_fs.h"
#include "gtest/gtest.h"

namespace neon::consensus {
namespace {

PersistentState Sample() {
  MembershipConfig m;
  for (uint64_t i = 1; i <= 3; i++) m.members.push_back({NodeId(i), "sk", 5454});
  PersistentState s = PersistentState::NewTimeline(*TenantId::Parse(std::string(32, 'a')),
                                                   *TimelineId::Parse(std::string(32, 'b')), m,
                                                   {170004, 7, 16 << 20}, Lsn(0x1000000));
  s.term = Term(5);
  s.history.Append({Term(3), Lsn(0x1000100)});
  s.history.Append({Term(5), Lsn(0x1000200)});
  s.commit_lsn = Lsn(0x1000150);
  return s;
}

TEST(ControlFileTest, RoundTrip) {
  PersistentState s = Sample();
  auto d = DecodeControlFile(EncodeControlFile(s));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, s);
}

TEST(ControlFileTest, EveryByteFlipIsDataLoss) {
  std::string enc = EncodeControlFile(Sample());
  for (size_t i = 0; i < enc.size(); i++) {
    for (int bit = 0; bit < 8; bit++) {
      std::string b = enc;
      b[i] = char(uint8_t(b[i]) ^ (1u << bit));
      auto d = DecodeControlFile(b);
      ASSERT_FALSE(d.ok()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss) << d.status();
    }
  }
}

TEST(ControlFileTest, TruncationAndExtensionAreDataLoss) {
  std::string enc = EncodeControlFile(Sample());
  for (size_t len = 0; len < enc.size(); len++) {
    EXPECT_EQ(DecodeControlFile(enc.substr(0, len)).status().code(), absl::StatusCode::kDataLoss);
  }
  EXPECT_EQ(DecodeControlFile(enc + "x").status().code(), absl::StatusCode::kDataLoss);
}

TEST(ControlFileTest, SaveLoadAndCorruptOnDisk) {
  auto fs = NewMemFileSystem();
  ASSERT_TRUE(fs->CreateDirs("/tl").ok());
  EXPECT_EQ(LoadControlFile(*fs, "/tl").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(SaveControlFile(*fs, "/tl", Sample()).ok());
  auto loaded = LoadControlFile(*fs, "/tl");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(*loaded, Sample());
  // Corrupt one byte in place.
  std::string data = *ReadFileToString(*fs, "/tl/safekeeper.control");
  data[data.size() / 2] ^= 0x20;
  auto f = *fs->NewWritableFile("/tl/safekeeper.control");
  ASSERT_TRUE(f->Append(data).ok());
  EXPECT_EQ(LoadControlFile(*fs, "/tl").status().code(), absl::StatusCode::kDataLoss);
}

// A crash at every point of a save leaves the old or the new state.
TEST(ControlFileTest, CrashDuringSaveKeepsOldOrNew) {
  PersistentState old_state = Sample();
  PersistentState new_state = Sample();
  new_state.term = Term(9);
  new_state.history.Append({Term(9), Lsn(0x1000300)});
  for (int64_t n = 0; n < 12; n++) {
    auto fs = std::make_shared<FaultInjectionFileSystem>(NewMemFileSystem());
    ASSERT_TRUE(fs->CreateDirs("/tl").ok());
    ASSERT_TRUE(SaveControlFile(*fs, "/tl", old_state).ok());
    fs->CrashAfterOps(n);
    absl::Status s = SaveControlFile(*fs, "/tl", new_state);
    ASSERT_TRUE(fs->SimulateCrash().ok());
    auto loaded = LoadControlFile(*fs, "/tl");
    ASSERT_TRUE(loaded.ok()) << "crash after " << n << " ops: " << loaded.status();
    EXPECT_TRUE(*loaded == old_state || *loaded == new_state);
    if (s.ok()) {
      EXPECT_EQ(*loaded, new_state) << "a completed save must survive";
    }
  }
}

TEST(ControlFileTest, UnknownVersionIsFailedPrecondition) {
  std::string enc = EncodeControlFile(Sample());
  enc[4] = 2;  // version, little-endian
  // Fix the CRC so only the version is wrong.
  std::string body = enc.substr(0, enc.size() - 4);
  PutFixed32LE(&body, crc32c::Value(body));
  EXPECT_EQ(DecodeControlFile(body).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace neon::consensus
