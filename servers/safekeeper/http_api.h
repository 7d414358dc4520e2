// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The safekeeper's HTTP API (Neon's routes and JSON; servers/README.md lists them):
//
//   GET    /v1/status                                   {"id": node_id, "status": "ok"} (no auth)
//   GET    /v1/utilization                              {"timeline_count": n}
//   POST   /v1/tenant/timeline                          create (api_json.h) -> null (also if it exists)
//   GET    /v1/tenant/timeline                          [{"tenant_id", "timeline_id"}]
//   GET    /v1/tenant/:t/timeline/:tl                   TimelineStatus
//   DELETE /v1/tenant/:t/timeline/:tl?only_local=bool   {"dir_existed": bool}
//   DELETE /v1/tenant/:t?only_local=bool                {"<timeline>": {"dir_existed"}, ...}
//   POST   /v1/tenant/:t/timeline/:tl/term_bump         {"term"?} -> {"previous_term", "current_term"}
//   POST   /v1/tenant/:t/timeline/:tl/checkpoint        persist the control file -> null
//   GET    /metrics                                     Prometheus text (no auth)
//
// Errors: 400 {"msg"} for malformed JSON, unknown fields, bad ids and LSNs; 404 for an
// unknown timeline (deleting one is not an error: dir_existed false); 409 while a timeline is
// being created or deleted; 503 for a failed timeline. With a verifier every route but
// /v1/status and /metrics needs a JWT with scope safekeeperdata, or tenant for that tenant's
// routes (401 missing/bad token, 403 wrong scope or tenant).
//
// Thread safety: handlers run on the HTTP server's worker threads; they share the registry.

#ifndef NEON_SERVERS_SAFEKEEPER_HTTP_API_H_
#define NEON_SERVERS_SAFEKEEPER_HTTP_API_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/http_server.h"
#include "common/jwt.h"
#include "nlohmann/json.hpp"
#include "safekeeper/timeline_registry.h"

namespace neon::safekeeper {

class HttpApi {
 public:
  // `registry`, `verifier` (null = auth off) and `ctx` are not owned and outlive the API.
  HttpApi(TimelineRegistry* registry, const server::JwtVerifier* verifier,
          const SafekeeperContext* ctx)
      : registry_(registry), verifier_(verifier), ctx_(ctx) {}

  // Registers every route on `http` (before it starts).
  void Register(server::HttpServer* http);

 private:
  struct Reply {
    int status = 200;
    nlohmann::json body;
  };
  using Fn = std::function<absl::StatusOr<Reply>(const httplib::Request&)>;
  // Wraps `fn`: auth (tenant from the first path match when `tenant_route`), then the reply
  // or the error as {"msg"}.
  server::HttpServer::Handler Wrap(bool tenant_route, Fn fn) const;

  absl::StatusOr<Reply> CreateTimeline(const httplib::Request& req);
  absl::StatusOr<Reply> ListTimelines();
  absl::StatusOr<Reply> TimelineStatus(const httplib::Request& req);
  absl::StatusOr<Reply> DeleteTimeline(const httplib::Request& req);
  absl::StatusOr<Reply> DeleteTenant(const httplib::Request& req);
  absl::StatusOr<Reply> TermBump(const httplib::Request& req);
  absl::StatusOr<Reply> Checkpoint(const httplib::Request& req);

  absl::StatusOr<std::shared_ptr<Timeline>> TimelineOf(const httplib::Request& req) const;
  // Checks the token's signature and expiry (401) and, once the tenant is known, its scope
  // (403). OK when auth is off.
  absl::Status Authorize(const httplib::Request& req, std::optional<std::string_view> tenant) const;

  TimelineRegistry* const registry_;
  const server::JwtVerifier* const verifier_;
  const SafekeeperContext* const ctx_;
};

}  // namespace neon::safekeeper

#endif  // NEON_SERVERS_SAFEKEEPER_HTTP_API_H_
