// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The repository directory of a local cluster and its config file, `config.json`:
//
//   {"version": 1, "auth": false,
//    "broker": {"port": 50051, "http_port": 50052},
//    "pageserver": {"id": 1, "http_port": 9898, "grpc_port": 51051},
//    "safekeepers": [{"id": 1, "grpc_port": 5454, "http_port": 7676}, ...],
//    "default_tenant_id": "<hex>" or "",
//    "branch_name_mappings": {"main": [["<tenant hex>", "<timeline hex>"], ...]}}
//
// Layout (Neon's neon_local, with each server's own data one level down):
//
//   config.json, auth_private_key.pem, auth_public_key.pem, tokens/<scope>.jwt
//   storage_broker/         storage_broker.log, storage_broker.pid
//   pageserver_1/           pageserver.log, pageserver.pid, data/ (--workdir)
//   safekeepers/sk<N>/      safekeeper.log, safekeeper.pid, data/ (--workdir)
//   local_fs_remote_storage/{pageserver,safekeeper}/   object storage stand-ins
//   walpump/                walpump.log, walpump.pid, status.json (--state-dir)
//   .lock                   flock'ed by every command but init
//
// Thread safety: plain values; single-threaded use.

#ifndef NEON_SERVERS_NEON_LOCAL_REPO_H_
#define NEON_SERVERS_NEON_LOCAL_REPO_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace neon::neon_local {

struct SafekeeperConf {
  int id = 0;
  int grpc_port = 0;
  int http_port = 0;
};

struct RepoConfig {
  bool auth = false;
  int broker_port = 50051;
  int broker_http_port = 50052;
  int pageserver_id = 1;
  int pageserver_http_port = 9898;
  int pageserver_grpc_port = 51051;
  std::vector<SafekeeperConf> safekeepers;
  std::string default_tenant_id;
  // branch name -> (tenant, timeline) pairs: a name is unique within a tenant.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> branches;

  // The servers' default ports, or a compact block base_port .. base_port + 9 when
  // base_port > 0: broker +0, broker HTTP +1, pageserver HTTP +2, gRPC +3, safekeeper i
  // (1..3) gRPC +2+2i, HTTP +3+2i.
  static RepoConfig WithPorts(int base_port);

  // The timeline of `branch` in `tenant`.
  std::optional<std::string> FindBranch(const std::string& branch, const std::string& tenant) const;
  // The name of a timeline, if it has one.
  std::optional<std::string> BranchName(const std::string& tenant,
                                        const std::string& timeline) const;
  void AddBranch(const std::string& branch, const std::string& tenant, const std::string& timeline);
};

// Paths inside a repository directory (absolute).
class Repo {
 public:
  explicit Repo(std::string dir) : dir_(std::move(dir)) {}

  const std::string& dir() const { return dir_; }
  std::string Path(const std::string& relative) const { return dir_ + "/" + relative; }
  std::string ConfigPath() const { return Path("config.json"); }
  std::string TokenPath(const std::string& scope) const { return Path("tokens/" + scope + ".jwt"); }
  std::string PublicKeyPath() const { return Path("auth_public_key.pem"); }
  std::string PrivateKeyPath() const { return Path("auth_private_key.pem"); }

  // FailedPrecondition naming `neon_local init` when the repository is missing.
  absl::StatusOr<RepoConfig> LoadConfig() const;
  // Writes config.json atomically (temporary file + rename).
  absl::Status SaveConfig(const RepoConfig& config) const;
  // The token for `scope` when auth is on, "" when it is off.
  absl::StatusOr<std::string> Token(const RepoConfig& config, const std::string& scope) const;
  // Takes the repository's lock (flock on .lock; released at exit). FailedPrecondition if
  // another neon_local holds it for longer than a few seconds.
  absl::Status Lock() const;

 private:
  std::string dir_;
};

// File helpers (absolute paths).
absl::StatusOr<std::string> ReadFile(const std::string& path);
absl::Status WriteFile(const std::string& path, const std::string& contents, int mode = 0644);
// A random 128-bit id as 32 lower-case hex characters.
std::string NewId();
// UsageError unless `hex` is 32 hex characters; returns it in lower case.
absl::StatusOr<std::string> CheckId(const std::string& flag, const std::string& hex);

}  // namespace neon::neon_local

#endif  // NEON_SERVERS_NEON_LOCAL_REPO_H_
