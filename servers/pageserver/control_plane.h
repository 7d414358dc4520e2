// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The pageserver's client of the control plane's upcall API (Neon's storage controller routes,
// reference/neon-control-plane.md): re-attach at start-up and generation validation before
// deletions.
//
// POST <api>/re-attach with {"node_id": N, "empty_local_disk": bool} answers {"tenants":
// [{"id": "<tenant_shard_id>", "gen": N|null, "mode": "AttachedSingle"|...|"Secondary",
// "stripe_size": N}]}: the tenants this node holds, attached ones with a new generation. The
// pageserver drops local state of every tenant not listed.
//
// POST <api>/validate with {"tenants": [{"id": "<tenant_shard_id>", "gen": N}, ...]} (at most
// kValidateChunk per request) answers {"tenants": [{"id": ..., "valid": bool}]}; a tenant the
// control plane omits is not valid (its deletions are dropped, never executed). Any transport
// error, non-200 status or malformed body is Unavailable: the deletion queue keeps the
// deletions for a later attempt.
//
// Thread safety: the returned validator may be called from any thread.

#ifndef NEON_SERVERS_PAGESERVER_CONTROL_PLANE_H_
#define NEON_SERVERS_PAGESERVER_CONTROL_PLANE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "neon/engine.h"
#include "neon/remote_storage.h"

namespace neon::pageserver {

inline constexpr size_t kValidateChunk = 128;

// `api` is the upcall base URL, e.g. "http://127.0.0.1:1234/upcall/v1/"; `token` ("" = none)
// is sent as a bearer token. InvalidArgument for a URL that is not http://host:port[/path].
absl::StatusOr<GenerationValidator> ControlPlaneValidator(const std::string& api,
                                                          const std::string& token);

struct ReAttachTenant {
  TenantShardId id;
  std::optional<uint32_t> generation;  // null for Secondary
  std::string mode;                    // AttachedSingle, AttachedMulti, AttachedStale, Secondary
};

// One re-attach call. InvalidArgument for a bad URL; Unavailable for transport errors,
// non-200 answers and malformed bodies (the caller retries).
absl::StatusOr<std::vector<ReAttachTenant>> ControlPlaneReAttach(const std::string& api,
                                                                 const std::string& token,
                                                                 uint64_t node_id,
                                                                 bool empty_local_disk);

struct ReAttachSummary {
  int attached = 0, secondary = 0, dropped = 0;
};

// Applies a re-attach answer before the node serves: listed Attached* tenants are attached
// with their new generation (a tenant not yet local loads from remote storage), listed
// Secondary ones become (or stay) warm secondaries, and every local tenant or secondary not
// listed is dropped locally (Engine::ForgetTenant). Configurations kept locally are reused;
// others get the defaults. The first error stops it.
absl::Status ApplyReAttach(Engine& engine, const std::vector<ReAttachTenant>& tenants,
                           ReAttachSummary* summary);

}  // namespace neon::pageserver

#endif  // NEON_SERVERS_PAGESERVER_CONTROL_PLANE_H_
