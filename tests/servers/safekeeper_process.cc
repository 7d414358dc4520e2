// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "servers/safekeeper_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "httplib.h"

namespace neon::testing {
namespace {

constexpr int kStartTimeoutMs = 30000;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

pid_t Spawn(const std::vector<std::string>& args, const std::string& out_path) {
  std::vector<std::string> all = {NEON_SAFEKEEPER_PATH};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  const int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  dup2(fd, 1);
  dup2(fd, 2);
  execv(argv[0], argv.data());
  _exit(127);
}

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

std::unique_ptr<SafekeeperProcess> SafekeeperProcess::Start(const std::string& workdir,
                                                            const std::vector<std::string>& args,
                                                            std::string* error) {
  std::unique_ptr<SafekeeperProcess> p(new SafekeeperProcess());
  static int starts = 0;
  p->workdir_ = workdir;
  p->log_path_ = workdir + ".log" + std::to_string(++starts);
  std::vector<std::string> all = {"--workdir=" + workdir, "--listen-pg=127.0.0.1:0",
                                  "--listen-http=127.0.0.1:0"};
  all.insert(all.end(), args.begin(), args.end());
  p->pid_ = Spawn(all, p->log_path_);
  const std::regex started(R"(event=started .*pg_port=(\d+) .*http_port=(\d+))");
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kStartTimeoutMs);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string log = ReadAll(p->log_path_);
    std::smatch m;
    if (std::regex_search(log, m, started)) {
      p->pg_port_ = std::stoi(m[1]);
      p->http_port_ = std::stoi(m[2]);
      return p;
    }
    int status = 0;
    if (waitpid(p->pid_, &status, WNOHANG) == p->pid_) {
      p->pid_ = -1;
      *error = "safekeeper exited before starting: " + log;
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *error = "safekeeper did not start in time: " + ReadAll(p->log_path_);
  return nullptr;
}

SafekeeperProcess::~SafekeeperProcess() { Kill(); }

void SafekeeperProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int SafekeeperProcess::Stop(int timeout_ms) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  const int rc = WaitExit(pid_, timeout_ms);
  if (rc != -1) pid_ = -1;
  return rc;
}

std::string SafekeeperProcess::Log() const { return ReadAll(log_path_); }

int RunSafekeeperToExit(const std::vector<std::string>& args, std::string* output) {
  char tmpl[] = "/tmp/neon_sk_exit.XXXXXX";
  const int fd = mkstemp(tmpl);
  if (fd >= 0) close(fd);
  const pid_t pid = Spawn(args, tmpl);
  const int rc = WaitExit(pid, kStartTimeoutMs);
  if (rc == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  *output = ReadAll(tmpl);
  std::remove(tmpl);
  return rc;
}

HttpReply HttpCall(int port, const std::string& method, const std::string& path,
                   const std::string& body, const std::string& token) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(10);
  c.set_read_timeout(60);
  httplib::Headers h;
  if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
  httplib::Result r(nullptr, httplib::Error::Unknown);
  if (method == "GET") r = c.Get(path.c_str(), h);
  if (method == "POST") r = c.Post(path.c_str(), h, body, "application/json");
  if (method == "PUT") r = c.Put(path.c_str(), h, body, "application/json");
  if (method == "DELETE") r = c.Delete(path.c_str(), h);
  HttpReply out;
  if (!r) return out;
  out.status = r->status;
  out.text = r->body;
  out.body = nlohmann::json::parse(r->body, nullptr, false);
  return out;
}

uint64_t ParseLsnText(const std::string& text) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos) return 0;
  return (std::stoull(text.substr(0, slash), nullptr, 16) << 32) |
         std::stoull(text.substr(slash + 1), nullptr, 16);
}

std::string LsnText(uint64_t lsn) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%X/%X", unsigned(lsn >> 32), unsigned(lsn & 0xffffffff));
  return buf;
}

}  // namespace neon::testing
