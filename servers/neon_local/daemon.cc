// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "neon_local/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <thread>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "httplib.h"
#include "neon_local/repo.h"

namespace neon::neon_local {
namespace {

namespace fs = std::filesystem;

constexpr int kPollMs = 100;
constexpr int kTailLines = 20;

std::string OwnExecutableDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

bool IsExecutable(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && access(path.c_str(), X_OK) == 0;
}

std::string Basename(std::string path) {
  constexpr std::string_view kDeleted = " (deleted)";  // the binary was rebuilt meanwhile
  if (path.size() > kDeleted.size() &&
      path.compare(path.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0) {
    path.resize(path.size() - kDeleted.size());
  }
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool RunsExecutable(pid_t pid, const std::string& name) {
  std::error_code ec;
  const fs::path exe = fs::read_symlink(StrCat("/proc/", pid, "/exe"), ec);
  if (!ec && Basename(exe.string()) == name) return true;
  absl::StatusOr<std::string> cmdline = ReadFile(StrCat("/proc/", pid, "/cmdline"));
  if (!cmdline.ok()) return false;
  return Basename(cmdline->substr(0, cmdline->find('\0'))) == name;
}

std::string ExitText(int status) {
  if (WIFEXITED(status)) return StrCat("exited with status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return StrCat("was killed by signal ", WTERMSIG(status));
  return "stopped";
}

[[noreturn]] void ExecChild(const SpawnSpec& spec, int error_pipe) {
  setsid();
  if (!spec.cwd.empty() && chdir(spec.cwd.c_str()) != 0) {
    const int e = errno;
    (void)!write(error_pipe, &e, sizeof(e));
    _exit(127);
  }
  const int devnull = open("/dev/null", O_RDONLY);
  const int log = open(spec.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (devnull < 0 || log < 0) {
    const int e = errno;
    (void)!write(error_pipe, &e, sizeof(e));
    _exit(127);
  }
  dup2(devnull, 0);
  dup2(log, 1);
  dup2(log, 2);
  dup2(error_pipe, 3);
  fcntl(3, F_SETFD, FD_CLOEXEC);
  close_range(4, ~0U, 0);
  for (const auto& [k, v] : spec.env) setenv(k.c_str(), v.c_str(), 1);
  std::vector<std::string> all = {spec.binary};
  all.insert(all.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  const int e = errno;
  (void)!write(3, &e, sizeof(e));
  _exit(127);
}

}  // namespace

absl::StatusOr<std::string> FindBinary(const std::string& name, const std::string& subdir,
                                       const std::optional<std::string>& bin_dir) {
  std::vector<std::string> tried;
  std::optional<std::string> dir = bin_dir;
  if (!dir) {
    if (const char* env = std::getenv("NEON_BIN_DIR"); env != nullptr && *env != '\0') dir = env;
  }
  if (dir) {
    tried.push_back(StrCat(*dir, "/", name));
    tried.push_back(StrCat(*dir, "/servers/", subdir, "/", name));
  }
  const std::string own = OwnExecutableDir();
  if (!own.empty()) {
    // <build>/servers/neon_local/neon_local -> <build>/servers/<subdir>/<name>
    const fs::path build = fs::path(own).parent_path().parent_path();
    tried.push_back((build / "servers" / subdir / name).string());
    tried.push_back(StrCat(own, "/", name));
  }
  for (const std::string& path : tried) {
    if (IsExecutable(path)) return fs::path(path).lexically_normal().string();
  }
  std::string list;
  for (const std::string& path : tried) list += StrCat("\n  ", path);
  return absl::NotFoundError(StrCat("cannot find the ", name, " executable; tried:", list,
                                    "\nbuild it (ninja -C <build> ", name,
                                    ") or point --bin-dir / NEON_BIN_DIR at its directory"));
}

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) == pid) return false;  // our child, now reaped
  if (kill(pid, 0) != 0 && errno != EPERM) return false;
  absl::StatusOr<std::string> stat = ReadFile(StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return false;
  const size_t paren = stat->rfind(')');  // "pid (comm) S ..."
  return paren == std::string::npos || paren + 2 >= stat->size() || (*stat)[paren + 2] != 'Z';
}

std::optional<pid_t> RunningPid(const std::string& pid_file, const std::string& executable_name) {
  absl::StatusOr<std::string> text = ReadFile(pid_file);
  if (!text.ok()) return std::nullopt;
  char* end = nullptr;
  const long pid = std::strtol(text->c_str(), &end, 10);
  if (pid <= 0 || end == text->c_str()) return std::nullopt;
  if (!ProcessAlive(static_cast<pid_t>(pid))) return std::nullopt;
  if (!RunsExecutable(static_cast<pid_t>(pid), executable_name)) return std::nullopt;
  return static_cast<pid_t>(pid);
}

absl::StatusOr<pid_t> Spawn(const SpawnSpec& spec) {
  {
    std::ofstream log(spec.log_file, std::ios::app);
    const std::time_t now = std::time(nullptr);
    char when[64];
    std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    log << "=== neon_local " << when << ": " << spec.binary;
    for (const std::string& a : spec.args) log << " " << a;
    log << "\n";
    if (!log) return absl::InternalError(StrCat("cannot write ", spec.log_file));
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::InternalError(StrCat("pipe failed: ", std::strerror(errno)));
  }
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(StrCat("fork failed: ", std::strerror(errno)));
  if (pid == 0) ExecChild(spec, pipe_fds[1]);
  close(pipe_fds[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(pipe_fds[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(pipe_fds[0]);
  if (n == sizeof(child_errno)) {
    waitpid(pid, nullptr, 0);
    return absl::FailedPreconditionError(
        StrCat("cannot start ", spec.binary, ": ", std::strerror(child_errno)));
  }
  NEON_RETURN_IF_ERROR(WriteFile(spec.pid_file, StrCat(pid, "\n")));
  return pid;
}

absl::Status WaitHttpReady(pid_t pid, int port, const std::string& path, int timeout_ms,
                           const std::string& log_file) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(0, 300 * 1000);
  client.set_read_timeout(2, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || !ProcessAlive(pid)) {
      return absl::FailedPreconditionError(StrCat(
          "process ", pid, " ", r == pid ? ExitText(status) : "exited",
          " before it answered; last lines of ", log_file, ":\n", Tail(log_file, kTailLines)));
    }
    if (auto res = client.Get(path); res && res->status == 200) return absl::OkStatus();
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError(StrCat(
          "process ", pid, " did not answer GET http://127.0.0.1:", port, path, " within ",
          timeout_ms / 1000, " s; last lines of ", log_file, ":\n", Tail(log_file, kTailLines)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  }
}

absl::Status StopProcess(pid_t pid, bool immediate, int timeout_ms, const std::string& pid_file,
                         bool* killed) {
  *killed = immediate;
  if (kill(pid, immediate ? SIGKILL : SIGTERM) != 0 && errno != ESRCH) {
    return absl::PermissionDeniedError(StrCat("cannot signal ", pid, ": ", std::strerror(errno)));
  }
  auto wait_gone = [pid](int ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (ProcessAlive(pid)) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  };
  if (!wait_gone(timeout_ms)) {
    *killed = true;
    kill(pid, SIGKILL);
    if (!wait_gone(timeout_ms)) {
      return absl::DeadlineExceededError(StrCat("process ", pid, " survived SIGKILL"));
    }
  }
  unlink(pid_file.c_str());
  return absl::OkStatus();
}

std::string Tail(const std::string& path, int lines) {
  std::ifstream in(path);
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (static_cast<int>(last.size()) > lines) last.pop_front();
  }
  std::string out;
  for (const std::string& l : last) out += "  | " + l + "\n";
  return out;
}

}  // namespace neon::neon_local
