// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "wal/pg_cluster.h"

#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "base/str_cat.h"

namespace neon::testing {
namespace {

constexpr int kPort = 5432;  // only a Unix socket in a private directory

bool RunningAsRoot() { return geteuid() == 0; }

// Prefix that runs a command as the unprivileged server user.
std::string AsServerUser() { return RunningAsRoot() ? "runuser -u postgres -- " : ""; }

absl::Status ChownTree(const std::string& path) {
  if (!RunningAsRoot()) return absl::OkStatus();
  struct passwd* pw = getpwnam("postgres");
  if (pw == nullptr) {
    return absl::FailedPreconditionError(
        "running as root but there is no 'postgres' account (install postgresql-15)");
  }
  if (chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    return absl::InternalError(StrCat("chown ", path, " failed"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string PgBinDir() {
  const char* env = std::getenv("NEON_PG_BINDIR");
  return env != nullptr ? env : "/usr/lib/postgresql/15/bin";
}

bool PgAvailable() { return access((PgBinDir() + "/initdb").c_str(), X_OK) == 0; }

absl::StatusOr<std::string> RunCommand(const std::string& cmd) {
  char err_path[] = "/tmp/neon-cmd-err-XXXXXX";
  int fd = mkstemp(err_path);
  if (fd < 0) return absl::InternalError("mkstemp failed");
  close(fd);
  FILE* p = popen((cmd + " 2>" + err_path).c_str(), "r");
  if (p == nullptr) return absl::InternalError(StrCat("popen failed: ", cmd));
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  std::ifstream ef(err_path);
  std::string err((std::istreambuf_iterator<char>(ef)), std::istreambuf_iterator<char>());
  unlink(err_path);
  if (rc != 0) {
    return absl::InternalError(StrCat("command failed (", WEXITSTATUS(rc), "): ", cmd, "\n", err));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<PgCluster>> PgCluster::Start(const std::vector<std::string>& conf) {
  char tmpl[] = "/tmp/neon-pg-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  std::unique_ptr<PgCluster> c(new PgCluster(tmpl));
  chmod(tmpl, 0755);
  if (absl::Status s = ChownTree(c->dir_); !s.ok()) return s;
  absl::StatusOr<std::string> r = RunCommand(StrCat(
      AsServerUser(), PgBinDir(), "/initdb -D ", c->data_dir(), " -A trust -U postgres -E UTF8 ",
      "--no-sync --locale=C.UTF-8"));
  if (!r.ok()) return r.status();
  std::ofstream f(c->data_dir() + "/postgresql.conf", std::ios::app);
  f << "\nlisten_addresses = ''\nunix_socket_directories = '" << c->dir_ << "'\nport = " << kPort
    << "\nfsync = off\nlogging_collector = off\n";
  for (const std::string& line : conf) f << line << "\n";
  f.close();
  if (absl::Status s = c->Restart(); !s.ok()) return s;
  return c;
}

absl::Status PgCluster::Restart() {
  absl::StatusOr<std::string> r = RunCommand(StrCat(AsServerUser(), PgBinDir(), "/pg_ctl -D ",
                                                    data_dir(), " -l ", dir_, "/server.log -w -t 60 start"));
  if (!r.ok()) return r.status();
  running_ = true;
  return absl::OkStatus();
}

absl::Status PgCluster::Stop(const std::string& mode) {
  if (!running_) return absl::OkStatus();
  absl::StatusOr<std::string> r = RunCommand(
      StrCat(AsServerUser(), PgBinDir(), "/pg_ctl -D ", data_dir(), " -m ", mode, " -w -t 120 stop"));
  running_ = false;
  return r.status();
}

PgCluster::~PgCluster() {
  (void)Stop("immediate");
  if (!std::getenv("NEON_KEEP_PG")) (void)RunCommand("rm -rf " + dir_);
}

absl::StatusOr<std::string> PgCluster::RunAsServerUser(const std::string& args) {
  return RunCommand(StrCat(AsServerUser(), "env PGHOST=", dir_, " PGPORT=", kPort, " ",
                           PgBinDir(), "/", args));
}

absl::StatusOr<std::string> PgCluster::Sql(const std::string& sql, const std::string& db) {
  std::string quoted = "'";
  for (char ch : sql) {
    if (ch == '\'') {
      quoted += "'\\''";
    } else {
      quoted += ch;
    }
  }
  quoted += "'";
  return RunCommand(StrCat(PgBinDir(), "/psql -X -q -At -v ON_ERROR_STOP=1 -h ", dir_, " -p ",
                           kPort, " -U postgres -d ", db, " -c ", quoted));
}

absl::Status PgCluster::SqlFile(const std::string& path, const std::string& db) {
  return RunCommand(StrCat(PgBinDir(), "/psql -X -q -At -v ON_ERROR_STOP=1 -h ", dir_, " -p ",
                           kPort, " -U postgres -d ", db, " -f ", path, " >/dev/null"))
      .status();
}

}  // namespace neon::testing
