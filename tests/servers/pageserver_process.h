// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Test helper: runs the pageserver binary (NEON_PAGESERVER_PATH) as a child process on
// loopback with a given work directory (so a test can restart it on the same data). Ports
// are chosen by the kernel and read from its "event=started" log line.

#ifndef NEON_TESTS_SERVERS_PAGESERVER_PROCESS_H_
#define NEON_TESTS_SERVERS_PAGESERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "servers/child_process.h"

namespace neon::testing {

class PageserverProcess {
 public:
  // Starts the pageserver on `workdir` with `args` added; waits until it logs that it
  // started. nullptr (and `*error`) if it exits or times out.
  static std::unique_ptr<PageserverProcess> Start(const std::string& workdir,
                                                  const std::vector<std::string>& args,
                                                  std::string* error);
  ~PageserverProcess();  // SIGKILL if still running

  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  std::string grpc_target() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  // SIGTERM, then waits (up to `timeout_ms`); the exit status, or -1 on timeout.
  int Stop(int timeout_ms = 20000);
  // SIGKILL and reap.
  void Kill();
  std::string Log() const;

 private:
  PageserverProcess() = default;
  std::unique_ptr<ChildProcess> child_;
  int grpc_port_ = 0;
  int http_port_ = 0;
};

}  // namespace neon::testing

#endif  // NEON_TESTS_SERVERS_PAGESERVER_PROCESS_H_
