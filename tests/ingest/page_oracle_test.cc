// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The page oracle: import the base backup, ingest all WAL that followed it
// (workload.sql and pgbench), then every block of every WAL-logged relation
// fork read with GetPage@LSN(end of the shutdown checkpoint), reconstructed
// through the neon_walredo process (Postgres's own redo routines), must equal
// the block the server left in its data directory after masking both as
// wal_consistency_checking does.
//
// Not compared, because Postgres does not WAL-log them: FSM forks, and the
// main/VM forks of unlogged relations (their init forks are compared).

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "base/str_cat.h"
#include "ingest/datadir_util.h"
#include "ingest/ingest_fixture.h"
#include "ingest/page_mask.h"
#include "neon/postgres_redo.h"

namespace neon {
namespace {

using testing::DatadirRels;
using testing::IngestFixture;
using testing::MaskPage;
using testing::ReadDatadirBlock;
using testing::ScanDatadir;
using testing::VmBitsSubset;

class PageOracleTest : public IngestFixture {};

TEST_F(PageOracleTest, EveryBlockEqualsTheDataDirectoryAfterMasking) {
#ifndef NEON_WALREDO_PATH
  FAIL() << "neon_walredo is not built: configure with -DNEON_PG_DIR (scripts/build.sh does)";
#else
  PostgresRedoOptions ro;
  ro.walredo_path = NEON_WALREDO_PATH;
  ro.max_processes = 2;
  auto pool = PostgresRedoPool::Create(ro);
  ASSERT_TRUE(pool.ok()) << pool.status();
  OpenEngine((*pool)->ForTenant(TenantShardId::Unsharded(TenantId::Generate())));
  const Lsn end = ImportAndIngestAll();
  ASSERT_EQ(end, end_lsn());
  const DatadirRels want = ScanDatadir(final_dir());
  const ReadLsn at{end, end};
  uint64_t blocks = 0, equal = 0, exact = 0, rels = 0, vm_cleared = 0;
  std::map<std::string, uint64_t> by_am, diff_by_am;
  int reported = 0;
  for (const auto& [rel, nblocks] : want.nblocks) {
    if (rel.fork == 1) continue;  // FSM: not WAL-logged
    if (rel.fork != 3 && want.unlogged.count({rel.db_oid, rel.rel_number})) continue;
    std::string am = AccessMethod(rel.db_oid, rel.rel_number);
    if (am.empty()) am = "unknown";
    rels++;
    for (uint32_t blk = 0; blk < nblocks; blk++) {
      absl::StatusOr<std::string> ours = timeline_->GetRelPage(rel, blk, at);
      ASSERT_TRUE(ours.ok()) << rel.ToString() << " blk " << blk << ": " << ours.status();
      std::string theirs = ReadDatadirBlock(final_dir(), rel, blk);
      ASSERT_EQ(theirs.size(), 8192u);
      blocks++;
      by_am[am]++;
      if (*ours == theirs) exact++;
      std::string a = *ours, b = theirs;
      MaskPage(&a, am, rel.fork, blk);
      MaskPage(&b, am, rel.fork, blk);
      if (a == b) {
        equal++;
        continue;
      }
      if (rel.fork == 2 && VmBitsSubset(a, b)) {
        // Visibility map bits set on the server but clear here: the
        // WAL_LOG strategy of CREATE DATABASE copies VM pages with
        // log_newpage_buffer(page_std = true), which treats the bitmap as
        // the page's hole, so Postgres's own redo (a standby, crash
        // recovery) clears them too. Clear is the safe direction.
        vm_cleared++;
        equal++;
        continue;
      }
      diff_by_am[am]++;
      if (++reported <= 40 || std::getenv("NEON_ORACLE_VERBOSE")) {
        std::string ranges;
        int n = 0;
        for (size_t i = 0; i < 8192 && n < 6;) {
          if (a[i] == b[i]) {
            i++;
            continue;
          }
          size_t j = i;
          while (j < 8192 && a[j] != b[j]) j++;
          ranges += StrCat(" [", i, ",", j, ")");
          if (j - i <= 8) {
            for (size_t k = i; k < j; k++) {
              ranges += StrCat(" ", static_cast<int>(static_cast<uint8_t>(a[k])), "/",
                               static_cast<int>(static_cast<uint8_t>(b[k])));
            }
          }
          n++;
          i = j;
        }
        if (const char* dump = std::getenv("NEON_ORACLE_DUMP")) {
          for (auto [suffix, page] : {std::pair<const char*, const std::string*>{"ours", &*ours},
                                      {"theirs", &theirs}}) {
            FILE* f = std::fopen(StrCat(dump, "/", rel.rel_number, "_", int(rel.fork), "_", blk,
                                        ".", suffix).c_str(), "wb");
            if (f != nullptr) {
              std::fwrite(page->data(), 1, page->size(), f);
              std::fclose(f);
            }
          }
        }
        ADD_FAILURE() << rel.ToString() << " (" << am << ") blk " << blk
                      << " differs after masking (ours/theirs):" << ranges;
      }
    }
  }
  std::printf("[ oracle ] %lu relation forks, %lu blocks compared: %lu equal after masking "
              "(%lu byte-identical; %lu VM pages with bits Postgres's redo also clears), "
              "%lu different\n",
              static_cast<unsigned long>(rels), static_cast<unsigned long>(blocks),
              static_cast<unsigned long>(equal), static_cast<unsigned long>(exact),
              static_cast<unsigned long>(vm_cleared), static_cast<unsigned long>(blocks - equal));
  for (const auto& [am, n] : by_am) {
    std::printf("[ oracle ]   %-8s %8lu blocks, %lu different\n", am.c_str(),
                static_cast<unsigned long>(n), static_cast<unsigned long>(diff_by_am[am]));
  }
  EXPECT_EQ(equal, blocks);
  EXPECT_GT(blocks, 5000u);
#endif
}

}  // namespace
}  // namespace neon
