// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "pageserver/control_plane.h"

#include <map>
#include <memory>
#include <vector>

#include "base/str_cat.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace neon::pageserver {

using nlohmann::json;

absl::StatusOr<GenerationValidator> ControlPlaneValidator(const std::string& api,
                                                          const std::string& token) {
  const std::string scheme = "http://";
  if (api.compare(0, scheme.size(), scheme) != 0) {
    return absl::InvalidArgumentError(StrCat("control plane API '", api,
                                             "': expected http://host:port[/path]"));
  }
  const size_t slash = api.find('/', scheme.size());
  const std::string host_port = api.substr(0, slash);
  std::string path = slash == std::string::npos ? "/" : api.substr(slash);
  if (path.back() != '/') path += '/';
  path += "validate";
  if (host_port.size() <= scheme.size() || host_port.find(':', scheme.size()) == std::string::npos) {
    return absl::InvalidArgumentError(StrCat("control plane API '", api, "': missing host:port"));
  }
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
