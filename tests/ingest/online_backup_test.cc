// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Importing an ONLINE base backup (ImportDatadir with a backup_label): a real
// Postgres 15 runs pgbench, plus a session that creates, fills, truncates and
// drops tables, while pg_basebackup -X fetch copies it (rate-limited so the
// copy spans the load). The server then finishes the workload and shuts down
// cleanly. The backup is imported (its fuzzy files at the backup start, then
// its own WAL through the end-of-backup record), the server's remaining WAL
// is ingested, and every WAL-logged block at the end, reconstructed through
// neon_walredo, must equal the stopped server's after wal_consistency_checking
// masking. The import's LSN must be the End-LSN pg_basebackup wrote in its
// manifest. Bad backups (a WAL segment removed, taken from a standby, with a
// tablespace_map) are refused with clear errors and write nothing.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "base/str_cat.h"
#include "ingest/datadir_util.h"
#include "ingest/ingest_fixture.h"
#include "ingest/page_mask.h"
#include "neon/engine.h"
#include "neon/postgres_redo.h"
#include "neon/wal.h"
#include "neon/wal_ingest.h"
#include "wal/pg_cluster.h"

namespace neon {
namespace {

using testing::DatadirRels;
using testing::MaskPage;
using testing::PgAvailable;
using testing::PgCluster;
using testing::ReadDatadirBlock;
using testing::RunCommand;
using testing::ScanDatadir;
using testing::VmBitsSubset;

std::string ReadWholeFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void WriteWholeFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

// The value after `key` up to the end of its line ("" if absent).
std::string After(const std::string& text, const std::string& key) {
  const size_t at = text.find(key);
  if (at == std::string::npos) return "";
  const size_t from = at + key.size();
  return text.substr(from, text.find_first_of("\"\n", from) - from);
}

struct Suite {
  std::unique_ptr<PgCluster> pg;
  std::string error;
  std::string backup;     // pg_basebackup -Fp -X fetch
  Lsn backup_start;       // backup_label's START WAL LOCATION
  Lsn backup_end;         // the manifest's WAL-Ranges End-LSN
  Lsn end;                // end of the shutdown checkpoint record
  uint64_t pgbench_during = 0, ddl_rounds = 0;
  std::map<std::pair<uint32_t, uint32_t>, std::string> ams;  // (db, node) -> am
};
Suite* g = nullptr;


absl::Status Build() {
  if (!PgAvailable()) return absl::FailedPreconditionError("no PostgreSQL 15 (install-deps.sh)");
  auto c = PgCluster::Start({"wal_level = replica", "wal_keep_size = '1GB'",
                             "max_wal_size = '1GB'", "wal_compression = lz4",
                             "autovacuum = off", "max_wal_senders = 4"});
  if (!c.ok()) return c.status();
  g->pg = std::move(*c);
  PgCluster& pg = *g->pg;
  auto r = pg.RunAsServerUser("pgbench -i -q -s 3 -U postgres postgres");
  if (!r.ok()) return r.status();
  if (auto s = pg.Sql("CREATE TABLE keep (id int PRIMARY KEY, v text)"); !s.ok()) return s.status();

  // The load: pgbench, and DDL in a second session, both running until the
  // backup is done (and at least a few rounds, so the backup sees them).
  std::atomic<bool> backup_done{false};
  absl::Status load_status, ddl_status;
  std::thread load([&] {
    while (!backup_done.load() || g->pgbench_during < 2) {
      auto run = pg.RunAsServerUser("pgbench -n -c 2 -j 2 -t 300 -U postgres postgres");
      if (!run.ok()) {
        load_status = run.status();
        return;
      }
      g->pgbench_during++;
    }
  });
  std::thread ddl([&] {
    for (uint64_t i = 1; !backup_done.load() || i <= 4; i++) {
      const std::string t = StrCat("churn_", i), prev = StrCat("churn_", i - 1);
      for (const std::string& q :
           {StrCat("CREATE TABLE ", t, " (id int PRIMARY KEY, v text)"),
            StrCat("INSERT INTO ", t, " SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 3000) g"),
            StrCat("DELETE FROM ", t, " WHERE id > 1000"), StrCat("VACUUM ", t),
            StrCat("DROP TABLE IF EXISTS ", prev),
            StrCat("INSERT INTO keep SELECT g + ", i * 1000, ", 'r' FROM generate_series(1, 500) g"),
            std::string("TRUNCATE pgbench_history")}) {
        auto s = pg.Sql(q);
        if (!s.ok()) {
          ddl_status = s.status();
          return;
        }
      }
      g->ddl_rounds = i;
    }
  });
  g->backup = pg.dir() + "/online";
  auto bb = pg.RunAsServerUser(StrCat("pg_basebackup -U postgres -D ", g->backup,
                                      " -Fp -X fetch -c fast -r 8M -l online_test"));
  backup_done = true;
  load.join();
  ddl.join();
  if (!bb.ok()) return bb.status();
  if (!load_status.ok()) return load_status;
  if (!ddl_status.ok()) return ddl_status;

  // Some more after the backup, then a clean shutdown.
  r = pg.RunAsServerUser("pgbench -n -c 2 -j 2 -t 200 -U postgres postgres");
  if (!r.ok()) return r.status();
  if (auto s = testing::CollectAccessMethods(pg, &g->ams); !s.ok()) return s;
  if (auto s = pg.Stop("fast"); !s.ok()) return s;

  const std::string label = ReadWholeFile(g->backup + "/backup_label");
  auto start = Lsn::Parse(After(label, "START WAL LOCATION: ").substr(0, After(label, "START WAL LOCATION: ").find(' ')));
  if (!start.ok()) return absl::InternalError("backup_label: " + label);
  g->backup_start = *start;
  const std::string manifest = ReadWholeFile(g->backup + "/backup_manifest");
  auto end = Lsn::Parse(After(manifest, "\"End-LSN\": \""));
  if (!end.ok()) return absl::InternalError("backup_manifest has no End-LSN");
  g->backup_end = *end;
  WalSegmentReader reader(NewPosixFileSystem(), pg.wal_dir(), g->backup_end);
  while (true) {
    auto rec = reader.Next();
    if (!rec.ok()) return rec.status();
    if (!rec->has_value()) break;
    g->end = (*rec)->end_lsn;
  }
  return absl::OkStatus();
}

class OnlineBackupTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    if (g != nullptr) return;
    g = new Suite;
    // The server and its directory (the backup is inside) go when the process ends.
    std::atexit([] { g->pg.reset(); });
    if (absl::Status s = Build(); !s.ok()) g->error = s.ToString();
    std::printf("[ online ] backup %s..%s, %lu pgbench runs and %lu DDL rounds during it\n",
                g->backup_start.ToString().c_str(), g->backup_end.ToString().c_str(),
                static_cast<unsigned long>(g->pgbench_during),
                static_cast<unsigned long>(g->ddl_rounds));
  }

 protected:
  void SetUp() override { ASSERT_TRUE(g->error.empty()) << g->error; }
  void TearDown() override {
    timeline_.reset();
    tenant_.reset();
    engine_.reset();
    for (const std::string& d : dirs_) (void)RunCommand("rm -rf " + d);
  }

  std::string TempDir() {
    char tmpl[] = "/tmp/neon-online-XXXXXX";
    EXPECT_NE(mkdtemp(tmpl), nullptr);
    dirs_.push_back(tmpl);
    return tmpl;
  }

  void OpenEngine(std::shared_ptr<RedoManager> redo = nullptr) {
    EngineOptions o;
    o.background_work = false;
    o.postgres_redo = std::move(redo);
    auto e = Engine::Open(o, TempDir());
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
    auto t = engine_->CreateTenant(TenantShardId::Unsharded(TenantId::Generate()), TenantConfig{});
    ASSERT_TRUE(t.ok()) << t.status();
    tenant_ = *t;
    auto tl = tenant_->CreateTimeline(TimelineId::Generate(), 15);
    ASSERT_TRUE(tl.ok()) << tl.status();
    timeline_ = *tl;
  }

  // A copy of the backup to damage.
  std::string CopyOfBackup() {
    const std::string dir = TempDir() + "/b";
    EXPECT_TRUE(RunCommand(StrCat("cp -a ", g->backup, " ", dir)).ok());
    return dir;
  }

  void ExpectRefusedAndNothingWritten(const std::string& dir, absl::StatusCode code,
                                      const std::string& text) {
    auto fs = NewPosixFileSystem();
    auto s = ImportDatadir(fs.get(), dir, timeline_.get());
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), code) << s.status();
    EXPECT_NE(s.status().message().find(text), std::string::npos) << s.status();
    EXPECT_FALSE(timeline_->Info().last_record_lsn.valid()) << "a refused import wrote data";
  }

  std::vector<std::string> dirs_;
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<Tenant> tenant_;
  std::shared_ptr<Timeline> timeline_;
};

TEST_F(OnlineBackupTest, ImportThenRestOfWalEqualsTheStoppedServer) {
#ifndef NEON_WALREDO_PATH
  FAIL() << "neon_walredo is not built: configure with -DNEON_PG_DIR (scripts/build.sh does)";
#else
  PostgresRedoOptions ro;
  ro.walredo_path = NEON_WALREDO_PATH;
  ro.max_processes = 2;
  auto pool = PostgresRedoPool::Create(ro);
  ASSERT_TRUE(pool.ok()) << pool.status();
  OpenEngine((*pool)->ForTenant(TenantShardId::Unsharded(TenantId::Generate())));
  auto fs = NewPosixFileSystem();

  auto start = OnlineBackupStartLsn(fs.get(), g->backup);
  ASSERT_TRUE(start.ok()) << start.status();
  ASSERT_TRUE(start->has_value());
  EXPECT_EQ(**start, g->backup_start);

  auto imported = ImportDatadir(fs.get(), g->backup, timeline_.get());
  ASSERT_TRUE(imported.ok()) << imported.status();
  // What pg_basebackup says the backup ends at (the end of XLOG_BACKUP_END).
  EXPECT_EQ(*imported, g->backup_end);
  EXPECT_GT(*imported, g->backup_start);
  EXPECT_EQ(timeline_->Info().last_record_lsn, *imported);

  // The server's WAL after the backup.
  auto ing = WalIngester::Open(timeline_);
  ASSERT_TRUE(ing.ok()) << ing.status();
  WalSegmentReader reader(fs, g->pg->wal_dir(), *imported);
  while (true) {
    auto rec = reader.Next();
    ASSERT_TRUE(rec.ok()) << rec.status();
    if (!rec->has_value()) break;
    absl::Status s = (*ing)->Ingest(**rec);
    ASSERT_TRUE(s.ok()) << s << " at " << (*rec)->lsn.ToString();
  }
  ASSERT_TRUE((*ing)->Commit().ok());
  const Lsn end = (*ing)->last_record_end();
  ASSERT_EQ(end, g->end);

  const std::string final_dir = g->pg->data_dir();
  const DatadirRels want = ScanDatadir(final_dir);
  const ReadLsn at{end, end};
  uint64_t blocks = 0, equal = 0, rels = 0, vm_cleared = 0;
  int reported = 0;
  for (const auto& [rel, nblocks] : want.nblocks) {
    if (rel.fork == 1) continue;  // FSM: not WAL-logged
    if (rel.fork != 3 && want.unlogged.count({rel.db_oid, rel.rel_number})) continue;
    auto it = g->ams.find({rel.db_oid, rel.rel_number});
    const std::string am = it == g->ams.end() ? "unknown" : it->second;
    rels++;
    auto size = timeline_->GetRelSize(rel, at);
    EXPECT_TRUE(size.ok() && *size == nblocks)
        << rel.ToString() << ": " << (size.ok() ? StrCat(*size) : size.status().ToString())
        << " blocks, the server has " << nblocks;
    for (uint32_t blk = 0; blk < nblocks; blk++) {
      absl::StatusOr<std::string> ours = timeline_->GetRelPage(rel, blk, at);
      ASSERT_TRUE(ours.ok()) << rel.ToString() << " blk " << blk << ": " << ours.status();
      std::string theirs = ReadDatadirBlock(final_dir, rel, blk);
      ASSERT_EQ(theirs.size(), 8192u);
      blocks++;
      std::string a = *ours, b = theirs;
      MaskPage(&a, am, rel.fork, blk);
      MaskPage(&b, am, rel.fork, blk);
      if (a == b) {
        equal++;
      } else if (rel.fork == 2 && VmBitsSubset(a, b)) {
        vm_cleared++;
        equal++;
      } else if (++reported <= 20) {
        ADD_FAILURE() << rel.ToString() << " (" << am << ") blk " << blk
                      << " differs after masking";
      }
    }
  }
  std::printf("[ online ] import %s..%s, then WAL to %s: %lu relation forks, %lu blocks "
              "compared, %lu equal after masking (%lu VM pages with bits cleared), %lu different\n",
              g->backup_start.ToString().c_str(), imported->ToString().c_str(),
              end.ToString().c_str(), static_cast<unsigned long>(rels),
              static_cast<unsigned long>(blocks), static_cast<unsigned long>(equal),
              static_cast<unsigned long>(vm_cleared), static_cast<unsigned long>(blocks - equal));
  EXPECT_EQ(equal, blocks);
  EXPECT_GT(blocks, 5000u);
#endif
}

TEST_F(OnlineBackupTest, MissingWalSegmentIsRefusedAndWritesNothing) {
  OpenEngine();
  const std::string dir = CopyOfBackup();
  // The segment holding the backup's end: without it the end-of-backup
  // record cannot be found.
  const std::string seg = WalSegmentFileName(1, g->backup_end.Prev());
  ASSERT_EQ(std::remove((dir + "/pg_wal/" + seg).c_str()), 0) << seg;
  ExpectRefusedAndNothingWritten(dir, absl::StatusCode::kDataLoss, "backup incomplete: WAL from");

  // A segment cut short is damage, named as such.
  const std::string dir2 = CopyOfBackup();
  ASSERT_TRUE(RunCommand(StrCat("truncate -s 4M ", dir2, "/pg_wal/", seg)).ok());
  ExpectRefusedAndNothingWritten(dir2, absl::StatusCode::kDataLoss, "WAL");

  // Nothing was left behind: the timeline can be deleted and a good import
  // still works in a fresh one.
  const TimelineId id = timeline_->Info().timeline_id;
  timeline_.reset();
  ASSERT_TRUE(tenant_->DeleteTimeline(id).ok());
  EXPECT_TRUE(tenant_->ListTimelines().empty());
}

TEST_F(OnlineBackupTest, StandbyBackupAndTablespaceMapAreRefused) {
  OpenEngine();
  const std::string dir = CopyOfBackup();
  std::string label = ReadWholeFile(dir + "/backup_label");
  const size_t at = label.find("BACKUP FROM: primary");
  ASSERT_NE(at, std::string::npos) << label;
  std::string standby = label;
  standby.replace(at, 20, "BACKUP FROM: standby");
  WriteWholeFile(dir + "/backup_label", standby);
  ExpectRefusedAndNothingWritten(dir, absl::StatusCode::kInvalidArgument, "standby");
  auto fs = NewPosixFileSystem();
  EXPECT_TRUE(absl::IsInvalidArgument(OnlineBackupStartLsn(fs.get(), dir).status()));

  WriteWholeFile(dir + "/backup_label", label);
  WriteWholeFile(dir + "/tablespace_map", "16400 /srv/tblspc\n");
  ExpectRefusedAndNothingWritten(dir, absl::StatusCode::kInvalidArgument, "tablespace");

  // An empty tablespace_map is what a backup without tablespaces has.
  WriteWholeFile(dir + "/tablespace_map", "");
  auto s = OnlineBackupStartLsn(fs.get(), dir);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->value_or(Lsn()), g->backup_start);
}

}  // namespace
}  // namespace neon
