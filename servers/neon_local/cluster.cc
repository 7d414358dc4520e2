// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "neon_local/cluster.h"

#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon::neon_local {
namespace {

std::string Addr(int port) { return StrCat("127.0.0.1:", port); }

Component Make(const Repo& repo, const std::string& name, const std::string& binary,
               const std::string& subdir, const std::string& dir, int http_port) {
  Component c;
  c.name = name;
  c.binary = binary;
  c.subdir = subdir;
  c.dir = repo.Path(dir);
  c.log_file = StrCat(c.dir, "/", binary, ".log");
  c.pid_file = StrCat(c.dir, "/", binary, ".pid");
  c.http_port = http_port;
  return c;
}

}  // namespace

absl::StatusOr<Cluster> OpenCluster(const Invocation& inv) {
  Cluster cluster{Repo(inv.repo_dir()), RepoConfig()};
  NEON_ASSIGN_OR_RETURN(cluster.config, cluster.repo.LoadConfig());
  NEON_RETURN_IF_ERROR(cluster.repo.Lock());
  return cluster;
}

absl::StatusOr<std::vector<Component>> Components(const Cluster& cluster) {
  const Repo& repo = cluster.repo;
  const RepoConfig& cfg = cluster.config;
  std::vector<std::string> auth_args;
  if (cfg.auth) auth_args.push_back("--public-key=" + repo.PublicKeyPath());
  std::vector<Component> out;

  Component broker = Make(repo, "storage_broker", "storage_broker", "storage_broker",
                          "storage_broker", cfg.broker_http_port);
  broker.ports_text = StrCat("grpc ", Addr(cfg.broker_port), ", http ", Addr(cfg.broker_http_port));
  broker.args = {"--listen-addr=" + Addr(cfg.broker_port),
                 "--http-listen-addr=" + Addr(cfg.broker_http_port)};
  broker.args.insert(broker.args.end(), auth_args.begin(), auth_args.end());
  out.push_back(broker);

  Component ps = Make(repo, "pageserver", "pageserver", "pageserver",
                      StrCat("pageserver_", cfg.pageserver_id), cfg.pageserver_http_port);
  ps.ports_text =
      StrCat("http ", Addr(cfg.pageserver_http_port), ", grpc ", Addr(cfg.pageserver_grpc_port));
  ps.args = {StrCat("--id=", cfg.pageserver_id),
             "--workdir=" + ps.dir + "/data",
             "--listen-http-addr=" + Addr(cfg.pageserver_http_port),
             "--listen-grpc-addr=" + Addr(cfg.pageserver_grpc_port),
             "--broker-endpoint=" + Addr(cfg.broker_port),
             "--remote-storage-dir=" + repo.Path("local_fs_remote_storage/pageserver")};
  ps.args.insert(ps.args.end(), auth_args.begin(), auth_args.end());
  if (cfg.auth) {
    // Presented to the broker and the safekeepers.
    NEON_ASSIGN_OR_RETURN(ps.env["NEON_AUTH_TOKEN"], repo.Token(cfg, "safekeeperdata"));
  }
  out.push_back(ps);

  for (const SafekeeperConf& sk : cfg.safekeepers) {
    Component c = Make(repo, StrCat("safekeeper ", sk.id), "safekeeper", "safekeeper",
                       StrCat("safekeepers/sk", sk.id), sk.http_port);
    c.ports_text = StrCat("grpc ", Addr(sk.grpc_port), ", http ", Addr(sk.http_port));
    c.args = {StrCat("--id=", sk.id),
              "--workdir=" + c.dir + "/data",
              "--listen-pg=" + Addr(sk.grpc_port),
              "--listen-http=" + Addr(sk.http_port),
              "--broker-endpoint=" + Addr(cfg.broker_port),
              "--remote-storage-dir=" + repo.Path("local_fs_remote_storage/safekeeper"),
              StrCat("--availability-zone=sk-", sk.id)};
    c.args.insert(c.args.end(), auth_args.begin(), auth_args.end());
    if (cfg.auth) c.args.push_back("--auth-token-path=" + repo.TokenPath("safekeeperdata"));
    out.push_back(c);
  }
  return out;
}

ApiClient PageserverClient(const Cluster& cluster, const std::string& token) {
  return ApiClient("pageserver", cluster.config.pageserver_http_port, token);
}

absl::StatusOr<ApiClient> PageserverAdmin(const Cluster& cluster) {
  NEON_ASSIGN_OR_RETURN(std::string token, cluster.repo.Token(cluster.config, "pageserverapi"));
  return PageserverClient(cluster, token);
}

absl::StatusOr<std::string> ResolveTenant(const Invocation& inv, const RepoConfig& config) {
  if (std::optional<std::string> t = inv.Get("tenant-id")) return CheckId("tenant-id", *t);
  if (!config.default_tenant_id.empty()) return config.default_tenant_id;
  return absl::FailedPreconditionError(
      "no default tenant: pass --tenant-id, or create one with `neon_local tenant create "
      "--set-default`");
}

absl::StatusOr<bool> EnsureTenant(const ApiClient& pageserver, const std::string& tenant) {
  absl::StatusOr<nlohmann::json> info = pageserver.Get("/v1/tenant/" + tenant);
  if (info.ok()) return false;
  if (!absl::IsNotFound(info.status())) return info.status();
  absl::StatusOr<nlohmann::json> created =
      pageserver.Post("/v1/tenant", {{"new_tenant_id", tenant}});
  if (absl::IsAlreadyExists(created.status())) return false;
  NEON_RETURN_IF_ERROR(created.status());
  return true;
}

}  // namespace neon::neon_local
