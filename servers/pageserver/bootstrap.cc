// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "pageserver/bootstrap.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/str_cat.h"
#include "common/log.h"
#include "neon/file_system.h"
#include "neon/wal_ingest.h"

namespace neon::pageserver {
namespace {

// initdb output kept in an error message.
constexpr size_t kMaxOutputInError = 2000;

std::string ReadTail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > kMaxOutputInError) s = s.substr(s.size() - kMaxOutputInError);
  return s;
}

// Runs argv with stdout and stderr into `out_path`; the exit status (128+signal when killed).
absl::StatusOr<int> RunToExit(const std::vector<std::string>& args, const std::string& out_path) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return absl::UnavailableError(StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);  // the server blocks SIGTERM/SIGINT
    const int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return absl::InternalError(StrCat("waitpid: ", std::strerror(errno)));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A scratch directory removed at destruction.
class ScratchDir {
 public:
  ~ScratchDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  absl::Status Create(const std::string& root, bool for_postgres) {
    std::string tmpl = root + "/neon_initdb.XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      return absl::UnavailableError(StrCat("mkdtemp in ", root, ": ", std::strerror(errno)));
    }
    path_ = tmpl;
    if (for_postgres) {
      const passwd* pw = getpwnam("postgres");
      if (pw == nullptr) {
        return absl::FailedPreconditionError(
            "running as root and there is no 'postgres' account to run initdb as");
      }
      if (chown(path_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        return absl::UnavailableError(StrCat("chown ", path_, ": ", std::strerror(errno)));
      }
    }
    return absl::OkStatus();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

absl::StatusOr<Lsn> BootstrapTimeline(const BootstrapOptions& options, Timeline* timeline) {
  if (access(options.initdb_path.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        StrCat("initdb '", options.initdb_path, "' is not executable (--initdb-path)"));
  }
  const bool as_root = geteuid() == 0;
  ScratchDir scratch;
  if (absl::Status s = scratch.Create(options.scratch_root, as_root); !s.ok()) return s;
  const std::string pgdata = scratch.path() + "/pgdata";
  const std::string log_path = scratch.path() + "/initdb.log";
  std::vector<std::string> args;
  if (as_root) args = {"/usr/sbin/runuser", "-u", "postgres", "--"};
  args.insert(args.end(), {options.initdb_path, "-D", pgdata, "-U", options.superuser, "-E",
                           "UTF8", "--locale=C", "--no-instructions", "--no-sync"});
  server::LogInfo("initdb_start", {{"timeline_id", timeline->id().ToString()}, {"dir", pgdata}});
  absl::StatusOr<int> rc = RunToExit(args, log_path);
  if (!rc.ok()) return rc.status();
  if (*rc != 0) {
    return absl::FailedPreconditionError(
        StrCat("initdb failed with status ", *rc, ": ", ReadTail(log_path)));
  }
  std::shared_ptr<FileSystem> fs = NewPosixFileSystem();
  absl::StatusOr<Lsn> lsn = ImportDatadir(fs.get(), pgdata, timeline);
  if (!lsn.ok()) return lsn.status();
  // The import lives in the open in-memory layer; there is no WAL source that could re-send
  // it after a restart, so it goes to layer files now.
  if (absl::StatusOr<MaintenanceResult> f = timeline->Flush(); !f.ok()) return f.status();
  server::LogInfo("initdb_imported",
                  {{"timeline_id", timeline->id().ToString()}, {"lsn", lsn->ToString()}});
  return lsn;
}

}  // namespace neon::pageserver
