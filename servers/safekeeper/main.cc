// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// safekeeper: the Paxos acceptor of Neon's WAL service. Proposers (a compute's walproposer)
// replicate WAL to it and WAL readers (pageservers, lagging peers) stream it back over gRPC
// (safekeeper.SafekeeperService, wal_service.h); timelines are managed over HTTP
// (http_api.h); state is gossiped through the storage broker (broker_client.h); full WAL
// segments are backed up to object storage (wal_backup.h); a lagging safekeeper catches up
// from its peers (peer_recovery.h). `safekeeper --help` lists the options.
//
// The work directory holds <tenant>/<timeline>/ per timeline (control file and WAL
// segments), safekeeper.id (the node id, fixed at the first start) and safekeeper.pid (a lock
// that keeps a second safekeeper out). Every timeline found there is served again after a
// restart.
//
// Exit status: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when it cannot start (work
// directory, lock, listeners, key), 2 on bad flags or a bad config file.

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <sys/file.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "common/config.h"
#include "common/http_server.h"
#include "common/jwt.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/signals.h"
#include "safekeeper/broker_client.h"
#include "safekeeper/http_api.h"
#include "safekeeper/no_sync_fs.h"
#include "safekeeper/peer_recovery.h"
#include "safekeeper/timeline_registry.h"
#include "safekeeper/wal_backup.h"
#include "safekeeper/wal_service.h"

namespace neon::safekeeper {
namespace {

constexpr auto kShutdownGrace = std::chrono::seconds(1);
constexpr int kAcceptorThreads = 4;   // timeline batches and WAL reader pumps
constexpr int kBackupThreads = 2;     // concurrent segment uploads
constexpr int kRecoveryThreads = 2;   // concurrent peer recoveries
constexpr char kIdFile[] = "safekeeper.id";
constexpr char kLockFile[] = "safekeeper.pid";

server::OptionSet MakeOptions() {
  server::OptionSet o("safekeeper",
                      "Stores WAL durably as a Paxos acceptor (safekeeper.SafekeeperService over "
                      "gRPC) and manages timelines over HTTP.");
  o.AddInt("id", 0, "node id; required at the first start, then kept in <workdir>/safekeeper.id");
  o.AddString("workdir", "safekeeper_data", "work directory (timelines, node id, lock)");
  o.AddString("listen-pg", "127.0.0.1:5454", "gRPC WAL service address, host:port");
  o.AddString("listen-http", "127.0.0.1:7676", "HTTP API address, host:port");
  o.AddString("advertise-pg", "",
              "WAL service address published to the broker; empty = --listen-pg (bound port)");
  o.AddString("advertise-http", "",
              "HTTP address published to the broker; empty = --listen-http (bound port)");
  o.AddString("broker-endpoint", "",
              "storage broker address (host:port or http://host:port); empty = no broker");
  o.AddString("remote-storage-dir", "",
              "local directory used as object storage for WAL backup; empty = no backup");
  o.AddString("public-key", "",
              "Ed25519 public key (PEM) verifying JWTs on HTTP and gRPC; empty = auth off");
  o.AddString("auth-token-path", "",
              "file holding a JWT (scope safekeeperdata) sent to peers and the broker");
  o.AddString("availability-zone", "", "availability zone published to the broker");
  o.AddBool("no-sync", false,
            "TESTING ONLY: skip fsync; acknowledged WAL does not survive a power loss");
  o.AddBool("peer-recovery", true, "catch up from peers when lagging and no proposer is connected");
  o.AddInt("max-offloader-lag", int64_t(kDefaultMaxOffloaderLagBytes),
           "bytes a member may lag the highest commit LSN and still be chosen for WAL backup");
  o.AddInt("heartbeat-timeout-ms", kDefaultHeartbeatTimeoutUs / 1000,
           "a peer is alive if heard through the broker within this many milliseconds");
  o.AddString("log-level", "info", "debug, info, warn or error");
  return o;
}

int Fail(int code, absl::string_view msg) {
  std::fprintf(stderr, "safekeeper: %.*s\n", static_cast<int>(msg.size()), msg.data());
  return code;
}

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) i++;
  return s.substr(i);
}

// Resolves the node id against <workdir>/safekeeper.id (written at the first start).
absl::StatusOr<uint64_t> ResolveNodeId(FileSystem& fs, const std::string& workdir, int64_t flag) {
  const std::string path = JoinPath(workdir, kIdFile);
  if (fs.FileExists(path)) {
    absl::StatusOr<std::string> text = ReadFileToString(fs, path);
    if (!text.ok()) return text.status();
    const std::string t = Trim(*text);
    char* end = nullptr;
    const uint64_t stored = std::strtoull(t.c_str(), &end, 10);
    if (t.empty() || *end != '\0' || stored == 0) {
      return absl::DataLossError(path + " does not hold a node id");
    }
    if (flag != 0 && uint64_t(flag) != stored) {
      return absl::FailedPreconditionError("--id=" + std::to_string(flag) + " but " + path +
                                           " says " + std::to_string(stored));
    }
    return stored;
  }
  if (flag <= 0) return absl::InvalidArgumentError("--id is required at the first start");
  if (absl::Status s = WriteFileAtomic(fs, path, std::to_string(flag) + "\n"); !s.ok()) return s;
  return uint64_t(flag);
}

// Runs the once-a-second housekeeping of every timeline until destroyed.
class Ticker {
 public:
  Ticker(TimelineRegistry* registry, WalBackup* backup, PeerRecovery* recovery)
      : thread_([this, registry, backup, recovery] {
          absl::MutexLock l(&mu_);
          while (!mu_.AwaitWithTimeout(absl::Condition(&stop_),
                                       absl::Microseconds(kTickIntervalUs))) {
            mu_.Unlock();
            const int64_t now = MonotonicMicros();
            for (const auto& tl : registry->All()) {
              tl->Tick(now);
              if (backup != nullptr) backup->MaybeStart(tl, now);
              recovery->MaybeStart(tl, now);
            }
            mu_.Lock();
          }
        }) {}
  ~Ticker() {
    {
      absl::MutexLock l(&mu_);
      stop_ = true;
    }
    thread_.join();
  }

 private:
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

std::string WithPort(const std::string& addr, int port) {
  std::string host;
  int ignored = 0;
  (void)server::ParseHostPort(addr, &host, &ignored);
  return host + ":" + std::to_string(port);
}

int Run(int argc, char** argv) {
  server::BlockShutdownSignals();
  server::OptionSet opts = MakeOptions();
  if (std::optional<int> code = opts.ParseForMain(argc, argv)) return *code;
  std::string host;
  int port = 0;
  for (const char* name : {"listen-pg", "listen-http"}) {
    if (absl::Status s = server::ParseHostPort(opts.GetString(name), &host, &port); !s.ok()) {
      return Fail(2, std::string("--") + name + ": " + std::string(s.message()));
    }
  }
  std::string broker = opts.GetString("broker-endpoint");
  for (const char* scheme : {"http://", "https://"}) {
    if (broker.rfind(scheme, 0) == 0) broker = broker.substr(std::strlen(scheme));
  }
  if (!broker.empty() && !server::ParseHostPort(broker, &host, &port).ok()) {
    return Fail(2, "--broker-endpoint: expected host:port, got '" + broker + "'");
  }
  if (opts.GetInt("max-offloader-lag") < 0 || opts.GetInt("heartbeat-timeout-ms") <= 0) {
    return Fail(2, "--max-offloader-lag must be >= 0 and --heartbeat-timeout-ms > 0");
  }
  if (opts.GetInt("id") < 0) return Fail(2, "--id must not be negative");

  std::error_code ec;
  const std::string workdir = std::filesystem::absolute(opts.GetString("workdir"), ec).string();
  std::filesystem::create_directories(workdir, ec);
  if (ec) return Fail(1, "cannot create --workdir " + workdir + ": " + ec.message());
  const int lock_fd = open(JoinPath(workdir, kLockFile).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    return Fail(1, "another safekeeper is using " + workdir);
  }
  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(lock_fd, 0) != 0 || write(lock_fd, pid.data(), pid.size()) < 0) {
    return Fail(1, "cannot write " + JoinPath(workdir, kLockFile));
  }

  std::shared_ptr<FileSystem> posix = NewPosixFileSystem();
  absl::StatusOr<uint64_t> node_id = ResolveNodeId(*posix, workdir, opts.GetInt("id"));
  if (!node_id.ok()) {
    return Fail(absl::IsInvalidArgument(node_id.status()) ? 2 : 1, node_id.status().message());
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

  server::MetricsRegistry metrics_registry;
  SafekeeperMetrics metrics(&metrics_registry);
  SafekeeperContext ctx;
  ctx.config.node_id = consensus::NodeId(*node_id);
  ctx.config.workdir = workdir;
  if (!opts.GetString("availability-zone").empty()) {
    ctx.config.availability_zone = opts.GetString("availability-zone");
  }
  ctx.config.peer_recovery = opts.GetBool("peer-recovery");
  ctx.config.max_offloader_lag_bytes = uint64_t(opts.GetInt("max-offloader-lag"));
  ctx.config.heartbeat_timeout_us = opts.GetInt("heartbeat-timeout-ms") * 1000;
  if (const std::string& path = opts.GetString("auth-token-path"); !path.empty()) {
    absl::StatusOr<std::string> token = ReadFileToString(*posix, path);
    if (!token.ok()) return Fail(1, "--auth-token-path: " + std::string(token.status().message()));
    ctx.config.auth_token = Trim(*token);
  }
  std::shared_ptr<FileSystem> fs = opts.GetBool("no-sync") ? NewNoSyncFileSystem(posix) : posix;
  if (opts.GetBool("no-sync")) {
    server::LogWarn("no_sync", {{"reason", "--no-sync: WAL is acknowledged without fsync"}});
  }
  ctx.fs = fs.get();
  std::shared_ptr<ObjectStore> store;
  if (const std::string& dir = opts.GetString("remote-storage-dir"); !dir.empty()) {
    std::filesystem::create_directories(dir, ec);
    absl::StatusOr<std::shared_ptr<ObjectStore>> s = NewLocalObjectStore(posix, dir);
    if (!s.ok()) return Fail(1, "remote storage: " + std::string(s.status().message()));
    store = *s;
  }
  ctx.store = store.get();
  ctx.metrics = &metrics;
  std::shared_ptr<Executor> acceptor_pool = NewThreadPoolExecutor(kAcceptorThreads);
  std::shared_ptr<Executor> backup_pool = NewThreadPoolExecutor(kBackupThreads);
  std::shared_ptr<Executor> recovery_pool = NewThreadPoolExecutor(kRecoveryThreads);
  ctx.executor = acceptor_pool.get();

  TimelineRegistry registry(&ctx);
  absl::StatusOr<int> loaded = registry.LoadAll();
  if (!loaded.ok()) return Fail(1, "loading timelines: " + std::string(loaded.status().message()));

  WalServiceImpl service(&registry, verifier.get(), &ctx);
  grpc::ServerBuilder builder;
  int pg_port = 0;
  builder.AddListeningPort(opts.GetString("listen-pg"), grpc::InsecureServerCredentials(), &pg_port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  if (grpc_server == nullptr || pg_port == 0) {
    return Fail(1, "cannot listen for gRPC on " + opts.GetString("listen-pg"));
  }
  HttpApi api(&registry, verifier.get(), &ctx);
  server::HttpServer http(&metrics_registry);
  api.Register(&http);
  if (absl::Status s = http.Start(opts.GetString("listen-http")); !s.ok()) {
    grpc_server->Shutdown();
    return Fail(1, s.message());
  }
  ctx.config.advertise_pg = opts.GetString("advertise-pg").empty()
                                ? WithPort(opts.GetString("listen-pg"), pg_port)
                                : opts.GetString("advertise-pg");
  ctx.config.advertise_http = opts.GetString("advertise-http").empty()
                                  ? WithPort(opts.GetString("listen-http"), http.port())
                                  : opts.GetString("advertise-http");

  std::unique_ptr<WalBackup> backup;
  if (store != nullptr) backup = std::make_unique<WalBackup>(&ctx, backup_pool.get());
  PeerRecovery recovery(&ctx, recovery_pool.get());
  std::unique_ptr<BrokerClient> broker_client;
  if (!broker.empty()) {
    broker_client = std::make_unique<BrokerClient>(broker, &registry, &ctx);
    broker_client->Start();
  }
  {
    Ticker ticker(&registry, backup.get(), &recovery);
    server::LogInfo("started", {{"id", *node_id},
                                {"workdir", workdir},
                                {"timelines", *loaded},
                                {"pg_addr", opts.GetString("listen-pg")},
                                {"pg_port", pg_port},
                                {"http_addr", opts.GetString("listen-http")},
                                {"http_port", http.port()},
                                {"broker", broker.empty() ? std::string("none") : broker},
                                {"wal_backup", store != nullptr}});
    const int sig = server::WaitForShutdownSignal();
    server::LogInfo("shutting_down", {{"signal", sig}});
  }
  if (broker_client) broker_client->Stop();
  registry.CancelAll();
  grpc_server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  grpc_server->Wait();
  http.Stop();
  recovery_pool.reset();
  backup_pool.reset();
  acceptor_pool.reset();
  server::LogInfo("stopped");
  close(lock_fd);
  return 0;
}

}  // namespace
}  // namespace neon::safekeeper

int main(int argc, char** argv) { return neon::safekeeper::Run(argc, argv); }
