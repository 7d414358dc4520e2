// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/walredo_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon {
namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

void SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  NEON_CHECK(flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0);
}

void CloseAll(std::initializer_list<int> fds) {
  for (int fd : fds) {
    if (fd >= 0) close(fd);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<WalRedoProcess>> WalRedoProcess::Spawn(
    const std::vector<std::string>& argv, Clock* clock) {
  NEON_CHECK(!argv.empty() && clock != nullptr);
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
      pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    CloseAll({in[0], in[1], out[0], out[1], err[0], err[1]});
    return absl::UnavailableError(StrCat("walredo: cannot create pipes: ", ErrnoText(e)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[1], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD, SIGALRM}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::string ld_path;
  std::vector<char*> env;
  if (const char* v = getenv("LD_LIBRARY_PATH"); v != nullptr) {
    ld_path = StrCat("LD_LIBRARY_PATH=", v);
    env.push_back(ld_path.data());
  }
  env.push_back(nullptr);

  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0].c_str(), &actions, &attr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  CloseAll({in[1], out[1], err[1]});
  if (rc != 0) {
    CloseAll({in[0], out[0], err[0]});
    return absl::UnavailableError(StrCat("walredo: cannot start ", argv[0], ": ", ErrnoText(rc)));
  }
  SetNonBlocking(in[0]);
  SetNonBlocking(out[0]);
  SetNonBlocking(err[0]);
  return std::unique_ptr<WalRedoProcess>(new WalRedoProcess(pid, in[0], out[0], err[0], clock));
}

WalRedoProcess::WalRedoProcess(pid_t pid, int in_fd, int out_fd, int err_fd, Clock* clock)
    : pid_(pid), in_fd_(in_fd), out_fd_(out_fd), err_fd_(err_fd), clock_(clock) {}

WalRedoProcess::~WalRedoProcess() {
  {
    absl::MutexLock l(&state_mu_);
    if (!reaped_) {
      kill(pid_, SIGKILL);
      ReapLocked(/*block=*/true);
    }
  }
  CloseAll({in_fd_, out_fd_, err_fd_});
}

absl::StatusOr<std::string> WalRedoProcess::Request(std::string_view request, int64_t deadline_us,
                                                    bool* retryable) {
  *retryable = false;
  uint64_t seq;
  absl::Status written;
  {
    absl::MutexLock l(&in_mu_);
    seq = next_seq_++;
    if (dead()) return FailureFor(seq, retryable);
    // After a failed write the stream is out of step: nothing more is sent.
    written = write_error_.empty() ? WriteAll(request, deadline_us)
                                   : absl::UnavailableError(write_error_);
    if (absl::IsDeadlineExceeded(written)) {
      Fail(seq, written);
      return FailureFor(seq, retryable);
    }
    if (!written.ok()) write_error_ = std::string(written.message());
  }
  // A failed write (the child is gone) is blamed below, once it is known
  // whether an earlier request was still unanswered (then that one killed the
  // child) or not (then it died before or while taking this one: retryable).
  absl::MutexLock l(&out_mu_);
  while (true) {
    auto it = ready_.find(seq);
    if (it != ready_.end()) {
      std::string page = std::move(it->second);
      ready_.erase(it);
      return page;
    }
    if (dead()) return FailureFor(seq, retryable);
    if (!written.ok() && read_seq_ == seq) {
      Fail(seq, written);
      return FailureFor(seq, retryable);
    }
    absl::Status s = ReadOneResponse(deadline_us);
    if (!s.ok()) {
      // A timeout is ours; a missing response belongs to the request it answers.
      Fail(absl::IsDeadlineExceeded(s) ? seq : read_seq_, s);
      return FailureFor(seq, retryable);
    }
  }
}

absl::Status WalRedoProcess::WriteAll(std::string_view data, int64_t deadline_us) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(in_fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      NEON_RETURN_IF_ERROR(WaitFd(in_fd_, POLLOUT, deadline_us, "writing a request"));
      continue;
    }
    return absl::UnavailableError(
        StrCat("walredo: the process had exited before the request was written (",
               ErrnoText(n < 0 ? errno : EPIPE), ")"));
  }
  return absl::OkStatus();
}

absl::Status WalRedoProcess::ReadOneResponse(int64_t deadline_us) {
  char buf[kPageSize];
  while (partial_.size() < kPageSize) {
    ssize_t n = read(out_fd_, buf, kPageSize - partial_.size());
    if (n > 0) {
      partial_.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      return absl::InternalError(StrCat("walredo: the process ended without answering (",
                                        partial_.size(), " of ", kPageSize, " bytes received)"));
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return absl::UnavailableError(StrCat("walredo: reading stdout: ", ErrnoText(errno)));
    }
    NEON_RETURN_IF_ERROR(WaitFd(out_fd_, POLLIN, deadline_us, "waiting for a page"));
  }
  ready_[read_seq_++] = std::move(partial_);
  partial_.clear();
  return absl::OkStatus();
}

absl::Status WalRedoProcess::WaitFd(int fd, short events, int64_t deadline_us,
                                    std::string_view what) {
  while (true) {
    int64_t left_us = deadline_us - clock_->MonotonicMicros();
    if (left_us <= 0) {
      return absl::DeadlineExceededError(StrCat("walredo: request timed out ", what));
    }
    bool err_open;
    {
      absl::MutexLock l(&err_mu_);
      err_open = err_fd_ >= 0 && !err_eof_;
    }
    pollfd fds[2] = {{fd, events, 0}, {err_fd_, POLLIN, 0}};
    int n = poll(fds, err_open ? 2 : 1, static_cast<int>((left_us + 999) / 1000));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(StrCat("walredo: poll: ", ErrnoText(errno)));
    }
    if (err_open && fds[1].revents != 0) DrainStderr();
    if (fds[0].revents != 0) return absl::OkStatus();
  }
}

void WalRedoProcess::DrainStderr() {
  absl::MutexLock l(&err_mu_);
  char buf[4096];
  while (!err_eof_) {
    ssize_t n = read(err_fd_, buf, sizeof(buf));
    if (n > 0) {
      err_tail_.append(buf, static_cast<size_t>(n));
      if (err_tail_.size() > kStderrTailBytes) {
        err_tail_.erase(0, err_tail_.size() - kStderrTailBytes);
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) err_eof_ = true;
    break;  // EOF, or EAGAIN: nothing more now
  }
}

std::string WalRedoProcess::StderrTail() const {
  absl::MutexLock l(&err_mu_);
  return err_tail_;
}

void WalRedoProcess::Fail(uint64_t seq, const absl::Status& cause) {
  absl::MutexLock l(&state_mu_);
  if (dead_) return;
  dead_ = true;
  if (!reaped_) {
    kill(pid_, SIGKILL);
    ReapLocked(/*block=*/true);
  }
  DrainStderr();  // the child is gone: everything it wrote is in the pipe
  std::string tail = StderrTail();
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  failed_seq_ = seq;
  failure_retryable_ = absl::IsUnavailable(cause);
  failure_code_ = cause.code();
  failure_message_ = StrCat(cause.message(), "; process ", pid_, " ", ExitDescription(),
                            tail.empty() ? "" : "; stderr: ", tail);
}

absl::Status WalRedoProcess::FailureFor(uint64_t seq, bool* retryable) const {
  absl::MutexLock l(&state_mu_);
  NEON_CHECK(dead_);
  if (seq == failed_seq_) {
    *retryable = failure_retryable_;
    return absl::Status(failure_code_, failure_message_);
  }
  *retryable = true;
  return absl::UnavailableError(
      StrCat("walredo: the process failed during another request: ", failure_message_));
}

void WalRedoProcess::Kill(std::string_view reason) {
  Fail(UINT64_MAX, absl::UnavailableError(StrCat("walredo: process ended: ", reason)));
}

bool WalRedoProcess::dead() const {
  absl::MutexLock l(&state_mu_);
  return dead_;
}

bool WalRedoProcess::PollExited() {
  {
    absl::MutexLock l(&state_mu_);
    if (dead_) return true;
    ReapLocked(/*block=*/false);
    if (!reaped_) return false;
  }
  Fail(UINT64_MAX, absl::UnavailableError("walredo: the process exited by itself"));
  return true;
}

void WalRedoProcess::ReapLocked(bool block) {
  if (reaped_) return;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    reaped_ = true;
    wait_status_ = status;
  }
}

std::string WalRedoProcess::ExitDescription() const {
  if (!reaped_) return "still running";
  if (WIFEXITED(wait_status_)) return StrCat("exited with status ", WEXITSTATUS(wait_status_));
  if (WIFSIGNALED(wait_status_)) {
    int sig = WTERMSIG(wait_status_);
    return StrCat("was killed by signal ", sig, " (", strsignal(sig), ")");
  }
  return StrCat("ended with wait status ", wait_status_);
}

}  // namespace neon
