// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "remote/peer_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#ifndef NEON_S3RVER_PATH
#error "NEON_S3RVER_PATH must be defined by tests/CMakeLists.txt"
#endif

namespace neon::testing {
namespace {

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// fork + exec with stdout/stderr to files. Returns the child's pid.
pid_t Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
            const std::string& out_path, const std::string& err_path, bool die_with_parent) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  if (die_with_parent) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
  }
  int in = open("/dev/null", O_RDONLY);
  int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (in < 0 || out < 0 || err < 0) _exit(127);
  dup2(in, 0);
  dup2(out, 1);
  dup2(err, 2);
  for (const std::string& e : env) putenv(strdup(e.c_str()));
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  _exit(127);
}

}  // namespace

TempDir::TempDir(const std::string& tag) {
  std::string tmpl = "/tmp/neon_" + tag + "_XXXXXX";
  if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string FindInPath(const std::string& name) {
  const char* path = getenv("PATH");
  if (path == nullptr) return "";
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         const std::vector<std::string>& env, int timeout_s) {
  TempDir dir("cmd");
  if (dir.path().empty()) return absl::InternalError("mkdtemp failed");
  std::string out = dir.path() + "/out", err = dir.path() + "/err";
  pid_t pid = Spawn(argv, env, out, err, /*die_with_parent=*/true);
  if (pid < 0) return absl::InternalError("fork failed");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return absl::DeadlineExceededError(argv[0] + " timed out; stderr: " + ReadWholeFile(err));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = ReadWholeFile(out);
  result.err = ReadWholeFile(err);
  return result;
}

S3rver::~S3rver() { Stop(); }

std::string S3rver::endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string S3rver::vhost_endpoint() const { return "http://s3.localhost:" + std::to_string(port_); }

S3Options S3rver::Options(const std::string& key_prefix) const {
  S3Options o;
  o.bucket = kBucket;
  o.region = "us-east-1";
  o.endpoint = endpoint();
  o.path_style = true;
  o.access_key_id = kAccessKey;
  o.secret_access_key = kSecretKey;
  o.key_prefix = key_prefix;
  return o;
}

absl::Status S3rver::Start() {
  std::string bin = NEON_S3RVER_PATH;
  if (access(bin.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        "s3rver not found at " + bin + ": run scripts/install-test-peers.sh (the S3 tests need it)");
  }
  dir_ = std::make_unique<TempDir>("s3rver");
  if (dir_->path().empty()) return absl::InternalError("mkdtemp failed");
  std::string data = dir_->path() + "/data";
  mkdir(data.c_str(), 0755);
  std::string out = dir_->path() + "/stdout", err = dir_->path() + "/stderr";
  pid_ = Spawn({bin, "--directory", data, "--address", "127.0.0.1", "--port", "0", "--silent",
                "--service-endpoint", "localhost",
                "--configure-bucket", kBucket},
               // s3rver's ListObjectsV2 continuation tokens use DES, which
               // OpenSSL 3 keeps in its legacy provider.
               {"NODE_OPTIONS=--openssl-legacy-provider"}, out, err, /*die_with_parent=*/true);
  if (pid_ < 0) return absl::InternalError("fork failed");
  const std::string marker = "listening on 127.0.0.1:";
  for (int i = 0; i < 600; ++i) {  // up to 30 s (node starts slowly on a busy machine)
    std::string text = ReadWholeFile(out);
    size_t at = text.find(marker);
    if (at != std::string::npos && text.find('\n', at) != std::string::npos) {
      port_ = atoi(text.c_str() + at + marker.size());
      if (port_ > 0) return absl::OkStatus();
    }
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError("s3rver exited at startup: " + ReadWholeFile(err));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Stop();
  return absl::DeadlineExceededError("s3rver did not report its port within 30 s");
}

void S3rver::Stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status;
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }
  dir_.reset();
}

FlakyProxy::FlakyProxy(int upstream_port, int cut_connections, uint64_t cut_after_bytes)
    : upstream_port_(upstream_port), cut_connections_(cut_connections), cut_after_bytes_(cut_after_bytes) {}

FlakyProxy::~FlakyProxy() {
  stop_ = true;
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  while (active_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

absl::Status FlakyProxy::Start() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(listen_fd_, 16) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError("bind/listen failed");
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

void FlakyProxy::AcceptLoop() {
  while (!stop_) {
    int client = accept(listen_fd_, nullptr, nullptr);
    if (client < 0) {
      if (stop_) return;
      continue;
    }
    int n = connections_.fetch_add(1);
    active_.fetch_add(1);
    std::thread([this, client, n] {
      Relay(client, n < cut_connections_);
      active_.fetch_sub(1);
    }).detach();
  }
}

void FlakyProxy::Relay(int client, bool cut) {
  int server = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
  if (server < 0 || connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (server >= 0) close(server);
    close(client);
    return;
  }
  uint64_t passed = 0;
  char buf[16384];
  pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
  while (!stop_) {
    if (poll(fds, 2, 100) < 0) break;
    bool closed = false;
    for (int i = 0; i < 2 && !closed; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      size_t want = sizeof(buf);
      if (cut) want = static_cast<size_t>(std::min<uint64_t>(want, cut_after_bytes_ - passed));
      ssize_t n = want == 0 ? 0 : read(fds[i].fd, buf, want);
      if (n <= 0) {
        closed = true;
        break;
      }
      int to = fds[1 - i].fd;
      for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, n - off);
        if (w <= 0) {
          closed = true;
          break;
        }
        off += w;
      }
      passed += static_cast<uint64_t>(n);
    }
    if (cut && passed >= cut_after_bytes_) {
      cuts_.fetch_add(1);
      break;
    }
    if (closed) break;
  }
  // An abortive close (RST), as a dropped connection looks to the client.
  linger lg{1, 0};
  setsockopt(client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(client);
  close(server);
}

absl::StatusOr<S3rver*> S3rver::Shared() {
  static std::once_flag once;
  static S3rver* server = nullptr;
  static absl::Status status;
  std::call_once(once, [] {
    server = new S3rver();
    status = server->Start();
    // Stopped when the test process exits normally.
    std::atexit([] { server->Stop(); });
  });
  if (!status.ok()) return status;
  return server;
}

}  // namespace neon::testing
