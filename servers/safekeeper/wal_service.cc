// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "safekeeper/wal_service.h"

#include <ctime>
#include <string>

#include "common/log.h"
#include "safekeeper/streams.h"

namespace neon::safekeeper {
namespace {

std::string Metadata(const grpc::CallbackServerContext* ctx, const char* name) {
  const auto& md = ctx->client_metadata();
  auto it = md.find(name);
  return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

}  // namespace

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(s.code())),
                      std::string(s.message()));
}

absl::StatusOr<std::shared_ptr<Timeline>> WalServiceImpl::Resolve(
    const grpc::CallbackServerContext* ctx) const {
  const std::string tenant_text = Metadata(ctx, "neon-tenant-id");
  const std::string timeline_text = Metadata(ctx, "neon-timeline-id");
  if (verifier_ != nullptr) {
    const std::string header = Metadata(ctx, "authorization");
    if (header.empty()) {
      return absl::UnauthenticatedError("missing 'authorization: Bearer <token>'");
    }
    absl::StatusOr<std::string_view> token = server::BearerToken(header);
    if (!token.ok()) return token.status();
    absl::StatusOr<server::JwtClaims> claims = verifier_->Verify(*token, std::time(nullptr));
    if (!claims.ok()) return claims.status();
    if (absl::Status s = server::Authorize(*claims, {"safekeeperdata", "tenant"}, tenant_text);
        !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<TenantId> tenant = TenantId::Parse(tenant_text);
  if (!tenant.ok()) {
    return absl::InvalidArgumentError("neon-tenant-id: expected 32 hex characters");
  }
  absl::StatusOr<TimelineId> timeline = TimelineId::Parse(timeline_text);
  if (!timeline.ok()) {
    return absl::InvalidArgumentError("neon-timeline-id: expected 32 hex characters");
  }
  return registry_->Get(*tenant, *timeline);
}

ProposerReactor* WalServiceImpl::ProposerStream(grpc::CallbackServerContext* context) {
  absl::StatusOr<std::shared_ptr<Timeline>> tl = Resolve(context);
  if (!tl.ok()) return RejectProposerStream(ToGrpc(tl.status()));
  server::Log(server::LogLevel::kDebug, "proposer_stream",
              {{"peer", context->peer()}, {"timeline_id", (*tl)->timeline_id().ToString()}});
  return NewProposerStream(std::move(*tl));
}

WalReactor* WalServiceImpl::StreamWal(grpc::CallbackServerContext* context) {
  absl::StatusOr<std::shared_ptr<Timeline>> tl = Resolve(context);
  if (!tl.ok()) return RejectWalStream(ToGrpc(tl.status()));
  server::Log(server::LogLevel::kDebug, "wal_stream",
              {{"peer", context->peer()}, {"timeline_id", (*tl)->timeline_id().ToString()}});
  return NewWalStream(std::move(*tl));
}

}  // namespace neon::safekeeper
