// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Real peers for the remote tests: an s3rver process (npm package, installed
// by scripts/install-test-peers.sh into tests/peers/node_modules) on a free
// loopback port with its own temp directory, and helpers to run the AWS CLI
// against it. Tests FAIL (never skip) when a peer is missing.

#ifndef NEON_TESTS_REMOTE_PEER_UTIL_H_
#define NEON_TESTS_REMOTE_PEER_UTIL_H_

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "neon/clock.h"
#include "neon/object_store.h"

namespace neon::testing {

// A temp directory under /tmp, removed (recursively) on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One s3rver process. Start() launches it with --port 0 (the kernel picks a
// free port, read back from its "listening on" line) and a bucket created at
// startup; the destructor stops it (SIGTERM, then SIGKILL) and removes its
// directory. The child also dies with the test process (PR_SET_PDEATHSIG).
class S3rver {
 public:
  static constexpr const char* kBucket = "neon-test";
  static constexpr const char* kAccessKey = "S3RVER";  // s3rver's built-in account
  static constexpr const char* kSecretKey = "S3RVER";

  S3rver() = default;
  ~S3rver();
  S3rver(const S3rver&) = delete;
  S3rver& operator=(const S3rver&) = delete;

  absl::Status Start();
  void Stop();
  int port() const { return port_; }
  std::string endpoint() const;  // "http://127.0.0.1:<port>" (path-style)
  // "http://s3.localhost:<port>": virtual-hosted requests go to
  // <bucket>.s3.localhost, which curl resolves to loopback and s3rver
  // (started with --service-endpoint localhost) maps to the bucket.
  std::string vhost_endpoint() const;
  // Options for an S3ObjectStore talking to this server.
  S3Options Options(const std::string& key_prefix) const;

  // The process-wide instance, started on first use (a failure to start is
  // returned to every caller). Stopped at exit.
  static absl::StatusOr<S3rver*> Shared();

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::unique_ptr<TempDir> dir_;
};

// A TCP relay on a loopback port in front of another server that breaks
// connections: each of the first `cut_connections` connections is closed
// (both sides) once `cut_after_bytes` bytes have passed through it in either
// direction. Later connections relay untouched. Threads: one acceptor and
// one per connection (test code only).
class FlakyProxy {
 public:
  FlakyProxy(int upstream_port, int cut_connections, uint64_t cut_after_bytes);
  ~FlakyProxy();
  absl::Status Start();
  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }
  int cuts() const { return cuts_.load(); }

 private:
  void AcceptLoop();
  void Relay(int client, bool cut);

  const int upstream_port_;
  const int cut_connections_;
  const uint64_t cut_after_bytes_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> cuts_{0};
  std::atomic<int> active_{0};
  std::thread acceptor_;
};

// A clock on real wall time (S3 servers refuse skewed request dates) whose
// sleeps return at once and only advance MonotonicMicros, so retry backoff
// costs no test time.
class NoSleepClock final : public Clock {
 public:
  int64_t NowMicros() const override { return real_->NowMicros(); }
  int64_t MonotonicMicros() const override { return real_->MonotonicMicros() + slept_.load(); }
  void SleepForMicros(int64_t micros) override { slept_.fetch_add(micros); }
  int64_t slept_micros() const { return slept_.load(); }

 private:
  std::shared_ptr<Clock> real_ = NewRealClock();
  std::atomic<int64_t> slept_{0};
};

// Runs argv (argv[0] looked up in PATH) with `env` added to the environment,
// stdin from /dev/null; returns the exit code and fills stdout/stderr.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         const std::vector<std::string>& env, int timeout_s);

// Full path of `name` in PATH, or empty.
std::string FindInPath(const std::string& name);

}  // namespace neon::testing

#endif  // NEON_TESTS_REMOTE_PEER_UTIL_H_
