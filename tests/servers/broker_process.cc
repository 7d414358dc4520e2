// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "servers/broker_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "httplib.h"

namespace neon::testing {
namespace {

constexpr int kStartTimeoutMs = 20000;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

pid_t Spawn(const std::vector<std::string>& args, const std::string& out_path) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  const int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 1);
  dup2(fd, 2);
  std::vector<char*> argv;
  std::string bin = NEON_STORAGE_BROKER_PATH;
  argv.push_back(bin.data());
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(bin.c_str(), argv.data());
  _exit(127);
}

// Waits for `pid` up to `timeout_ms`; its exit status (128+signal when killed), -1 on timeout.
int WaitExit(pid_t pid, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

TempDir::TempDir() {
  std::string tmpl = "/tmp/neon_broker_test.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) std::abort();
  path_ = tmpl;
}

TempDir::~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }

std::string TempDir::WriteFile(const std::string& name, const std::string& text) const {
  const std::string p = path_ + "/" + name;
  std::ofstream(p) << text;
  return p;
}

std::unique_ptr<BrokerProcess> BrokerProcess::Start(const std::vector<std::string>& args,
                                                    std::string* error) {
  std::unique_ptr<BrokerProcess> b(new BrokerProcess());
  b->dir_ = std::make_unique<TempDir>();
  b->log_path_ = b->dir_->path() + "/broker.log";
  std::vector<std::string> all = {"--listen-addr=127.0.0.1:0", "--http-listen-addr=127.0.0.1:0"};
  all.insert(all.end(), args.begin(), args.end());  // later flags win
  b->pid_ = Spawn(all, b->log_path_);
  const std::regex started(R"(event=started .*grpc_port=(\d+) .*http_port=(\d+))");
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kStartTimeoutMs);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string log = ReadAll(b->log_path_);
    std::smatch m;
    if (std::regex_search(log, m, started)) {
      b->grpc_port_ = std::stoi(m[1]);
      b->http_port_ = std::stoi(m[2]);
      return b;
    }
    int status = 0;
    if (waitpid(b->pid_, &status, WNOHANG) == b->pid_) {
      b->pid_ = -1;
      *error = "broker exited before starting: " + log;
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *error = "broker did not start in time: " + ReadAll(b->log_path_);
  return nullptr;
}

BrokerProcess::~BrokerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

int BrokerProcess::Stop(int timeout_ms) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  const int rc = WaitExit(pid_, timeout_ms);
  if (rc != -1) pid_ = -1;
  return rc;
}

std::string BrokerProcess::Log() const { return ReadAll(log_path_); }

int RunBrokerToExit(const std::vector<std::string>& args, std::string* output) {
  TempDir dir;
  const std::string out = dir.path() + "/out";
  const pid_t pid = Spawn(args, out);
  int rc = WaitExit(pid, kStartTimeoutMs);
  if (rc == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  *output = ReadAll(out);
  return rc;
}

int HttpGet(int port, const std::string& path, std::string* body) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(5);
  auto res = client.Get(path.c_str());
  if (!res) return -1;
  *body = res->body;
  return res->status;
}

}  // namespace neon::testing
