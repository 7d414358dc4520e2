// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// A child process for tests and benchmarks (the servers, pagebench's echo server): started
// with its output in a log file, ready once a regular expression matches the log, stopped
// with SIGTERM or killed with SIGKILL (SIGKILL if it is still running when the object goes
// away).
//
// Thread safety: one thread uses a ChildProcess.

#ifndef NEON_TESTS_SERVERS_CHILD_PROCESS_H_
#define NEON_TESTS_SERVERS_CHILD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace neon::testing {

class ChildProcess {
 public:
  // Runs argv[0] with `argv` (output to `log_path`) and waits up to `timeout_ms` for the
  // log to match `ready`; `groups` gets the match's capture groups. Unavailable (with the
  // log) if the process exits first or the time runs out.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv,
                                                             const std::string& log_path,
                                                             const std::string& ready,
                                                             int timeout_ms,
                                                             std::vector<std::string>* groups);
  // Runs argv[0] with `argv` (output to `log_path`) expecting it to exit by itself (bad
  // flags...): its exit status (128 + signal if killed by one), or -1 when it is still
  // running after `timeout_ms` (it is then killed).
  static int RunToExit(const std::vector<std::string>& argv, const std::string& log_path,
                       int timeout_ms);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // SIGTERM, then waits up to `timeout_ms`: the exit status (128 + signal if killed by
  // one), or -1 on timeout (the destructor then kills it).
  int Stop(int timeout_ms = 30000);
  // SIGKILL and reap (a crash, for tests).
  void Kill();
  std::string Log() const;

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  std::string log_path_;
};

}  // namespace neon::testing

#endif  // NEON_TESTS_SERVERS_CHILD_PROCESS_H_
