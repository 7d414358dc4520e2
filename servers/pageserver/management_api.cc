// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "pageserver/management_api.h"

#include <stdlib.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>

#include "absl/time/time.h"

#include "base/str_cat.h"
#include "common/log.h"
#include "pageserver/api_json.h"
#include "pageserver/db_size.h"
#include "common/tar_extract.h"
#include "neon/file_system.h"
#include "neon/wal_ingest.h"

namespace neon::pageserver {
namespace {

using nlohmann::json;

constexpr uint32_t kSupportedPgVersion = 15;
constexpr auto kUploadPollInterval = std::chrono::milliseconds(20);
constexpr int64_t kSecondaryDownloadDefaultWaitMs = 60'000;

// Regex pieces for path parameters (validated by the handlers, so bad ids get a 400).
#define NEON_ID "([^/]+)"

// The tenant part of a tenant shard id text (the token's tenant_id has no shard suffix).
std::string TenantPart(const std::string& text) { return text.substr(0, text.find('-')); }

// Errors of the engine that the client caused.
absl::Status Classify(absl::Status s) {
  if (s.code() == absl::StatusCode::kOutOfRange) return absl::InvalidArgumentError(s.message());
  return s;
}

}  // namespace

ManagementApi::ManagementApi(Engine* engine, const server::JwtVerifier* verifier,
                             ManagementOptions options)
    : engine_(engine), verifier_(verifier), options_(std::move(options)) {}

server::HttpServer::Handler ManagementApi::Wrap(bool tenant_route, Fn fn) const {
  return [this, tenant_route, fn = std::move(fn)](const httplib::Request& req,
                                                 httplib::Response& res) {
    std::optional<std::string> tenant;
    if (tenant_route && req.matches.size() > 1) tenant = TenantPart(req.matches[1].str());
    std::optional<std::string_view> tenant_view;
    if (tenant) tenant_view = *tenant;
    if (!server::CheckHttpAuth(verifier_, req, res, {"pageserverapi", "tenant"}, tenant_view)) {
      return;
    }
    absl::StatusOr<Reply> reply = fn(req);
    if (!reply.ok()) {
      const absl::Status s = Classify(reply.status());
      server::SendError(res, server::HttpStatusFor(s), s.message());
      return;
    }
    server::SendJson(res, reply->status, reply->body);
  };
}

void ManagementApi::Register(server::HttpServer* http) {
  auto status = [this](const httplib::Request&, httplib::Response& res) {
    server::SendJson(res, 200, {{"id", options_.node_id}, {"status", "ok"}});
  };
  http->Get("/v1/status", status);
  const std::string tenant = "/v1/tenant/" NEON_ID;
  const std::string timeline = tenant + "/timeline/" NEON_ID;
  http->Get("/v1/tenant", Wrap(false, [this](const httplib::Request&) { return ListTenants(); }));
  http->Post("/v1/tenant",
             Wrap(false, [this](const httplib::Request& r) { return CreateTenant(r); }));
  http->Get(tenant, Wrap(true, [this](const httplib::Request& r) { return GetTenant(r); }));
  http->Delete(tenant, Wrap(true, [this](const httplib::Request& r) { return DeleteTenant(r); }));
  auto location = Wrap(true, [this](const httplib::Request& r) { return LocationConfig(r); });
  http->Put(tenant + "/location_config", location);
  http->Put("/v1/location_config/" NEON_ID, location);
  http->Get("/v1/location_config",
            Wrap(false, [this](const httplib::Request&) { return ListLocationConfigs(); }));
  http->Get("/v1/location_config/" NEON_ID,
            Wrap(true, [this](const httplib::Request& r) { return GetLocationConfig(r); }));
  http->Post(tenant + "/heatmap_upload",
             Wrap(true, [this](const httplib::Request& r) { return HeatmapUpload(r); }));
  http->Post(tenant + "/secondary/download",
             Wrap(true, [this](const httplib::Request& r) { return SecondaryDownload(r); }));
  http->Get(tenant + "/secondary/status",
            Wrap(true, [this](const httplib::Request& r) { return SecondaryStatus(r); }));
  http->Get(tenant + "/timeline",
            Wrap(true, [this](const httplib::Request& r) { return ListTimelines(r); }));
  http->Post(tenant + "/timeline",
             Wrap(true, [this](const httplib::Request& r) { return CreateTimeline(r); }));
  http->Get(timeline, Wrap(true, [this](const httplib::Request& r) { return GetTimeline(r); }));
  http->Delete(timeline,
               Wrap(true, [this](const httplib::Request& r) { return DeleteTimeline(r); }));
  http->Put(timeline + "/(compact|checkpoint|do_gc)",
            Wrap(true, [this](const httplib::Request& r) { return Maintenance(r); }));
  http->Post(timeline + "/lsn_lease",
             Wrap(true, [this](const httplib::Request& r) { return LeaseLsn(r); }));
  http->Put(timeline + "/import_basebackup",
            Wrap(true, [this](const httplib::Request& r) { return ImportBasebackup(r); }));
}

absl::StatusOr<std::shared_ptr<Tenant>> ManagementApi::TenantOf(const httplib::Request& req) {
  absl::StatusOr<TenantShardId> id = ParseTenantShardIdField(req.matches[1].str(), "tenant_id");
  if (!id.ok()) return id.status();
  absl::StatusOr<std::shared_ptr<Tenant>> t = engine_->GetTenant(*id);
  if (absl::IsNotFound(t.status())) {
    return absl::NotFoundError(StrCat("tenant ", id->ToString(), " not found"));
  }
  return t;
}

absl::StatusOr<std::shared_ptr<Timeline>> ManagementApi::TimelineOf(const httplib::Request& req) {
  absl::StatusOr<TimelineId> tl_id = ParseTimelineIdField(req.matches[2].str(), "timeline_id");
  if (!tl_id.ok()) return tl_id.status();
  absl::StatusOr<std::shared_ptr<Tenant>> t = TenantOf(req);
  if (!t.ok()) return t.status();
  absl::StatusOr<std::shared_ptr<Timeline>> tl = (*t)->GetTimeline(*tl_id);
  if (absl::IsNotFound(tl.status())) {
    return absl::NotFoundError(StrCat("timeline ", tl_id->ToString(), " not found"));
  }
  return tl;
}

json ManagementApi::TimelineJson(Timeline* tl) {
  const TimelineInfo info = tl->Info();
  absl::StatusOr<uint64_t> size = LogicalSizeBytes(tl, info.last_record_lsn);
  json j = TimelineInfoJson(info, size.ok() ? std::optional<uint64_t>(*size) : std::nullopt);
  if (options_.wal_receiver != nullptr) {
    absl::StatusOr<WalReceiverStatus> w = options_.wal_receiver->Status(info.tenant_id, info.timeline_id);
    if (w.ok()) {
      j["walreceiver_status"] = w->connected ? "connected" : "disconnected";
      j["wal_source_connstr"] = w->connected ? json(w->safekeeper_connstr) : json(nullptr);
      j["walreceiver"] = {{"connected", w->connected},
                          {"safekeeper_id", w->safekeeper_id},
                          {"safekeeper_connstr", w->safekeeper_connstr},
                          {"last_received_lsn", w->last_received_lsn.ToString()},
                          {"safekeeper_commit_lsn", w->safekeeper_commit_lsn.ToString()},
                          {"candidates", w->candidates},
                          {"connections", w->connections},
                          {"last_error", w->last_error}};
      if (w->connected) j["last_received_msg_lsn"] = w->last_received_lsn.ToString();
    }
  }
  return j;
}

absl::StatusOr<ManagementApi::Reply> ManagementApi::ListTenants() {
  json list = json::array();
  for (const TenantShardId& id : engine_->ListTenants()) {
    absl::StatusOr<std::shared_ptr<Tenant>> t = engine_->GetTenant(id);
    if (!t.ok()) continue;  // deleted meanwhile
    uint64_t physical = 0;
    for (const TimelineInfo& info : (*t)->ListTimelines()) physical += info.historic_layer_bytes;
    const Generation gen = (*t)->generation();
    list.push_back({{"id", id.ToString()},
                    {"state", {{"slug", "Active"}}},
                    {"current_physical_size", physical},
                    {"attachment_status", {{"slug", "attached"}}},
                    {"generation", gen.is_none() ? json(nullptr) : json(gen.value())}});
  }
  return Reply{200, list};
}

absl::StatusOr<ManagementApi::Reply> ManagementApi::CreateTenant(const httplib::Request& req) {
  absl::StatusOr<json> body = ParseBody(req.body, /*empty_ok=*/false);
  if (!body.ok()) return body.status();
  absl::StatusOr<std::optional<std::string>> id_text = OptString(*body, "new_tenant_id");
  if (!id_text.ok()) return id_text.status();
  if (!id_text->has_value()) return absl::InvalidArgumentError("new_tenant_id: missing");
  absl::StatusOr<TenantShardId> id = ParseTenantShardIdField(**id_text, "new_tenant_id");
  if (!id.ok()) return id.status();
  absl::StatusOr<std::optional<uint64_t>> gen = OptUint(*body, "generation", UINT32_MAX);
  if (!gen.ok()) return gen.status();
  if (auto sp = body->find("shard_parameters"); sp != body->end() && !sp->is_null()) {
    absl::StatusOr<std::optional<uint64_t>> count = OptUint(*sp, "count", 255);
    if (!sp->is_object() || !count.ok() || count->value_or(0) > 1) {
      return absl::InvalidArgumentError("shard_parameters: only unsharded tenants are supported");
    }
  }
  TenantConfig config;
  absl::Status s = ApplyTenantConfig(
      *body, {"new_tenant_id", "generation", "shard_parameters", "placement_policy", "config"},
      &config);
  if (auto c = body->find("config"); s.ok() && c != body->end() && !c->is_null()) {
    s = c->is_object() ? ApplyTenantConfig(*c, {}, &config)
                       : absl::InvalidArgumentError("config: must be an object");
  }
  if (!s.ok()) return s;
  if (engine_->GetTenant(*id).ok()) {
    return absl::AlreadyExistsError(StrCat("tenant ", id->ToString(), " already exists"));
  }
  absl::StatusOr<std::shared_ptr<Tenant>> t =
      gen->has_value()
          ? engine_->AttachTenant(*id, config, Generation::Of(static_cast<uint32_t>(**gen)))
          : engine_->CreateTenant(*id, config);
  if (!t.ok()) return t.status();
  server::LogInfo("tenant_created", {{"tenant_id", id->ToString()}});
  return Reply{201, id->ToString()};
}

absl::StatusOr<ManagementApi::Reply> ManagementApi::GetTenant(const httplib::Request& req) {
  absl::StatusOr<std::shared_ptr<Tenant>> t = TenantOf(req);
  if (!t.ok()) return t.status();
  json timelines = json::array();
  uint64_t physical = 0;
  for (const TimelineInfo& info : (*t)->ListTimelines()) {
    timelines.push_back(info.timeline_id.ToString());
    physical += info.historic_layer_bytes;
  }
  const Generation gen = (*t)->generation();
  return Reply{200,
               {{"id", (*t)->id().ToString()},
                {"state", {{"slug", "Active"}}},
                {"current_physical_size", physical},
                {"attachment_status", {{"slug", "attached"}}},
                {"generation", gen.is_none() ? json(nullptr) : json(gen.value())},
                {"timelines", timelines},
                {"config", TenantConfigJson((*t)->config())}}};
}

absl::StatusOr<ManagementApi::Reply> ManagementApi::DeleteTenant(const httplib::Request& req) {
  absl::StatusOr<std::shared_ptr<Tenant>> t = TenantOf(req);
  if (!t.ok()) return t.status();
  if (absl::Status s = engine_->DeleteTenant((*t)->id()); !s.ok()) return s;
  server::LogInfo("tenant_deleted", {{"tenant_id", (*t)->id().ToString()}});
  return Reply{200, nullptr};
}

absl::StatusOr<ManagementApi::Reply> ManagementApi::LocationConfig(const httplib::Request& req) {
  absl::StatusOr<TenantShardId> id = ParseTenantShardIdField(req.matches[1].str(), "tenant_id");
  if (!id.ok()) return id.status();
  absl::StatusOr<json> body = ParseBody(req.body, /*empty_ok=*/false);
  if (!body.ok()) return body.status();
  absl::StatusOr<std::optional<std::string>> mode = OptString(*body, "mode");
  if (!mode.ok()) return mode.status();
  if (!mode->has_value()) return absl::InvalidArgumentError("mode: missing");
  absl::StatusOr<std::optional<uint64_t>> gen = OptUint(*body, "generation", UINT32_MAX);
  if (!gen.ok()) return gen.status();
  for (const char* f : {"shard_number", "shard_count"}) {
    absl::StatusOr<std::optional<uint64_t>> v = OptUint(*body, f, 255);
    if (!v.ok()) return v.status();
    const uint64_t want = f[6] == 'n' ? id->shard.number : id->shard.count;
    if (v->has_value() && **v != want && !(want == 0 && **v <= 1)) {
      return absl::InvalidArgumentError(StrCat(f, ": does not match the path's shard id"));
    }
  }
  // Without tenant_conf the tenant keeps the configuration it has here.
  TenantConfig config;
  if (auto t = engine_->GetTenant(*id); t.ok()) config = (*t)->config();
  for (const SecondaryInfo& s : engine_->ListSecondaries()) {
    if (s.id == *id) config = s.config;
  }
  if (auto c = body->find("tenant_conf"); c != body->end() && !c->is_null()) {
    if (!c->is_object()) return absl::InvalidArgumentError("tenant_conf: must be an object");
    config = TenantConfig();
    if (absl::Status s = ApplyTenantConfig(*c, {}, &config); !s.ok()) return s;
  }
  bool warm = true;
  if (auto c = body->find("secondary_conf"); c != body->end() && !c->is_null()) {
    if (!c->is_object()) return absl::InvalidArgumentError("secondary_conf: must be an object");
    if (auto w = c->find("warm"); w != c->end()) {
      if (!w->is_boolean()) return absl::InvalidArgumentError("secondary_conf.warm: must be a boolean");
      warm = w->get<bool>();
    }
  }
  const std::string& m = **mode;
  // AttachedMulti (both nodes attached during a migration) and AttachedStale (a newer
  // generation exists elsewhere) serve like AttachedSingle here: uploads carry this node's
  // generation in their keys and every deletion is validated first, so a stale node can
  // neither overwrite nor delete what the newer generation uses.
  if (m == "AttachedSingle" || m == "AttachedMulti" || m == "AttachedStale") {
    if (!gen->has_value()) return absl::InvalidArgumentError("generation: required to attach");
    absl::StatusOr<std::shared_ptr<Tenant>> t =
        engine_->AttachTenant(*id, config, Generation::Of(static_cast<uint32_t>(**gen)));
    if (!t.ok()) return t.status();
    {
      std::lock_guard<std::mutex> l(modes_mu_);
      attached_modes_[*id] = m;
    }
    server::LogInfo("tenant_attached",
                    {{"tenant_id", id->ToString()}, {"generation", **gen}, {"mode", m}});
    return Reply{200, {{"shards", json::array({{{"shard_id", id->ToString()},
                                                {"generation", **gen}}})},
                       {"stripe_size", nullptr}}};
  }
  if (m == "Detached") {
    if (LocationConfJson(*id).is_null()) return Reply{200, {{"shards", json::array()}}};
    if (absl::Status s = engine_->DetachTenant(*id); !s.ok()) return s;
    server::LogInfo("tenant_detached", {{"tenant_id", id->ToString()}});
    return Reply{200, {{"shards", json::array()}}};
  }
  if (m == "Secondary") {
    if (absl::Status s = engine_->ConfigureSecondary(*id, config, warm); !s.ok()) return s;
    server::LogInfo("tenant_secondary", {{"tenant_id", id->ToString()}, {"warm", warm}});
    return Reply{200, {{"shards", json::array()}, {"stripe_size", nullptr}}};
  }
  return absl::InvalidArgumentError(StrCat("mode: unknown mode '", m,
                                           "' (AttachedSingle, AttachedMulti, AttachedStale, "
                                           "Secondary, Detached)"));
}

json ManagementApi::LocationConfJson(const TenantShardId& id) {
  json conf = {{"shard_number", id.shard.number},
               {"shard_count", id.shard.count},
               {"shard_stripe_size", 0}};
  if (absl::StatusOr<std::shared_ptr<Tenant>> t = engine_->GetTenant(id); t.ok()) {
    std::string mode = "AttachedSingle";
    {
      std::lock_guard<std::mutex> l(modes_mu_);
      if (auto it = attached_modes_.find(id); it != attached_modes_.end()) mode = it->second;
    }
    const Generation g = (*t)->generation();
    conf["mode"] = mode;
    conf["generation"] = g.is_none() ? json(nullptr) : json(g.value());
    conf["secondary_conf"] = nullptr;
    conf["tenant_conf"] = TenantConfigJson((*t)->config());
    return conf;
  }
  for (const SecondaryInfo& s : engine_->ListSecondaries()) {
    if (s.id != id) continue;
    conf["mode"] = "Secondary";
    conf["generation"] = nullptr;
    conf["secondary_conf"] = {{"warm", s.warm}};
    conf["tenant_conf"] = TenantConfigJson(s.config);
    return conf;
  }
  return nullptr;
}

absl::StatusOr<ManagementApi::Reply> ManagementApi::GetLocationConfig(const httplib::Request& req) {
  absl::StatusOr<TenantShardId> id = ParseTenantShardIdField(req.matches[1].str(), "tenant_id");
  if (!id.ok()) return id.status();
  json conf = LocationConfJson(*id);
  if (conf.is_null()) return absl::NotFoundError(StrCat("tenant ", id->ToString(), " has no location here"));
  return Reply{200, conf};
}

absl::StatusOr<ManagementApi::Reply> ManagementApi::ListLocationConfigs() {
  std::vector<TenantShardId> ids = engine_->ListTenants();
  for (const SecondaryInfo& s : engine_->ListSecondaries()) ids.push_back(s.id);
  std::sort(ids.begin(), ids.end());
  json list = json::array();
  for (const TenantShardId& id : ids) {
    json conf = LocationConfJson(id);
    if (!conf.is_null()) list.push_back(json::array({id.ToString(), conf}));
  }
  return Reply{200, {{"tenant_shards", list}}};
}

absl::StatusOr<ManagementApi::Reply> ManagementApi::HeatmapUpload(const httplib::Request& req) {
  absl::StatusOr<std::shared_ptr<Tenant>> t = TenantOf(req);
  if (!t.ok()) return t.status();
  if (absl::Status s = engine_->UploadHeatmap((*t)->id()); !s.ok()) return s;
  return Reply{200, nullptr};
}

namespace {

json SecondaryProgressJson(const SecondaryProgress& p) {
  auto time = [](int64_t us) -> json {
    if (us == 0) return nullptr;
    return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixMicros(us), absl::UTCTimeZone());
  };
  return {{"heatmap_mtime", time(p.heatmap_mtime_us)},
          {"heatmap_generation",
           p.heatmap_generation.is_none() ? json(nullptr) : json(p.heatmap_generation.value())},
          {"layers_downloaded", p.layers_downloaded},
          {"layers_total", p.layers_total},
          {"bytes_downloaded", p.bytes_downloaded},
          {"bytes_total", p.bytes_total},
          {"layers_fetched_last_pass", p.layers_fetched},
          {"in_progress", p.in_progress},
          {"last_pass_end", time(p.last_pass_end_us)},
          {"last_error", p.last_error.ok() ? json(nullptr) : json(std::string(p.last_error.message()))}};
}

}  // namespace

absl::StatusOr<ManagementApi::Reply> ManagementApi::SecondaryDownload(const httplib::Request& req) {
  absl::StatusOr<TenantShardId> id = ParseTenantShardIdField(req.matches[1].str(), "tenant_id");
  if (!id.ok()) return id.status();
  int64_t wait_ms = kSecondaryDownloadDefaultWaitMs;
  if (req.has_param("wait_ms")) {
    const std::string text = req.get_param_value("wait_ms");
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || text[0] == '-' || v > 3'600'000) {
      return absl::InvalidArgumentError("wait_ms: expected milliseconds between 0 and 3600000");
    }
    wait_ms = static_cast<int64_t>(v);
  }
  // A pass that began after this request arrived sees the newest heatmap.
  const int64_t asked_us = absl::ToUnixMicros(absl::Now());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  while (true) {
    absl::StatusOr<SecondaryProgress> p = engine_->GetSecondaryProgress(*id);
    if (!p.ok()) return p.status();
    if (!p->in_progress && p->last_pass_start_us >= asked_us) {
      if (!p->last_error.ok()) return p->last_error;
      return Reply{200, SecondaryProgressJson(*p)};
    }
    if (!p->in_progress) {
      if (absl::Status s = engine_->StartSecondaryDownload(*id); !s.ok()) return s;
    }
    if (std::chrono::steady_clock::now() >= deadline) return Reply{202, SecondaryProgressJson(*p)};
    std::this_thread::sleep_for(kUploadPollInterval);
  }
}

absl::StatusOr<ManagementApi::Reply> ManagementApi::SecondaryStatus(const httplib::Request& req) {
  absl::StatusOr<TenantShardId> id = ParseTenantShardIdField(req.matches[1].str(), "tenant_id");
  if (!id.ok()) return id.status();
  absl::StatusOr<SecondaryProgress> p = engine_->GetSecondaryProgress(*id);
  if (!p.ok()) return p.status();
  return Reply{200, SecondaryProgressJson(*p)};
}

absl::StatusOr<ManagementApi::Reply> ManagementApi::ListTimelines(const httplib::Request& req) {
  absl::StatusOr<std::shared_ptr<Tenant>> t = TenantOf(req);
  if (!t.ok()) return t.status();
  json list = json::array();
  for (const TimelineInfo& info : (*t)->ListTimelines()) {
    absl::StatusOr<std::shared_ptr<Timeline>> tl = (*t)->GetTimeline(info.timeline_id);
    if (tl.ok()) list.push_back(TimelineJson(tl->get()));
  }
  return Reply{200, list};
}

void ManagementApi::WaitForUpload(Timeline* tl) {
  if (!options_.remote_storage) return;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::microseconds(kCreateUploadWaitUs);
  while (std::chrono::steady_clock::now() < deadline) {
    const TimelineInfo info = tl->Info();
    if (info.remote_consistent_lsn >= info.disk_consistent_lsn) return;
    std::this_thread::sleep_for(kUploadPollInterval);
  }
  server::LogWarn("timeline_upload_slow", {{"timeline_id", tl->id().ToString()}});
}

absl::StatusOr<ManagementApi::Reply> ManagementApi::CreateRoot(Tenant* tenant,
                                                               const TimelineId& id) {
  absl::StatusOr<std::shared_ptr<Timeline>> tl = tenant->CreateTimeline(id, kSupportedPgVersion);
  if (!tl.ok()) return tl.status();
  absl::StatusOr<Lsn> lsn = BootstrapTimeline(options_.bootstrap, tl->get());
  if (!lsn.ok()) {
    if (absl::Status d = tenant->DeleteTimeline(id); !d.ok()) {
      server::LogError("bootstrap_cleanup_failed", {{"error", std::string(d.message())}});
    }
    return absl::InternalError(StrCat("bootstrap failed: ", lsn.status().message()));
  }
  WaitForUpload(tl->get());
  return Reply{201, TimelineJson(tl->get())};
}

absl::StatusOr<ManagementApi::Reply> ManagementApi::CreateTimeline(const httplib::Request& req) {
  absl::StatusOr<json> body = ParseBody(req.body, /*empty_ok=*/false);
  if (!body.ok()) return body.status();
  for (auto it = body->begin(); it != body->end(); ++it) {
    const std::string& k = it.key();
    if (k != "new_timeline_id" && k != "ancestor_timeline_id" && k != "ancestor_start_lsn" &&
        k != "pg_version" && k != "read_only" && k != "existing_initdb_timeline_id") {
      return absl::InvalidArgumentError(StrCat(k, ": unknown field"));
    }
  }
  absl::StatusOr<std::optional<std::string>> id_text = OptString(*body, "new_timeline_id");
  absl::StatusOr<std::optional<std::string>> anc_text = OptString(*body, "ancestor_timeline_id");
  absl::StatusOr<std::optional<std::string>> lsn_text = OptString(*body, "ancestor_start_lsn");
  absl::StatusOr<std::optional<std::string>> existing =
      OptString(*body, "existing_initdb_timeline_id");
  absl::StatusOr<std::optional<uint64_t>> pg = OptUint(*body, "pg_version", UINT32_MAX);
  for (const absl::Status& s : {id_text.status(), anc_text.status(), lsn_text.status(),
                                existing.status(), pg.status()}) {
    if (!s.ok()) return s;
  }
  if (!id_text->has_value()) return absl::InvalidArgumentError("new_timeline_id: missing");
  absl::StatusOr<TimelineId> id = ParseTimelineIdField(**id_text, "new_timeline_id");
  if (!id.ok()) return id.status();
  if (pg->has_value() && **pg != kSupportedPgVersion) {
    return absl::InvalidArgumentError(
        StrCat("pg_version: ", **pg, " is not supported (only ", kSupportedPgVersion, ")"));
  }
  if (existing->has_value()) {
    return absl::InvalidArgumentError("existing_initdb_timeline_id: not supported");
  }
  if (auto ro = body->find("read_only"); ro != body->end() && !ro->is_null() && *ro != false) {
    return absl::InvalidArgumentError("read_only: read-only branches are not supported");
  }
  std::optional<Lsn> start;
  if (lsn_text->has_value()) {
    absl::StatusOr<Lsn> l = ParseLsnField(**lsn_text, "ancestor_start_lsn");
    if (!l.ok()) return l.status();
    start = *l;
  }
  std::optional<TimelineId> ancestor;
  if (anc_text->has_value()) {
    absl::StatusOr<TimelineId> a = ParseTimelineIdField(**anc_text, "ancestor_timeline_id");
    if (!a.ok()) return a.status();
    ancestor = *a;
  }
  if (start.has_value() && !ancestor.has_value()) {
    return absl::InvalidArgumentError("ancestor_start_lsn: given without ancestor_timeline_id");
  }
  absl::StatusOr<std::shared_ptr<Tenant>> t = TenantOf(req);
  if (!t.ok()) return t.status();
  if ((*t)->GetTimeline(*id).ok()) {
    return absl::AlreadyExistsError(StrCat("timeline ", id->ToString(), " already exists"));
  }
  if (!ancestor.has_value()) return CreateRoot(t->get(), *id);
  if (absl::Status s = (*t)->GetTimeline(*ancestor).status(); absl::IsNotFound(s)) {
    return absl::NotFoundError(StrCat("ancestor timeline ", ancestor->ToString(), " not found"));
  }
  absl::StatusOr<std::shared_ptr<Timeline>> tl =
      (*t)->CreateBranch(*id, *ancestor, start.value_or(Lsn::Invalid()));
  if (!tl.ok()) return tl.status();
  server::LogInfo("branch_created", {{"timeline_id", id->ToString()},
                                     {"ancestor", ancestor->ToString()}});
  WaitForUpload(tl->get());
  return Reply{201, TimelineJson(tl->get())};
}

absl::StatusOr<ManagementApi::Reply> ManagementApi::GetTimeline(const httplib::Request& req) {
  absl::StatusOr<std::shared_ptr<Timeline>> tl = TimelineOf(req);
  if (!tl.ok()) return tl.status();
  return Reply{200, TimelineJson(tl->get())};
}

absl::StatusOr<ManagementApi::Reply> ManagementApi::DeleteTimeline(const httplib::Request& req) {
  absl::StatusOr<std::shared_ptr<Timeline>> tl = TimelineOf(req);
  if (!tl.ok()) return tl.status();
  absl::StatusOr<std::shared_ptr<Tenant>> t = TenantOf(req);
  if (!t.ok()) return t.status();
  if (absl::Status s = (*t)->DeleteTimeline((*tl)->id()); !s.ok()) return s;
  return Reply{200, nullptr};
}

absl::StatusOr<ManagementApi::Reply> ManagementApi::Maintenance(const httplib::Request& req) {
  const std::string op = req.matches[3].str();
  absl::StatusOr<json> body = ParseBody(req.body, /*empty_ok=*/true);
  if (!body.ok()) return body.status();
  absl::StatusOr<std::optional<uint64_t>> horizon = OptUint(*body, "gc_horizon", UINT64_MAX);
  if (!horizon.ok()) return horizon.status();
  absl::StatusOr<std::shared_ptr<Timeline>> tl = TimelineOf(req);
  if (!tl.ok()) return tl.status();
  MaintenanceResult total;
  auto add = [&total](const absl::StatusOr<MaintenanceResult>& r) {
    if (!r.ok()) return r.status();
    total.layers_created += r->layers_created;
    total.layers_removed += r->layers_removed;
    total.bytes_written += r->bytes_written;
    return absl::OkStatus();
  };
  absl::Status s;
  if (op == "checkpoint") s = add((*tl)->Flush());
  if (s.ok() && op != "do_gc") s = add((*tl)->Compact(/*force=*/op == "compact"));
  if (s.ok() && op == "do_gc") s = add((*tl)->Gc(*horizon));
  if (!s.ok()) return s;
  return Reply{200,
               {{"layers_created", total.layers_created},
                {"layers_removed", total.layers_removed},
                {"bytes_written", total.bytes_written}}};
}

absl::StatusOr<ManagementApi::Reply> ManagementApi::LeaseLsn(const httplib::Request& req) {
  absl::StatusOr<json> body = ParseBody(req.body, /*empty_ok=*/false);
  if (!body.ok()) return body.status();
  absl::StatusOr<std::optional<std::string>> text = OptString(*body, "lsn");
  if (!text.ok()) return text.status();
  if (!text->has_value()) return absl::InvalidArgumentError("lsn: missing");
  absl::StatusOr<Lsn> lsn = ParseLsnField(**text, "lsn");
  if (!lsn.ok()) return lsn.status();
  absl::StatusOr<std::shared_ptr<Timeline>> tl = TimelineOf(req);
  if (!tl.ok()) return tl.status();
  absl::StatusOr<int64_t> until = (*tl)->LeaseLsn(*lsn);
  if (!until.ok()) return until.status();
  const std::time_t secs = static_cast<std::time_t>(*until / kMicrosPerSecond);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof(stamp), "%s.%03dZ", buf, static_cast<int>((*until / 1000) % 1000));
  return Reply{200, {{"valid_until", std::string(stamp)}}};
}

absl::StatusOr<ManagementApi::Reply> ManagementApi::ImportBasebackup(
    const httplib::Request& req) {
  absl::StatusOr<TimelineId> id = ParseTimelineIdField(req.matches[2].str(), "timeline_id");
  if (!id.ok()) return id.status();
  std::optional<Lsn> base_lsn;
  std::optional<Lsn> end_lsn;
  for (const auto& [name, value] : req.params) {
    if (name == "base_lsn" || name == "end_lsn") {
      absl::StatusOr<Lsn> l = ParseLsnField(value, name);
      if (!l.ok()) return l.status();
      (name == "base_lsn" ? base_lsn : end_lsn) = *l;
    } else if (name == "pg_version") {
      if (value != std::to_string(kSupportedPgVersion)) {
        return absl::InvalidArgumentError(StrCat("pg_version: ", value, " is not supported (only ",
                                                 kSupportedPgVersion, ")"));
      }
    } else {
      return absl::InvalidArgumentError(StrCat(name, ": unknown query parameter"));
    }
  }
  if (req.body.empty()) {
    return absl::InvalidArgumentError("the body must be a tar of a data directory");
  }
  absl::StatusOr<std::shared_ptr<Tenant>> t = TenantOf(req);
  if (!t.ok()) return t.status();
  if ((*t)->GetTimeline(*id).ok()) {
    return absl::AlreadyExistsError(StrCat("timeline ", id->ToString(), " already exists"));
  }
  // Unpack first: a bad archive changes nothing.
  std::string tmpl = options_.import_scratch_dir + "/neon_import.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::UnavailableError(StrCat("mkdtemp in ", options_.import_scratch_dir, ": ",
                                         std::strerror(errno)));
  }
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{tmpl};
  server::TarStats stats;
  if (absl::Status s = server::ExtractTar(req.body, tmpl, &stats); !s.ok()) return s;
  server::LogInfo("import_unpacked", {{"timeline_id", id->ToString()},
                                      {"files", stats.files},
                                      {"bytes", stats.bytes}});
  absl::StatusOr<std::shared_ptr<Timeline>> tl = (*t)->CreateTimeline(*id, kSupportedPgVersion);
  if (!tl.ok()) return tl.status();
  auto fail = [&](const absl::Status& s) -> absl::Status {
    if (absl::Status d = (*t)->DeleteTimeline(*id); !d.ok()) {
      server::LogError("import_cleanup_failed", {{"error", std::string(d.message())}});
    }
    return s;
  };
  std::shared_ptr<FileSystem> fs = NewPosixFileSystem();
  struct Progress {
    std::string timeline;
    static void Report(uint64_t pages, void* arg) {
      server::LogInfo("import_progress",
                      {{"timeline_id", static_cast<Progress*>(arg)->timeline}, {"pages", pages}});
    }
  } progress{id->ToString()};
  // A cleanly shut down data directory goes in at its checkpoint; an online base
  // backup (backup_label, pg_wal/) at the end of its end-of-backup record.
  absl::StatusOr<std::optional<Lsn>> backup_start = OnlineBackupStartLsn(fs.get(), tmpl);
  if (!backup_start.ok()) {
    return fail(absl::InvalidArgumentError(
        StrCat("cannot import: ", backup_start.status().message())));
  }
  const bool online = backup_start->has_value();
  if (online && base_lsn.has_value() && *base_lsn != **backup_start) {
    return fail(absl::InvalidArgumentError(
        StrCat("base_lsn ", base_lsn->ToString(), " does not match the backup's start ",
               (*backup_start)->ToString(), " (backup_label's START WAL LOCATION)")));
  }
  absl::StatusOr<Lsn> lsn = ImportDatadir(fs.get(), tmpl, tl->get(), &Progress::Report, &progress);
  if (!lsn.ok()) {
    const absl::Status s = lsn.status();
    // The archive's content is at fault unless the engine failed (a file the archive
    // lacks is NotFound).
    return fail(absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s) ||
                        absl::IsDataLoss(s) || absl::IsNotFound(s)
                    ? absl::InvalidArgumentError(StrCat("cannot import: ", s.message()))
                    : s);
  }
  const Lsn start = online ? **backup_start : *lsn;
  if (!online && base_lsn.has_value() && *base_lsn != *lsn) {
    return fail(absl::InvalidArgumentError(
        StrCat("base_lsn ", base_lsn->ToString(), " does not match the data directory's "
               "checkpoint ", lsn->ToString())));
  }
  if (end_lsn.has_value() && *end_lsn != *lsn) {
    return fail(absl::InvalidArgumentError(
        online ? StrCat("end_lsn ", end_lsn->ToString(), " does not match the backup's end ",
                        lsn->ToString(), " (the end of its end-of-backup record)")
               : StrCat("end_lsn ", end_lsn->ToString(), ": a cleanly shut down data directory "
                        "ends at its checkpoint ", lsn->ToString())));
  }
  // No WAL source could re-send the import after a restart: make it durable now.
  if (absl::StatusOr<MaintenanceResult> f = (*tl)->Flush(); !f.ok()) return fail(f.status());
  server::LogInfo("basebackup_imported", {{"tenant_id", (*t)->id().ToString()},
                                          {"timeline_id", id->ToString()},
                                          {"lsn", lsn->ToString()},
                                          {"start_lsn", start.ToString()},
                                          {"online", online},
                                          {"files", stats.files}});
  WaitForUpload(tl->get());
  return Reply{201, TimelineJson(tl->get())};
}

}  // namespace neon::pageserver
