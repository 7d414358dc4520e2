// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The decoder against the oracle: a real PostgreSQL 15 server runs
// tests/wal/workload.sql (heap, every index AM, TOAST, COPY, sequences,
// subtransactions, two-phase commit, TRUNCATE, unlogged tables, VACUUM [FULL],
// CREATE DATABASE with both strategies, compressed full-page images), and
// every record we decode must equal pg_waldump's line for it: LSN, prev,
// resource manager, lengths, xid, record type and block references.

#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "base/str_cat.h"
#include "neon/wal.h"
#include "wal/pg_cluster.h"
#include "wal/wal_fixture.h"

namespace neon {
namespace {

using testing::RunCommand;
using testing::WalFixture;

struct LineParts {
  std::string prefix;    // "rmgr: ... prev X/Y, "
  std::string type;      // first word of desc
  std::string blockrefs; // ", blkref #0: ..." (all of them)
};

LineParts Split(const std::string& line) {
  LineParts p;
  const size_t desc = line.find("desc: ");
  if (desc == std::string::npos) {
    p.prefix = line;
    return p;
  }
  p.prefix = line.substr(0, desc);
  const size_t type_end = line.find(' ', desc + 6);
  p.type = line.substr(desc + 6, type_end == std::string::npos ? std::string::npos
                                                                : type_end - desc - 6);
  const size_t blk = line.find(", blkref #", desc);
  if (blk != std::string::npos) p.blockrefs = line.substr(blk);
  return p;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("rmgr: ", 0) == 0) out.push_back(line);
  }
  return out;
}

class WaldumpOracleTest : public WalFixture {};

// Decodes in-process and compares record by record with pg_waldump.
TEST_F(WaldumpOracleTest, EveryRecordMatchesPgWaldump) {
  std::vector<std::string> theirs = Lines(PgWaldump(""));
  ASSERT_GT(theirs.size(), 10000u);

  WalSegmentReader reader(NewPosixFileSystem(), wal_dir(), first_segment_start());
  size_t i = 0, mismatches = 0;
  std::map<std::string, int> types;
  while (true) {
    absl::StatusOr<std::optional<WalRecord>> r = reader.Next();
    if (!r.ok() || !r->has_value()) break;
    ASSERT_LT(i, theirs.size()) << "we decoded more records than pg_waldump";
    const std::string ours_line = WalRecordLine(**r);
    LineParts a = Split(ours_line), b = Split(theirs[i]);
    if (a.prefix != b.prefix || a.type != b.type || a.blockrefs != b.blockrefs) {
      if (++mismatches < 10) {
        ADD_FAILURE() << "record " << i << "\n ours:   " << ours_line << "\n theirs: "
                      << theirs[i];
      }
    }
    types[StrCat(WalRmgrName((*r)->rmid), "/", a.type)]++;
    i++;
  }
  EXPECT_EQ(i, theirs.size());
  EXPECT_EQ(mismatches, 0u);
  std::printf("[ oracle ] %zu records compared with pg_waldump, %zu mismatches, %zu record types\n",
              i, mismatches, types.size());
  // The workload must have produced what it claims to cover.
  for (const char* want : {"Heap/INSERT", "Heap/UPDATE", "Heap/HOT_UPDATE", "Heap/DELETE",
                           "Heap2/PRUNE", "Heap2/MULTI_INSERT", "Btree/INSERT_LEAF",
                           "Btree/SPLIT_R", "Hash/INSERT", "Gin/INSERT", "Gist/PAGE_UPDATE",
                           "SPGist/ADD_LEAF", "BRIN/INSERT", "Sequence/LOG",
                           "Transaction/COMMIT", "Transaction/ABORT", "Transaction/PREPARE",
                           "Transaction/COMMIT_PREPARED", "Transaction/ABORT_PREPARED",
                           "Transaction/ASSIGNMENT", "Storage/CREATE", "Storage/TRUNCATE",
                           "Database/CREATE_WAL_LOG", "Database/CREATE_FILE_COPY",
                           "Database/DROP", "XLOG/FPI", "XLOG/SWITCH", "XLOG/CHECKPOINT_ONLINE",
                           "RelMap/UPDATE", "Standby/RUNNING_XACTS", "LogicalMessage/MESSAGE",
                           "XLOG/RESTORE_POINT", "Heap/LOCK"}) {
    EXPECT_GT(types[want], 0) << want;
  }
}

// Every full-page image decompresses (pglz, lz4, zstd) to a page whose
// header is sane, and all three methods occur.
TEST_F(WaldumpOracleTest, FullPageImagesRestore) {
  WalSegmentReader reader(NewPosixFileSystem(), wal_dir(), first_segment_start());
  std::map<int, int> by_method;
  int images = 0;
  while (true) {
    absl::StatusOr<std::optional<WalRecord>> r = reader.Next();
    if (!r.ok() || !r->has_value()) break;
    for (const WalBlockRef& b : (*r)->blocks) {
      if (!b.has_image) continue;
      absl::StatusOr<std::string> page = (*r)->RestoreImage(b);
      ASSERT_TRUE(page.ok()) << page.status();
      ASSERT_EQ(page->size(), 8192u);
      uint16_t lower, upper;
      std::memcpy(&lower, page->data() + 12, 2);
      std::memcpy(&upper, page->data() + 14, 2);
      if (lower != 0 || upper != 0) {  // not an all-zero (new) page
        EXPECT_LE(lower, upper) << (*r)->lsn.ToString();
        EXPECT_LE(upper, 8192) << (*r)->lsn.ToString();
      }
      by_method[b.bimg_info & 0x1C]++;
      images++;
    }
  }
  EXPECT_GT(by_method[0], 0);
  EXPECT_GT(by_method[0x04], 0) << "pglz";
  EXPECT_GT(by_method[0x08], 0) << "lz4";
  EXPECT_GT(by_method[0x10], 0) << "zstd";
  std::printf("[ oracle ] %d full-page images restored (none %d, pglz %d, lz4 %d, zstd %d)\n",
              images, by_method[0], by_method[0x04], by_method[0x08], by_method[0x10]);
}

// The neon_waldump tool prints the same lines and the same --stats table.
TEST_F(WaldumpOracleTest, ToolMatchesPgWaldump) {
  absl::StatusOr<std::string> ours =
      RunCommand(StrCat("{ ", NEON_WALDUMP_PATH, " ", WaldumpRange(), "; true; }"));
  ASSERT_TRUE(ours.ok()) << ours.status();
  std::vector<std::string> a = Lines(*ours), b = Lines(PgWaldump(""));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); i++) {
    LineParts x = Split(a[i]), y = Split(b[i]);
    ASSERT_EQ(x.prefix + x.type + x.blockrefs, y.prefix + y.type + y.blockrefs) << i;
  }
  absl::StatusOr<std::string> our_stats =
      RunCommand(StrCat("{ ", NEON_WALDUMP_PATH, " --stats ", WaldumpRange(), "; true; }"));
  ASSERT_TRUE(our_stats.ok()) << our_stats.status();
  EXPECT_EQ(*our_stats, PgWaldump("--stats"));
}

}  // namespace
}  // namespace neon
