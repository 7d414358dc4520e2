// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The pageserver's WAL receiver against real WAL, on loopback: a real Postgres 15 makes a
// cleanly shut down base (imported through PUT .../import_basebackup as a tar) and then
// pgbench WAL; two WalSource safekeeper stand-ins announce themselves through a real
// storage_broker and serve that WAL up to different commit LSNs. Checked:
//   * the receiver picks the safekeeper with the highest commit LSN and ingests up to it;
//   * when that one goes silent and the other gets ahead, it switches;
//   * feedback reaches the safekeeper (last received, disk consistent LSNs);
//   * every block of the pgbench tables and indexes equals the stopped server's, after the
//     masking of wal_consistency_checking;
//   * a branch at a mid-run LSN sees the data of that LSN;
//   * after a restart the pageserver reattaches and streams again from its durable LSN;
//   * bad import requests change nothing;
//   * an online base backup (pg_basebackup -Ft -X fetch, taken while pgbench ran; sent as
//     the server's BASE_BACKUP stream is, without tar's zero trailer) imports at the end of
//     its end-of-backup record, then streams and matches the stopped server too.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "httplib.h"
#include "ingest/datadir_util.h"
#include "ingest/page_mask.h"
#include "nlohmann/json.hpp"
#include "page_service.grpc.pb.h"
#include "servers/broker_process.h"
#include "servers/pageserver_process.h"
#include "servers/wal_source_util.h"
#include "wal/pg_cluster.h"

namespace neon::testing {
namespace {

using nlohmann::json;

constexpr char kTenant[] = "7aa8fcc61f6d357410b7de754b1d9003";
constexpr char kMain[] = "9e200bd42b49cc1814412c7e592dd6e1";
constexpr char kBranch[] = "8e200bd42b49cc1814412c7e592dd6e2";
constexpr auto kWait = std::chrono::seconds(120);

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Lsn ParseLsnText(const std::string& text) {
  absl::StatusOr<Lsn> l = Lsn::Parse(text);
  return l.ok() ? *l : Lsn();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  while (!s.empty() && s.front() == ' ') s.erase(s.begin());
  return s;
}

// The Postgres side, made once for the suite.
struct PgData {
  std::string base_tar;                      // the clean base, as a tar
  std::string online_tar;                    // pg_basebackup -Ft -X fetch during pgbench
  Lsn online_start, online_end;              // its manifest's WAL-Ranges
  std::string final_dir;                     // the stopped server's data directory
  std::string wal_dir;                       // its pg_wal
  Lsn base_lsn, l1, l2, end_lsn;             // l1 < l2 < end_lsn, record boundaries
  uint32_t db_oid = 0;
  std::map<std::string, std::pair<uint32_t, std::string>> rels;  // name -> (relfilenode, am)
};

class WalReceiverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!PgAvailable()) return;
    auto pg = PgCluster::Start({"wal_keep_size = '2GB'", "max_wal_size = '2GB'",
                                "checkpoint_timeout = '1h'", "fsync = off"});
    ASSERT_TRUE(pg.ok()) << pg.status();
    cluster_ = std::move(*pg).release();
    PgData* d = new PgData;
    data_ = d;
    ASSERT_TRUE(cluster_->Stop("fast").ok());
    const std::string base = cluster_->dir() + "/base";
    auto r = RunCommand("cp -a " + cluster_->data_dir() + " " + base + " && tar -C " + base +
                        " -cf " + cluster_->dir() + "/base.tar . && rm -rf " + base);
    ASSERT_TRUE(r.ok()) << r.status();
    d->base_tar = ReadAll(cluster_->dir() + "/base.tar");
    ASSERT_FALSE(d->base_tar.empty());
    ASSERT_TRUE(cluster_->Restart().ok());
    auto sql = [&](const std::string& q) {
      auto out = cluster_->Sql(q);
      EXPECT_TRUE(out.ok()) << q << ": " << out.status();
      return out.ok() ? Trim(*out) : std::string();
    };
    sql("CREATE TABLE marker(v int)");
    sql("INSERT INTO marker VALUES (1)");
    auto init = cluster_->RunAsServerUser("pgbench -i -s 2 -q postgres");
    ASSERT_TRUE(init.ok()) << init.status();
    d->l1 = ParseLsnText(sql("SELECT pg_current_wal_insert_lsn()"));
    // An online base backup while pgbench runs (rate-limited so that it spans the load).
    const std::string online = cluster_->dir() + "/online";
    absl::StatusOr<std::string> backup;
    std::thread backup_thread([&] {
      backup = cluster_->RunAsServerUser("pg_basebackup -U postgres -D " + online +
                                         " -Ft -X fetch -c fast -r 4M -l online");
    });
    auto run = cluster_->RunAsServerUser("pgbench -c 2 -t 300 postgres");
    backup_thread.join();
    ASSERT_TRUE(run.ok()) << run.status();
    ASSERT_TRUE(backup.ok()) << backup.status();
    d->online_tar = ReadAll(online + "/base.tar");
    const std::string manifest = ReadAll(online + "/backup_manifest");
    auto range = [&](const std::string& key) {
      const size_t at = manifest.find("\"" + key + "\": \"");
      if (at == std::string::npos) return Lsn();
      const size_t from = at + key.size() + 5;
      return ParseLsnText(manifest.substr(from, manifest.find('"', from) - from));
    };
    d->online_start = range("Start-LSN");
    d->online_end = range("End-LSN");
    ASSERT_TRUE(d->online_start.valid() && d->online_end.valid()) << manifest;
    sql("INSERT INTO marker SELECT generate_series(2, 1000)");
    d->l2 = ParseLsnText(sql("SELECT pg_current_wal_insert_lsn()"));
    run = cluster_->RunAsServerUser("pgbench -c 2 -t 300 postgres");
    ASSERT_TRUE(run.ok()) << run.status();
    d->db_oid = static_cast<uint32_t>(
        std::stoul(sql("SELECT oid FROM pg_database WHERE datname = 'postgres'")));
    const std::string rels = sql(
        "SELECT c.relname || ' ' || c.relfilenode || ' ' || a.amname FROM pg_class c "
        "JOIN pg_am a ON a.oid = c.relam WHERE c.relname IN ('pgbench_accounts', "
        "'pgbench_branches', 'pgbench_tellers', 'pgbench_history', 'pgbench_accounts_pkey', "
        "'pgbench_branches_pkey', 'pgbench_tellers_pkey', 'marker')");
    std::istringstream lines(rels);
    std::string name, am;
    uint32_t node = 0;
    while (lines >> name >> node >> am) d->rels[name] = {node, am};
    ASSERT_EQ(d->rels.size(), 8u) << rels;
    ASSERT_TRUE(cluster_->Stop("fast").ok());
    // The end of WAL: the end of the shutdown checkpoint record (pg_waldump is the oracle).
    auto control = cluster_->RunAsServerUser("pg_controldata -D " + cluster_->data_dir());
    ASSERT_TRUE(control.ok()) << control.status();
    const std::string key = "Latest checkpoint location:";
    const size_t at = control->find(key);
    ASSERT_NE(at, std::string::npos);
    const std::string ckpt =
        Trim(control->substr(at + key.size(), control->find('\n', at) - at - key.size()));
    auto dump = cluster_->RunAsServerUser("pg_waldump -p " + cluster_->wal_dir() + " -s " + ckpt +
                                          " -n 1");
    ASSERT_TRUE(dump.ok()) << dump.status();
    const size_t tot = dump->find("len (rec/tot):");
    ASSERT_NE(tot, std::string::npos) << *dump;
    const size_t slash = dump->find('/', tot + 14);
    const uint64_t len = std::stoull(dump->substr(slash + 1));
    // Record ends are reported MAXALIGNed, as Neon's decoder does.
    d->end_lsn = Lsn((ParseLsnText(ckpt).value() + len + 7) & ~uint64_t{7});
    d->final_dir = cluster_->data_dir();
    d->wal_dir = cluster_->wal_dir();
    ASSERT_LT(d->l1, d->l2);
    ASSERT_LT(d->l2, d->end_lsn);
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    delete data_;
    data_ = nullptr;
  }

  void SetUp() override {
    if (!PgAvailable()) GTEST_SKIP() << "Postgres 15 is not installed";
    ASSERT_NE(data_, nullptr);
    std::string error;
    broker_ = BrokerProcess::Start({}, &error);
    ASSERT_NE(broker_, nullptr) << error;
  }
  void TearDown() override {
    if ((HasFailure() || std::getenv("NEON_SHOW_LOGS")) && ps_ != nullptr) {
      std::cerr << "pageserver log:\n" << ps_->Log();
    }
  }

  void StartPageserver() {
    std::string error;
    ps_ = PageserverProcess::Start(dir_.path() + "/ps",
                                   {"--broker-endpoint", broker_->grpc_target(),
                                    "--wal-connect-timeout-ms", "1500",
                                    "--lagging-wal-timeout-ms", "1500"},
                                   &error);
    ASSERT_NE(ps_, nullptr) << error;
    stub_ = page_api::PageService::NewStub(
        grpc::CreateChannel(ps_->grpc_target(), grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<WalSource> StartSource(uint64_t id, Lsn commit, bool publishing = true) {
    WalSource::Options o;
    o.publishing = publishing;
    o.safekeeper_id = id;
    o.tenant = *TenantId::Parse(kTenant);
    o.timeline = *TimelineId::Parse(kMain);
    o.wal_dir = data_->wal_dir;
    o.commit_lsn = commit;
    o.broker_target = broker_->grpc_target();
    std::string error;
    auto s = WalSource::Start(o, &error);
    EXPECT_NE(s, nullptr) << error;
    return s;
  }

  httplib::Result Http(const std::string& method, const std::string& path,
                       const std::string& body = "", const std::string& type = "application/json") {
    httplib::Client c("127.0.0.1", ps_->http_port());
    c.set_read_timeout(120);
    if (method == "GET") return c.Get(path.c_str());
    if (method == "POST") return c.Post(path.c_str(), body, type.c_str());
    return c.Put(path.c_str(), body, type.c_str());
  }

  json Timeline(const std::string& tl) {
    auto r = Http("GET", std::string("/v1/tenant/") + kTenant + "/timeline/" + tl);
    if (!r || r->status != 200) return json();
    return json::parse(r->body, nullptr, false);
  }

  // Polls the timeline until `pred` holds; false after kWait.
  bool WaitFor(const std::string& tl, const std::function<bool(const json&)>& pred) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      json j = Timeline(tl);
      if (j.is_object() && pred(j)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  static Lsn LsnOf(const json& j, const char* field) {
    return ParseLsnText(j.value(field, std::string("0/0")));
  }

  void Context(grpc::ClientContext* ctx, const std::string& tl) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    ctx->AddMetadata("neon-tenant-id", kTenant);
    ctx->AddMetadata("neon-timeline-id", tl);
  }

  RelTag Rel(const std::string& name) const {
    return RelTag{1663, data_->db_oid, data_->rels.at(name).first, 0};
  }

  absl::StatusOr<uint32_t> RelSize(const std::string& tl, const RelTag& rel, Lsn lsn) {
    grpc::ClientContext ctx;
    Context(&ctx, tl);
    page_api::GetRelSizeRequest req;
    req.mutable_read_lsn()->set_request_lsn(lsn.value());
    req.mutable_rel()->set_spc_oid(rel.spc_oid);
    req.mutable_rel()->set_db_oid(rel.db_oid);
    req.mutable_rel()->set_rel_number(rel.rel_number);
    req.mutable_rel()->set_fork_number(rel.fork);
    page_api::GetRelSizeResponse resp;
    grpc::Status s = stub_->GetRelSize(&ctx, req, &resp);
    if (!s.ok()) return absl::UnknownError(s.error_message());
    return resp.num_blocks();
  }

  // Compares every block of the pgbench relations at end_lsn with the stopped server's data
  // directory, 32 blocks per GetPages request. Returns the number of blocks compared.
  uint64_t CompareWithDatadir(const std::string& tl) {
    const DatadirRels want = ScanDatadir(data_->final_dir);
    grpc::ClientContext ctx;
    Context(&ctx, tl);
    auto stream = stub_->GetPages(&ctx);
    uint64_t compared = 0;
    uint64_t id = 0;
    for (const auto& [name, rel_am] : data_->rels) {
      const RelTag rel = Rel(name);
      auto it = want.nblocks.find(rel);
      EXPECT_NE(it, want.nblocks.end()) << name;
      if (it == want.nblocks.end()) continue;
      const uint32_t nblocks = it->second;
      for (uint32_t first = 0; first < nblocks; first += 32) {
        page_api::GetPageRequest req;
        req.mutable_request_id()->set_id(++id);
        req.mutable_read_lsn()->set_request_lsn(data_->end_lsn.value());
        req.mutable_rel()->set_spc_oid(rel.spc_oid);
        req.mutable_rel()->set_db_oid(rel.db_oid);
        req.mutable_rel()->set_rel_number(rel.rel_number);
        for (uint32_t b = first; b < std::min(nblocks, first + 32); ++b) req.add_block_number(b);
        EXPECT_TRUE(stream->Write(req));
        page_api::GetPageResponse resp;
        EXPECT_TRUE(stream->Read(&resp));
        EXPECT_EQ(resp.request_id().id(), id);
        EXPECT_EQ(resp.status_code(), page_api::GET_PAGE_STATUS_CODE_OK) << resp.reason();
        if (resp.page_size() != req.block_number_size()) {
          ADD_FAILURE() << name << ": " << resp.page_size() << " pages for "
                        << req.block_number_size() << " blocks";
          continue;
        }
        for (const page_api::Page& p : resp.page()) {
          std::string ours = p.image();
          std::string theirs = ReadDatadirBlock(data_->final_dir, rel, p.block_number());
          MaskPage(&ours, rel_am.second, 0, p.block_number());
          MaskPage(&theirs, rel_am.second, 0, p.block_number());
          EXPECT_TRUE(ours == theirs) << name << " block " << p.block_number();
          compared++;
        }
      }
    }
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
    return compared;
  }

  void CreateTenantAndImport() {
    auto r = Http("POST", "/v1/tenant", json{{"new_tenant_id", kTenant}}.dump());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201) << r->body;
    r = Http("PUT", std::string("/v1/tenant/") + kTenant + "/timeline/" + kMain +
                        "/import_basebackup?pg_version=15",
             data_->base_tar, "application/x-tar");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201) << r->body << "\n" << ps_->Log();
    json j = json::parse(r->body, nullptr, false);
    data_->base_lsn = LsnOf(j, "last_record_lsn");
    ASSERT_TRUE(data_->base_lsn.valid());
    ASSERT_LT(data_->base_lsn, data_->l1);
  }

  static PgCluster* cluster_;
  static PgData* data_;
  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<PageserverProcess> ps_;
  std::unique_ptr<page_api::PageService::Stub> stub_;
};

PgCluster* WalReceiverTest::cluster_ = nullptr;
PgData* WalReceiverTest::data_ = nullptr;

TEST_F(WalReceiverTest, ChoosesSwitchesIngestsBranchesAndResumesAfterRestart) {
  StartPageserver();
  CreateTenantAndImport();

  // Two safekeepers: 2 is ahead. Safekeeper 1 is announced once the receiver streams from 2
  // (announcing both at once would race the receiver's 100 ms tick: with only 1 known,
  // connecting to 1 is right). With both known, the one with less WAL never wins.
  auto sk1 = StartSource(1, data_->l1, /*publishing=*/false);
  auto sk2 = StartSource(2, data_->l2);
  ASSERT_TRUE(WaitFor(kMain, [&](const json& j) {
    return j.contains("walreceiver") && j["walreceiver"]["safekeeper_id"] == 2;
  })) << Timeline(kMain).dump();
  sk1->SetPublishing(true);
  ASSERT_TRUE(WaitFor(kMain, [&](const json& j) {
    return LsnOf(j, "last_record_lsn") >= data_->l2 && j.contains("walreceiver") && j["walreceiver"]["candidates"] == 2;
  })) << Timeline(kMain).dump();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // several ticks with both known
  EXPECT_EQ(Timeline(kMain)["walreceiver_status"], "connected");
  EXPECT_EQ(Timeline(kMain)["walreceiver"]["safekeeper_id"], 2);
  EXPECT_EQ(sk1->streams(), 0);

  // Feedback reaches the safekeeper.
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (sk2->feedback().last_received < data_->l2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(sk2->feedback().last_received, data_->l2);
  EXPECT_GE(sk2->feedback().disk_consistent, data_->base_lsn);

  // The marker table's rows after l1 are there at l2 (1000 int rows: 5 blocks).
  auto main_size = RelSize(kMain, Rel("marker"), data_->l2);
  ASSERT_TRUE(main_size.ok()) << main_size.status();
  EXPECT_EQ(*main_size, 5u);

  // 2 goes silent and 1 gets all the WAL: the receiver moves to 1 and ingests to the end.
  sk2->SetSilent(true);
  sk1->SetCommitLsn(data_->end_lsn);
  ASSERT_TRUE(WaitFor(kMain, [&](const json& j) {
    return LsnOf(j, "last_record_lsn") >= data_->end_lsn && j["walreceiver"]["safekeeper_id"] == 1;
  })) << Timeline(kMain).dump();
  EXPECT_EQ(LsnOf(Timeline(kMain), "last_record_lsn"), data_->end_lsn);
  std::string metrics;
  ASSERT_EQ(HttpGet(ps_->http_port(), "/metrics", &metrics), 200);
  EXPECT_EQ(metrics.find("pageserver_wal_receiver_switches_total 0\n"), std::string::npos);

  // Every block of the pgbench relations equals the stopped server's.
  const uint64_t compared = CompareWithDatadir(kMain);
  EXPECT_GT(compared, 300u);
  std::printf("[ walreceiver ] %lu blocks of %zu relations equal the data directory\n",
              static_cast<unsigned long>(compared), data_->rels.size());

  // A branch at l1 sees the marker table as it was then: one row, one block.
  auto r = Http("POST", std::string("/v1/tenant/") + kTenant + "/timeline",
                json{{"new_timeline_id", kBranch},
                     {"ancestor_timeline_id", kMain},
                     {"ancestor_start_lsn", data_->l1.ToString()}}
                    .dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  auto branch_size = RelSize(kBranch, Rel("marker"), Lsn::Max());
  ASSERT_TRUE(branch_size.ok()) << branch_size.status();
  EXPECT_EQ(*branch_size, 1u);
  main_size = RelSize(kMain, Rel("marker"), Lsn::Max());
  ASSERT_TRUE(main_size.ok());
  EXPECT_EQ(*main_size, 5u);

  // Restart: the timeline comes back at its durable LSN and streams the rest again.
  ASSERT_EQ(ps_->Stop(), 0) << ps_->Log();
  sk2->SetSilent(false);
  sk2->SetCommitLsn(data_->end_lsn);
  StartPageserver();
  ASSERT_TRUE(WaitFor(kMain, [&](const json& j) {
    return LsnOf(j, "last_record_lsn") >= data_->end_lsn;
  })) << Timeline(kMain).dump();
  EXPECT_EQ(CompareWithDatadir(kMain), compared);
  if (std::getenv("NEON_SHOW_LOGS")) std::cerr << Timeline(kMain).dump() << "\n";
  branch_size = RelSize(kBranch, Rel("marker"), Lsn::Max());
  ASSERT_TRUE(branch_size.ok()) << branch_size.status();
  EXPECT_EQ(*branch_size, 1u);
}

TEST_F(WalReceiverTest, BadImportsChangeNothing) {
  StartPageserver();
  auto r = Http("POST", "/v1/tenant", json{{"new_tenant_id", kTenant}}.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201);
  const std::string route =
      std::string("/v1/tenant/") + kTenant + "/timeline/" + kMain + "/import_basebackup";
  struct Case {
    std::string query;
    std::string body;
    int status;
  };
  std::string damaged = data_->base_tar;
  damaged[100] ^= 0x55;  // a header byte: checksum mismatch
  const std::string truncated = data_->base_tar.substr(0, data_->base_tar.size() / 2);
  const Case cases[] = {
      {"", "", 400},                                   // no body
      {"", "not a tar archive at all", 400},           // too short
      {"", damaged, 400},                              // bad header checksum
      {"", truncated, 400},                            // truncated
      {"?base_lsn=zz", data_->base_tar, 400},          // bad LSN text
      {"?pg_version=14", data_->base_tar, 400},        // unsupported version
      {"?color=blue", data_->base_tar, 400},           // unknown parameter
      {"?base_lsn=0/1", data_->base_tar, 400},         // LSN does not match the checkpoint
  };
  for (const Case& c : cases) {
    r = Http("PUT", route + c.query, c.body, "application/x-tar");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status) << c.query << ": " << r->body;
    json j = json::parse(r->body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("msg")) << r->body;
    // Nothing was created.
    auto g = Http("GET", std::string("/v1/tenant/") + kTenant + "/timeline/" + kMain);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->status, 404) << c.query;
  }
  // Unknown tenant: 404; then a good import, and a second one conflicts.
  r = Http("PUT", std::string("/v1/tenant/") + std::string(32, 'a') + "/timeline/" + kMain +
                      "/import_basebackup",
           data_->base_tar, "application/x-tar");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;
  r = Http("PUT", route, data_->base_tar, "application/x-tar");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201) << r->body;
  r = Http("PUT", route, data_->base_tar, "application/x-tar");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409) << r->body;
}

// An online base backup as the server streams it: pg_basebackup's base.tar without the two
// zero blocks the client appends, WAL included (-X fetch). It imports at the end of its
// end-of-backup record (what pg_basebackup's manifest says), then the WAL receiver streams
// the rest and every pgbench block equals the stopped server's.
TEST_F(WalReceiverTest, OnlineBaseBackupImportsAtItsEndAndStreams) {
  StartPageserver();
  auto r = Http("POST", "/v1/tenant", json{{"new_tenant_id", kTenant}}.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201);
  const std::string& tar = data_->online_tar;
  ASSERT_GT(tar.size(), 1024u);
  ASSERT_EQ(tar.find_first_not_of('\0', tar.size() - 1024), std::string::npos)
      << "pg_basebackup's tar should end with two zero blocks";
  const std::string stream = tar.substr(0, tar.size() - 1024);
  ASSERT_NE(stream.find("backup_label"), std::string::npos);
  const std::string route =
      std::string("/v1/tenant/") + kTenant + "/timeline/" + kMain + "/import_basebackup";

  // LSNs that do not match the backup are refused, and leave no timeline.
  for (const std::string& q :
       {"?base_lsn=" + data_->online_end.ToString(),
        "?end_lsn=" + data_->online_start.ToString()}) {
    r = Http("PUT", route + q, stream, "application/x-tar");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << q << ": " << r->body;
    auto g = Http("GET", std::string("/v1/tenant/") + kTenant + "/timeline/" + kMain);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->status, 404) << q;
  }
  // An archive cut inside an entry is refused (one cut at an entry boundary is complete).
  r = Http("PUT", route, stream.substr(0, stream.size() - 700), "application/x-tar");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;

  r = Http("PUT",
           route + "?base_lsn=" + data_->online_start.ToString() +
               "&end_lsn=" + data_->online_end.ToString() + "&pg_version=15",
           stream, "application/x-tar");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body << "\n" << ps_->Log();
  json j = json::parse(r->body, nullptr, false);
  EXPECT_EQ(LsnOf(j, "last_record_lsn"), data_->online_end) << r->body;
  EXPECT_GT(data_->online_end, data_->l1);

  auto sk = StartSource(1, data_->end_lsn);
  ASSERT_TRUE(WaitFor(kMain, [&](const json& t) {
    return LsnOf(t, "last_record_lsn") >= data_->end_lsn;
  })) << Timeline(kMain).dump();
  const uint64_t compared = CompareWithDatadir(kMain);
  std::printf("[ online ] backup %s..%s imported, streamed to %s: %lu pgbench blocks compared\n",
              data_->online_start.ToString().c_str(), data_->online_end.ToString().c_str(),
              data_->end_lsn.ToString().c_str(), static_cast<unsigned long>(compared));
  EXPECT_GT(compared, 100u);
}

}  // namespace
}  // namespace neon::testing
