// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// PgCluster: a real PostgreSQL 15 server (Debian's postgresql-15 package) in a
// temporary directory, for oracle tests. Listens only on a Unix socket in its
// own directory. Postgres refuses to run as root, so when the tests run as
// root every server command runs as the unprivileged `postgres` account
// (created by the package) through runuser.

#ifndef NEON_TESTS_WAL_PG_CLUSTER_H_
#define NEON_TESTS_WAL_PG_CLUSTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace neon::testing {

// Where the stock binaries are (initdb, pg_ctl, postgres, psql, pg_waldump,
// pg_basebackup, pgbench). NEON_PG_BINDIR overrides.
std::string PgBinDir();
bool PgAvailable();

// Runs a shell command; returns its stdout. Non-zero exit is an error that
// includes the command's stderr.
absl::StatusOr<std::string> RunCommand(const std::string& cmd);

class PgCluster {
 public:
  // initdb + start. `conf` lines are appended to postgresql.conf.
  static absl::StatusOr<std::unique_ptr<PgCluster>> Start(const std::vector<std::string>& conf);
  ~PgCluster();  // immediate stop, directory removed

  const std::string& dir() const { return dir_; }
  std::string data_dir() const { return dir_ + "/data"; }
  std::string wal_dir() const { return dir_ + "/data/pg_wal"; }
  std::string socket_dir() const { return dir_; }

  // psql -v ON_ERROR_STOP=1 on database `db`, -c SQL; returns tuples-only output.
  absl::StatusOr<std::string> Sql(const std::string& sql, const std::string& db = "postgres");
  // psql -f FILE.
  absl::Status SqlFile(const std::string& path, const std::string& db = "postgres");
  // A command run as the server's user with PGHOST/PGPORT set, from the bin dir.
  absl::StatusOr<std::string> RunAsServerUser(const std::string& args);
  absl::Status Stop(const std::string& mode = "fast");
  absl::Status Restart();

 private:
  explicit PgCluster(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
  bool running_ = false;
};

}  // namespace neon::testing

#endif  // NEON_TESTS_WAL_PG_CLUSTER_H_
