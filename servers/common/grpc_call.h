// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// What the servers' gRPC services share about an incoming call: its metadata, its JWT
// (`authorization: Bearer <jwt>`), the timeline it names (`neon-tenant-id`,
// `neon-timeline-id`) and the mapping of a Status to a gRPC status.
//
// Thread safety: free functions.

#ifndef NEON_SERVERS_COMMON_GRPC_CALL_H_
#define NEON_SERVERS_COMMON_GRPC_CALL_H_

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/jwt.h"
#include "neon/types.h"

namespace neon::server {

// The value of metadata `name` ("" when absent).
std::string CallMetadata(const grpc::ServerContextBase& ctx, const char* name);

// With a verifier, checks the call's bearer token against `scopes` (and `tenant` for a
// `tenant` scope): Unauthenticated when missing or invalid, PermissionDenied for a wrong
// scope or tenant. OK without a verifier (auth off).
absl::Status AuthorizeCall(const JwtVerifier* verifier, const grpc::ServerContextBase& ctx,
                           const std::vector<std::string_view>& scopes,
                           std::optional<std::string_view> tenant);

struct CallTimeline {
  TenantId tenant;
  TimelineId timeline;
};
// The `neon-tenant-id` and `neon-timeline-id` metadata; InvalidArgument when malformed.
absl::StatusOr<CallTimeline> ParseCallTimeline(const grpc::ServerContextBase& ctx);

// The gRPC status for a Status (the codes are numbered alike).
grpc::Status ToGrpc(const absl::Status& s);

}  // namespace neon::server

#endif  // NEON_SERVERS_COMMON_GRPC_CALL_H_
