// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// What the commands share: the opened repository (config loaded, lock held), the cluster's
// components and how each is started, tenant resolution, and the command tables.
//
// Thread safety: single-threaded use.

#ifndef NEON_SERVERS_NEON_LOCAL_CLUSTER_H_
#define NEON_SERVERS_NEON_LOCAL_CLUSTER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "neon_local/api_client.h"
#include "neon_local/cli.h"
#include "neon_local/repo.h"

namespace neon::neon_local {

// One server process of the cluster.
struct Component {
  std::string name;    // "storage_broker", "pageserver", "safekeeper 1"
  std::string binary;  // executable name
  std::string subdir;  // its folder under <build>/servers
  std::string dir;     // neon_local's folder for it: log, pid file, data/
  std::string log_file;
  std::string pid_file;
  int http_port = 0;       // GET /v1/status answers when ready
  std::string ports_text;  // "grpc 127.0.0.1:5454, http 127.0.0.1:7676"
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
};

struct Cluster {
  Repo repo;
  RepoConfig config;
};

// Loads the repository named by the invocation and takes its lock.
absl::StatusOr<Cluster> OpenCluster(const Invocation& inv);
// Broker first; then the pageserver and the safekeepers by id.
absl::StatusOr<std::vector<Component>> Components(const Cluster& cluster);

ApiClient PageserverClient(const Cluster& cluster, const std::string& token);
// The pageserver API client with the pageserverapi token.
absl::StatusOr<ApiClient> PageserverAdmin(const Cluster& cluster);

// --tenant-id, else the default tenant; FailedPrecondition saying what to do without either.
absl::StatusOr<std::string> ResolveTenant(const Invocation& inv, const RepoConfig& config);
// Creates the tenant on the pageserver unless it exists; true when it was created.
absl::StatusOr<bool> EnsureTenant(const ApiClient& pageserver, const std::string& tenant);

// Command tables.
std::vector<CommandSpec> ClusterCommands();  // init, start, stop, status
std::vector<CommandSpec> TenantCommands();   // tenant ..., timeline create/branch/list
std::vector<CommandSpec> ExportCommands();   // timeline export
std::vector<CommandSpec> WalpumpCommands();  // walpump start/stop

// Stops a running walpump (nothing if none); used by `stop`.
absl::Status StopWalpump(const Cluster& cluster, bool immediate, int timeout_ms);
// One status line for the walpump, or "" if it never ran here.
std::string WalpumpStatusLine(const Cluster& cluster);

}  // namespace neon::neon_local

#endif  // NEON_SERVERS_NEON_LOCAL_CLUSTER_H_
