// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "neon_local/repo.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "neon/types.h"
#include "neon_local/cli.h"
#include "nlohmann/json.hpp"

namespace neon::neon_local {
namespace {

constexpr int kConfigVersion = 1;
constexpr int kNumSafekeepers = 3;
constexpr int kLockWaitMs = 10000;

}  // namespace

RepoConfig RepoConfig::WithPorts(int base_port) {
  RepoConfig c;
  for (int i = 1; i <= kNumSafekeepers; ++i) {
    c.safekeepers.push_back({i, 5454 + i - 1, 7676 + i - 1});
  }
  if (base_port <= 0) return c;
  c.broker_port = base_port;
  c.broker_http_port = base_port + 1;
  c.pageserver_http_port = base_port + 2;
  c.pageserver_grpc_port = base_port + 3;
  for (SafekeeperConf& sk : c.safekeepers) {
    sk.grpc_port = base_port + 2 + 2 * sk.id;
    sk.http_port = base_port + 3 + 2 * sk.id;
  }
  return c;
}

std::optional<std::string> RepoConfig::FindBranch(const std::string& branch,
                                                  const std::string& tenant) const {
  auto it = branches.find(branch);
  if (it == branches.end()) return std::nullopt;
  for (const auto& [t, tl] : it->second) {
    if (t == tenant) return tl;
  }
  return std::nullopt;
}

std::optional<std::string> RepoConfig::BranchName(const std::string& tenant,
                                                  const std::string& timeline) const {
  for (const auto& [name, pairs] : branches) {
    for (const auto& [t, tl] : pairs) {
      if (t == tenant && tl == timeline) return name;
    }
  }
  return std::nullopt;
}

void RepoConfig::AddBranch(const std::string& branch, const std::string& tenant,
                           const std::string& timeline) {
  branches[branch].emplace_back(tenant, timeline);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat("cannot read ", path, ": ", std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status WriteFile(const std::string& path, const std::string& contents, int mode) {
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return absl::InternalError(StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return absl::InternalError(StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    return absl::InternalError(StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(StrCat("cannot rename ", tmp, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::string NewId() { return TenantId::Generate().ToString(); }

absl::StatusOr<std::string> CheckId(const std::string& flag, const std::string& hex) {
  absl::StatusOr<TenantId> id = TenantId::Parse(hex);
  if (!id.ok() || hex.size() != 32) {
    return UsageError(StrCat("--", flag, " '", hex, "' is not an id (32 hex characters)"));
  }
  return id->ToString();
}

absl::StatusOr<RepoConfig> Repo::LoadConfig() const {
  absl::StatusOr<std::string> text = ReadFile(ConfigPath());
  if (!text.ok()) {
    return absl::FailedPreconditionError(
        StrCat("no cluster repository at ", dir_, " (", ConfigPath(),
               " is missing): run `neon_local init` first, or pass --repo-dir / set "
               "NEON_REPO_DIR"));
  }
  try {
    const nlohmann::json j = nlohmann::json::parse(*text);
    if (j.value("version", 0) != kConfigVersion) {
      return absl::FailedPreconditionError(
          StrCat(ConfigPath(), ": unsupported version (expected ", kConfigVersion, ")"));
    }
    RepoConfig c;
    c.auth = j.at("auth").get<bool>();
    c.broker_port = j.at("broker").at("port").get<int>();
    c.broker_http_port = j.at("broker").at("http_port").get<int>();
    c.pageserver_id = j.at("pageserver").at("id").get<int>();
    c.pageserver_http_port = j.at("pageserver").at("http_port").get<int>();
    c.pageserver_grpc_port = j.at("pageserver").at("grpc_port").get<int>();
    for (const auto& sk : j.at("safekeepers")) {
      c.safekeepers.push_back(
          {sk.at("id").get<int>(), sk.at("grpc_port").get<int>(), sk.at("http_port").get<int>()});
    }
    c.default_tenant_id = j.value("default_tenant_id", "");
    if (j.contains("branch_name_mappings")) {
      const nlohmann::json& mappings = j.at("branch_name_mappings");
      for (auto it = mappings.begin(); it != mappings.end(); ++it) {
        for (const auto& p : it.value()) {
          c.AddBranch(it.key(), p.at(0).get<std::string>(), p.at(1).get<std::string>());
        }
      }
    }
    return c;
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(StrCat(ConfigPath(), " is damaged: ", e.what()));
  }
}

absl::Status Repo::SaveConfig(const RepoConfig& c) const {
  nlohmann::json j;
  j["version"] = kConfigVersion;
  j["auth"] = c.auth;
  j["broker"] = {{"port", c.broker_port}, {"http_port", c.broker_http_port}};
  j["pageserver"] = {{"id", c.pageserver_id},
                     {"http_port", c.pageserver_http_port},
                     {"grpc_port", c.pageserver_grpc_port}};
  j["safekeepers"] = nlohmann::json::array();
  for (const SafekeeperConf& sk : c.safekeepers) {
    j["safekeepers"].push_back(
        {{"id", sk.id}, {"grpc_port", sk.grpc_port}, {"http_port", sk.http_port}});
  }
  j["default_tenant_id"] = c.default_tenant_id;
  j["branch_name_mappings"] = nlohmann::json::object();
  for (const auto& [name, pairs] : c.branches) {
    for (const auto& [t, tl] : pairs) j["branch_name_mappings"][name].push_back({t, tl});
  }
  return WriteFile(ConfigPath(), j.dump(2) + "\n");
}

absl::StatusOr<std::string> Repo::Token(const RepoConfig& config, const std::string& scope) const {
  if (!config.auth) return std::string();
  NEON_ASSIGN_OR_RETURN(std::string token, ReadFile(TokenPath(scope)));
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  return token;
}

absl::Status Repo::Lock() const {
  const std::string path = Path(".lock");
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);  // kept open until exit
  if (fd < 0) return absl::InternalError(StrCat("cannot open ", path, ": ", std::strerror(errno)));
  for (int waited_ms = 0;; waited_ms += 100) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return absl::OkStatus();
    if (waited_ms >= kLockWaitMs) {
      close(fd);
      return absl::FailedPreconditionError(
          StrCat("another neon_local holds ", path, "; wait for it to finish"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace neon::neon_local
