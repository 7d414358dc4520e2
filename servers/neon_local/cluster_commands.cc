// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// neon_local init, start, stop, status.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "common/jwt_sign.h"
#include "neon_local/cluster.h"
#include "neon_local/daemon.h"

namespace neon::neon_local {
namespace {

namespace fs = std::filesystem;

constexpr int kDefaultStartTimeoutS = 60;
constexpr int kDefaultStopTimeoutS = 10;
const char* const kTokenScopes[] = {"pageserverapi", "safekeeperdata", "generations_api", "admin"};

absl::StatusOr<int> IntFlag(const Invocation& inv, const std::string& name, int fallback, int min,
                            int max) {
  std::optional<std::string> v = inv.Get(name);
  if (!v) return fallback;
  char* end = nullptr;
  const long n = std::strtol(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || n < min || n > max) {
    return UsageError(StrCat("--", name, " '", *v, "' must be a number from ", min, " to ", max));
  }
  return static_cast<int>(n);
}

absl::Status MakeDirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return absl::InternalError(StrCat("cannot create ", path, ": ", ec.message()));
  return absl::OkStatus();
}

absl::Status WriteKeysAndTokens(const Repo& repo) {
  NEON_ASSIGN_OR_RETURN(std::unique_ptr<server::Ed25519Signer> key,
                        server::Ed25519Signer::Generate());
  NEON_RETURN_IF_ERROR(WriteFile(repo.PrivateKeyPath(), key->PrivatePem(), 0600));
  NEON_RETURN_IF_ERROR(WriteFile(repo.PublicKeyPath(), key->PublicPem()));
  NEON_RETURN_IF_ERROR(MakeDirs(repo.Path("tokens")));
  for (const char* scope : kTokenScopes) {
    nlohmann::json claims = {{"scope", scope}};
    NEON_ASSIGN_OR_RETURN(std::string token, key->Sign(claims.dump()));
    NEON_RETURN_IF_ERROR(WriteFile(repo.TokenPath(scope), token, 0600));
  }
  return absl::OkStatus();
}

absl::Status Init(const Invocation& inv) {
  NEON_ASSIGN_OR_RETURN(const int base_port, IntFlag(inv, "base-port", 0, 1024, 65525));
  const Repo repo(inv.repo_dir());
  std::error_code ec;
  if (fs::exists(repo.dir(), ec) && !fs::is_empty(repo.dir(), ec)) {
    return absl::AlreadyExistsError(
        StrCat(repo.dir(), " exists and is not empty",
               fs::exists(repo.ConfigPath()) ? " (already initialized)" : "",
               ": use another --repo-dir, or stop the cluster and remove the directory"));
  }
  RepoConfig config = RepoConfig::WithPorts(base_port);
  config.auth = inv.Has("auth");
  NEON_RETURN_IF_ERROR(MakeDirs(repo.dir()));
  NEON_RETURN_IF_ERROR(WriteKeysAndTokens(repo));
  const Cluster cluster{repo, config};
  NEON_ASSIGN_OR_RETURN(std::vector<Component> components, Components(cluster));
  for (const Component& c : components) NEON_RETURN_IF_ERROR(MakeDirs(c.dir));
  NEON_RETURN_IF_ERROR(MakeDirs(repo.Path("local_fs_remote_storage/pageserver")));
  NEON_RETURN_IF_ERROR(MakeDirs(repo.Path("local_fs_remote_storage/safekeeper")));
  NEON_RETURN_IF_ERROR(repo.SaveConfig(config));
  std::printf("initialized a cluster repository in %s\n", repo.dir().c_str());
  std::printf("  config        %s\n", repo.ConfigPath().c_str());
  std::printf("  auth          %s\n",
              config.auth ? "on (servers get --public-key)" : "off (pass --auth to turn it on)");
  std::printf("  keys          %s, %s\n", repo.PrivateKeyPath().c_str(),
              repo.PublicKeyPath().c_str());
  std::printf("  tokens        %s/{pageserverapi,safekeeperdata,generations_api,admin}.jwt\n",
              repo.Path("tokens").c_str());
  for (const Component& c : components) {
    std::printf("  %-15s %s\n", c.name.c_str(), c.ports_text.c_str());
  }
  std::printf("next: neon_local start --repo-dir %s\n", repo.dir().c_str());
  return absl::OkStatus();
}

absl::Status Start(const Invocation& inv) {
  NEON_ASSIGN_OR_RETURN(Cluster cluster, OpenCluster(inv));
  NEON_ASSIGN_OR_RETURN(const int timeout_s,
                        IntFlag(inv, "start-timeout", kDefaultStartTimeoutS, 1, 3600));
  NEON_ASSIGN_OR_RETURN(std::vector<Component> components, Components(cluster));
  // Every binary first, so that a missing one changes nothing.
  std::vector<std::string> binaries;
  for (const Component& c : components) {
    NEON_ASSIGN_OR_RETURN(std::string path, FindBinary(c.binary, c.subdir, inv.Get("bin-dir")));
    binaries.push_back(path);
  }
  std::printf("starting the cluster in %s\n", cluster.repo.dir().c_str());
  std::vector<std::optional<pid_t>> started(components.size());
  // The broker first (the others connect to it), then the rest together.
  auto launch = [&](size_t i) -> absl::Status {
    const Component& c = components[i];
    if (std::optional<pid_t> pid = RunningPid(c.pid_file, c.binary)) {
      std::printf("  %-15s already running, pid %d (%s), left alone\n", c.name.c_str(), *pid,
                  c.ports_text.c_str());
      return absl::OkStatus();
    }
    NEON_RETURN_IF_ERROR(MakeDirs(c.dir));
    SpawnSpec spec{binaries[i], c.args, c.env, c.log_file, c.pid_file, c.dir};
    NEON_ASSIGN_OR_RETURN(started[i], Spawn(spec));
    return absl::OkStatus();
  };
  auto wait = [&](size_t i) -> absl::Status {
    const Component& c = components[i];
    if (!started[i]) return absl::OkStatus();
    absl::Status s =
        WaitHttpReady(*started[i], c.http_port, "/v1/status", timeout_s * 1000, c.log_file);
    if (!s.ok()) {
      return absl::Status(s.code(), StrCat(c.name, " did not start: ", s.message(),
                                           "(fix the cause, then run `neon_local start` again; "
                                           "`neon_local stop` stops what did start)"));
    }
    std::printf("  %-15s started, pid %d, %s\n                  log %s\n", c.name.c_str(),
                *started[i], c.ports_text.c_str(), c.log_file.c_str());
    return absl::OkStatus();
  };
  NEON_RETURN_IF_ERROR(launch(0));
  NEON_RETURN_IF_ERROR(wait(0));
  for (size_t i = 1; i < components.size(); ++i) NEON_RETURN_IF_ERROR(launch(i));
  for (size_t i = 1; i < components.size(); ++i) NEON_RETURN_IF_ERROR(wait(i));
  std::printf("cluster is running (neon_local status; neon_local stop)\n");
  return absl::OkStatus();
}

absl::Status Stop(const Invocation& inv) {
  NEON_ASSIGN_OR_RETURN(Cluster cluster, OpenCluster(inv));
  NEON_ASSIGN_OR_RETURN(const int timeout_s,
                        IntFlag(inv, "timeout", kDefaultStopTimeoutS, 1, 3600));
  const bool immediate = inv.Has("immediate");
  NEON_RETURN_IF_ERROR(StopWalpump(cluster, immediate, timeout_s * 1000));
  NEON_ASSIGN_OR_RETURN(std::vector<Component> components, Components(cluster));
  // The pageserver and the safekeepers before the broker they talk to.
  std::rotate(components.begin(), components.begin() + 1, components.end());
  absl::Status first_error;
  for (const Component& c : components) {
    std::optional<pid_t> pid = RunningPid(c.pid_file, c.binary);
    if (!pid) {
      std::printf("  %-15s not running\n", c.name.c_str());
      std::remove(c.pid_file.c_str());
      continue;
    }
    bool killed = false;
    absl::Status s = StopProcess(*pid, immediate, timeout_s * 1000, c.pid_file, &killed);
    if (!s.ok()) {
      std::printf("  %-15s pid %d: %s\n", c.name.c_str(), *pid, std::string(s.message()).c_str());
      if (first_error.ok()) first_error = s;
      continue;
    }
    std::printf("  %-15s stopped, pid %d%s\n", c.name.c_str(), *pid,
                killed ? (immediate ? " (SIGKILL)" : " (SIGKILL after the timeout)") : "");
  }
  return first_error;
}

void PrintPageserverCounts(const Cluster& cluster) {
  absl::StatusOr<ApiClient> ps = PageserverAdmin(cluster);
  if (!ps.ok()) return;
  absl::StatusOr<nlohmann::json> tenants = ps->Get("/v1/tenant");
  if (!tenants.ok()) {
    std::printf("                  %s\n", std::string(tenants.status().message()).c_str());
    return;
  }
  size_t timelines = 0;
  for (const auto& t : *tenants) {
    absl::StatusOr<nlohmann::json> tls =
        ps->Get(StrCat("/v1/tenant/", t.value("id", ""), "/timeline"));
    if (tls.ok()) timelines += tls->size();
  }
  std::printf("                  %zu tenant(s), %zu timeline(s)\n", tenants->size(), timelines);
}

absl::Status Status(const Invocation& inv) {
  NEON_ASSIGN_OR_RETURN(Cluster cluster, OpenCluster(inv));
  NEON_ASSIGN_OR_RETURN(std::vector<Component> components, Components(cluster));
  std::printf("cluster in %s (auth %s)\n", cluster.repo.dir().c_str(),
              cluster.config.auth ? "on" : "off");
  for (const Component& c : components) {
    std::optional<pid_t> pid = RunningPid(c.pid_file, c.binary);
    if (pid) {
      std::printf("  %-15s running, pid %d, %s\n", c.name.c_str(), *pid, c.ports_text.c_str());
    } else {
      std::printf("  %-15s not running%s, %s\n", c.name.c_str(),
                  fs::exists(c.pid_file) ? " (stale pid file)" : "", c.ports_text.c_str());
    }
    std::printf("                  log %s\n", c.log_file.c_str());
    if (pid && c.binary == "pageserver") PrintPageserverCounts(cluster);
  }
  const std::string walpump = WalpumpStatusLine(cluster);
  if (!walpump.empty()) std::printf("  %-15s %s\n", "walpump", walpump.c_str());
  if (!cluster.config.default_tenant_id.empty()) {
    std::printf("default tenant %s\n", cluster.config.default_tenant_id.c_str());
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<CommandSpec> ClusterCommands() {
  return {
      {"init",
       "create a cluster repository: config, Ed25519 key pair, JWTs, one folder per server",
       "Ports: the servers' defaults (broker 50051/50052, pageserver http 9898 grpc 51051,\n"
       "safekeepers grpc 5454.. http 7676..), or with --base-port N the block N..N+9: broker\n"
       "N (http N+1), pageserver http N+2 (grpc N+3), safekeeper i grpc N+2+2i (http N+3+2i).",
       {{"base-port", "N", "first port of a block of 10 (default: the servers' own defaults)"},
        {"auth", "", "servers verify JWTs (--public-key); clients send the repository's tokens"}},
       Init},
      {"start",
       "start the broker, the pageserver and the safekeepers in the background",
       "Each runs in its own session with its log and pid file in its folder of the\n"
       "repository; start waits until each answers GET /v1/status. Running ones are left alone.",
       {{"bin-dir", "DIR",
         "where the server binaries are (default: $NEON_BIN_DIR, else "
         "neon_local's build tree)"},
        {"start-timeout", "SECONDS", "how long to wait for each server (default 60)"}},
       Start},
      {"stop",
       "stop the walpump, the pageserver, the safekeepers and the broker",
       "",
       {{"immediate", "", "SIGKILL at once instead of SIGTERM"},
        {"timeout", "SECONDS", "SIGKILL whatever is still running after this (default 10)"}},
       Stop},
      {"status",
       "what runs: pids, ports, logs, the pageserver's tenants and timelines",
       "",
       {},
       Status},
  };
}

}  // namespace neon::neon_local
