// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The pageserver's HTTP management API (Neon's routes and JSON; servers/README.md lists
// them): node status, tenants, timelines (root timelines bootstrapped with initdb, branches),
// location_config, manual compaction / checkpoint / GC triggers, and the import of a base
// backup (a tar of a cleanly shut down data directory) into a new timeline.
//
// Errors: 400 {"msg"} for malformed JSON, ids, LSNs and unknown modes or fields; 404 for
// unknown tenants and timelines; 409 for conflicts; 401/403 from JWT auth (scope
// `pageserverapi`, or `tenant` for that tenant's routes) when a verifier is configured.
//
// Thread safety: handlers run on the HTTP server's worker threads and share only the engine
// (thread-safe).

#ifndef NEON_SERVERS_PAGESERVER_MANAGEMENT_API_H_
#define NEON_SERVERS_PAGESERVER_MANAGEMENT_API_H_

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/http_server.h"
#include "common/jwt.h"
#include "neon/engine.h"
#include "nlohmann/json.hpp"
#include "pageserver/bootstrap.h"
#include "pageserver/wal_receiver.h"

namespace neon::pageserver {

// How long timeline creation waits for the new timeline's index to reach remote storage.
inline constexpr int64_t kCreateUploadWaitUs = 30 * kMicrosPerSecond;

struct ManagementOptions {
  uint64_t node_id = 1;
  BootstrapOptions bootstrap;
  // Whether the engine has remote storage (creation then waits for the first upload).
  bool remote_storage = false;
  // The WAL receiver whose state timeline JSON reports (null = none).
  const WalReceiverManager* wal_receiver = nullptr;
  // Where uploaded base backups are unpacked before import.
  std::string import_scratch_dir = "/tmp";
};

class ManagementApi {
 public:
  // `engine` and `verifier` (null = auth off) are not owned and outlive the API.
  ManagementApi(Engine* engine, const server::JwtVerifier* verifier, ManagementOptions options);

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

  absl::StatusOr<Reply> ListTenants();
  absl::StatusOr<Reply> CreateTenant(const httplib::Request& req);
  absl::StatusOr<Reply> GetTenant(const httplib::Request& req);
  absl::StatusOr<Reply> DeleteTenant(const httplib::Request& req);
  absl::StatusOr<Reply> LocationConfig(const httplib::Request& req);
  absl::StatusOr<Reply> GetLocationConfig(const httplib::Request& req);
  absl::StatusOr<Reply> ListLocationConfigs();
  absl::StatusOr<Reply> HeatmapUpload(const httplib::Request& req);
  absl::StatusOr<Reply> SecondaryDownload(const httplib::Request& req);
  absl::StatusOr<Reply> SecondaryStatus(const httplib::Request& req);
  absl::StatusOr<Reply> ListTimelines(const httplib::Request& req);
  absl::StatusOr<Reply> CreateTimeline(const httplib::Request& req);
  absl::StatusOr<Reply> GetTimeline(const httplib::Request& req);
  absl::StatusOr<Reply> DeleteTimeline(const httplib::Request& req);
  absl::StatusOr<Reply> Maintenance(const httplib::Request& req);
  absl::StatusOr<Reply> LeaseLsn(const httplib::Request& req);
  absl::StatusOr<Reply> ImportBasebackup(const httplib::Request& req);

  absl::StatusOr<std::shared_ptr<Tenant>> TenantOf(const httplib::Request& req);
  absl::StatusOr<std::shared_ptr<Timeline>> TimelineOf(const httplib::Request& req);
  absl::StatusOr<Reply> CreateRoot(Tenant* tenant, const TimelineId& id);
  void WaitForUpload(Timeline* tl);
  nlohmann::json TimelineJson(Timeline* tl);
  // The location conf of `id` on this node, or null when it has none.
  nlohmann::json LocationConfJson(const TenantShardId& id);

  Engine* const engine_;
  const server::JwtVerifier* const verifier_;
  const ManagementOptions options_;
  // The Attached* mode last requested per tenant (AttachedSingle when never set); the
  // engine serves all three alike.
  std::mutex modes_mu_;
  std::map<TenantShardId, std::string> attached_modes_;
};

}  // namespace neon::pageserver

#endif  // NEON_SERVERS_PAGESERVER_MANAGEMENT_API_H_
