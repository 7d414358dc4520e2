// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Test helper: runs the storage_broker binary (NEON_STORAGE_BROKER_PATH) as a child process
// on loopback. Ports default to 0 (any free port); the chosen ports are read from the
// broker's "event=started" log line.

#ifndef NEON_TESTS_SERVERS_BROKER_PROCESS_H_
#define NEON_TESTS_SERVERS_BROKER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "servers/child_process.h"

namespace neon::testing {

// A scratch directory removed at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  // Writes `text` to path()/name and returns the full path.
  std::string WriteFile(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
};

class BrokerProcess {
 public:
  // Starts the broker with `args` (plus port-0 listen addresses unless `args` set them) and
  // waits until it logs that it started. nullptr (and `*error`) if it exits or times out.
  static std::unique_ptr<BrokerProcess> Start(const std::vector<std::string>& args,
                                              std::string* error);
  ~BrokerProcess();  // SIGKILL if still running

  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  std::string grpc_target() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  // SIGTERM, then waits (up to `timeout_ms`); the exit status, or -1 on timeout (then killed).
  int Stop(int timeout_ms = 10000);
  std::string Log() const;

 private:
  BrokerProcess() = default;
  std::unique_ptr<TempDir> dir_;  // holds the log; declared first, destroyed last
  std::unique_ptr<ChildProcess> child_;
  int grpc_port_ = 0;
  int http_port_ = 0;
};

// Runs the broker to completion (expected to exit by itself, e.g. on bad flags) with a
// deadline; returns its exit status (-1 on timeout) and stores stdout+stderr in `*output`.
int RunBrokerToExit(const std::vector<std::string>& args, std::string* output);

// GET http://127.0.0.1:port/path; the status (-1 when unreachable) and body.
int HttpGet(int port, const std::string& path, std::string* body);

}  // namespace neon::testing

#endif  // NEON_TESTS_SERVERS_BROKER_PROCESS_H_
