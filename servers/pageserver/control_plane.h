// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The pageserver's client of the control plane's upcall API (Neon's storage controller routes,
// reference/neon-control-plane.md): generation validation before deletions.
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

#include <string>

#include "absl/status/statusor.h"
#include "neon/remote_storage.h"

namespace neon::pageserver {

inline constexpr size_t kValidateChunk = 128;

// `api` is the upcall base URL, e.g. "http://127.0.0.1:1234/upcall/v1/"; `token` ("" = none)
// is sent as a bearer token. InvalidArgument for a URL that is not http://host:port[/path].
absl::StatusOr<GenerationValidator> ControlPlaneValidator(const std::string& api,
                                                          const std::string& token);

}  // namespace neon::pageserver

#endif  // NEON_SERVERS_PAGESERVER_CONTROL_PLANE_H_
