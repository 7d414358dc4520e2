// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// pageserver: the engine (lib/engine) behind the gRPC page service (page_service.h) and the
// HTTP management API (management_api.h). `pageserver --help` lists the options.
//
// The work directory holds the engine (<workdir>/engine) and, by default, the local
// directory that stands for object storage (<workdir>/remote_storage). Tenants found there
// are served again after a restart.
//
// Exit status: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when it cannot start (engine,
// listeners, key), 2 on bad flags or a bad config file.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <optional>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/config.h"
#include "common/http_server.h"
#include "common/jwt.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/signals.h"
#include "neon/engine.h"
#include "neon/file_system.h"
#include "neon/object_store.h"
#include "neon/postgres_redo.h"
#include "base/str_cat.h"
#include "pageserver/control_plane.h"
#include "pageserver/management_api.h"
#include "pageserver/page_service.h"
#include "pageserver/wal_receiver.h"

#ifndef NEON_WALREDO_PATH
#define NEON_WALREDO_PATH ""
#endif

namespace neon::pageserver {
namespace {

constexpr auto kShutdownGrace = std::chrono::seconds(1);
// How often background housekeeping runs (Engine::Tick, idle walredo processes).
constexpr auto kTickPeriod = std::chrono::seconds(10);

server::OptionSet MakeOptions() {
  server::OptionSet o("pageserver",
                      "Serves pages at any LSN (page_api.PageService over gRPC) and manages "
                      "tenants and timelines over HTTP; streams WAL from the safekeepers the "
                      "storage broker announces. Environment: NEON_AUTH_TOKEN, when set, is the "
                      "JWT presented to the broker and the safekeepers.");
  o.AddString("workdir", "pageserver_data", "work directory (engine, local remote storage)");
  o.AddInt("id", 1, "node id reported by /v1/status");
  o.AddString("listen-http-addr", "127.0.0.1:9898", "HTTP management API address, host:port");
  o.AddString("listen-grpc-addr", "127.0.0.1:51051", "gRPC page service address, host:port");
  o.AddString("remote-storage-dir", "",
              "local directory used as object storage; empty = <workdir>/remote_storage, "
              "\"none\" = no remote storage");
  o.AddString("remote-storage-s3-bucket", "",
              "use this S3 bucket as object storage instead of a local directory (credentials "
              "from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)");
  o.AddString("remote-storage-s3-endpoint", "",
              "S3 endpoint URL (e.g. http://127.0.0.1:4568); empty = AWS for the region");
  o.AddString("remote-storage-s3-region", "us-east-1", "S3 region");
  o.AddString("remote-storage-s3-prefix", "", "key prefix for every object in the bucket");
  o.AddBool("remote-storage-s3-path-style", true,
            "path-style S3 URLs (endpoint/bucket/key) instead of virtual-hosted ones");
  o.AddString("control-plane-api", "",
              "control plane upcall API (e.g. http://127.0.0.1:1234/upcall/v1/): asked at "
              "start-up which tenants this node holds in which generation (re-attach) and to "
              "validate generations before remote deletions; empty = this node owns its tenants");
  o.AddString("walredo-path", NEON_WALREDO_PATH,
              "neon_walredo executable for Postgres WAL redo; empty = no Postgres redo");
  o.AddString("initdb-path", "/usr/lib/postgresql/15/bin/initdb",
              "Postgres 15 initdb, run to bootstrap root timelines");
  o.AddString("public-key", "",
              "Ed25519 public key (PEM) verifying JWTs on HTTP and gRPC; empty = auth off");
  o.AddInt("page-cache-mb", 64, "page cache size in MiB");
  o.AddString("broker-endpoint", "127.0.0.1:50051",
              "storage broker (host:port) the WAL receiver learns safekeepers from; "
              "\"none\" = no WAL receiver");
  o.AddString("availability-zone", "", "this node's availability zone (safekeeper choice)");
  o.AddInt("wal-connect-timeout-ms", 10000,
           "switch safekeepers after this long without a message from the current one");
  o.AddInt("lagging-wal-timeout-ms", 10000,
           "switch to a safekeeper with more WAL after this long without new WAL; also how "
           "long a safekeeper stays a candidate after its last broker update");
  o.AddInt("max-lsn-wal-lag", int64_t{1} << 30,
           "switch to a safekeeper whose commit LSN is this many bytes ahead");
  o.AddString("log-level", "info", "debug, info, warn or error");
  return o;
}

int Fail(int code, absl::string_view msg) {
  std::fprintf(stderr, "pageserver: %.*s\n", static_cast<int>(msg.size()), msg.data());
  return code;
}

// Runs Engine::Tick and ends idle walredo processes every kTickPeriod until stopped.
class Ticker {
 public:
  Ticker(Engine* engine, PostgresRedoPool* pool) : thread_([this, engine, pool] {
    std::unique_lock<std::mutex> l(mu_);
    while (!cv_.wait_for(l, kTickPeriod, [this] { return stop_; })) {
      l.unlock();
      if (absl::Status s = engine->Tick(); !s.ok()) {
        server::LogWarn("tick_failed", {{"error", std::string(s.message())}});
      }
      if (pool != nullptr) pool->EndIdleProcesses();
      l.lock();
    }
  }) {}
  ~Ticker() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

int Run(int argc, char** argv) {
  server::BlockShutdownSignals();
  server::OptionSet opts = MakeOptions();
  if (std::optional<int> code = opts.ParseForMain(argc, argv)) return *code;
  std::string host;
  int port = 0;
  for (const char* name : {"listen-http-addr", "listen-grpc-addr"}) {
    if (absl::Status s = server::ParseHostPort(opts.GetString(name), &host, &port); !s.ok()) {
      return Fail(2, std::string("--") + name + ": " + std::string(s.message()));
    }
  }
  const int64_t cache_mb = opts.GetInt("page-cache-mb");
  if (cache_mb < 1 || cache_mb > (int64_t{1} << 20)) {
    return Fail(2, "--page-cache-mb must be between 1 and 1048576");
  }
  if (opts.GetInt("id") < 0) return Fail(2, "--id must not be negative");
  for (const char* name : {"wal-connect-timeout-ms", "lagging-wal-timeout-ms", "max-lsn-wal-lag"}) {
    if (opts.GetInt(name) < 1) return Fail(2, std::string("--") + name + " must be positive");
  }
  if (const std::string& b = opts.GetString("broker-endpoint"); b != "none") {
    if (absl::Status s = server::ParseHostPort(b, &host, &port); !s.ok() || port == 0) {
      return Fail(2, "--broker-endpoint: expected host:port or \"none\"");
    }
  }

  std::unique_ptr<server::JwtVerifier> verifier;
  if (const std::string& key = opts.GetString("public-key"); !key.empty()) {
    auto v = server::JwtVerifier::FromPemFile(key);
    if (!v.ok()) return Fail(1, v.status().message());
    verifier = std::move(*v);
    server::LogInfo("auth_enabled", {{"public_key", key}});
  } else {
    server::LogWarn("auth_disabled",
                    {{"reason", "no --public-key: HTTP and gRPC calls are NOT authenticated"}});
  }

  std::error_code ec;
  const std::filesystem::path workdir = std::filesystem::absolute(opts.GetString("workdir"), ec);
  std::filesystem::create_directories(workdir, ec);
  if (ec) return Fail(1, "cannot create --workdir " + workdir.string() + ": " + ec.message());

  EngineOptions eo;
  eo.page_cache_bytes = static_cast<size_t>(cache_mb) << 20;
  eo.wait_lsn_timeout_us = kWaitLsnTimeoutUs;
  std::shared_ptr<PostgresRedoPool> pool;
  if (const std::string& walredo = opts.GetString("walredo-path"); !walredo.empty()) {
    PostgresRedoOptions ro;
    ro.walredo_path = walredo;
    absl::StatusOr<std::shared_ptr<PostgresRedoPool>> p = PostgresRedoPool::Create(ro);
    if (!p.ok()) return Fail(1, "--walredo-path: " + std::string(p.status().message()));
    pool = *p;
    eo.postgres_redo_factory = pool->Factory();
  } else {
    server::LogWarn("walredo_disabled",
                    {{"reason", "no --walredo-path: pages needing Postgres redo cannot be read"}});
  }
  std::string remote_dir = opts.GetString("remote-storage-dir");
  if (const std::string& bucket = opts.GetString("remote-storage-s3-bucket"); !bucket.empty()) {
    if (!remote_dir.empty()) {
      return Fail(2, "--remote-storage-dir and --remote-storage-s3-bucket exclude each other");
    }
    S3Options so;
    so.bucket = bucket;
    so.endpoint = opts.GetString("remote-storage-s3-endpoint");
    so.region = opts.GetString("remote-storage-s3-region");
    so.key_prefix = opts.GetString("remote-storage-s3-prefix");
    so.path_style = opts.GetBool("remote-storage-s3-path-style");
    auto env = [](const char* name) {
      const char* v = std::getenv(name);
      return v == nullptr ? std::string() : std::string(v);
    };
    so.access_key_id = env("AWS_ACCESS_KEY_ID");
    so.secret_access_key = env("AWS_SECRET_ACCESS_KEY");
    so.session_token = env("AWS_SESSION_TOKEN");
    absl::StatusOr<std::shared_ptr<ObjectStore>> store = NewS3ObjectStore(so);
    if (!store.ok()) return Fail(1, "S3 remote storage: " + std::string(store.status().message()));
    eo.remote.store = *store;
    remote_dir = StrCat("s3://", bucket, "/", so.key_prefix,
                        so.endpoint.empty() ? "" : " at " + so.endpoint);
  } else if (remote_dir.empty()) {
    remote_dir = (workdir / "remote_storage").string();
  }
  if (const std::string& api = opts.GetString("control-plane-api"); !api.empty()) {
    const char* token = std::getenv("NEON_AUTH_TOKEN");
    absl::StatusOr<GenerationValidator> v =
        ControlPlaneValidator(api, token == nullptr ? "" : token);
    if (!v.ok()) return Fail(2, "--control-plane-api: " + std::string(v.status().message()));
    eo.remote.validate_generations = *v;
    server::LogInfo("control_plane_validation", {{"api", api}});
  }
  if (eo.remote.store == nullptr && remote_dir != "none") {
    std::filesystem::create_directories(remote_dir, ec);
    absl::StatusOr<std::shared_ptr<ObjectStore>> store =
        NewLocalObjectStore(NewPosixFileSystem(), remote_dir);
    if (!store.ok()) return Fail(1, "remote storage: " + std::string(store.status().message()));
    eo.remote.store = *store;
  }
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(eo, (workdir / "engine").string());
  if (!engine.ok()) return Fail(1, "engine: " + std::string(engine.status().message()));
  server::LogInfo("engine_opened", {{"workdir", workdir.string()},
                                    {"tenants", (*engine)->ListTenants().size()},
                                    {"remote_storage", remote_dir}});

  // With a control plane, it says which tenants this node holds, in which generation, before
  // anything is served (Neon's re-attach); it is asked until it answers.
  if (const std::string& api = opts.GetString("control-plane-api"); !api.empty()) {
    if (eo.remote.store == nullptr) return Fail(2, "--control-plane-api needs remote storage");
    const char* token = std::getenv("NEON_AUTH_TOKEN");
    const bool empty = (*engine)->ListTenants().empty() && (*engine)->ListSecondaries().empty();
    for (int attempt = 1;; ++attempt) {
      absl::StatusOr<std::vector<ReAttachTenant>> answer = ControlPlaneReAttach(
          api, token == nullptr ? "" : token, static_cast<uint64_t>(opts.GetInt("id")), empty);
      if (answer.ok()) {
        ReAttachSummary summary;
        if (absl::Status s = ApplyReAttach(**engine, *answer, &summary); !s.ok()) {
          return Fail(1, s.message());
        }
        server::LogInfo("re_attached", {{"api", api},
                                        {"attached", summary.attached},
                                        {"secondary", summary.secondary},
                                        {"dropped", summary.dropped}});
        break;
      }
      if (absl::IsInvalidArgument(answer.status())) return Fail(2, answer.status().message());
      const int delay_ms = std::min(10'000, 250 << std::min(attempt, 6));
      server::LogWarn("re_attach_failed", {{"api", api},
                                           {"attempt", attempt},
                                           {"retry_in_ms", delay_ms},
                                           {"error", std::string(answer.status().message())}});
      if (int sig = server::WaitForShutdownSignalFor(delay_ms); sig != 0) {
        server::LogInfo("shutting_down", {{"signal", sig}});
        return 0;
      }
    }
  }

  server::MetricsRegistry metrics;
  PageServiceImpl service(engine->get(), verifier.get(), &metrics);
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort(opts.GetString("listen-grpc-addr"), grpc::InsecureServerCredentials(),
                           &grpc_port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  if (grpc_server == nullptr || grpc_port == 0) {
    return Fail(1, "cannot listen for gRPC on " + opts.GetString("listen-grpc-addr"));
  }

  std::unique_ptr<WalReceiverManager> wal_receiver;
  if (const std::string& b = opts.GetString("broker-endpoint"); b != "none") {
    WalReceiverOptions wo;
    wo.broker_endpoint = b;
    wo.node_id = static_cast<uint64_t>(opts.GetInt("id"));
    wo.availability_zone = opts.GetString("availability-zone");
    if (const char* token = std::getenv("NEON_AUTH_TOKEN"); token != nullptr) {
      wo.auth_token = token;
    }
    wo.wal_connect_timeout_us = opts.GetInt("wal-connect-timeout-ms") * 1000;
    wo.lagging_wal_timeout_us = opts.GetInt("lagging-wal-timeout-ms") * 1000;
    wo.max_lsn_wal_lag = static_cast<uint64_t>(opts.GetInt("max-lsn-wal-lag"));
    wal_receiver = std::make_unique<WalReceiverManager>(engine->get(), wo, &metrics);
    server::LogInfo("wal_receiver_started", {{"broker", b}});
  } else {
    server::LogWarn("wal_receiver_disabled",
                    {{"reason", "--broker-endpoint none: timelines receive no WAL"}});
  }

  ManagementOptions mo;
  mo.node_id = static_cast<uint64_t>(opts.GetInt("id"));
  mo.wal_receiver = wal_receiver.get();
  mo.import_scratch_dir = workdir.string();
  mo.bootstrap.initdb_path = opts.GetString("initdb-path");
  mo.remote_storage = eo.remote.store != nullptr;
  ManagementApi api(engine->get(), verifier.get(), mo);
  server::HttpServer http(&metrics);
  api.Register(&http);
  if (absl::Status s = http.Start(opts.GetString("listen-http-addr")); !s.ok()) {
    grpc_server->Shutdown();
    return Fail(1, s.message());
  }
  {
    Ticker ticker(engine->get(), pool.get());
    server::LogInfo("started", {{"grpc_addr", opts.GetString("listen-grpc-addr")},
                                {"grpc_port", grpc_port},
                                {"http_addr", opts.GetString("listen-http-addr")},
                                {"http_port", http.port()}});
    const int sig = server::WaitForShutdownSignal();
    server::LogInfo("shutting_down", {{"signal", sig}});
  }
  // WAL ingest stops first (what it received becomes readable and is flushed by the engine's
  // shutdown); then the engine, which also wakes reads waiting for an LSN (they end with
  // CANCELLED), so the listeners' handlers all return and the servers can stop.
  if (wal_receiver != nullptr) wal_receiver->Stop();
  (*engine)->Shutdown();
  grpc_server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  grpc_server->Wait();
  http.Stop();
  server::LogInfo("stopped");
  return 0;
}

}  // namespace
}  // namespace neon::pageserver

int main(int argc, char** argv) { return neon::pageserver::Run(argc, argv); }
