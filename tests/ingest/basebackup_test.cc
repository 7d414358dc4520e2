// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Basebackups of a timeline built from a real Postgres 15 cluster
// (IngestFixture: the base backup imported, the workload's and pgbench's WAL
// ingested), started by Debian's unmodified Postgres 15:
//
// * full backups at the import LSN, at the commit of the workload's 20000-row
//   insert (mid-WAL) and at the end of WAL: the server starts without
//   recovery and every permanent table (catalogs included) has the rows and
//   contents the original server had at that point (compared with servers
//   started on copies of the original's base and final data directories);
//   pg_amcheck finds nothing; the prepared transaction left open commits;
//   after new writes and a crash, recovery replays from the generated
//   checkpoint record through the WAL the server wrote after it;
// * a non-full backup: the file set, pg_control (pg_controldata), the
//   generated WAL (pg_waldump), neon.signal, and files equal to the server's
//   own (relmaps, pg_xact, pg_twophase, init forks);
// * a cluster with data checksums: pg_checksums verifies every page.

#include "neon/basebackup.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "base/str_cat.h"
#include "ingest/ingest_fixture.h"
#include "neon/postgres_redo.h"
#include "neon/wal.h"

namespace neon {
namespace {

using testing::IngestFixture;
using testing::PgBinDir;
using testing::PgCluster;
using testing::RunCommand;

constexpr uint32_t kWorkloadInsertRows = 20000;  // workload.sql: INSERT INTO t ... 20000 rows

std::string AsServerUser() { return geteuid() == 0 ? "runuser -u postgres -- " : ""; }

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// An LSN as pg_waldump prints record positions: %X/%08X.
std::string WaldumpLsn(Lsn l) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%X/%08X", static_cast<unsigned>(l.value() >> 32),
                static_cast<unsigned>(l.value()));
  return buf;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A Postgres server on a data directory at <dir>/data that this test made (an
// extracted basebackup or a copy of the fixture's directories), on a Unix
// socket in <dir>. It owns <dir>: removed at destruction (also when Start
// fails).
class ScratchServer {
 public:
  static absl::StatusOr<std::unique_ptr<ScratchServer>> Start(const std::string& dir) {
    std::unique_ptr<ScratchServer> s(new ScratchServer(dir));
    std::ofstream conf(s->data() + "/postgresql.conf");
    conf << "listen_addresses = ''\nunix_socket_directories = '" << dir << "'\nport = 5432\n"
         << "fsync = off\nlogging_collector = off\nautovacuum = off\n"
         << "max_prepared_transactions = 10\nshared_buffers = 16MB\n";
    conf.close();
    chmod(s->data().c_str(), 0700);
    if (geteuid() == 0) {
      auto r = RunCommand(StrCat("chown -R postgres:postgres ", dir));
      if (!r.ok()) return r.status();
    }
    if (absl::Status st = s->StartAgain(); !st.ok()) return st;
    return s;
  }
  ~ScratchServer() {
    if (running_) (void)Stop("immediate");
    if (!std::getenv("NEON_KEEP_PG")) (void)RunCommand("rm -rf " + dir_);
  }

  std::string data() const { return dir_ + "/data"; }
  std::string Log() const { return ReadFile(dir_ + "/server.log"); }

  absl::Status StartAgain() {
    auto r = RunCommand(StrCat(AsServerUser(), PgBinDir(), "/pg_ctl -D ", data(), " -l ", dir_,
                               "/server.log -w -t 60 start"));
    if (!r.ok()) return absl::InternalError(StrCat(r.status().message(), "\n", Log()));
    running_ = true;
    return absl::OkStatus();
  }
  absl::Status Stop(const std::string& mode = "fast") {
    running_ = false;
    return RunCommand(StrCat(AsServerUser(), PgBinDir(), "/pg_ctl -D ", data(), " -m ", mode,
                             " -w -t 60 stop"))
        .status();
  }
  absl::StatusOr<std::string> Sql(const std::string& sql, const std::string& db = "postgres") {
    std::string quoted = "'";
    for (char ch : sql) quoted += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    quoted += "'";
    return RunCommand(StrCat(PgBinDir(), "/psql -X -q -At -v ON_ERROR_STOP=1 -h ", dir_,
                             " -p 5432 -U postgres -d ", db, " -c ", quoted));
  }
  absl::StatusOr<std::string> Tool(const std::string& args) {
    return RunCommand(StrCat(PgBinDir(), "/", args, " -h ", dir_, " -p 5432 -U postgres"));
  }

 private:
  explicit ScratchServer(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
  bool running_ = false;
};

// A temporary directory, removed at destruction unless released (or NEON_KEEP_PG is set).
class ScopedDir {
 public:
  ScopedDir() {
    char tmpl[] = "/tmp/neon-bb-XXXXXX";
    EXPECT_NE(mkdtemp(tmpl), nullptr);
    chmod(tmpl, 0755);
    path_ = tmpl;
  }
  ~ScopedDir() {
    if (!path_.empty() && !std::getenv("NEON_KEEP_PG")) (void)RunCommand("rm -rf " + path_);
  }
  const std::string& path() const { return path_; }
  std::string Release() { return std::exchange(path_, std::string()); }

 private:
  std::string path_;
};

// Writes the basebackup into <dir>/backup.tar[.gz] and extracts it into
// <dir>/data.
absl::StatusOr<BaseBackupResult> BackupInto(Timeline* tl, const BaseBackupOptions& o,
                                            const std::string& dir) {
  const std::string file = dir + (o.gzip ? "/backup.tar.gz" : "/backup.tar");
  std::ofstream out(file, std::ios::binary);
  BaseBackupResult result;
  absl::Status s = WriteBaseBackup(
      tl, o,
      [&](std::string_view piece) {
        out.write(piece.data(), static_cast<std::streamsize>(piece.size()));
        return out ? absl::OkStatus() : absl::InternalError("write " + file);
      },
      &result);
  out.close();
  if (!s.ok()) return s;
  auto r = RunCommand(StrCat("mkdir -p ", dir, "/data && tar -x", o.gzip ? "z" : "", "f ", file,
                             " -C ", dir, "/data && rm ", file));
  if (!r.ok()) return r.status();
  return result;
}

// Copies a cleanly shut down data directory (for a reference server) with
// only the WAL segments around its checkpoint record at `checkpoint`.
absl::Status CopyForStart(const std::string& from, const std::string& dir, Lsn checkpoint) {
  std::set<std::string> segs;
  for (Lsn l : {checkpoint, checkpoint.Plus(128)}) {
    segs.insert(WalSegmentFileName(1, l));
  }
  std::string cmd = StrCat("mkdir -p ", dir, "/data && cd ", from,
                           " && tar -cf - --exclude='pg_wal/0*' --exclude=postmaster.pid . "
                           "| tar -xf - -C ",
                           dir, "/data");
  for (const std::string& s : segs) {
    cmd += StrCat(" && (test ! -e ", from, "/pg_wal/", s, " || cp ", from, "/pg_wal/", s, " ", dir,
                  "/data/pg_wal/)");
  }
  return RunCommand(cmd).status();
}

// "db table count hash" for every permanent table (catalogs included) of
// every database that accepts connections.
absl::StatusOr<std::string> TableDigest(ScratchServer& s) {
  auto dbs = s.Sql("SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1");
  if (!dbs.ok()) return dbs.status();
  std::string out;
  std::istringstream in(*dbs);
  std::string db;
  while (std::getline(in, db)) {
    auto tables = s.Sql(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'm') AND c.relpersistence = 'p' ORDER BY 1",
        db);
    if (!tables.ok()) return tables.status();
    std::string query;
    std::istringstream t(*tables);
    std::string name;
    while (std::getline(t, name)) {
      if (!query.empty()) query += " UNION ALL ";
      query += StrCat("SELECT '", db, " ", name, "', count(*), ",
                      "coalesce(sum(hashtext(x::text)::bigint), 0) FROM ", name, " x");
    }
    auto rows = s.Sql(query + " ORDER BY 1", db);
    if (!rows.ok()) return rows.status();
    out += *rows;
  }
  return out;
}

// Started with no recovery: the log says so and shows no redo.
void ExpectCleanStart(const std::string& log) {
  EXPECT_NE(log.find("database system was shut down at"), std::string::npos) << log;
  EXPECT_EQ(log.find("redo starts"), std::string::npos) << log;
  EXPECT_EQ(log.find("not properly shut down"), std::string::npos) << log;
  EXPECT_NE(log.find("database system is ready to accept connections"), std::string::npos) << log;
}

class BaseBackupPgTest : public IngestFixture {
 protected:
  // Imports the base, ingests all WAL and notes the import LSN and the end
  // of the commit of the transaction that inserted kWorkloadInsertRows rows.
  void IngestAll() {
    auto fs = NewPosixFileSystem();
    auto start = ImportDatadir(fs.get(), base_dir(), timeline_.get());
    ASSERT_TRUE(start.ok()) << start.status();
    import_lsn_ = *start;
    auto ing = WalIngester::Open(timeline_);
    ASSERT_TRUE(ing.ok()) << ing.status();
    WalSegmentReader reader(fs, wal_dir(), *start);
    std::map<uint32_t, uint32_t> heap_inserts;  // xid -> HEAP_INSERT records
    while (true) {
      auto rec = reader.Next();
      ASSERT_TRUE(rec.ok()) << rec.status();
      if (!rec->has_value()) break;
      const WalRecord& r = **rec;
      if (r.rmid == 10 && (r.info & 0x70) == 0) heap_inserts[r.xid]++;
      if (r.rmid == 1 && (r.info & 0x70) == 0 && !insert_commit_lsn_.valid() &&
          heap_inserts[r.xid] == kWorkloadInsertRows) {
        insert_commit_lsn_ = r.end_lsn;
      }
      ASSERT_TRUE((*ing)->Ingest(r).ok()) << r.lsn.ToString();
    }
    ASSERT_TRUE((*ing)->Commit().ok());
    ASSERT_EQ((*ing)->last_record_end(), end_lsn());
    ASSERT_TRUE(insert_commit_lsn_.valid())
        << "no commit of a " << kWorkloadInsertRows << "-row insert in the WAL";
  }

  void OpenEngineWithRedo() {
#ifndef NEON_WALREDO_PATH
    FAIL() << "neon_walredo is not built: configure with -DNEON_PG_DIR (scripts/build.sh does)";
#else
    PostgresRedoOptions ro;
    ro.walredo_path = NEON_WALREDO_PATH;
    ro.max_processes = 2;
    auto pool = PostgresRedoPool::Create(ro);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *pool;
    OpenEngine(pool_->ForTenant(TenantShardId::Unsharded(TenantId::Generate())));
#endif
  }

  // A full basebackup at `lsn`, extracted and started.
  std::unique_ptr<ScratchServer> StartFromBackup(Lsn lsn, bool gzip, BaseBackupResult* result) {
    BaseBackupOptions o;
    o.lsn = lsn;
    o.full = true;
    o.gzip = gzip;
    ScopedDir dir;
    const auto t0 = std::chrono::steady_clock::now();
    auto r = BackupInto(timeline_.get(), o, dir.path());
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return nullptr;
    *result = *r;
    std::printf("[ basebackup ] full%s at %s: %lu files, %.1f MiB tar, %.1f MiB out, %.2f s\n",
                gzip ? " gzip" : "", lsn.ToString().c_str(), static_cast<unsigned long>(r->files),
                r->tar_bytes / 1048576.0, r->output_bytes / 1048576.0, secs);
    auto server = ScratchServer::Start(dir.Release());
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return nullptr;
    ExpectCleanStart((*server)->Log());
    return std::move(*server);
  }

  std::shared_ptr<PostgresRedoPool> pool_;
  Lsn import_lsn_;
  Lsn insert_commit_lsn_;
};

TEST_F(BaseBackupPgTest, FullBackupAtTheImportLsnEqualsTheBaseCluster) {
  ASSERT_NO_FATAL_FAILURE(OpenEngineWithRedo());
  ASSERT_NO_FATAL_FAILURE(IngestAll());
  BaseBackupResult r;
  auto ours = StartFromBackup(import_lsn_, /*gzip=*/false, &r);
  ASSERT_NE(ours, nullptr);
  EXPECT_EQ(r.start_lsn, import_lsn_);  // the base's own checkpoint record position
  ScopedDir ref_dir;
  ASSERT_TRUE(CopyForStart(base_dir(), ref_dir.path(), import_lsn_).ok());
  auto ref = ScratchServer::Start(ref_dir.Release());
  ASSERT_TRUE(ref.ok()) << ref.status();
  auto want = TableDigest(**ref);
  auto got = TableDigest(*ours);
  ASSERT_TRUE(want.ok() && got.ok()) << want.status() << got.status();
  EXPECT_GT(std::count(want->begin(), want->end(), '\n'), 100);
  EXPECT_EQ(*got, *want);
  // Before the workload: no table t, pgbench untouched.
  EXPECT_FALSE(ours->Sql("SELECT count(*) FROM t").ok());
  EXPECT_EQ(Trim(*ours->Sql("SELECT count(*), sum(abalance) FROM pgbench_accounts")), "200000|0");
}

TEST_F(BaseBackupPgTest, FullBackupMidWalHasTheDataOfThatCommit) {
  ASSERT_NO_FATAL_FAILURE(OpenEngineWithRedo());
  ASSERT_NO_FATAL_FAILURE(IngestAll());
  BaseBackupResult r;
  auto ours = StartFromBackup(insert_commit_lsn_, /*gzip=*/true, &r);
  ASSERT_NE(ours, nullptr);
  EXPECT_EQ(r.lsn, insert_commit_lsn_);
  EXPECT_EQ(r.prev_lsn, Lsn());  // not the end of the timeline
  EXPECT_EQ(Trim(*ours->Sql("SELECT count(*) FROM t")), StrCat(kWorkloadInsertRows));
  EXPECT_EQ(Trim(*ours->Sql("SELECT count(*) FROM t WHERE id BETWEEN 100001 AND 100003")), "0");
  EXPECT_FALSE(ours->Sql("SELECT count(*) FROM idx").ok());  // created later
  EXPECT_EQ(Trim(*ours->Sql("SELECT count(*), sum(abalance) FROM pgbench_accounts")), "200000|0");
  EXPECT_EQ(Trim(*ours->Sql("SELECT count(*) FROM pgbench_history")), "0");
  // The index agrees with the heap.
  EXPECT_EQ(Trim(*ours->Sql("SET enable_seqscan = off; SELECT count(*) FROM t WHERE id > 0")),
            StrCat(kWorkloadInsertRows));
  auto check = ours->Tool("pg_amcheck --all --install-missing --heapallindexed");
  EXPECT_TRUE(check.ok()) << check.status();
}

TEST_F(BaseBackupPgTest, FullBackupAtTheEndEqualsTheFinalClusterAndKeepsGoing) {
  ASSERT_NO_FATAL_FAILURE(OpenEngineWithRedo());
  ASSERT_NO_FATAL_FAILURE(IngestAll());
  BaseBackupResult r;
  auto ours = StartFromBackup(end_lsn(), /*gzip=*/true, &r);
  ASSERT_NE(ours, nullptr);
  EXPECT_EQ(r.start_lsn, BaseBackupStartLsn(end_lsn()));
  ScopedDir ref_dir;
  // The final cluster's checkpoint record ends at end_lsn (114 bytes).
  ASSERT_TRUE(CopyForStart(final_dir(), ref_dir.path(), Lsn(end_lsn().value() - 120)).ok());
  auto ref = ScratchServer::Start(ref_dir.Release());
  ASSERT_TRUE(ref.ok()) << ref.status();
  auto want = TableDigest(**ref);
  auto got = TableDigest(*ours);
  ASSERT_TRUE(want.ok() && got.ok()) << want.status() << got.status();
  EXPECT_EQ(*got, *want);
  const std::string pgbench = "SELECT count(*), sum(abalance) FROM pgbench_accounts";
  EXPECT_EQ(*ours->Sql(pgbench), *(*ref)->Sql(pgbench));
  EXPECT_NE(Trim(*ours->Sql(pgbench)), "200000|0");
  EXPECT_EQ(*ours->Sql("SELECT count(*) FROM t"), *(*ref)->Sql("SELECT count(*) FROM t"));
  // Unlogged tables start empty (their init forks), and work.
  EXPECT_EQ(Trim(*ours->Sql("SELECT count(*) FROM u")), "0");
  EXPECT_TRUE(ours->Sql("INSERT INTO u VALUES (1, 'x')").ok());
  auto check = ours->Tool("pg_amcheck --all --install-missing --heapallindexed");
  EXPECT_TRUE(check.ok()) << check.status();
  // The transaction left prepared at shutdown is there and commits.
  EXPECT_EQ(Trim(*ours->Sql("SELECT gid FROM pg_prepared_xacts")), "left_open");
  ASSERT_TRUE(ours->Sql("COMMIT PREPARED 'left_open'").ok());
  EXPECT_EQ(Trim(*ours->Sql("SELECT v FROM t WHERE id = 900001")), "left prepared");
  // New writes, a crash, and recovery from the generated checkpoint record
  // through the WAL the server wrote after it.
  ASSERT_TRUE(
      ours->Sql("CREATE TABLE after_backup AS SELECT g FROM generate_series(1, 5000) g").ok());
  ASSERT_TRUE(ours->Stop("immediate").ok());
  ASSERT_TRUE(ours->StartAgain().ok());
  const std::string log = ours->Log();
  // Redo begins with the first record after the checkpoint record at S.
  EXPECT_NE(log.find("redo starts at " + r.end_lsn.ToString()), std::string::npos) << log;
  EXPECT_EQ(Trim(*ours->Sql("SELECT count(*) FROM after_backup")), "5000");
  EXPECT_EQ(Trim(*ours->Sql("SELECT v FROM t WHERE id = 900001")), "left prepared");
}

TEST_F(BaseBackupPgTest, NonFullBackupHasTheServersFiles) {
  ASSERT_NO_FATAL_FAILURE(OpenEngine());  // no relation pages are read: no redo needed
  ASSERT_NO_FATAL_FAILURE(IngestAll());
  ScopedDir dir;
  BaseBackupOptions o;  // latest LSN, no relation files
  auto r = BackupInto(timeline_.get(), o, dir.path());
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string data = dir.path() + "/data";
  EXPECT_EQ(r->lsn, end_lsn());
  EXPECT_EQ(r->start_lsn, BaseBackupStartLsn(end_lsn()));
  // Relation files: only init forks, each also as its main fork.
  auto files = RunCommand(StrCat("cd ", data, " && find base global -type f | sort"));
  ASSERT_TRUE(files.ok());
  std::istringstream in(*files);
  std::string f;
  int init = 0, main_of_init = 0, other = 0;
  std::set<std::string> inits;
  std::vector<std::string> mains;
  while (std::getline(in, f)) {
    const std::string name = f.substr(f.rfind('/') + 1);
    if (name == "PG_VERSION" || name == "pg_filenode.map" || name == "pg_control") continue;
    if (name.size() > 5 && name.substr(name.size() - 5) == "_init") {
      init++;
      inits.insert(f.substr(0, f.size() - 5));
      // Postgres writes an unlogged index's init fork before it logs it, so
      // its page LSN on disk is 0; ingest gives it the record's LSN, as redo
      // would. Everything else is equal.
      std::string ours = ReadFile(data + "/" + f), theirs = ReadFile(final_dir() + "/" + f);
      ASSERT_EQ(ours.size(), theirs.size()) << f;
      for (size_t off = 0; off < ours.size(); off += 8192) {
        ours.replace(off, 8, 8, '\0');
        theirs.replace(off, 8, 8, '\0');
      }
      EXPECT_TRUE(ours == theirs) << f << " differs beyond the page LSNs";
    } else {
      mains.push_back(f);
    }
  }
  for (const std::string& m : mains) {
    if (inits.count(m)) {
      main_of_init++;
      EXPECT_EQ(ReadFile(data + "/" + m), ReadFile(data + "/" + m + "_init")) << m;
    } else {
      other++;
      ADD_FAILURE() << "relation file " << m << " in a non-full backup";
    }
  }
  EXPECT_GE(init, 2);  // table u and its primary key
  EXPECT_EQ(main_of_init, init);
  EXPECT_EQ(other, 0);
  // Files equal to the ones the server wrote at its shutdown.
  for (const char* same :
       {"global/pg_filenode.map", "pg_xact/0000", "PG_VERSION", "base/1/PG_VERSION"}) {
    EXPECT_EQ(ReadFile(data + "/" + same), ReadFile(final_dir() + "/" + same)) << same;
  }
  auto dbs = RunCommand(StrCat("cd ", final_dir(), "/base && ls"));
  ASSERT_TRUE(dbs.ok());
  std::istringstream dbin(*dbs);
  std::string db;
  while (std::getline(dbin, db)) {
    const std::string map = "base/" + db + "/pg_filenode.map";
    EXPECT_EQ(ReadFile(data + "/" + map), ReadFile(final_dir() + "/" + map)) << map;
  }
  auto twophase = RunCommand(StrCat("cd ", final_dir(), "/pg_twophase && ls"));
  ASSERT_TRUE(twophase.ok());
  EXPECT_FALSE(Trim(*twophase).empty());
  EXPECT_EQ(ReadFile(data + "/pg_twophase/" + Trim(*twophase)),
            ReadFile(final_dir() + "/pg_twophase/" + Trim(*twophase)));
  // neon.signal: the timeline's record LSN before its end.
  EXPECT_EQ(ReadFile(data + "/neon.signal"),
            "PREV LSN: " + timeline_->Info().prev_record_lsn.ToString());
  // pg_control as Postgres's own tool reads it (it checks the CRC).
  auto control = RunCommand(StrCat(PgBinDir(), "/pg_controldata ", data, " 2>&1"));
  ASSERT_TRUE(control.ok()) << control.status();
  EXPECT_EQ(control->find("WARNING"), std::string::npos) << *control;
  EXPECT_NE(control->find("Database cluster state:               shut down"), std::string::npos)
      << *control;
  EXPECT_NE(control->find("Latest checkpoint location:           " + r->start_lsn.ToString()),
            std::string::npos)
      << *control;
  EXPECT_NE(control->find("Latest checkpoint's REDO location:    " + r->start_lsn.ToString()),
            std::string::npos)
      << *control;
  EXPECT_NE(control->find("Latest checkpoint's TimeLineID:       1"), std::string::npos)
      << *control;
  auto want = RunCommand(StrCat(PgBinDir(), "/pg_controldata ", final_dir()));
  ASSERT_TRUE(want.ok());
  // (nextOid and nextXid differ: ingest keeps them ahead, from NEXTOID records and rounded
  // up to 1024, as Neon does.)
  for (const char* same :
       {"Database system identifier:", "Latest checkpoint's NextMultiXactId:",
        "Latest checkpoint's oldestXID:", "Latest checkpoint's NextMultiOffset:"}) {
    auto line = [&](const std::string& text) {
      const size_t at = text.find(same);
      return at == std::string::npos ? std::string() : text.substr(at, text.find('\n', at) - at);
    };
    EXPECT_EQ(line(*control), line(*want)) << same;
    EXPECT_FALSE(line(*control).empty()) << same;
  }
  // The generated WAL as pg_waldump reads it.
  auto dump = RunCommand(StrCat(PgBinDir(), "/pg_waldump -p ", data, "/pg_wal -s ",
                                r->start_lsn.ToString(), " -n 1 2>&1"));
  ASSERT_TRUE(dump.ok()) << dump.status();
  EXPECT_NE(
      dump->find("CHECKPOINT_SHUTDOWN redo " + r->start_lsn.ToString() + "; tli 1; prev tli 1"),
      std::string::npos)
      << *dump;
  EXPECT_NE(dump->find("prev " + WaldumpLsn(r->prev_lsn)), std::string::npos) << *dump;
}

// A cluster with data checksums (pg_checksums --enable before the base copy):
// pages that took redo get their checksum recomputed, and Postgres's own
// checker verifies every page of the backup.
TEST(BaseBackupChecksumTest, PgChecksumsVerifiesEveryPage) {
#ifndef NEON_WALREDO_PATH
  FAIL() << "neon_walredo is not built: configure with -DNEON_PG_DIR (scripts/build.sh does)";
#else
  auto pg = PgCluster::Start({"autovacuum = off"});
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->Stop().ok());
  ASSERT_TRUE((*pg)->RunAsServerUser("pg_checksums --enable -D " + (*pg)->data_dir()).ok());
  ASSERT_TRUE(RunCommand(StrCat("cp -a ", (*pg)->data_dir(), " ", (*pg)->dir(), "/base")).ok());
  ASSERT_TRUE((*pg)->Restart().ok());
  for (const char* sql :
       {"CREATE TABLE ck (id int PRIMARY KEY, v text)",
        "INSERT INTO ck SELECT g, md5(g::text) FROM generate_series(1, 20000) g",
        "UPDATE ck SET v = v || 'x' WHERE id % 3 = 0", "DELETE FROM ck WHERE id % 10 = 0",
        "VACUUM ck", "CHECKPOINT", "UPDATE ck SET v = 'after checkpoint' WHERE id % 7 = 0"}) {
    auto r = (*pg)->Sql(sql);
    ASSERT_TRUE(r.ok()) << sql << ": " << r.status();
  }
  ASSERT_TRUE((*pg)->Stop().ok());

  PostgresRedoOptions ro;
  ro.walredo_path = NEON_WALREDO_PATH;
  auto pool = PostgresRedoPool::Create(ro);
  ASSERT_TRUE(pool.ok()) << pool.status();
  ScopedDir engine_dir;
  EngineOptions eo;
  eo.background_work = false;
  eo.postgres_redo = (*pool)->ForTenant(TenantShardId::Unsharded(TenantId::Generate()));
  auto engine = Engine::Open(eo, engine_dir.path());
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto tenant = (*engine)->CreateTenant(TenantShardId::Unsharded(TenantId::Generate()), {});
  ASSERT_TRUE(tenant.ok());
  auto tl = (*tenant)->CreateTimeline(TimelineId::Generate(), 15);
  ASSERT_TRUE(tl.ok());
  auto fs = NewPosixFileSystem();
  auto start = ImportDatadir(fs.get(), (*pg)->dir() + "/base", tl->get());
  ASSERT_TRUE(start.ok()) << start.status();
  auto ing = WalIngester::Open(*tl);
  ASSERT_TRUE(ing.ok());
  WalSegmentReader reader(fs, (*pg)->wal_dir(), *start);
  while (true) {
    auto rec = reader.Next();
    ASSERT_TRUE(rec.ok()) << rec.status();
    if (!rec->has_value()) break;
    ASSERT_TRUE((*ing)->Ingest(**rec).ok());
  }
  ASSERT_TRUE((*ing)->Commit().ok());

  ScopedDir backup_dir;
  const std::string dir = backup_dir.path();
  BaseBackupOptions o;
  o.full = true;
  auto r = BackupInto(tl->get(), o, dir);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(RunCommand(StrCat("chmod 700 ", dir, "/data",
                                geteuid() == 0 ? " && chown -R postgres:postgres " + dir : ""))
                  .ok());
  auto check =
      RunCommand(StrCat(AsServerUser(), PgBinDir(), "/pg_checksums --check -D ", dir, "/data"));
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_NE(check->find("Bad checksums:  0"), std::string::npos) << *check;
  EXPECT_NE(check->find("Data checksum version: 1"), std::string::npos) << *check;
  auto server = ScratchServer::Start(backup_dir.Release());
  ASSERT_TRUE(server.ok()) << server.status();
  ExpectCleanStart((*server)->Log());
  EXPECT_EQ(Trim(*(*server)->Sql(
                "SELECT count(*), count(*) FILTER (WHERE v = 'after checkpoint') FROM ck")),
            "18000|2572");
  server->reset();
  tl->reset();
  tenant->reset();
  engine->reset();
#endif
}

}  // namespace
}  // namespace neon
