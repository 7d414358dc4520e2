// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// WalRedoProcess: one running neon_walredo child and pipelined requests to it
// (doc/format/walredo-protocol.md).
//
// The child is started with posix_spawn, its environment cleared except
// LD_LIBRARY_PATH. stdin is one end of a socketpair (written with
// MSG_NOSIGNAL, so a dead child is EPIPE, never SIGPIPE in the host), stdout
// and stderr are pipes. All parent ends are non-blocking and every wait is a
// poll(2) bounded by the request's deadline; both waits also drain stderr (its
// last kStderrTailBytes are kept for error messages), so a chatty child can
// never block.
//
// Pipelining (Neon's scheme): a writer takes in_mu_, gets the next sequence
// number and writes its whole request; it then takes out_mu_ and reads
// responses in order, parking those of other requests until their owners
// collect them. The first failure kills the child and is blamed on one
// request: a deadline on the request whose deadline passed; a child that ends
// (EOF on stdout, or a write that fails because it is gone) on the oldest
// request not yet answered, i.e. the one it was working on. That request gets
// the cause (with the child's exit status and last stderr lines); the others
// get a retryable Unavailable.
//
// Thread safety: Request may be called from many threads at once; the other
// methods too.

#ifndef NEON_LIB_ENGINE_WALREDO_PROCESS_H_
#define NEON_LIB_ENGINE_WALREDO_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "neon/clock.h"

namespace neon {

class WalRedoProcess {
 public:
  static constexpr size_t kPageSize = 8192;
  static constexpr size_t kStderrTailBytes = 4096;

  // Starts `argv[0]` with `argv`. Unavailable if it cannot be started.
  static absl::StatusOr<std::unique_ptr<WalRedoProcess>> Spawn(const std::vector<std::string>& argv,
                                                               Clock* clock);
  ~WalRedoProcess();  // kills the child if it still runs

  WalRedoProcess(const WalRedoProcess&) = delete;
  WalRedoProcess& operator=(const WalRedoProcess&) = delete;

  // Writes `request` (complete messages answered by exactly one 8192-byte
  // response: ... G, or H) and returns the response. Fails with
  // DeadlineExceeded past `deadline_us` (monotonic clock), Internal or
  // Unavailable when the child fails; then the process is dead. `retryable`
  // is set when the failure is not this request's doing (an earlier request
  // killed the process, or the child had exited before the request was
  // written): the same request may succeed on a new process.
  absl::StatusOr<std::string> Request(std::string_view request, int64_t deadline_us,
                                      bool* retryable);

  // Kills the child (SIGKILL) and reaps it. Idempotent.
  void Kill(std::string_view reason);
  // True once the process failed or was killed.
  bool dead() const;
  // Reaps the child if it exited by itself (e.g. its idle timeout); then
  // dead() is true. Returns dead().
  bool PollExited();
  pid_t pid() const { return pid_; }
  // The last bytes the child wrote on stderr.
  std::string StderrTail() const;

 private:
  WalRedoProcess(pid_t pid, int in_fd, int out_fd, int err_fd, Clock* clock);

  absl::Status WriteAll(std::string_view data, int64_t deadline_us)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(in_mu_);
  // Reads the response of read_seq_ into ready_.
  absl::Status ReadOneResponse(int64_t deadline_us) ABSL_EXCLUSIVE_LOCKS_REQUIRED(out_mu_);
  // Waits for `fd` to be ready for `events` (stderr drained meanwhile).
  absl::Status WaitFd(int fd, short events, int64_t deadline_us, std::string_view what);
  void DrainStderr();
  // Records the first failure (blamed on request `seq`; UINT64_MAX: none)
  // and kills the child. Unavailable causes are retryable.
  void Fail(uint64_t seq, const absl::Status& cause);
  // The error of request `seq` after a failure.
  absl::Status FailureFor(uint64_t seq, bool* retryable) const;
  std::string ExitDescription() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_);
  void ReapLocked(bool block) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_);

  const pid_t pid_;
  const int in_fd_;
  const int out_fd_;
  const int err_fd_;
  Clock* const clock_;

  absl::Mutex in_mu_ ABSL_ACQUIRED_BEFORE(out_mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(in_mu_) = 0;
  std::string write_error_ ABSL_GUARDED_BY(in_mu_);  // the first failed write (Unavailable)

  absl::Mutex out_mu_;
  uint64_t read_seq_ ABSL_GUARDED_BY(out_mu_) = 0;
  std::string partial_ ABSL_GUARDED_BY(out_mu_);
  std::map<uint64_t, std::string> ready_ ABSL_GUARDED_BY(out_mu_);

  mutable absl::Mutex state_mu_;
  bool dead_ ABSL_GUARDED_BY(state_mu_) = false;
  bool reaped_ ABSL_GUARDED_BY(state_mu_) = false;
  int wait_status_ ABSL_GUARDED_BY(state_mu_) = 0;
  uint64_t failed_seq_ ABSL_GUARDED_BY(state_mu_) = UINT64_MAX;
  bool failure_retryable_ ABSL_GUARDED_BY(state_mu_) = false;
  // The failure as code and text: every caller gets its own absl::Status (a
  // shared Status rep is refcounted inside the uninstrumented Abseil, which
  // TSan would report).
  absl::StatusCode failure_code_ ABSL_GUARDED_BY(state_mu_) = absl::StatusCode::kOk;
  std::string failure_message_ ABSL_GUARDED_BY(state_mu_);

  mutable absl::Mutex err_mu_ ABSL_ACQUIRED_AFTER(state_mu_);
  bool err_eof_ ABSL_GUARDED_BY(err_mu_) = false;
  std::string err_tail_ ABSL_GUARDED_BY(err_mu_);
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_WALREDO_PROCESS_H_
