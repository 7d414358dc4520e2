// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "safekeeper/wal_service.h"

#include <string>

#include "base/status_macros.h"
#include "common/log.h"
#include "safekeeper/streams.h"

namespace neon::safekeeper {

absl::StatusOr<std::shared_ptr<Timeline>> WalServiceImpl::Resolve(
    const grpc::CallbackServerContext* ctx) const {
  NEON_RETURN_IF_ERROR(server::AuthorizeCall(verifier_, *ctx, {"safekeeperdata", "tenant"},
                                             server::CallMetadata(*ctx, "neon-tenant-id")));
  NEON_ASSIGN_OR_RETURN(server::CallTimeline call, server::ParseCallTimeline(*ctx));
  return registry_->Get(call.tenant, call.timeline);
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
