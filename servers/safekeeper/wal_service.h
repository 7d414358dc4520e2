// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// safekeeper.SafekeeperService (lib/remote/proto/safekeeper.proto) on gRPC's callback API:
// every stream is a reactor driven by gRPC's threads and the shared executor; there is no
// thread per stream.
//
// ProposerStream: the first frame must be a ProposerGreeting naming the timeline of the
// `neon-tenant-id` / `neon-timeline-id` metadata (INVALID_ARGUMENT otherwise). Every frame
// is handed to the timeline (Timeline::Receive), which steps its acceptor in batches and
// flushes at the end of each batch, so an AppendResponse is sent only once the WAL it
// acknowledges is fsynced. A message the acceptor refuses ends the stream with the
// acceptor's error (FAILED_PRECONDITION for a stale term, a non-contiguous append, ...). At
// most kMaxUnprocessedFramesPerConn frames of a stream wait for processing; beyond that the
// stream is not read (flow control).
//
// StreamWal: the first message is StreamWalStart. WalData messages follow, contiguous from
// start_lsn, at most kMaxWalChunkBytes each and never across a WAL segment boundary, up to
// the commit LSN (the flush LSN with
// include_uncommitted, while the term stays the same: ABORTED when it changes), then new WAL
// as it commits; a Keepalive after about a second without a message. OUT_OF_RANGE when
// start_lsn is below the oldest WAL kept here. Later messages are PageserverFeedback, kept
// per reader (HTTP status, broker, WAL removal).
//
// Errors before a stream starts: NOT_FOUND (unknown timeline), INVALID_ARGUMENT (metadata),
// UNAUTHENTICATED / PERMISSION_DENIED (JWT scope safekeeperdata, or tenant for that tenant,
// when a verifier is configured).
//
// Thread safety: called by gRPC from any thread.

#ifndef NEON_SERVERS_SAFEKEEPER_WAL_SERVICE_H_
#define NEON_SERVERS_SAFEKEEPER_WAL_SERVICE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/grpc_call.h"
#include "common/jwt.h"
#include "safekeeper.grpc.pb.h"
#include "safekeeper/timeline_registry.h"

namespace neon::safekeeper {

class WalServiceImpl final : public ::safekeeper::SafekeeperService::CallbackService {
 public:
  // `registry`, `verifier` (null = auth off) and `ctx` are not owned and outlive the service.
  WalServiceImpl(TimelineRegistry* registry, const server::JwtVerifier* verifier,
                 const SafekeeperContext* ctx)
      : registry_(registry), verifier_(verifier), ctx_(ctx) {}

  grpc::ServerBidiReactor<::safekeeper::ConsensusFrame, ::safekeeper::ConsensusFrame>*
  ProposerStream(grpc::CallbackServerContext* context) override;
  grpc::ServerBidiReactor<::safekeeper::StreamWalRequest, ::safekeeper::StreamWalResponse>*
  StreamWal(grpc::CallbackServerContext* context) override;

 private:
  // The call's timeline after authentication.
  absl::StatusOr<std::shared_ptr<Timeline>> Resolve(const grpc::CallbackServerContext* ctx) const;

  TimelineRegistry* const registry_;
  const server::JwtVerifier* const verifier_;
  const SafekeeperContext* const ctx_;
};

using server::ToGrpc;

}  // namespace neon::safekeeper

#endif  // NEON_SERVERS_SAFEKEEPER_WAL_SERVICE_H_
