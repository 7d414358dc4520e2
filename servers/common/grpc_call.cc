// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "common/grpc_call.h"

#include <ctime>

namespace neon::server {

std::string CallMetadata(const grpc::ServerContextBase& ctx, const char* name) {
  const auto& md = ctx.client_metadata();
  auto it = md.find(name);
  return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

absl::Status AuthorizeCall(const JwtVerifier* verifier, const grpc::ServerContextBase& ctx,
                           const std::vector<std::string_view>& scopes,
                           std::optional<std::string_view> tenant) {
  if (verifier == nullptr) return absl::OkStatus();
  const std::string header = CallMetadata(ctx, "authorization");
  if (header.empty()) {
    return absl::UnauthenticatedError("missing 'authorization: Bearer <token>'");
  }
  absl::StatusOr<std::string_view> token = BearerToken(header);
  if (!token.ok()) return token.status();
  absl::StatusOr<JwtClaims> claims = verifier->Verify(*token, std::time(nullptr));
  if (!claims.ok()) return claims.status();
  return Authorize(*claims, scopes, tenant);
}

absl::StatusOr<CallTimeline> ParseCallTimeline(const grpc::ServerContextBase& ctx) {
  absl::StatusOr<TenantId> tenant = TenantId::Parse(CallMetadata(ctx, "neon-tenant-id"));
  if (!tenant.ok()) {
    return absl::InvalidArgumentError("neon-tenant-id: expected 32 hex characters");
  }
  absl::StatusOr<TimelineId> timeline = TimelineId::Parse(CallMetadata(ctx, "neon-timeline-id"));
  if (!timeline.ok()) {
    return absl::InvalidArgumentError("neon-timeline-id: expected 32 hex characters");
  }
  return CallTimeline{*tenant, *timeline};
}

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(s.code())),
                      std::string(s.message()));
}

}  // namespace neon::server
