// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "servers/pageserver_process.h"

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

constexpr int kStartTimeoutMs = 60000;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::unique_ptr<PageserverProcess> PageserverProcess::Start(const std::string& workdir,
                                                            const std::vector<std::string>& args,
                                                            std::string* error) {
  std::unique_ptr<PageserverProcess> p(new PageserverProcess());
  static int starts = 0;
  p->log_path_ = workdir + ".log" + std::to_string(++starts);
  std::vector<std::string> all = {NEON_PAGESERVER_PATH, "--workdir=" + workdir,
                                  "--listen-http-addr=127.0.0.1:0",
                                  "--listen-grpc-addr=127.0.0.1:0"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  p->pid_ = fork();
  if (p->pid_ == 0) {
    const int fd = open(p->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  const std::regex started(R"(event=started .*grpc_port=(\d+) .*http_port=(\d+))");
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kStartTimeoutMs);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string log = ReadAll(p->log_path_);
    std::smatch m;
    if (std::regex_search(log, m, started)) {
      p->grpc_port_ = std::stoi(m[1]);
      p->http_port_ = std::stoi(m[2]);
      return p;
    }
    int status = 0;
    if (waitpid(p->pid_, &status, WNOHANG) == p->pid_) {
      p->pid_ = -1;
      *error = "pageserver exited before starting: " + log;
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *error = "pageserver did not start in time: " + ReadAll(p->log_path_);
  return nullptr;
}

PageserverProcess::~PageserverProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void PageserverProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int PageserverProcess::Stop(int timeout_ms) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

std::string PageserverProcess::Log() const { return ReadAll(log_path_); }

}  // namespace neon::testing
