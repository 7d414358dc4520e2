// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "ingest/ingest_fixture.h"

#include <stdlib.h>

#include <cstdlib>
#include <map>
#include <sstream>

#include "base/str_cat.h"
#include "neon/wal.h"

namespace neon::testing {
namespace {

std::unique_ptr<PgCluster>* g_cluster = nullptr;
std::string* g_error = nullptr;
Lsn g_end;
std::map<std::pair<uint32_t, uint32_t>, std::string>* g_ams = nullptr;


absl::Status BuildCluster() {
  if (!PgAvailable()) {
    return absl::FailedPreconditionError(
        StrCat("no PostgreSQL 15 at ", PgBinDir(), " (scripts/install-deps.sh installs it)"));
  }
  auto c = PgCluster::Start({"wal_level = replica", "max_prepared_transactions = 10",
                             "wal_keep_size = '1GB'", "wal_compression = lz4",
                             "autovacuum = off"});
  if (!c.ok()) return c.status();
  PgCluster& pg = **c;
  *g_cluster = std::move(*c);
  auto r = pg.RunAsServerUser("pgbench -i -q -s 2 -U postgres postgres");
  if (!r.ok()) return r.status();
  if (auto s = pg.Stop("fast"); !s.ok()) return s;
  r = RunCommand(StrCat("cp -a ", pg.data_dir(), " ", pg.dir(), "/base"));
  if (!r.ok()) return r.status();
  if (auto s = pg.Restart(); !s.ok()) return s;
  if (auto s = pg.SqlFile(NEON_WAL_WORKLOAD); !s.ok()) return s;
  r = pg.RunAsServerUser("pgbench -n -c 2 -j 2 -t 400 -U postgres postgres");
  if (!r.ok()) return r.status();
  // Row locks shared by two sessions make multixacts (MULTIXACT_CREATE_ID,
  // zeroed offset and member pages): one session holds FOR SHARE locks while
  // the other takes them too, then updates a row both locked.
  const std::string psql = StrCat(PgBinDir(), "/psql -X -q -At -h ", pg.socket_dir(),
                                  " -p 5432 -U postgres -d postgres -c ");
  r = RunCommand(StrCat(
      "(", psql, "\"BEGIN; SELECT count(*) FROM (SELECT 1 FROM t WHERE id < 3000 FOR SHARE) x; ",
      "SELECT pg_sleep(2); COMMIT;\" >/dev/null &) ; sleep 0.5; ", psql,
      "\"BEGIN; SELECT count(*) FROM (SELECT 1 FROM t WHERE id < 3000 FOR KEY SHARE) x; COMMIT;\"",
      " >/dev/null; ", psql, "\"SELECT count(*) FROM (SELECT 1 FROM t WHERE id < 3000 FOR SHARE) x;\"",
      " >/dev/null; sleep 2.5"));
  if (!r.ok()) return r.status();
  r = pg.Sql("BEGIN; INSERT INTO t VALUES (900001, 'left prepared', 0); "
             "PREPARE TRANSACTION 'left_open';");
  if (!r.ok()) return r.status();
  if (auto s = CollectAccessMethods(pg, g_ams); !s.ok()) return s;
  if (auto s = pg.Stop("fast"); !s.ok()) return s;
  // The end of WAL: after the last record (the shutdown checkpoint).
  WalSegmentReader reader(NewPosixFileSystem(), pg.wal_dir(), Lsn(16ull << 20));
  while (true) {
    auto rec = reader.Next();
    if (!rec.ok()) return rec.status();
    if (!rec->has_value()) break;
    g_end = (*rec)->end_lsn;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CollectAccessMethods(PgCluster& pg,
                                  std::map<std::pair<uint32_t, uint32_t>, std::string>* out) {
  auto dbs = pg.Sql("SELECT oid || ' ' || datname FROM pg_database WHERE datallowconn");
  if (!dbs.ok()) return dbs.status();
  std::istringstream in(*dbs);
  std::string line;
  while (std::getline(in, line)) {
    const size_t sp = line.find(' ');
    const uint32_t db = static_cast<uint32_t>(std::stoul(line.substr(0, sp)));
    auto rows = pg.Sql(
        "SELECT CASE WHEN c.reltablespace = 1664 THEN 0 ELSE 1 END || ' ' || "
        "pg_relation_filenode(c.oid) || ' ' || "
        "CASE WHEN c.relkind = 'S' THEN 'S' ELSE coalesce(a.amname, 'none') END "
        "FROM pg_class c LEFT JOIN pg_am a ON a.oid = c.relam "
        "WHERE pg_relation_filenode(c.oid) IS NOT NULL",
        line.substr(sp + 1));
    if (!rows.ok()) return rows.status();
    std::istringstream r(*rows);
    std::string row;
    while (std::getline(r, row)) {
      std::istringstream f(row);
      int local;
      uint32_t node;
      std::string am;
      f >> local >> node >> am;
      (*out)[{local ? db : 0, node}] = am;
    }
  }
  return absl::OkStatus();
}

void IngestFixture::SetUpTestSuite() {
  if (g_cluster != nullptr) return;
  g_cluster = new std::unique_ptr<PgCluster>();
  // The cluster is shared by every suite of the process; it goes (server stopped, directory
  // removed) when the process ends, not with a suite. Under ctest that is after each test.
  std::atexit([] { g_cluster->reset(); });
  g_error = new std::string();
  g_ams = new std::map<std::pair<uint32_t, uint32_t>, std::string>();
  if (absl::Status s = BuildCluster(); !s.ok()) *g_error = s.ToString();
}

void IngestFixture::SetUp() { ASSERT_TRUE(g_error->empty()) << *g_error; }

void IngestFixture::TearDown() {
  timeline_.reset();
  tenant_.reset();
  engine_.reset();
  if (!engine_dir_.empty()) (void)RunCommand("rm -rf " + engine_dir_);
}

std::string IngestFixture::base_dir() { return (*g_cluster)->dir() + "/base"; }
std::string IngestFixture::final_dir() { return (*g_cluster)->data_dir(); }
std::string IngestFixture::wal_dir() { return (*g_cluster)->wal_dir(); }
Lsn IngestFixture::end_lsn() { return g_end; }
std::string IngestFixture::AccessMethod(uint32_t db, uint32_t relfilenode) {
  auto it = g_ams->find({db, relfilenode});
  return it == g_ams->end() ? "" : it->second;
}

void IngestFixture::OpenEngine(std::shared_ptr<RedoManager> redo) {
  char tmpl[] = "/tmp/neon-ingest-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  engine_dir_ = tmpl;
  EngineOptions o;
  o.background_work = false;
  o.postgres_redo = std::move(redo);
  auto e = Engine::Open(o, engine_dir_);
  ASSERT_TRUE(e.ok()) << e.status();
  engine_ = std::move(*e);
  auto t = engine_->CreateTenant(TenantShardId::Unsharded(TenantId::Generate()), TenantConfig{});
  ASSERT_TRUE(t.ok()) << t.status();
  tenant_ = *t;
  auto tl = tenant_->CreateTimeline(TimelineId::Generate(), 15);
  ASSERT_TRUE(tl.ok()) << tl.status();
  timeline_ = *tl;
}

Lsn IngestFixture::ImportAndIngestAll(WalIngestStats* stats) {
  auto fs = NewPosixFileSystem();
  absl::StatusOr<Lsn> start = ImportDatadir(fs.get(), base_dir(), timeline_.get());
  EXPECT_TRUE(start.ok()) << start.status();
  if (!start.ok()) return Lsn();
  auto ing = WalIngester::Open(timeline_);
  EXPECT_TRUE(ing.ok()) << ing.status();
  WalSegmentReader reader(fs, wal_dir(), *start);
  while (true) {
    auto rec = reader.Next();
    EXPECT_TRUE(rec.ok()) << rec.status();
    if (!rec.ok() || !rec->has_value()) break;
    absl::Status s = (*ing)->Ingest(**rec);
    EXPECT_TRUE(s.ok()) << s << " at " << (*rec)->lsn.ToString();
    if (!s.ok()) break;
  }
  EXPECT_TRUE((*ing)->Commit().ok());
  if (stats != nullptr) *stats = (*ing)->stats();
  return (*ing)->last_record_end();
}

}  // namespace neon::testing
