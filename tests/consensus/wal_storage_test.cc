// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "consensus/wal_storage.h"

#include <sys/stat.h>

#include <cstdlib>
#include <random>

#include "base/fault_injection_fs.h"
#include "gtest/gtest.h"

namespace neon::consensus {
namespace {

constexpr uint64_t kSeg = 1024;
const Lsn kStart(10 * kSeg + 100);  // mid-segment, like a real timeline start

std::string Bytes(Lsn begin, size_t n, char salt) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i++) out[i] = char((begin.value() + i) * 31 + salt);
  return out;
}

class WalStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = std::make_shared<FaultInjectionFileSystem>(NewMemFileSystem());
  }
  std::unique_ptr<WalStorage> Open(Lsn scan_start = kStart) {
    auto w = WalStorage::Open(fs_.get(), "/wal", kSeg, kStart, scan_start);
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? std::move(*w) : nullptr;
  }
  void Write(WalStorage& w, size_t n, char salt = 0) {
    ASSERT_TRUE(w.Write(w.write_lsn(), Bytes(w.write_lsn(), n, salt)).ok());
  }
  std::shared_ptr<FaultInjectionFileSystem> fs_;
};

TEST(WalSegmentNameTest, PostgresNames) {
  EXPECT_EQ(WalSegmentName(1, 16 << 20), "000000010000000000000001");
  EXPECT_EQ(WalSegmentName(0x100, 16 << 20), "000000010000000100000000");
  EXPECT_EQ(WalSegmentName(0x1FF, 16 << 20), "0000000100000001000000FF");
  uint64_t segno;
  bool partial;
  ASSERT_TRUE(ParseWalSegmentName("0000000100000001000000FF.partial", 16 << 20, &segno, &partial));
  EXPECT_EQ(segno, 0x1FFu);
  EXPECT_TRUE(partial);
  EXPECT_FALSE(ParseWalSegmentName("0000000100000001000001FF", 16 << 20, &segno, &partial));
  EXPECT_FALSE(ParseWalSegmentName("safekeeper.control", 16 << 20, &segno, &partial));
  EXPECT_FALSE(ParseWalSegmentName("0000000200000001000000FF", 16 << 20, &segno, &partial));
}

TEST_F(WalStorageTest, WriteFlushReopenAcrossSegments) {
  auto w = Open();
  EXPECT_EQ(w->flush_lsn(), kStart);
  Write(*w, 3000);
  EXPECT_EQ(w->write_lsn(), kStart.Plus(3000));
  EXPECT_EQ(w->flush_lsn(), kStart);
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(w->flush_lsn(), kStart.Plus(3000));
  auto r = w->Read(kStart.Plus(10), kStart.Plus(2500));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, Bytes(kStart.Plus(10), 2490, 0));
  w.reset();
  auto names = *fs_->GetChildren("/wal");
  std::sort(names.begin(), names.end());
  ASSERT_EQ(names.size(), 4u);  // segments 10, 11, 12 full; 13 partial
  EXPECT_EQ(names[0], WalSegmentName(10, kSeg));
  EXPECT_EQ(names[3], WalSegmentName(13, kSeg) + ".partial");
  auto w2 = Open();
  EXPECT_EQ(w2->flush_lsn(), kStart.Plus(3000));
  EXPECT_EQ(*w2->Read(kStart, kStart.Plus(3000)), Bytes(kStart, 3000, 0));
}

TEST_F(WalStorageTest, UnsyncedWalIsLostSyncedSurvives) {
  auto w = Open();
  Write(*w, 1500);
  ASSERT_TRUE(w->Flush().ok());
  Write(*w, 2000);  // crosses two segment boundaries, unsynced tail
  w.reset();
  ASSERT_TRUE(fs_->SimulateCrash().ok());
  auto w2 = Open();
  // Completed segments were synced on completion but their directory
  // entries were not: the durable end is the flushed one or beyond, and
  // whatever is there is the right content.
  EXPECT_GE(w2->flush_lsn(), kStart.Plus(1500));
  EXPECT_LE(w2->flush_lsn(), kStart.Plus(3500));
  EXPECT_EQ(*w2->Read(kStart, w2->flush_lsn()), Bytes(kStart, w2->flush_lsn().Minus(kStart), 0));
  Write(*w2, 100, 5);  // and writing continues at the recovered end
  ASSERT_TRUE(w2->Flush().ok());
}

TEST_F(WalStorageTest, TruncateIsDurableAndWritesContinue) {
  auto w = Open();
  Write(*w, 4000);
  ASSERT_TRUE(w->Flush().ok());
  Lsn cut = kStart.Plus(1234);
  ASSERT_TRUE(w->Truncate(cut).ok());
  EXPECT_EQ(w->flush_lsn(), cut);
  Write(*w, 10, 9);
  w.reset();
  ASSERT_TRUE(fs_->SimulateCrash().ok());
  auto w2 = Open();
  EXPECT_EQ(w2->flush_lsn(), cut);  // the unsynced 10 bytes are gone, the cut stays
  Write(*w2, 700, 7);
  ASSERT_TRUE(w2->Flush().ok());
  std::string want = Bytes(kStart, 1234, 0) + Bytes(cut, 700, 7);
  EXPECT_EQ(*w2->Read(kStart, cut.Plus(700)), want);
}

TEST_F(WalStorageTest, TruncateAtSegmentBoundaryAndToStart) {
  auto w = Open();
  Write(*w, 4000);
  ASSERT_TRUE(w->Flush().ok());
  Lsn boundary(12 * kSeg);
  ASSERT_TRUE(w->Truncate(boundary).ok());
  w.reset();
  w = Open();
  EXPECT_EQ(w->flush_lsn(), boundary);
  ASSERT_TRUE(w->Truncate(kStart).ok());
  w.reset();
  w = Open();
  EXPECT_EQ(w->flush_lsn(), kStart);
  Write(*w, 50, 3);
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(*w->Read(kStart, kStart.Plus(50)), Bytes(kStart, 50, 3));
}

// A crash at every step of a truncation leaves a prefix of the old WAL that
// is at least as long as the cut; completing the truncation then works.
TEST_F(WalStorageTest, CrashAtEveryPointOfTruncate) {
  for (int64_t n = 0; n < 40; n++) {
    fs_ = std::make_shared<FaultInjectionFileSystem>(NewMemFileSystem());
    auto w = Open();
    Write(*w, 5000);
    ASSERT_TRUE(w->Flush().ok());
    Lsn cut = kStart.Plus(777);
    fs_->CrashAfterOps(n);
    absl::Status s = w->Truncate(cut);
    w.reset();
    ASSERT_TRUE(fs_->SimulateCrash().ok());
    auto w2 = Open();
    ASSERT_GE(w2->flush_lsn(), cut) << n;
    if (s.ok()) {
      EXPECT_EQ(w2->flush_lsn(), cut) << n;
    }
    EXPECT_EQ(*w2->Read(kStart, w2->flush_lsn()),
              Bytes(kStart, w2->flush_lsn().Minus(kStart), 0)) << n;
    ASSERT_TRUE(w2->Truncate(cut).ok());
    Write(*w2, 2000, 4);
    ASSERT_TRUE(w2->Flush().ok());
    w2.reset();
    auto w3 = Open();
    EXPECT_EQ(w3->flush_lsn(), cut.Plus(2000)) << n;
    EXPECT_EQ(*w3->Read(cut, cut.Plus(2000)), Bytes(cut, 2000, 4)) << n;
  }
}

// Random writes, flushes, truncations and crashes against a model.
TEST_F(WalStorageTest, RandomizedAgainstModel) {
  std::mt19937_64 rng(42);
  auto w = Open();
  std::string durable, written;  // model: bytes from kStart
  for (int step = 0; step < 400; step++) {
    int op = int(rng() % 10);
    if (op < 5) {
      size_t n = rng() % 900;
      std::string b = Bytes(w->write_lsn(), n, char(step));
      ASSERT_TRUE(w->Write(w->write_lsn(), b).ok());
      written += b;
    } else if (op < 7) {
      ASSERT_TRUE(w->Flush().ok());
      durable = written;
    } else if (op < 8 && !written.empty()) {
      size_t keep = rng() % (written.size() + 1);
      ASSERT_TRUE(w->Flush().ok());
      ASSERT_TRUE(w->Truncate(kStart.Plus(keep)).ok());
      written.resize(keep);
      durable = written;
    } else if (op < 9) {
      w.reset();
      ASSERT_TRUE(fs_->SimulateCrash().ok());
      w = Open();
      uint64_t end = w->flush_lsn().Minus(kStart);
      ASSERT_GE(end, durable.size());
      ASSERT_LE(end, written.size());
      written.resize(end);
      durable = written;
    } else {
      Lsn e = w->write_lsn();
      ASSERT_EQ(*w->Read(kStart, e), written);
    }
  }
}

TEST_F(WalStorageTest, RemoveSegmentsBelowHorizon) {
  auto w = Open();
  Write(*w, 5000);
  ASSERT_TRUE(w->Flush().ok());
  ASSERT_TRUE(w->RemoveSegmentsBelow(Lsn(13 * kSeg + 5)).ok());
  auto names = *fs_->GetChildren("/wal");
  EXPECT_EQ(names.size(), 2u);  // 13 full and 14 partial remain
  EXPECT_EQ(w->Read(kStart, kStart.Plus(10)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(w->Read(Lsn(13 * kSeg), w->flush_lsn()).ok());
  w.reset();
  auto w2 = WalStorage::Open(fs_.get(), "/wal", kSeg, kStart, Lsn(13 * kSeg + 5));
  ASSERT_TRUE(w2.ok());
  EXPECT_EQ((*w2)->flush_lsn(), kStart.Plus(5000));
}

TEST_F(WalStorageTest, MissingWalBelowCommitIsDataLoss) {
  auto w = Open();
  Write(*w, 3000);
  ASSERT_TRUE(w->Flush().ok());
  w.reset();
  ASSERT_TRUE(fs_->DeleteFile("/wal/" + WalSegmentName(12, kSeg)).ok());
  auto w2 = WalStorage::Open(fs_.get(), "/wal", kSeg, kStart, Lsn(12 * kSeg + 10));
  EXPECT_EQ(w2.status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace neon::consensus

namespace neon::consensus {
namespace {

// On a real file system the current segment's disk space is reserved up
// front (pre-sized) while its length stays the end of WAL.
TEST(WalStoragePosixTest, CurrentSegmentIsPreSized) {
  char tmpl[] = "/tmp/neon_wal_presize.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  auto fs = NewPosixFileSystem();
  constexpr uint64_t kSegment = 16ull << 20;
  const Lsn start(3 * kSegment + 40);
  {
    auto w = WalStorage::Open(fs.get(), dir, kSegment, start, start);
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_TRUE((*w)->Write(start, std::string(5000, 'w')).ok());
    ASSERT_TRUE((*w)->Flush().ok());
  }
  std::string partial = dir + "/" + WalSegmentName(3, kSegment) + ".partial";
  struct stat st;
  ASSERT_EQ(::stat(partial.c_str(), &st), 0);
  EXPECT_EQ(uint64_t(st.st_size), 40u + 5000u);  // the length is the end of WAL
  // Reserved blocks cover the whole segment (where the file system supports
  // fallocate; ext4, xfs and tmpfs do).
  EXPECT_GE(uint64_t(st.st_blocks) * 512, kSegment);
  auto reopened = WalStorage::Open(fs.get(), dir, kSegment, start, start);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->flush_lsn(), start.Plus(5000));
  reopened->reset();
  ASSERT_TRUE(DeleteRecursively(*fs, dir).ok());
}

}  // namespace
}  // namespace neon::consensus
