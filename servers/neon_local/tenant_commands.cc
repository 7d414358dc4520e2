// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// neon_local tenant create/list, timeline create/branch/list.

#include <algorithm>
#include <cstdio>
#include <map>
#include <tuple>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "neon/types.h"
#include "neon_local/cluster.h"

namespace neon::neon_local {
namespace {

constexpr int kPgVersion = 15;

std::string JsonText(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_string()) return "";
  return j[key].get<std::string>();
}

absl::StatusOr<std::string> TimelineIdFlag(const Invocation& inv) {
  if (std::optional<std::string> t = inv.Get("timeline-id")) return CheckId("timeline-id", *t);
  return NewId();
}

absl::Status TenantCreate(const Invocation& inv) {
  std::string tenant;
  if (std::optional<std::string> t = inv.Get("tenant-id")) {
    NEON_ASSIGN_OR_RETURN(tenant, CheckId("tenant-id", *t));
  } else {
    tenant = NewId();
  }
  NEON_ASSIGN_OR_RETURN(Cluster cluster, OpenCluster(inv));
  NEON_ASSIGN_OR_RETURN(ApiClient ps, PageserverAdmin(cluster));
  NEON_RETURN_IF_ERROR(ps.Post("/v1/tenant", {{"new_tenant_id", tenant}}).status());
  std::printf("tenant %s created on the pageserver (http 127.0.0.1:%d)\n", tenant.c_str(),
              cluster.config.pageserver_http_port);
  if (inv.Has("set-default") || cluster.config.default_tenant_id.empty()) {
    cluster.config.default_tenant_id = tenant;
    NEON_RETURN_IF_ERROR(cluster.repo.SaveConfig(cluster.config));
    std::printf("it is now the default tenant\n");
  }
  std::printf("next: neon_local timeline create --branch-name main%s\n",
              cluster.config.default_tenant_id == tenant ? "" : (" --tenant-id " + tenant).c_str());
  return absl::OkStatus();
}

absl::Status TenantList(const Invocation& inv) {
  NEON_ASSIGN_OR_RETURN(Cluster cluster, OpenCluster(inv));
  NEON_ASSIGN_OR_RETURN(ApiClient ps, PageserverAdmin(cluster));
  NEON_ASSIGN_OR_RETURN(nlohmann::json tenants, ps.Get("/v1/tenant"));
  if (tenants.empty()) std::printf("no tenants (neon_local tenant create)\n");
  for (const auto& t : tenants) {
    const std::string id = JsonText(t, "id");
    std::string state;
    if (t.contains("state") && t["state"].is_object()) state = JsonText(t["state"], "slug");
    absl::StatusOr<nlohmann::json> tls = ps.Get(StrCat("/v1/tenant/", id, "/timeline"));
    std::printf("%s %s, %zu timeline(s)%s\n", id.c_str(), state.c_str(),
                tls.ok() ? tls->size() : size_t{0},
                id == cluster.config.default_tenant_id ? " (default)" : "");
  }
  return absl::OkStatus();
}

// Prints the timeline's created line and records the branch name.
absl::Status RecordBranch(Cluster* cluster, const std::string& branch, const std::string& tenant,
                          const nlohmann::json& info) {
  const std::string timeline = JsonText(info, "timeline_id");
  cluster->config.AddBranch(branch, tenant, timeline);
  NEON_RETURN_IF_ERROR(cluster->repo.SaveConfig(cluster->config));
  std::printf("timeline %s created as branch '%s' of tenant %s\n", timeline.c_str(), branch.c_str(),
              tenant.c_str());
  if (!JsonText(info, "ancestor_timeline_id").empty()) {
    std::printf("  ancestor %s at %s\n", JsonText(info, "ancestor_timeline_id").c_str(),
                JsonText(info, "ancestor_lsn").c_str());
  }
  std::printf("  last_record_lsn %s\n", JsonText(info, "last_record_lsn").c_str());
  return absl::OkStatus();
}

absl::StatusOr<std::string> BranchFlag(const Invocation& inv, const std::string& flag) {
  std::optional<std::string> name = inv.Get(flag);
  if (!name || name->empty()) return UsageError(StrCat("--", flag, " is required"));
  return *name;
}

absl::Status TimelineCreate(const Invocation& inv) {
  NEON_ASSIGN_OR_RETURN(const std::string branch, BranchFlag(inv, "branch-name"));
  NEON_ASSIGN_OR_RETURN(const std::string timeline, TimelineIdFlag(inv));
  NEON_ASSIGN_OR_RETURN(Cluster cluster, OpenCluster(inv));
  NEON_ASSIGN_OR_RETURN(const std::string tenant, ResolveTenant(inv, cluster.config));
  if (cluster.config.FindBranch(branch, tenant)) {
    return absl::AlreadyExistsError(StrCat("tenant ", tenant, " already has a branch '", branch,
                                           "' (neon_local timeline list)"));
  }
  NEON_ASSIGN_OR_RETURN(ApiClient ps, PageserverAdmin(cluster));
  std::printf("creating timeline %s (initdb bootstrap on the pageserver)...\n", timeline.c_str());
  std::fflush(stdout);
  NEON_ASSIGN_OR_RETURN(nlohmann::json info,
                        ps.Post(StrCat("/v1/tenant/", tenant, "/timeline"),
                                {{"new_timeline_id", timeline}, {"pg_version", kPgVersion}}));
  return RecordBranch(&cluster, branch, tenant, info);
}

absl::Status TimelineBranch(const Invocation& inv) {
  NEON_ASSIGN_OR_RETURN(const std::string branch, BranchFlag(inv, "branch-name"));
  const std::string ancestor_branch = inv.GetOr("ancestor-branch-name", "main");
  NEON_ASSIGN_OR_RETURN(const std::string timeline, TimelineIdFlag(inv));
  std::optional<std::string> lsn = inv.Get("ancestor-start-lsn");
  if (lsn && !Lsn::Parse(*lsn).ok()) {
    return UsageError(StrCat("--ancestor-start-lsn '", *lsn, "' is not an LSN like 0/16960E8"));
  }
  NEON_ASSIGN_OR_RETURN(Cluster cluster, OpenCluster(inv));
  NEON_ASSIGN_OR_RETURN(const std::string tenant, ResolveTenant(inv, cluster.config));
  if (cluster.config.FindBranch(branch, tenant)) {
    return absl::AlreadyExistsError(StrCat("tenant ", tenant, " already has a branch '", branch,
                                           "' (neon_local timeline list)"));
  }
  std::optional<std::string> ancestor = cluster.config.FindBranch(ancestor_branch, tenant);
  if (!ancestor) {
    return absl::NotFoundError(StrCat("tenant ", tenant, " has no branch '", ancestor_branch,
                                      "' (neon_local timeline list)"));
  }
  NEON_ASSIGN_OR_RETURN(ApiClient ps, PageserverAdmin(cluster));
  nlohmann::json body = {{"new_timeline_id", timeline},
                         {"ancestor_timeline_id", *ancestor},
                         {"pg_version", kPgVersion}};
  if (lsn) body["ancestor_start_lsn"] = Lsn::Parse(*lsn)->ToString();
  NEON_ASSIGN_OR_RETURN(nlohmann::json info,
                        ps.Post(StrCat("/v1/tenant/", tenant, "/timeline"), body));
  return RecordBranch(&cluster, branch, tenant, info);
}

using Children = std::map<std::string, std::vector<const nlohmann::json*>>;

void PrintTree(const RepoConfig& config, const std::string& tenant, const nlohmann::json& tl,
               const Children& children, std::vector<bool>* is_last) {
  std::string line;
  if (!is_last->empty()) {
    for (size_t i = 0; i + 1 < is_last->size(); ++i) line += (*is_last)[i] ? "   " : "┃  ";
    line += StrCat(is_last->back() ? "┗━" : "┣━", " @", JsonText(tl, "ancestor_lsn"), ": ");
  }
  const std::string id = JsonText(tl, "timeline_id");
  const std::string name = config.BranchName(tenant, id).value_or("<no name>");
  std::printf("%s%s [%s] last_record_lsn %s\n", line.c_str(), name.c_str(), id.c_str(),
              JsonText(tl, "last_record_lsn").c_str());
  auto it = children.find(id);
  if (it == children.end()) return;
  for (size_t i = 0; i < it->second.size(); ++i) {
    is_last->push_back(i + 1 == it->second.size());
    PrintTree(config, tenant, *it->second[i], children, is_last);
    is_last->pop_back();
  }
}

absl::Status TimelineList(const Invocation& inv) {
  NEON_ASSIGN_OR_RETURN(Cluster cluster, OpenCluster(inv));
  NEON_ASSIGN_OR_RETURN(const std::string tenant, ResolveTenant(inv, cluster.config));
  NEON_ASSIGN_OR_RETURN(ApiClient ps, PageserverAdmin(cluster));
  NEON_ASSIGN_OR_RETURN(nlohmann::json timelines,
                        ps.Get(StrCat("/v1/tenant/", tenant, "/timeline")));
  std::map<std::string, const nlohmann::json*> by_id;
  for (const auto& tl : timelines) by_id[JsonText(tl, "timeline_id")] = &tl;
  Children children;
  std::vector<const nlohmann::json*> roots;
  for (const auto& tl : timelines) {
    const std::string parent = JsonText(tl, "ancestor_timeline_id");
    if (parent.empty() || by_id.count(parent) == 0) {
      roots.push_back(&tl);
    } else {
      children[parent].push_back(&tl);
    }
  }
  // Siblings by branch point, then by name.
  auto sort_key = [&](const nlohmann::json* tl) {
    const std::string id = JsonText(*tl, "timeline_id");
    return std::make_tuple(Lsn::Parse(JsonText(*tl, "ancestor_lsn")).value_or(Lsn()).value(),
                           cluster.config.BranchName(tenant, id).value_or(""), id);
  };
  auto by_lsn = [&](const nlohmann::json* a, const nlohmann::json* b) {
    return sort_key(a) < sort_key(b);
  };
  for (auto& [_, list] : children) std::sort(list.begin(), list.end(), by_lsn);
  std::sort(roots.begin(), roots.end(), by_lsn);
  std::printf("tenant %s\n", tenant.c_str());
  if (roots.empty()) std::printf("no timelines (neon_local timeline create --branch-name main)\n");
  for (const nlohmann::json* root : roots) {
    std::vector<bool> is_last;
    PrintTree(cluster.config, tenant, *root, children, &is_last);
  }
  return absl::OkStatus();
}

const FlagSpec kTenantFlag = {"tenant-id", "HEX", "the tenant (default: the default tenant)"};

}  // namespace

std::vector<CommandSpec> TenantCommands() {
  return {
      {"tenant create",
       "create a tenant on the pageserver (no timelines yet)",
       "",
       {{"tenant-id", "HEX", "its id (default: a new random id)"},
        {"set-default", "", "make it the default tenant (the first tenant always is)"}},
       TenantCreate},
      {"tenant list", "the pageserver's tenants", "", {}, TenantList},
      {"timeline create",
       "create a root timeline (initdb bootstrap) and name it",
       "",
       {{"branch-name", "NAME", "its branch name (required, unique within the tenant)"},
        kTenantFlag,
        {"timeline-id", "HEX", "its id (default: a new random id)"}},
       TimelineCreate},
      {"timeline branch",
       "branch a named timeline at an LSN (default: its last record)",
       "",
       {{"branch-name", "NAME", "the new branch's name (required)"},
        {"ancestor-branch-name", "NAME", "the branch to branch from (default: main)"},
        {"ancestor-start-lsn", "X/Y", "where to branch (default: the ancestor's last record)"},
        kTenantFlag,
        {"timeline-id", "HEX", "the new timeline's id (default: a new random id)"}},
       TimelineBranch},
      {"timeline list",
       "the tenant's timelines as a tree of branches with their LSNs",
       "",
       {kTenantFlag},
       TimelineList},
  };
}

}  // namespace neon::neon_local
