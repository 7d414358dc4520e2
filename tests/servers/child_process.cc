// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "servers/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace neon::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// fork + exec with stdout and stderr in `log_path`; the child's pid (-1 if fork failed).
pid_t Spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  std::vector<std::string> args = argv;
  std::vector<char*> cargs;
  for (std::string& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
  }
  execv(cargs[0], cargs.data());
  _exit(127);
}

// Waits up to `timeout_ms` for `pid` to exit: its status, or -1 if it still runs.
int WaitExit(pid_t pid, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

int ChildProcess::RunToExit(const std::vector<std::string>& argv, const std::string& log_path,
                            int timeout_ms) {
  const pid_t pid = Spawn(argv, log_path);
  if (pid < 0) return -1;
  const int rc = WaitExit(pid, timeout_ms);
  if (rc == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  return rc;
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, const std::string& log_path, const std::string& ready,
    int timeout_ms, std::vector<std::string>* groups) {
  std::unique_ptr<ChildProcess> p(new ChildProcess());
  p->log_path_ = log_path;
  p->pid_ = Spawn(argv, log_path);
  if (p->pid_ < 0) return absl::UnavailableError("fork failed");
  const std::regex re(ready);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string log = ReadAll(log_path);
    std::smatch m;
    if (std::regex_search(log, m, re)) {
      groups->clear();
      for (size_t i = 1; i < m.size(); i++) groups->push_back(m[i]);
      return p;
    }
    int status = 0;
    if (waitpid(p->pid_, &status, WNOHANG) == p->pid_) {
      p->pid_ = -1;
      return absl::UnavailableError(argv[0] + " exited before it was ready:\n" + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::UnavailableError(argv[0] + " was not ready in time:\n" + ReadAll(log_path));
}

ChildProcess::~ChildProcess() { Kill(); }

void ChildProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int ChildProcess::Stop(int timeout_ms) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  const int rc = WaitExit(pid_, timeout_ms);
  if (rc != -1) pid_ = -1;
  return rc;
}

std::string ChildProcess::Log() const { return ReadAll(log_path_); }

}  // namespace neon::testing
