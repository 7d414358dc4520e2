// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "pageserver/control_plane.h"

#include <map>
#include <memory>
#include <set>
#include <vector>

#include "base/str_cat.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace neon::pageserver {

using nlohmann::json;

namespace {

struct Endpoint {
  std::string host_port;  // http://host:port
  std::string path;       // ends with '/'
};

absl::StatusOr<Endpoint> ParseApi(const std::string& api) {
  const std::string scheme = "http://";
  if (api.compare(0, scheme.size(), scheme) != 0) {
    return absl::InvalidArgumentError(StrCat("control plane API '", api,
                                             "': expected http://host:port[/path]"));
  }
  const size_t slash = api.find('/', scheme.size());
  Endpoint e;
  e.host_port = api.substr(0, slash);
  e.path = slash == std::string::npos ? "/" : api.substr(slash);
  if (e.path.back() != '/') e.path += '/';
  if (e.host_port.size() <= scheme.size() || e.host_port.find(':', scheme.size()) == std::string::npos) {
    return absl::InvalidArgumentError(StrCat("control plane API '", api, "': missing host:port"));
  }
  return e;
}

}  // namespace

absl::StatusOr<std::vector<ReAttachTenant>> ControlPlaneReAttach(const std::string& api,
                                                                 const std::string& token,
                                                                 uint64_t node_id,
                                                                 bool empty_local_disk) {
  absl::StatusOr<Endpoint> e = ParseApi(api);
  if (!e.ok()) return e.status();
  const std::string path = e->path + "re-attach";
  httplib::Client client(e->host_port);
  client.set_connection_timeout(5);
  client.set_read_timeout(60);
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  const json req = {{"node_id", node_id}, {"empty_local_disk", empty_local_disk}};
  httplib::Result r = client.Post(path, headers, req.dump(), "application/json");
  const std::string where = StrCat("control plane ", e->host_port, path);
  if (!r) return absl::UnavailableError(StrCat(where, ": ", httplib::to_string(r.error())));
  if (r->status != 200) {
    return absl::UnavailableError(StrCat(where, ": HTTP ", r->status, " ", r->body.substr(0, 200)));
  }
  json body = json::parse(r->body, nullptr, false);
  if (!body.is_object() || !body.contains("tenants") || !body["tenants"].is_array()) {
    return absl::UnavailableError(StrCat(where, ": malformed answer (no \"tenants\" array)"));
  }
  std::vector<ReAttachTenant> out;
  for (const json& t : body["tenants"]) {
    ReAttachTenant rt;
    if (!t.is_object() || !t.contains("id") || !t["id"].is_string()) {
      return absl::UnavailableError(StrCat(where, ": malformed tenant entry ", t.dump()));
    }
    absl::StatusOr<TenantShardId> id = TenantShardId::Parse(t["id"].get<std::string>());
    if (!id.ok()) return absl::UnavailableError(StrCat(where, ": bad tenant id in ", t.dump()));
    rt.id = *id;
    rt.mode = t.contains("mode") && t["mode"].is_string() ? t["mode"].get<std::string>() : "AttachedSingle";
    if (t.contains("gen") && !t["gen"].is_null()) {
      if (!t["gen"].is_number_unsigned() || t["gen"].get<uint64_t>() > UINT32_MAX) {
        return absl::UnavailableError(StrCat(where, ": bad generation in ", t.dump()));
      }
      rt.generation = static_cast<uint32_t>(t["gen"].get<uint64_t>());
    }
    const bool attached = rt.mode.rfind("Attached", 0) == 0;
    if ((attached && !rt.generation) || (!attached && rt.mode != "Secondary")) {
      return absl::UnavailableError(StrCat(where, ": entry needs an Attached* mode with a generation "
                                           "or mode Secondary: ", t.dump()));
    }
    out.push_back(std::move(rt));
  }
  return out;
}

absl::Status ApplyReAttach(Engine& engine, const std::vector<ReAttachTenant>& tenants,
                           ReAttachSummary* summary) {
  std::map<TenantShardId, TenantConfig> configs;
  for (const TenantShardId& id : engine.ListTenants()) {
    absl::StatusOr<std::shared_ptr<Tenant>> t = engine.GetTenant(id);
    if (t.ok()) configs[id] = (*t)->config();
  }
  for (const SecondaryInfo& s : engine.ListSecondaries()) configs[s.id] = s.config;
  std::set<TenantShardId> listed;
  for (const ReAttachTenant& t : tenants) {
    listed.insert(t.id);
    const TenantConfig config = configs.count(t.id) ? configs[t.id] : TenantConfig();
    if (t.mode == "Secondary") {
      absl::Status s = engine.ConfigureSecondary(t.id, config, /*warm=*/true);
      if (!s.ok()) return absl::Status(s.code(), StrCat("re-attach ", t.id.ToString(), " as secondary: ", s.message()));
      ++summary->secondary;
      continue;
    }
    absl::StatusOr<std::shared_ptr<Tenant>> a = engine.AttachTenant(t.id, config, Generation::Of(*t.generation));
    if (!a.ok()) {
      return absl::Status(a.status().code(), StrCat("re-attach ", t.id.ToString(), " with generation ",
                                                    *t.generation, ": ", a.status().message()));
    }
    ++summary->attached;
  }
  for (const auto& [id, config] : configs) {
    if (listed.count(id)) continue;
    absl::Status s = engine.ForgetTenant(id);
    if (!s.ok() && !absl::IsNotFound(s)) return s;
    ++summary->dropped;
  }
  return absl::OkStatus();
}

absl::StatusOr<GenerationValidator> ControlPlaneValidator(const std::string& api,
                                                          const std::string& token) {
  absl::StatusOr<Endpoint> e = ParseApi(api);
  if (!e.ok()) return e.status();
  const std::string host_port = e->host_port;
  const std::string path = e->path + "validate";
  return GenerationValidator(
      [host_port, path, token](const std::vector<TenantGeneration>& req)
          -> absl::StatusOr<std::vector<bool>> {
        std::vector<bool> out;
        out.reserve(req.size());
        httplib::Client client(host_port);
        client.set_connection_timeout(5);
        client.set_read_timeout(30);
        httplib::Headers headers;
        if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
        for (size_t first = 0; first < req.size(); first += kValidateChunk) {
          const size_t last = std::min(req.size(), first + kValidateChunk);
          json tenants = json::array();
          for (size_t i = first; i < last; ++i) {
            tenants.push_back({{"id", req[i].tenant.ToString()},
                               {"gen", req[i].generation.is_none() ? 0 : req[i].generation.value()}});
          }
          httplib::Result r =
              client.Post(path, headers, json{{"tenants", tenants}}.dump(), "application/json");
          if (!r) {
            return absl::UnavailableError(StrCat("control plane ", host_port, path, ": ",
                                                 httplib::to_string(r.error())));
          }
          if (r->status != 200) {
            return absl::UnavailableError(StrCat("control plane ", host_port, path, ": HTTP ",
                                                 r->status, " ", r->body.substr(0, 200)));
          }
          json body = json::parse(r->body, nullptr, false);
          if (!body.is_object() || !body.contains("tenants") || !body["tenants"].is_array()) {
            return absl::UnavailableError(
                StrCat("control plane ", host_port, path, ": malformed answer"));
          }
          std::map<std::string, bool> valid;
          for (const json& t : body["tenants"]) {
            if (!t.is_object() || !t.contains("id") || !t["id"].is_string() ||
                !t.contains("valid") || !t["valid"].is_boolean()) {
              return absl::UnavailableError(
                  StrCat("control plane ", host_port, path, ": malformed tenant entry"));
            }
            valid[t["id"].get<std::string>()] = t["valid"].get<bool>();
          }
          for (size_t i = first; i < last; ++i) {
            auto it = valid.find(req[i].tenant.ToString());
            out.push_back(it != valid.end() && it->second);  // omitted = not valid
          }
        }
        return out;
      });
}

}  // namespace neon::pageserver
