// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The two stream reactors of the WAL service (semantics in wal_service.h):
// proposer_stream.cc and wal_stream.cc.
//
// Both follow one discipline: every gRPC operation of a stream (StartRead, StartWrite,
// Finish) is started by whichever thread runs the stream's pump, one thread at a time,
// outside the stream's lock (gRPC may run a reaction inline); the pump decides under the
// lock what to do next and stops after Finish, so no operation follows Finish and the
// reactor is never used after OnDone.

#ifndef NEON_SERVERS_SAFEKEEPER_STREAMS_H_
#define NEON_SERVERS_SAFEKEEPER_STREAMS_H_

#include <memory>

#include "safekeeper.grpc.pb.h"
#include "safekeeper/timeline.h"

namespace neon::safekeeper {

using ProposerReactor =
    grpc::ServerBidiReactor<::safekeeper::ConsensusFrame, ::safekeeper::ConsensusFrame>;
using WalReactor =
    grpc::ServerBidiReactor<::safekeeper::StreamWalRequest, ::safekeeper::StreamWalResponse>;

ProposerReactor* NewProposerStream(std::shared_ptr<Timeline> timeline);
WalReactor* NewWalStream(std::shared_ptr<Timeline> timeline);

// Streams refused before they start: finish at once with `status`.
ProposerReactor* RejectProposerStream(const grpc::Status& status);
WalReactor* RejectWalStream(const grpc::Status& status);

}  // namespace neon::safekeeper

#endif  // NEON_SERVERS_SAFEKEEPER_STREAMS_H_
