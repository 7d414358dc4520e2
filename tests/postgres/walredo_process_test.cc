// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The neon_walredo program through its protocol (one WalRedoProcess, no
// pool): ping, full-page images (plain, with a hole, lz4, zstd), heap
// inserts, the one-page filter, malformed input, EOF and the idle exit.

#include "engine/walredo_process.h"

#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "engine/postgres_redo_manager.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "neon/value.h"
#include "postgres/pg_record_util.h"

namespace neon {
namespace {

using pgtest::ImageCompression;
using ::testing::HasSubstr;

const RelTag kRel{1663, 5, 16384, 0};

class WalRedoProcessTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({}); }

  void Start(std::vector<std::string> extra) {
    std::vector<std::string> argv{NEON_WALREDO_PATH};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto p = WalRedoProcess::Spawn(argv, clock_.get());
    ASSERT_TRUE(p.ok()) << p.status();
    proc_ = std::move(*p);
  }

  absl::StatusOr<std::string> Send(const std::string& request) {
    bool retryable = false;
    return proc_->Request(request, clock_->MonotonicMicros() + 10 * kMicrosPerSecond, &retryable);
  }

  // B [P] A... G for kRel block `blk`; records at LSNs first_lsn,
  // first_lsn + 0x1000, ...
  absl::StatusOr<std::string> Redo(uint32_t blk, const std::optional<std::string>& base,
                                   const std::vector<std::string>& recs,
                                   uint64_t first_lsn = 0x1000) {
    std::vector<Record> records;
    for (const std::string& r : recs) records.push_back(PostgresRecord{false, r});
    std::vector<RedoRecord> redo;
    for (size_t i = 0; i < records.size(); ++i)
      redo.push_back({Lsn(first_lsn + 0x1000 * i), &records[i]});
    auto req = EncodeWalRedoRequest(Key::RelBlock(kRel, blk), base, redo);
    if (!req.ok()) return req.status();
    return Send(*req);
  }

  std::shared_ptr<Clock> clock_ = NewRealClock();
  std::unique_ptr<WalRedoProcess> proc_;
};

TEST_F(WalRedoProcessTest, PingAnswersZeroPage) {
  for (int i = 0; i < 3; ++i) {
    auto page = Send(EncodeWalRedoPing());
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(*page, std::string(pgtest::kBlockSize, '\0'));
  }
}

TEST_F(WalRedoProcessTest, FullPageImageWithHoleRestoresPage) {
  std::string image = pgtest::MakePage(7, 20);
  ASSERT_GT(pgtest::PageUpper(image), pgtest::PageLower(image));  // there is a hole
  auto page = Redo(3, std::nullopt, {pgtest::FpiRecord(kRel, 3, image)});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(*page, pgtest::WithLsn(image, 0x1000));
}

TEST_F(WalRedoProcessTest, FullPageImageOverABasePage) {
  std::string base = pgtest::MakePage(1, 5);
  std::string image = pgtest::MakePage(2, 30);
  auto page = Redo(0, base, {pgtest::FpiRecord(kRel, 0, image)});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(*page, pgtest::WithLsn(image, 0x1000));
}

TEST_F(WalRedoProcessTest, CompressedFullPageImages) {
  for (ImageCompression c : {ImageCompression::kLz4, ImageCompression::kZstd}) {
    std::string image = pgtest::MakePage(11 + int(c), 40);
    std::string rec = pgtest::FpiRecord(kRel, 9, image, c);
    EXPECT_LT(rec.size(), pgtest::kBlockSize);
    auto page = Redo(9, std::nullopt, {rec});
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(*page, pgtest::WithLsn(image, 0x1000)) << int(c);
  }
}

TEST_F(WalRedoProcessTest, HeapInsertWithInitPageMakesOneTuple) {
  auto page = Redo(0, std::nullopt, {pgtest::HeapInsertRecord(kRel, 0, 1, 4242, true)});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(pgtest::PageMaxOffset(*page), 1);
  EXPECT_EQ(pgtest::PageLsn(*page), 0x1000u);
  EXPECT_EQ(pgtest::HeapTupleValue(pgtest::PageItem(*page, 1)), 4242);
}

TEST_F(WalRedoProcessTest, HeapInsertsAccumulate) {
  std::vector<std::string> recs{pgtest::HeapInsertRecord(kRel, 4, 1, 10, true)};
  for (uint16_t off = 2; off <= 50; ++off) {
    recs.push_back(pgtest::HeapInsertRecord(kRel, 4, off, 10 * off, false));
  }
  auto page = Redo(4, std::nullopt, recs);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(pgtest::PageMaxOffset(*page), 50);
  for (uint16_t off = 1; off <= 50; ++off) {
    EXPECT_EQ(pgtest::HeapTupleValue(pgtest::PageItem(*page, off)), 10 * off);
  }
  EXPECT_EQ(pgtest::PageLsn(*page), 0x1000u * 50);
  // A record already reflected in the page (LSN not newer) is skipped.
  auto again = Redo(4, *page, {pgtest::HeapInsertRecord(kRel, 4, 51, 1, false)});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(pgtest::PageMaxOffset(*again), 50);
}

TEST_F(WalRedoProcessTest, NearlyFullPageUpdatesTheFreeSpaceMapToo) {
  // Below BLCKSZ/5 free bytes heap redo also records the free space in the
  // FSM fork (a scratch page here); the heap page is still right.
  std::vector<std::string> recs{pgtest::HeapInsertRecord(kRel, 2, 1, 1, true)};
  for (uint16_t off = 2; off <= 220; ++off) {
    recs.push_back(pgtest::HeapInsertRecord(kRel, 2, off, off, false));
  }
  auto page = Redo(2, std::nullopt, recs);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(pgtest::PageMaxOffset(*page), 220);
  EXPECT_LT(pgtest::PageUpper(*page) - pgtest::PageLower(*page), 8192 / 5);
  EXPECT_EQ(pgtest::HeapTupleValue(pgtest::PageItem(*page, 220)), 220);
}

TEST_F(WalRedoProcessTest, InsertClearingAllVisibleTouchesTheVisibilityMap) {
  auto first = Redo(6, std::nullopt, {pgtest::HeapInsertRecord(kRel, 6, 1, 1, true)});
  ASSERT_TRUE(first.ok()) << first.status();
  std::string base = pgtest::WithFlags(*first, pgtest::kPdAllVisible);
  auto page =
      Redo(6, base,
           {pgtest::HeapInsertRecord(kRel, 6, 2, 2, false, 1001, pgtest::kHeapAllVisibleCleared)},
           0x2000);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(pgtest::PageMaxOffset(*page), 2);
  EXPECT_EQ(pgtest::PageFlags(*page) & pgtest::kPdAllVisible, 0);
}

TEST_F(WalRedoProcessTest, UpdateToAnotherPageRedoesEitherSide) {
  auto old_page = Redo(10, std::nullopt, {pgtest::HeapInsertRecord(kRel, 10, 1, 1, true)});
  ASSERT_TRUE(old_page.ok()) << old_page.status();
  std::string update = pgtest::HeapUpdateRecord(kRel, 10, 1, 11, 1, 2, true, 1001);
  // The new page: the old one is another block (left alone).
  auto new_side = Redo(11, std::nullopt, {update}, 0x2000);
  ASSERT_TRUE(new_side.ok()) << new_side.status();
  ASSERT_EQ(pgtest::PageMaxOffset(*new_side), 1);
  EXPECT_EQ(pgtest::HeapTupleValue(pgtest::PageItem(*new_side, 1)), 2);
  // The old page: its tuple now points at the new version; the new page is
  // another block (initialized on a scratch page).
  auto old_side = Redo(10, *old_page, {update}, 0x2000);
  ASSERT_TRUE(old_side.ok()) << old_side.status();
  std::string item = pgtest::PageItem(*old_side, 1);
  EXPECT_EQ(pgtest::HeapTupleValue(item), 1);
  EXPECT_EQ(pgtest::HeapTupleXmax(item), 1001u);
  EXPECT_EQ(pgtest::HeapTupleCtid(item), std::make_pair(uint32_t(11), uint16_t(1)));
  EXPECT_EQ(pgtest::PageLsn(*old_side), 0x2000u);
}

TEST_F(WalRedoProcessTest, OnlyTheTargetPageIsRedone) {
  std::string base = pgtest::MakePage(5, 3);
  // A record for block 1 leaves block 2 as it was.
  auto page = Redo(2, base, {pgtest::HeapInsertRecord(kRel, 1, 1, 5, true)});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(*page, base);
  // A two-block FPI record: the target gets its own image.
  std::string img0 = pgtest::MakePage(100, 4), img1 = pgtest::MakePage(101, 8);
  pgtest::RecordSpec spec{.rmid = pgtest::kRmXlog, .info = pgtest::kXlogFpi};
  for (uint32_t b : {0u, 1u}) {
    const std::string& img = b == 0 ? img0 : img1;
    spec.blocks.push_back(
        pgtest::BlockRef{.rel = kRel,
                         .blkno = b,
                         .image = img,
                         .hole_offset = pgtest::PageLower(img),
                         .hole_length = uint16_t(pgtest::PageUpper(img) - pgtest::PageLower(img))});
  }
  auto second = Redo(1, std::nullopt, {pgtest::BuildRecord(spec)});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, pgtest::WithLsn(img1, 0x1000));
  // The process stays clean between requests: block 0 was not kept.
  auto third = Redo(0, std::nullopt, {});
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(*third, std::string(pgtest::kBlockSize, '\0'));
}

TEST_F(WalRedoProcessTest, BadRecordLengthEndsTheProcess) {
  std::string rec = pgtest::HeapInsertRecord(kRel, 0, 1, 1, true);
  auto full = EncodeWalRedoRequest(Key::RelBlock(kRel, 0), std::nullopt, {});
  ASSERT_TRUE(full.ok());
  // Hand-built A whose xl_tot_len is one more than the record.
  std::string bad = rec;
  bad[0] = char(uint8_t(bad[0]) + 1);
  std::string a = "A";
  uint32_t len = uint32_t(4 + 8 + bad.size());
  for (int s : {24, 16, 8, 0}) a.push_back(char(len >> s));
  a.append(7, '\0');
  a.push_back('\x10');
  a += bad;
  std::string request = full->substr(0, 22) + a + full->substr(22);
  auto page = Send(request);
  ASSERT_FALSE(page.ok());
  EXPECT_TRUE(absl::IsInternal(page.status())) << page.status();
  EXPECT_THAT(std::string(page.status().message()), HasSubstr("xl_tot_len"));
  EXPECT_THAT(std::string(page.status().message()), HasSubstr("exited with status 1"));
  EXPECT_TRUE(proc_->dead());
}

TEST_F(WalRedoProcessTest, GarbageEndsTheProcess) {
  auto page = Send(std::string("Z\0\0\0\x0cgarbage!", 13));
  ASSERT_FALSE(page.ok());
  EXPECT_THAT(std::string(page.status().message()), HasSubstr("invalid message type"));
  Start({});
  // A bad CRC.
  std::string rec = pgtest::HeapInsertRecord(kRel, 0, 1, 1, true);
  rec.back() ^= 1;
  auto crc = Redo(0, std::nullopt, {rec});
  ASSERT_FALSE(crc.ok());
  EXPECT_THAT(std::string(crc.status().message()), HasSubstr("checksum"));
  Start({});
  // An impossible message length.
  auto len = Send(std::string("H\xff\xff\xff\xff", 5));
  ASSERT_FALSE(len.ok());
  EXPECT_THAT(std::string(len.status().message()), HasSubstr("invalid length"));
  // G without B.
  Start({});
  auto g = Send(EncodeWalRedoRequest(Key::RelBlock(kRel, 0), std::nullopt, {})->substr(22));
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("without BeginRedoForBlock"));
}

TEST_F(WalRedoProcessTest, WorksWithoutSeccomp) {
  Start({"--disable-seccomp"});
  auto page = Redo(0, std::nullopt, {pgtest::HeapInsertRecord(kRel, 0, 1, 77, true)});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(pgtest::HeapTupleValue(pgtest::PageItem(*page, 1)), 77);
}

// "Seccomp:" of /proc/<pid>/status (2: filter mode) and the open fds.
std::pair<std::string, int> Sandbox(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line, mode;
  while (std::getline(status, line)) {
    if (line.rfind("Seccomp:", 0) == 0) mode = line.substr(line.find_first_not_of(" \t", 8));
  }
  int fds = 0;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    (void)e;
    fds++;
  }
  return {mode, fds};
}

TEST_F(WalRedoProcessTest, RunsSandboxed) {
  ASSERT_TRUE(Send(EncodeWalRedoPing()).ok());  // past startup, in the loop
  EXPECT_EQ(Sandbox(proc_->pid()), std::make_pair(std::string("2"), 3));
  Start({"--disable-seccomp"});
  ASSERT_TRUE(Send(EncodeWalRedoPing()).ok());
  EXPECT_EQ(Sandbox(proc_->pid()).first, "0");
}

TEST_F(WalRedoProcessTest, EofExitsCleanly) {
  std::string cmd =
      std::string("printf 'H\\000\\000\\000\\004' | ") + NEON_WALREDO_PATH + " > /dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  std::string bad = std::string("printf 'H\\000\\000' | ") + NEON_WALREDO_PATH + " 2> /dev/null";
  EXPECT_NE(std::system(bad.c_str()), 0);  // EOF inside a message header
}

TEST_F(WalRedoProcessTest, IdleTimeoutEndsTheProcess) {
  Start({"--idle-timeout-ms", "100"});
  ASSERT_TRUE(Send(EncodeWalRedoPing()).ok());
  for (int i = 0; i < 100 && !proc_->PollExited(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(proc_->dead());
  EXPECT_FALSE(Send(EncodeWalRedoPing()).ok());
}

}  // namespace
}  // namespace neon
