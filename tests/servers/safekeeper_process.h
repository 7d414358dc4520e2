// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Test helpers for the safekeeper binary (NEON_SAFEKEEPER_PATH): a child process on
// loopback with a given work directory (so a test can kill and restart it on the same data),
// its ports read from the "event=started" log line, and small HTTP and gRPC client helpers.

#ifndef NEON_TESTS_SERVERS_SAFEKEEPER_PROCESS_H_
#define NEON_TESTS_SERVERS_SAFEKEEPER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "servers/child_process.h"

namespace neon::testing {

class SafekeeperProcess {
 public:
  // Starts a safekeeper on `workdir` (ports chosen by the kernel) with `args` added; waits
  // until it logs that it started. nullptr (and `*error`) if it exits or times out.
  static std::unique_ptr<SafekeeperProcess> Start(const std::string& workdir,
                                                  const std::vector<std::string>& args,
                                                  std::string* error);
  ~SafekeeperProcess();  // SIGKILL if still running

  int pg_port() const { return pg_port_; }
  int http_port() const { return http_port_; }
  std::string pg_target() const { return "127.0.0.1:" + std::to_string(pg_port_); }
  const std::string& workdir() const { return workdir_; }
  // SIGTERM, then waits (up to `timeout_ms`); the exit status, or -1 on timeout.
  int Stop(int timeout_ms = 20000);
  // SIGKILL and reap.
  void Kill();
  std::string Log() const;

 private:
  SafekeeperProcess() = default;
  std::unique_ptr<ChildProcess> child_;
  int pg_port_ = 0;
  int http_port_ = 0;
  std::string workdir_;
};

// Runs the safekeeper expecting it to exit by itself (bad flags...); its exit status (-1 on
// timeout, then killed) and its output.
int RunSafekeeperToExit(const std::vector<std::string>& args, std::string* output);

struct HttpReply {
  int status = -1;  // -1: no answer
  nlohmann::json body;
  std::string text;
};

// One HTTP request to 127.0.0.1:port; `token` adds "Authorization: Bearer <token>".
HttpReply HttpCall(int port, const std::string& method, const std::string& path,
                   const std::string& body = "", const std::string& token = "");

// "X/Y" <-> u64.
uint64_t ParseLsnText(const std::string& text);
std::string LsnText(uint64_t lsn);

}  // namespace neon::testing

#endif  // NEON_TESTS_SERVERS_SAFEKEEPER_PROCESS_H_
