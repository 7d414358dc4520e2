// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Background processes of a local cluster: finding the binaries, starting them detached
// (own session, stdin from /dev/null, stdout and stderr appended to a log file), pid files,
// readiness on an HTTP status route, and stopping them.
//
// A pid file counts as running only while its process is alive, not a zombie, and runs the
// expected executable (so a stale file whose pid was reused does not count).
//
// Thread safety: free functions; single-threaded use.

#ifndef NEON_SERVERS_NEON_LOCAL_DAEMON_H_
#define NEON_SERVERS_NEON_LOCAL_DAEMON_H_

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace neon::neon_local {

// The executable `name`, looked up in: `bin_dir` (the --bin-dir flag) or else $NEON_BIN_DIR,
// as <dir>/<name> and <dir>/servers/<subdir>/<name>; then neon_local's own build tree
// (<build>/servers/<subdir>/<name>) and its own directory. NotFound lists every path tried.
absl::StatusOr<std::string> FindBinary(const std::string& name, const std::string& subdir,
                                       const std::optional<std::string>& bin_dir);

// The pid in `pid_file` if that process is running `executable_name`.
std::optional<pid_t> RunningPid(const std::string& pid_file, const std::string& executable_name);
// Whether `pid` is alive and not a zombie.
bool ProcessAlive(pid_t pid);

struct SpawnSpec {
  std::string binary;
  std::vector<std::string> args;           // without argv[0]
  std::map<std::string, std::string> env;  // added to (or replacing in) our environment
  std::string log_file;                    // appended
  std::string pid_file;                    // written once started
  std::string cwd;
};
// Starts the process detached and writes its pid file.
absl::StatusOr<pid_t> Spawn(const SpawnSpec& spec);

// Polls GET http://127.0.0.1:<port><path> until it answers 200 (OK), the process exits
// (FailedPrecondition with its exit status and the log's tail) or `timeout_ms` passes
// (DeadlineExceeded with the log's tail).
absl::Status WaitHttpReady(pid_t pid, int port, const std::string& path, int timeout_ms,
                           const std::string& log_file);

// SIGTERM (SIGKILL when `immediate`), waits up to `timeout_ms`, then SIGKILL and waits
// again. Sets `*killed` when SIGKILL was needed. Removes `pid_file` once the process is gone.
absl::Status StopProcess(pid_t pid, bool immediate, int timeout_ms, const std::string& pid_file,
                         bool* killed);

// The last `lines` lines of a file ("" if unreadable).
std::string Tail(const std::string& path, int lines);

}  // namespace neon::neon_local

#endif  // NEON_SERVERS_NEON_LOCAL_DAEMON_H_
