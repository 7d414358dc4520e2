// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "safekeeper/http_api.h"

#include <ctime>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "safekeeper/api_json.h"

namespace neon::safekeeper {
namespace {

using nlohmann::json;

// Path parameters (validated by the handlers, so bad ids get a 400).
#define NEON_ID "([^/]+)"

absl::StatusOr<bool> OnlyLocal(const httplib::Request& req) {
  if (!req.has_param("only_local")) return false;
  const std::string v = req.get_param_value("only_local");
  if (v == "true") return true;
  if (v == "false") return false;
  return absl::InvalidArgumentError("only_local: expected true or false");
}

}  // namespace

absl::Status HttpApi::Authorize(const httplib::Request& req,
                                std::optional<std::string_view> tenant) const {
  if (verifier_ == nullptr) return absl::OkStatus();
  const std::string header = req.get_header_value("Authorization");
  NEON_ASSIGN_OR_RETURN(std::string_view token, server::BearerToken(header));
  NEON_ASSIGN_OR_RETURN(server::JwtClaims claims, verifier_->Verify(token, std::time(nullptr)));
  return server::Authorize(claims, {"safekeeperdata", "tenant"}, tenant);
}

server::HttpServer::Handler HttpApi::Wrap(bool tenant_route, Fn fn) const {
  return [this, tenant_route, fn = std::move(fn)](const httplib::Request& req,
                                                 httplib::Response& res) {
    std::optional<std::string> tenant;
    if (tenant_route && req.matches.size() > 1) tenant = req.matches[1].str();
    std::optional<std::string_view> tenant_view;
    if (tenant) tenant_view = *tenant;
    absl::Status auth = Authorize(req, tenant_view);
    absl::StatusOr<Reply> reply = auth.ok() ? fn(req) : absl::StatusOr<Reply>(auth);
    if (!reply.ok()) {
      server::SendError(res, server::HttpStatusFor(reply.status()), reply.status().message());
      return;
    }
    server::SendJson(res, reply->status, reply->body);
  };
}

void HttpApi::Register(server::HttpServer* http) {
  http->Get("/v1/status", [this](const httplib::Request&, httplib::Response& res) {
    server::SendJson(res, 200, {{"id", ctx_->config.node_id.value()}, {"status", "ok"}});
  });
  http->Get("/v1/utilization", Wrap(false, [this](const httplib::Request&) {
              return absl::StatusOr<Reply>(Reply{200, {{"timeline_count", registry_->size()}}});
            }));
  // Creation authorizes itself: the tenant is in the body.
  http->Post("/v1/tenant/timeline", [this](const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<Reply> reply = CreateTimeline(req);
    if (!reply.ok()) {
      server::SendError(res, server::HttpStatusFor(reply.status()), reply.status().message());
      return;
    }
    server::SendJson(res, reply->status, reply->body);
  });
  http->Get("/v1/tenant/timeline",
            Wrap(false, [this](const httplib::Request&) { return ListTimelines(); }));
  const std::string tenant = "/v1/tenant/" NEON_ID;
  const std::string timeline = tenant + "/timeline/" NEON_ID;
  http->Get(timeline, Wrap(true, [this](const httplib::Request& r) { return TimelineStatus(r); }));
  http->Delete(timeline,
               Wrap(true, [this](const httplib::Request& r) { return DeleteTimeline(r); }));
  http->Delete(tenant, Wrap(true, [this](const httplib::Request& r) { return DeleteTenant(r); }));
  http->Post(timeline + "/term_bump",
             Wrap(true, [this](const httplib::Request& r) { return TermBump(r); }));
  http->Post(timeline + "/checkpoint",
             Wrap(true, [this](const httplib::Request& r) { return Checkpoint(r); }));
}

absl::StatusOr<HttpApi::Reply> HttpApi::CreateTimeline(const httplib::Request& req) {
  if (verifier_ != nullptr) {  // 401 before anything else
    const std::string header = req.get_header_value("Authorization");
    NEON_ASSIGN_OR_RETURN(std::string_view token, server::BearerToken(header));
    NEON_RETURN_IF_ERROR(verifier_->Verify(token, std::time(nullptr)).status());
  }
  NEON_ASSIGN_OR_RETURN(json body, ParseBody(req.body, /*empty_ok=*/false));
  NEON_ASSIGN_OR_RETURN(consensus::PersistentState initial, ParseCreateRequest(body));
  NEON_RETURN_IF_ERROR(Authorize(req, initial.tenant_id.ToString()));
  if (!initial.mconf.generation.is_none() && !initial.mconf.Contains(ctx_->config.node_id)) {
    return absl::InvalidArgumentError(StrCat("mconf: does not include this safekeeper (id ",
                                             ctx_->config.node_id.value(), ")"));
  }
  bool created = false;
  NEON_ASSIGN_OR_RETURN(std::shared_ptr<Timeline> tl, registry_->Create(initial, &created));
  return Reply{200, nullptr};
}

absl::StatusOr<HttpApi::Reply> HttpApi::ListTimelines() {
  json list = json::array();
  for (const auto& tl : registry_->All()) {
    list.push_back(
        {{"tenant_id", tl->tenant_id().ToString()}, {"timeline_id", tl->timeline_id().ToString()}});
  }
  return Reply{200, list};
}

absl::StatusOr<std::shared_ptr<Timeline>> HttpApi::TimelineOf(const httplib::Request& req) const {
  NEON_ASSIGN_OR_RETURN(TenantId tenant, ParseTenantIdField(req.matches[1].str(), "tenant_id"));
  NEON_ASSIGN_OR_RETURN(TimelineId timeline,
                        ParseTimelineIdField(req.matches[2].str(), "timeline_id"));
  return registry_->Get(tenant, timeline);
}

absl::StatusOr<HttpApi::Reply> HttpApi::TimelineStatus(const httplib::Request& req) {
  NEON_ASSIGN_OR_RETURN(std::shared_ptr<Timeline> tl, TimelineOf(req));
  return Reply{200, TimelineStatusJson(tl->Status())};
}

absl::StatusOr<HttpApi::Reply> HttpApi::DeleteTimeline(const httplib::Request& req) {
  NEON_ASSIGN_OR_RETURN(TenantId tenant, ParseTenantIdField(req.matches[1].str(), "tenant_id"));
  NEON_ASSIGN_OR_RETURN(TimelineId timeline,
                        ParseTimelineIdField(req.matches[2].str(), "timeline_id"));
  NEON_ASSIGN_OR_RETURN(bool only_local, OnlyLocal(req));
  bool existed = false;
  NEON_RETURN_IF_ERROR(registry_->Delete(tenant, timeline, only_local, &existed));
  return Reply{200, {{"dir_existed", existed}}};
}

absl::StatusOr<HttpApi::Reply> HttpApi::DeleteTenant(const httplib::Request& req) {
  NEON_ASSIGN_OR_RETURN(TenantId tenant, ParseTenantIdField(req.matches[1].str(), "tenant_id"));
  NEON_ASSIGN_OR_RETURN(bool only_local, OnlyLocal(req));
  json out = json::object();
  for (const TimelineId& timeline : registry_->TimelinesOf(tenant)) {
    bool existed = false;
    NEON_RETURN_IF_ERROR(registry_->Delete(tenant, timeline, only_local, &existed));
    out[timeline.ToString()] = {{"dir_existed", existed}};
  }
  return Reply{200, out};
}

absl::StatusOr<HttpApi::Reply> HttpApi::TermBump(const httplib::Request& req) {
  NEON_ASSIGN_OR_RETURN(std::shared_ptr<Timeline> tl, TimelineOf(req));
  NEON_ASSIGN_OR_RETURN(json body, ParseBody(req.body, /*empty_ok=*/true));
  NEON_RETURN_IF_ERROR(CheckKnownFields(body, {"term"}));
  NEON_ASSIGN_OR_RETURN(std::optional<uint64_t> term, OptUint(body, "term", UINT64_MAX - 1));
  std::optional<consensus::Term> want;
  if (term) want = consensus::Term(*term);
  NEON_ASSIGN_OR_RETURN(auto terms, tl->BumpTerm(want));
  return Reply{200,
               {{"previous_term", terms.first.value()}, {"current_term", terms.second.value()}}};
}

absl::StatusOr<HttpApi::Reply> HttpApi::Checkpoint(const httplib::Request& req) {
  NEON_ASSIGN_OR_RETURN(std::shared_ptr<Timeline> tl, TimelineOf(req));
  NEON_RETURN_IF_ERROR(tl->WithNode([](consensus::AcceptorNode& n) { return n.Checkpoint(); }));
  return Reply{200, nullptr};
}

}  // namespace neon::safekeeper
