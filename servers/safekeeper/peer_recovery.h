// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// PeerRecovery: a safekeeper that lags behind its peers catches up from one of them while
// no proposer is connected (reference 6.2; Neon's `--peer-recovery`).
//
// Every kRecoveryCheckIntervalUs a timeline with no proposer connection looks for a donor
// among the peers alive through the broker: commit_lsn above our flush LSN, term equal to
// its last_log_term (its term's leader was elected and wrote there) and at least our term.
// Recovery then drives the local acceptor exactly as a proposer of the donor's term T would:
//
//   1. GET the donor's timeline status over HTTP for its term history H (must end in T);
//   2. VoteRequest(T) if our term is below T (persists T, grants a vote to nobody);
//   3. ProposerElected(T, divergence point of H and our WAL, H): truncates a divergent
//      uncommitted tail (never below our commit LSN) and adopts H;
//   4. StreamWal from the donor at the divergence point, committed WAL only, each WalData
//      as an AppendRequest(T) followed by a flush (commit = the donor's commit LSN).
//
// So the term history stays consistent and every byte appended is committed WAL of term T,
// byte-identical to what T's leader wrote. It stops when caught up to the donor's commit,
// when a proposer connects, when the term moves, after kRecoveryNoDataTimeoutUs without
// WAL, or on any refusal (the next check may start again). A donor that no longer has the
// WAL (removed after backup) answers OUT_OF_RANGE: such a safekeeper is brought up to date
// by the proposer's own recovery instead (reading from object storage is not implemented).
//
// Thread safety: MaybeStart() may be called from any thread; recoveries run on the executor
// given, at most one per timeline.

#ifndef NEON_SERVERS_SAFEKEEPER_PEER_RECOVERY_H_
#define NEON_SERVERS_SAFEKEEPER_PEER_RECOVERY_H_

#include <map>
#include <memory>
#include <optional>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "safekeeper/timeline_registry.h"

namespace grpc {
class ClientContext;
}

namespace neon::safekeeper {

// The donor for `tl` among `peers`, if one is worth catching up from (rules above).
std::optional<PeerInfo> ChooseDonor(const Positions& mine, int proposers,
                                    const std::vector<PeerInfo>& peers);

class PeerRecovery {
 public:
  // `ctx` and `executor` outlive this object.
  PeerRecovery(const SafekeeperContext* ctx, Executor* executor) : ctx_(ctx), executor_(executor) {}

  void MaybeStart(const std::shared_ptr<Timeline>& tl, int64_t now_us);

 private:
  void Run(std::shared_ptr<Timeline> tl, PeerInfo donor);
  absl::Status Recover(Timeline& tl, const PeerInfo& donor, grpc::ClientContext* call);

  const SafekeeperContext* const ctx_;
  Executor* const executor_;
  absl::Mutex mu_;
  std::set<TimelineKey> running_ ABSL_GUARDED_BY(mu_);
  std::map<TimelineKey, int64_t> last_check_us_ ABSL_GUARDED_BY(mu_);
};

}  // namespace neon::safekeeper

#endif  // NEON_SERVERS_SAFEKEEPER_PEER_RECOVERY_H_
