// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The whole cluster with real processes and a real, unmodified Postgres 15: storage broker,
// pageserver, three safekeepers and neon_walpump as the source's synchronous standby.
//
// During a pgbench run: one safekeeper is killed (commits go on with two of three) and
// restarted (it catches up); the pageserver is killed and restarted (it catches up from the
// safekeepers); the walpump is killed and restarted (commits pause, then resume; nothing
// acknowledged is lost). Then the source is shut down cleanly and every block of every
// persistent relation of the database, read from the pageserver at the shutdown checkpoint,
// must equal the stopped server's data directory after masking. A branch taken mid-run and
// the main timeline are exported as full basebackups; stock Postgres servers started on them
// show exactly the rows committed before each point.

#include <sys/stat.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ingest/datadir_util.h"
#include "ingest/page_mask.h"
#include "nlohmann/json.hpp"
#include "page_service.grpc.pb.h"
#include "servers/broker_process.h"
#include "servers/child_process.h"
#include "servers/pageserver_process.h"
#include "servers/safekeeper_process.h"
#include "wal/pg_cluster.h"

namespace neon::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr char kTenant[] = "5ee1a0c3d9a04b4c8f1e2d3c4b5a6978";
constexpr char kMain[] = "1aa1a0c3d9a04b4c8f1e2d3c4b5a6978";
constexpr char kBranch[] = "2bb1a0c3d9a04b4c8f1e2d3c4b5a6978";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return pred();
}

class WalpumpClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PgAvailable()) GTEST_SKIP() << "Postgres 15 is not installed";
    chmod(dir_.path().c_str(), 0755);  // the exports are started as the postgres user
    std::string error;
    broker_ = BrokerProcess::Start({}, &error);
    ASSERT_NE(broker_, nullptr) << error;
    ASSERT_NO_FATAL_FAILURE(StartPageserver());
    for (int i = 0; i < 3; i++) ASSERT_NO_FATAL_FAILURE(StartSafekeeper(i));
    auto pg = PgCluster::Start({"wal_level = replica", "max_wal_senders = 8",
                                "max_replication_slots = 8", "wal_sender_timeout = 20s",
                                "autovacuum = off"});
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = std::move(*pg);
    auto init = pg_->RunAsServerUser("pgbench -U postgres -i -s 2 -q postgres");
    ASSERT_TRUE(init.ok()) << init.status();
    ASSERT_TRUE(pg_->Sql("CREATE TABLE marker (phase text)").ok());
  }

  void TearDown() override {
    if (HasFailure() || std::getenv("NEON_SHOW_LOGS")) {
      if (walpump_) std::cerr << "---- walpump log\n" << walpump_->Log();
      if (ps_) std::cerr << "---- pageserver log (tail)\n" << Tail(ps_->Log());
      for (auto& sk : sks_) {
        if (sk) std::cerr << "---- safekeeper log (tail)\n" << Tail(sk->Log());
      }
    }
    walpump_.reset();
  }

  static std::string Tail(const std::string& s) {
    return s.size() > 6000 ? s.substr(s.size() - 6000) : s;
  }

  void StartPageserver() {
    std::string error;
    ps_ = PageserverProcess::Start(dir_.path() + "/ps",
                                   {"--broker-endpoint", broker_->grpc_target(),
                                    "--wal-connect-timeout-ms", "2000",
                                    "--lagging-wal-timeout-ms", "2000"},
                                   &error);
    ASSERT_NE(ps_, nullptr) << error;
    stub_ = page_api::PageService::NewStub(
        grpc::CreateChannel(ps_->grpc_target(), grpc::InsecureChannelCredentials()));
  }

  void StartSafekeeper(int i) {
    std::string error;
    std::vector<std::string> args = {"--id=" + std::to_string(i + 1),
                                     "--broker-endpoint=" + broker_->grpc_target(),
                                     "--remote-storage-dir=" + dir_.path() + "/wal_remote"};
    if (sk_ports_[i] != 0) {
      // A restart keeps its addresses: the walpump and the broker know them.
      args.push_back("--listen-pg=127.0.0.1:" + std::to_string(sk_ports_[i]));
      args.push_back("--listen-http=127.0.0.1:" + std::to_string(sk_http_[i]));
    }
    const std::string workdir = dir_.path() + "/sk" + std::to_string(i + 1);
    for (int attempt = 0; attempt < 50; attempt++) {
      sks_[i] = SafekeeperProcess::Start(workdir, args, &error);
      if (sks_[i] != nullptr || sk_ports_[i] == 0) break;
      std::this_thread::sleep_for(100ms);  // the old socket may linger briefly
    }
    ASSERT_NE(sks_[i], nullptr) << error;
    sk_ports_[i] = sks_[i]->pg_port();
    sk_http_[i] = sks_[i]->http_port();
  }

  void StartWalpump() {
    std::vector<std::string> groups;
    std::string sks, http;
    for (int i = 0; i < 3; i++) {
      sks += (i ? "," : "") + std::string("127.0.0.1:") + std::to_string(sk_ports_[i]);
      http += (i ? "," : "") + std::string("127.0.0.1:") + std::to_string(sk_http_[i]);
    }
    auto p = ChildProcess::Start(
        {NEON_WALPUMP_PATH,
         "--source=host=" + pg_->socket_dir() + " port=5432 user=postgres dbname=postgres",
         "--pageserver=127.0.0.1:" + std::to_string(ps_->http_port()), "--safekeepers=" + sks,
         "--safekeeper-http=" + http, std::string("--tenant-id=") + kTenant,
         std::string("--timeline-id=") + kMain, "--state-dir=" + dir_.path() + "/walpump"},
        dir_.path() + "/walpump.log" + std::to_string(++walpump_starts_), "event=walpump_starting",
        30000, &groups);
    ASSERT_TRUE(p.ok()) << p.status();
    walpump_ = std::move(*p);
  }

  json WalpumpStatus() {
    return json::parse(ReadAll(dir_.path() + "/walpump/status.json"), nullptr, false);
  }

  bool WaitStreaming(std::chrono::milliseconds timeout) {
    return WaitUntil([&] {
      json s = WalpumpStatus();
      return s.is_object() && s.value("phase", "") == "streaming";
    }, timeout);
  }

  json PsTimeline(const std::string& tl) {
    HttpReply r = HttpCall(ps_->http_port(), "GET",
                           std::string("/v1/tenant/") + kTenant + "/timeline/" + tl);
    return r.status == 200 ? r.body : json();
  }

  uint64_t PsLastRecordLsn(const std::string& tl) {
    json j = PsTimeline(tl);
    return j.is_object() && j.contains("last_record_lsn")
               ? ParseLsnText(j["last_record_lsn"].get<std::string>())
               : 0;
  }

  uint64_t SkLsn(int i, const char* field) {
    HttpReply r = HttpCall(sk_http_[i], "GET",
                           std::string("/v1/tenant/") + kTenant + "/timeline/" + kMain);
    return r.status == 200 && r.body.contains(field)
               ? ParseLsnText(r.body[field].get<std::string>())
               : 0;
  }

  uint64_t Count(const std::string& table) {
    auto r = pg_->Sql("SELECT count(*) FROM " + table);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::stoull(Trim(*r)) : 0;
  }

  void Context(grpc::ClientContext* ctx, const std::string& tl) {
    ctx->set_deadline(std::chrono::system_clock::now() + 120s);
    ctx->AddMetadata("neon-tenant-id", kTenant);
    ctx->AddMetadata("neon-timeline-id", tl);
  }

  // Exports `tl` at `lsn` as a full basebackup, starts a stock Postgres on it and runs `sql`.
  std::string QueryExport(const std::string& tl, uint64_t lsn, const std::string& sql) {
    page_api::GetBaseBackupRequest req;
    req.set_lsn(lsn);
    req.set_full(true);
    req.set_compression(page_api::BASE_BACKUP_COMPRESSION_NONE);
    grpc::ClientContext ctx;
    Context(&ctx, tl);
    auto reader = stub_->GetBaseBackup(&ctx, req);
    std::string tar;
    page_api::GetBaseBackupResponseChunk chunk;
    while (reader->Read(&chunk)) tar.append(chunk.chunk());
    grpc::Status s = reader->Finish();
    EXPECT_TRUE(s.ok()) << s.error_message();
    const std::string dir = dir_.path() + "/export_" + tl;
    EXPECT_EQ(mkdir(dir.c_str(), 0755), 0);
    EXPECT_EQ(mkdir((dir + "/data").c_str(), 0700), 0);
    std::ofstream(dir + "/backup.tar", std::ios::binary) << tar;
    EXPECT_TRUE(RunCommand("tar -xf " + dir + "/backup.tar -C " + dir + "/data && rm " + dir +
                           "/backup.tar")
                    .ok());
    std::ofstream(dir + "/data/postgresql.conf")
        << "listen_addresses = ''\nunix_socket_directories = '" << dir << "'\nport = 5432\n"
        << "fsync = off\nshared_buffers = 16MB\nautovacuum = off\n";
    const std::string as_pg = geteuid() == 0 ? "runuser -u postgres -- " : "";
    if (geteuid() == 0) {
      EXPECT_TRUE(RunCommand("chown -R postgres:postgres " + dir).ok());
    }
    auto start = RunCommand(as_pg + PgBinDir() + "/pg_ctl -D " + dir + "/data -l " + dir +
                            "/server.log -w -t 60 start");
    EXPECT_TRUE(start.ok()) << start.status() << ReadAll(dir + "/server.log");
    if (!start.ok()) return "";
    std::string quoted = "'";
    for (char ch : sql) quoted += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    quoted += "'";
    auto out = RunCommand(PgBinDir() + "/psql -X -q -At -v ON_ERROR_STOP=1 -h " + dir +
                          " -p 5432 -U postgres -d postgres -c " + quoted);
    EXPECT_TRUE(out.ok()) << out.status();
    // The server's own check: the export is consistent.
    auto check = RunCommand(PgBinDir() + "/pg_amcheck -h " + dir +
                            " -p 5432 -U postgres -d postgres --install-missing --heapallindexed");
    EXPECT_TRUE(check.ok()) << check.status();
    (void)RunCommand(as_pg + PgBinDir() + "/pg_ctl -D " + dir + "/data -m fast -w stop");
    return out.ok() ? Trim(*out) : "";
  }

  // The shutdown checkpoint's end: where the stopped server's WAL ends.
  uint64_t ShutdownEndLsn() {
    auto control = pg_->RunAsServerUser("pg_controldata -D " + pg_->data_dir());
    EXPECT_TRUE(control.ok()) << control.status();
    if (!control.ok()) return 0;
    const std::string key = "Latest checkpoint location:";
    const size_t at = control->find(key);
    const std::string ckpt =
        Trim(control->substr(at + key.size(), control->find('\n', at) - at - key.size()));
    std::string ck = ckpt;
    ck.erase(0, ck.find_first_not_of(' '));
    auto dump = pg_->RunAsServerUser("pg_waldump -p " + pg_->wal_dir() + " -s " + ck + " -n 1");
    EXPECT_TRUE(dump.ok()) << dump.status();
    if (!dump.ok()) return 0;
    const size_t tot = dump->find("len (rec/tot):");
    const size_t slash = dump->find('/', tot + 14);
    const uint64_t len = std::stoull(dump->substr(slash + 1));
    return (ParseLsnText(ck) + len + 7) & ~uint64_t{7};
  }

  // Every block of every persistent relation's main fork, read from the pageserver at `lsn`,
  // against the stopped server's data directory. Returns the number of blocks compared.
  uint64_t CompareEveryBlock(const std::map<RelTag, std::string>& rels, uint64_t lsn) {
    const DatadirRels want = ScanDatadir(pg_->data_dir());
    grpc::ClientContext ctx;
    Context(&ctx, kMain);
    auto stream = stub_->GetPages(&ctx);
    uint64_t compared = 0;
    uint64_t id = 0;
    uint64_t differing = 0;
    for (const auto& [rel, am] : rels) {
      auto it = want.nblocks.find(rel);
      if (it == want.nblocks.end()) continue;  // no file: never written
      const uint32_t nblocks = it->second;
      for (uint32_t first = 0; first < nblocks; first += 32) {
        page_api::GetPageRequest req;
        req.mutable_request_id()->set_id(++id);
        req.mutable_read_lsn()->set_request_lsn(lsn);
        req.mutable_rel()->set_spc_oid(rel.spc_oid);
        req.mutable_rel()->set_db_oid(rel.db_oid);
        req.mutable_rel()->set_rel_number(rel.rel_number);
        for (uint32_t b = first; b < std::min(nblocks, first + 32); ++b) req.add_block_number(b);
        EXPECT_TRUE(stream->Write(req));
        page_api::GetPageResponse resp;
        EXPECT_TRUE(stream->Read(&resp));
        EXPECT_EQ(resp.status_code(), page_api::GET_PAGE_STATUS_CODE_OK)
            << rel.ToString() << ": " << resp.reason();
        if (resp.page_size() != req.block_number_size()) {
          ADD_FAILURE() << rel.ToString() << ": " << resp.page_size() << " pages for "
                        << req.block_number_size() << " blocks";
          continue;
        }
        for (const page_api::Page& p : resp.page()) {
          std::string ours = p.image();
          std::string theirs = ReadDatadirBlock(pg_->data_dir(), rel, p.block_number());
          MaskPage(&ours, am, 0, p.block_number());
          MaskPage(&theirs, am, 0, p.block_number());
          if (ours != theirs && ++differing <= 10) {
            ADD_FAILURE() << rel.ToString() << " (" << am << ") block " << p.block_number()
                          << " differs";
          }
          compared++;
        }
      }
    }
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
    EXPECT_EQ(differing, 0u);
    return compared;
  }

  std::map<RelTag, std::string> PersistentRelations() {
    std::map<RelTag, std::string> out;
    auto db = pg_->Sql("SELECT oid FROM pg_database WHERE datname = 'postgres'");
    EXPECT_TRUE(db.ok());
    const uint32_t db_oid = static_cast<uint32_t>(std::stoul(Trim(*db)));
    auto rows = pg_->Sql(
        "SELECT pg_relation_filenode(c.oid), CASE WHEN c.reltablespace = 1664 THEN 1664 ELSE 1663 "
        "END, CASE WHEN c.relkind = 'S' THEN 'S' ELSE coalesce(a.amname, 'heap') END "
        "FROM pg_class c LEFT JOIN pg_am a ON a.oid = c.relam "
        "WHERE c.relpersistence = 'p' AND c.relkind IN ('r', 'i', 'S', 't', 'm') "
        "AND pg_relation_filenode(c.oid) IS NOT NULL");
    EXPECT_TRUE(rows.ok()) << rows.status();
    std::istringstream lines(*rows);
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream f(line);
      std::string node, spc, am;
      std::getline(f, node, '|');
      std::getline(f, spc, '|');
      std::getline(f, am, '|');
      const uint32_t s = static_cast<uint32_t>(std::stoul(spc));
      out[RelTag{s, s == 1664 ? 0u : db_oid, static_cast<uint32_t>(std::stoul(node)), 0}] = am;
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<PageserverProcess> ps_;
  std::unique_ptr<SafekeeperProcess> sks_[3];
  int sk_ports_[3] = {0, 0, 0};
  int sk_http_[3] = {0, 0, 0};
  std::unique_ptr<PgCluster> pg_;
  std::unique_ptr<ChildProcess> walpump_;
  int walpump_starts_ = 0;
  std::unique_ptr<page_api::PageService::Stub> stub_;
};

TEST_F(WalpumpClusterTest, SurvivesKillsLosesNothingAndBranchesAreIsolated) {
  ASSERT_NO_FATAL_FAILURE(StartWalpump());
  ASSERT_TRUE(WaitStreaming(180s)) << WalpumpStatus().dump();
  const json st = WalpumpStatus();
  const uint64_t import_lsn = ParseLsnText(st["start_lsn"].get<std::string>());
  ASSERT_GE(PsLastRecordLsn(kMain), import_lsn) << PsTimeline(kMain).dump();
  const uint64_t initdb_lsn = ParseLsnText(PsTimeline(kMain)["initdb_lsn"].get<std::string>());
  EXPECT_GT(initdb_lsn, 0u);  // where the imported data begins
  EXPECT_LE(initdb_lsn, import_lsn);

  // The walpump becomes the synchronous standby: commits wait for a safekeeper quorum.
  ASSERT_TRUE(pg_->Sql("ALTER SYSTEM SET synchronous_standby_names = 'neon_walpump'").ok());
  ASSERT_TRUE(pg_->Sql("SELECT pg_reload_conf()").ok());
  ASSERT_TRUE(WaitUntil([&] {
    auto r = pg_->Sql("SELECT sync_state FROM pg_stat_replication WHERE application_name = "
                      "'neon_walpump'");
    return r.ok() && Trim(*r) == "sync";
  }, 30s));

  std::string bench_out;
  absl::Status bench_status;
  std::thread bench([&] {
    auto r = pg_->RunAsServerUser("pgbench -U postgres -c 4 -j 2 -T 26 postgres 2>&1");
    bench_status = r.status();
    if (r.ok()) bench_out = *r;
  });

  std::this_thread::sleep_for(2s);
  // One safekeeper dies: two of three are a quorum, commits go on.
  sks_[2]->Kill();
  const uint64_t c0 = Count("pgbench_history");
  std::this_thread::sleep_for(2500ms);
  const uint64_t c1 = Count("pgbench_history");
  EXPECT_GT(c1, c0) << "commits stopped with one safekeeper down";

  // The branch point: every row before it is on the branch, none after.
  ASSERT_TRUE(pg_->Sql("INSERT INTO marker VALUES ('before')").ok());
  auto lsn_text = pg_->Sql("SELECT pg_current_wal_insert_lsn()");
  ASSERT_TRUE(lsn_text.ok());
  const uint64_t branch_lsn = ParseLsnText(Trim(*lsn_text));
  const uint64_t history_at_branch_min = c1;  // counted before the marker's commit

  ASSERT_NO_FATAL_FAILURE(StartSafekeeper(2));  // restarted: catches up below

  std::this_thread::sleep_for(2s);
  // The pageserver dies and comes back: it reattaches and catches up from the safekeepers.
  ps_->Kill();
  std::this_thread::sleep_for(1s);
  ASSERT_NO_FATAL_FAILURE(StartPageserver());

  std::this_thread::sleep_for(3s);
  // The walpump dies: commits wait (synchronous standby); after its restart they resume.
  walpump_->Kill();
  std::this_thread::sleep_for(1500ms);
  const uint64_t c2 = Count("pgbench_history");
  ASSERT_NO_FATAL_FAILURE(StartWalpump());
  ASSERT_TRUE(WaitStreaming(60s)) << WalpumpStatus().dump();
  std::this_thread::sleep_for(3s);
  const uint64_t c3 = Count("pgbench_history");
  EXPECT_GT(c3, c2) << "commits did not resume after the walpump restarted";
  ASSERT_TRUE(pg_->Sql("INSERT INTO marker VALUES ('after')").ok());

  bench.join();
  ASSERT_TRUE(bench_status.ok()) << bench_status;
  const std::string processed = "number of transactions actually processed: ";
  const size_t at = bench_out.find(processed);
  ASSERT_NE(at, std::string::npos) << bench_out;
  const uint64_t acknowledged = std::stoull(bench_out.substr(at + processed.size()));
  EXPECT_NE(bench_out.find("number of failed transactions: 0"), std::string::npos) << bench_out;
  EXPECT_GT(acknowledged, 0u);

  // The branch, taken once the pageserver has the branch point.
  ASSERT_TRUE(WaitUntil([&] { return PsLastRecordLsn(kMain) >= branch_lsn; }, 60s));
  HttpReply br = HttpCall(ps_->http_port(), "POST", std::string("/v1/tenant/") + kTenant + "/timeline",
                          json{{"new_timeline_id", kBranch},
                               {"ancestor_timeline_id", kMain},
                               {"ancestor_start_lsn", LsnText(branch_lsn)}}
                              .dump());
  ASSERT_EQ(br.status, 201) << br.text;

  // A clean shutdown: the source waits until the walpump reports the last WAL as flushed.
  const std::map<RelTag, std::string> rels = PersistentRelations();
  const uint64_t final_history = Count("pgbench_history");
  EXPECT_EQ(final_history, acknowledged);  // each pgbench transaction adds one history row
  ASSERT_TRUE(pg_->Stop("fast").ok());
  const uint64_t end_lsn = ShutdownEndLsn();
  ASSERT_GT(end_lsn, branch_lsn);

  // The restarted safekeeper caught up; a quorum has committed everything.
  EXPECT_TRUE(WaitUntil([&] { return SkLsn(2, "flush_lsn") >= end_lsn; }, 60s))
      << "safekeeper 3 flush_lsn " << LsnText(SkLsn(2, "flush_lsn")) << " < " << LsnText(end_lsn);
  int committed = 0;
  for (int i = 0; i < 3; i++) committed += SkLsn(i, "commit_lsn") >= end_lsn ? 1 : 0;
  EXPECT_GE(committed, 2);

  // The pageserver has every byte, and every block equals the stopped server's.
  ASSERT_TRUE(WaitUntil([&] { return PsLastRecordLsn(kMain) >= end_lsn; }, 120s))
      << PsTimeline(kMain).dump();
  EXPECT_EQ(PsLastRecordLsn(kMain), end_lsn);
  const uint64_t compared = CompareEveryBlock(rels, end_lsn);
  EXPECT_GT(compared, 500u);
  std::printf("[ cluster ] %lu blocks of %zu relations equal the stopped server's data directory "
              "at %s; pgbench acknowledged %lu transactions\n",
              static_cast<unsigned long>(compared), rels.size(), LsnText(end_lsn).c_str(),
              static_cast<unsigned long>(acknowledged));

  // Exports: main has everything; the branch has only what came before the branch point.
  const std::string main_rows = QueryExport(
      kMain, end_lsn,
      "SELECT (SELECT count(*) FROM pgbench_history) || ' ' || "
      "(SELECT string_agg(phase, ',' ORDER BY phase) FROM marker)");
  EXPECT_EQ(main_rows, std::to_string(final_history) + " after,before");
  const std::string branch_rows = QueryExport(
      kBranch, branch_lsn,
      "SELECT (SELECT count(*) FROM pgbench_history) || ' ' || "
      "(SELECT string_agg(phase, ',' ORDER BY phase) FROM marker)");
  std::istringstream b(branch_rows);
  uint64_t branch_history = 0;
  std::string branch_markers;
  b >> branch_history >> branch_markers;
  EXPECT_EQ(branch_markers, "before") << branch_rows;
  EXPECT_GE(branch_history, history_at_branch_min);
  EXPECT_LT(branch_history, final_history);
  std::printf("[ cluster ] branch at %s: %lu history rows and marker 'before'; main: %lu rows\n",
              LsnText(branch_lsn).c_str(), static_cast<unsigned long>(branch_history),
              static_cast<unsigned long>(final_history));

  EXPECT_EQ(walpump_->Stop(), 0) << walpump_->Log();
  // Every append reached the safekeepers in order: none was refused as non-contiguous.
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(sks_[i]->Log().find("non-contiguous append"), std::string::npos)
        << "safekeeper " << i + 1;
  }
}

}  // namespace
}  // namespace neon::testing
