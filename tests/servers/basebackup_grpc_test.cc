// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// GetBaseBackup against the pageserver binary: a root timeline bootstrapped with initdb over
// HTTP, its basebackup streamed over gRPC (full and gzip'd, or plain and non-full), unpacked
// by the system's tar, and Debian's stock Postgres 15 started on the full one; request errors;
// a cancelled stream; the bound on concurrent basebackups, whose producers wait for slow
// clients instead of buffering.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "httplib.h"
#include "nlohmann/json.hpp"
#include "page_service.grpc.pb.h"
#include "servers/broker_process.h"
#include "servers/pageserver_process.h"
#include "wal/pg_cluster.h"

namespace neon::testing {
namespace {

using nlohmann::json;

constexpr char kTenant[] = "4cc8fcc61f6d357410b7de754b1d9003";
constexpr char kTimeline[] = "be200bd42b49cc1814412c7e592dd6e7";
constexpr auto kCallTimeout = std::chrono::seconds(60);
constexpr size_t kMaxChunkBytes = 4u << 20;  // gRPC's default message limit

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::string AsServerUser() { return geteuid() == 0 ? "runuser -u postgres -- " : ""; }

class BaseBackupGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PgAvailable()) GTEST_SKIP() << "no PostgreSQL 15 at " << PgBinDir();
    chmod(dir_.path().c_str(), 0755);  // the server runs as `postgres` when we are root
    std::string error;
    ps_ = PageserverProcess::Start(dir_.path() + "/ps", {}, &error);
    ASSERT_NE(ps_, nullptr) << error;
    stub_ = page_api::PageService::NewStub(
        grpc::CreateChannel(ps_->grpc_target(), grpc::InsecureChannelCredentials()));
    httplib::Client c("127.0.0.1", ps_->http_port());
    c.set_read_timeout(120);
    auto r = c.Post("/v1/tenant", json{{"new_tenant_id", kTenant}}.dump(), "application/json");
    ASSERT_TRUE(r && r->status == 201) << (r ? r->body : "no reply");
    r = c.Post(std::string("/v1/tenant/") + kTenant + "/timeline",
               json{{"new_timeline_id", kTimeline}, {"pg_version", 15}}.dump(), "application/json");
    ASSERT_TRUE(r && r->status == 201) << (r ? r->body : "no reply") << ps_->Log();
  }

  void Context(grpc::ClientContext* ctx, const std::string& timeline = kTimeline) {
    ctx->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
    ctx->AddMetadata("neon-tenant-id", kTenant);
    ctx->AddMetadata("neon-timeline-id", timeline);
  }

  // The whole stream; chunk sizes in *sizes.
  grpc::Status Fetch(const page_api::GetBaseBackupRequest& req, std::string* out,
                     std::vector<size_t>* sizes = nullptr,
                     const std::string& timeline = kTimeline) {
    grpc::ClientContext ctx;
    Context(&ctx, timeline);
    auto reader = stub_->GetBaseBackup(&ctx, req);
    page_api::GetBaseBackupResponseChunk chunk;
    while (reader->Read(&chunk)) {
      if (sizes != nullptr) sizes->push_back(chunk.chunk().size());
      out->append(chunk.chunk());
    }
    return reader->Finish();
  }

  // Writes `bytes` and unpacks them with the system's tar into <dir>/data.
  std::string Unpack(const std::string& bytes, bool gzip) {
    const std::string dir = dir_.path() + "/pg" + std::to_string(++unpacked_);
    EXPECT_EQ(mkdir(dir.c_str(), 0755), 0);
    EXPECT_EQ(mkdir((dir + "/data").c_str(), 0700), 0);
    const std::string file = dir + (gzip ? "/backup.tar.gz" : "/backup.tar");
    std::ofstream(file, std::ios::binary) << bytes;
    auto r = RunCommand("tar -x" + std::string(gzip ? "z" : "") + "f " + file + " -C " + dir +
                        "/data && rm " + file);
    EXPECT_TRUE(r.ok()) << r.status();
    return dir;
  }

  TempDir dir_;
  std::unique_ptr<PageserverProcess> ps_;
  std::unique_ptr<page_api::PageService::Stub> stub_;
  int unpacked_ = 0;
};

TEST_F(BaseBackupGrpcTest, FullGzipBackupStartsStockPostgres) {
  page_api::GetBaseBackupRequest req;
  req.set_full(true);
  req.set_compression(page_api::BASE_BACKUP_COMPRESSION_GZIP);
  std::string bytes;
  std::vector<size_t> sizes;
  const auto t0 = std::chrono::steady_clock::now();
  grpc::Status s = Fetch(req, &bytes, &sizes);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << ps_->Log();
  std::printf("[ basebackup ] gRPC full gzip of an initdb timeline: %zu chunks, %.1f MiB, %.2f s\n",
              sizes.size(), bytes.size() / 1048576.0, secs);
  ASSERT_FALSE(sizes.empty());
  for (size_t n : sizes) EXPECT_LE(n, kMaxChunkBytes);
  ASSERT_EQ(bytes.substr(0, 2), "\x1f\x8b");  // gzip magic
  const std::string dir = Unpack(bytes, true);
  const std::string data = dir + "/data";
  EXPECT_FALSE(ReadFile(data + "/global/pg_control").empty());
  EXPECT_FALSE(ReadFile(data + "/base/1/1259").empty());  // pg_class of template1

  std::ofstream(data + "/postgresql.conf")
      << "listen_addresses = ''\nunix_socket_directories = '" << dir << "'\nport = 5432\n"
      << "fsync = off\nshared_buffers = 16MB\n";
  if (geteuid() == 0) {
    ASSERT_TRUE(RunCommand("chown -R postgres:postgres " + dir).ok());
  }
  const std::string pg_ctl = AsServerUser() + PgBinDir() + "/pg_ctl -D " + data;
  auto started = RunCommand(pg_ctl + " -l " + dir + "/server.log -w -t 60 start");
  const std::string log = ReadFile(dir + "/server.log");
  ASSERT_TRUE(started.ok()) << started.status() << "\n" << log;
  EXPECT_NE(log.find("database system was shut down at"), std::string::npos) << log;
  EXPECT_EQ(log.find("redo starts"), std::string::npos) << log;
  // The bootstrap's initdb superuser is Neon's cloud_admin.
  const std::string psql =
      PgBinDir() + "/psql -X -q -At -h " + dir + " -p 5432 -U cloud_admin -d postgres -c ";
  auto n = RunCommand(psql + "'SELECT count(*) > 300 FROM pg_class'");
  EXPECT_TRUE(n.ok() && *n == "t\n") << n.status();
  auto w = RunCommand(psql +
                      "'CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g; "
                      "SELECT sum(g) FROM t'");
  EXPECT_TRUE(w.ok() && *w == "500500\n") << w.status();
  EXPECT_TRUE(RunCommand(pg_ctl + " -m fast -w -t 60 stop").ok());
}

TEST_F(BaseBackupGrpcTest, PlainNonFullBackupEndsWithPgControl) {
  page_api::GetBaseBackupRequest req;  // lsn 0 = latest, compression UNKNOWN = none
  std::string bytes;
  ASSERT_TRUE(Fetch(req, &bytes).ok());
  const std::string dir = Unpack(bytes, false);
  const std::string file = dir + "/again.tar";
  std::ofstream(file, std::ios::binary) << bytes;
  auto names = RunCommand("tar -tf " + file);
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(names->substr(names->rfind('\n', names->size() - 2) + 1), "global/pg_control\n");
  EXPECT_EQ(names->find("base/1/1259"), std::string::npos) << "no relation files";
  EXPECT_NE(names->find("base/1/pg_filenode.map"), std::string::npos);
  EXPECT_NE(names->find("pg_wal/0000000100000000000000"), std::string::npos);
  EXPECT_EQ(ReadFile(dir + "/data/PG_VERSION"), "15\n");
  EXPECT_EQ(ReadFile(dir + "/data/neon.signal").rfind("PREV LSN: ", 0), 0u);
  auto control = RunCommand(PgBinDir() + "/pg_controldata " + dir + "/data");
  ASSERT_TRUE(control.ok()) << control.status();
  EXPECT_NE(control->find("Database cluster state:               shut down"), std::string::npos)
      << *control;
}

TEST_F(BaseBackupGrpcTest, BadRequestsAreRefused) {
  std::string bytes;
  page_api::GetBaseBackupRequest req;
  req.set_compression(static_cast<page_api::BaseBackupCompression>(7));
  EXPECT_EQ(Fetch(req, &bytes).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  req.set_compression(page_api::BASE_BACKUP_COMPRESSION_NONE);
  EXPECT_EQ(Fetch(req, &bytes, nullptr, "00000000000000000000000000000001").error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Fetch(req, &bytes, nullptr, "xyz").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(bytes.empty());
  // An LSN not ingested yet is waited for: the client's deadline ends the call.
  grpc::ClientContext ctx;
  Context(&ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  req.set_lsn(uint64_t{1} << 40);
  auto reader = stub_->GetBaseBackup(&ctx, req);
  page_api::GetBaseBackupResponseChunk chunk;
  EXPECT_FALSE(reader->Read(&chunk));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

// Basebackups waiting for an LSN hold their producers: past kMaxConcurrentBaseBackups (8) new
// ones are refused; once the streams are cancelled the producers stop and free their slots.
TEST_F(BaseBackupGrpcTest, ConcurrencyIsBoundedAndCancelledStreamsFreeTheirSlots) {
  page_api::GetBaseBackupRequest waiting;
  waiting.set_lsn(uint64_t{1} << 40);  // far ahead: waited for (up to 300 s)
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<grpc::ClientReader<page_api::GetBaseBackupResponseChunk>>> readers;
  for (int i = 0; i < 8; i++) {
    ctxs.push_back(std::make_unique<grpc::ClientContext>());
    Context(ctxs.back().get());
    readers.push_back(stub_->GetBaseBackup(ctxs.back().get(), waiting));
  }
  // Until the server has accepted all eight (its request counter says so).
  const std::string accepted =
      "pageserver_grpc_requests_total{method=\"GetBaseBackup\",ok=\"true\"} 8";
  httplib::Client http("127.0.0.1", ps_->http_port());
  bool all = false;
  for (int attempt = 0; attempt < 600 && !all; attempt++) {
    auto m = http.Get("/metrics");
    all = m && m->body.find(accepted) != std::string::npos;
    if (!all) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(all) << "the server did not accept 8 basebackups";
  page_api::GetBaseBackupRequest now;
  std::string bytes;
  grpc::Status refused = Fetch(now, &bytes);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  for (size_t i = 0; i < readers.size(); i++) {
    ctxs[i]->TryCancel();
    EXPECT_EQ(readers[i]->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  readers.clear();
  ctxs.clear();
  // The producers notice the cancellation and release their slots.
  grpc::Status s;
  for (int attempt = 0; attempt < 600; attempt++) {
    bytes.clear();
    s = Fetch(now, &bytes);
    if (s.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(bytes.size(), 16u << 20);  // the WAL segment alone is 16 MiB
  EXPECT_NE(ps_->Log().find("event=basebackup_failed"), std::string::npos);
  // A stream cancelled in the middle: the client reads one chunk of a full backup and goes.
  {
    grpc::ClientContext ctx;
    Context(&ctx);
    page_api::GetBaseBackupRequest full;
    full.set_full(true);
    auto reader = stub_->GetBaseBackup(&ctx, full);
    page_api::GetBaseBackupResponseChunk chunk;
    ASSERT_TRUE(reader->Read(&chunk));
    ctx.TryCancel();
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // The server shuts down cleanly with nothing left running.
  EXPECT_EQ(ps_->Stop(), 0) << ps_->Log();
}

}  // namespace
}  // namespace neon::testing
