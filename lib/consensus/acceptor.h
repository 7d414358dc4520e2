// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Acceptor: the safekeeper side of the protocol as a pure state machine (no
// I/O, no clock, no threads). The driver feeds it decoded proposer messages
// with Step() and, at the end of each inbound batch, calls Flush(). Both
// append operations to an AcceptorReady, which the driver executes strictly
// in order: a message op may be sent only after every op before it is done
// (the votes and acknowledgements it carries depend on that durability).
//
// The acceptor updates its own view as if the ops had succeeded. If any op
// fails the driver must discard this object (fail-stop) and rebuild it from
// disk; it never retries.
//
// Rules (Neon's; reference/neon-safekeeper.md, Appendix B):
//  * votes at most once per term and persists the term before saying yes;
//  * syncs its WAL before answering a vote and reports its history up to
//    the flushed end;
//  * on ProposerElected recomputes the divergence point, refuses a mismatch,
//    truncates durably (never below its commit LSN), then adopts the history;
//  * accepts only contiguous appends of its current term, after it adopted
//    that term's history;
//  * commit = min(max(candidate, commit), flush), never decreasing; the
//    persisted commit LSN is what it reports.
//
// Thread safety: not thread-safe; one owner.

#ifndef NEON_LIB_CONSENSUS_ACCEPTOR_H_
#define NEON_LIB_CONSENSUS_ACCEPTOR_H_

#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "consensus/control_file.h"
#include "neon/consensus.h"

namespace neon::consensus {

// Deliberately broken behaviours, for proving that the simulator catches
// them. Never set outside tests.
struct AcceptorTestingKnobs {
  bool vote_without_persisting_term = false;  // grant votes before the term is durable
  bool ack_before_fsync = false;              // report written WAL as flushed, skip fsync
};

struct AcceptorOptions {
  NodeId node_id;
  AcceptorTestingKnobs knobs;
};

// ---- Ops for the driver, executed in order ----
struct TruncateWalOp {  // durably remove all WAL at and after `end`
  Lsn end;
};
struct AppendWalOp {  // write (not necessarily durable)
  Lsn begin;
  std::string data;
};
struct SyncWalOp {};  // make all written WAL durable
struct PersistStateOp {  // write the control file durably
  PersistentState state;
};
struct SendOp {  // send `msg` on connection `to`
  ConnId to;
  AcceptorMessage msg;
};
struct SendWalOp {  // read WAL [begin, end) and send it as a WalReadResponse
  ConnId to;
  Term term;
  Lsn begin;
  Lsn end;
};
using AcceptorOp =
    std::variant<TruncateWalOp, AppendWalOp, SyncWalOp, PersistStateOp, SendOp, SendWalOp>;

struct AcceptorReady {
  std::vector<AcceptorOp> ops;
};

// At most this many connections awaiting an append acknowledgement.
inline constexpr size_t kMaxAckPendingConns = 64;

class Acceptor {
 public:
  // `state` as loaded from the control file; `flush_lsn` the durable end of
  // WAL found by the storage. REQUIRES: flush_lsn >= state.commit_lsn.
  Acceptor(AcceptorOptions options, PersistentState state, Lsn flush_lsn);

  // Processes one message from connection `from`. An error means the
  // message was refused (the driver drops the connection); the acceptor's
  // state is then unchanged and no ops were added. kInternal means the
  // proposer asked for something unsafe (truncating committed WAL).
  absl::Status Step(ConnId from, const ProposerMessage& msg, AcceptorReady* ready);
  // End of an inbound batch: syncs appended WAL and acknowledges appenders.
  void Flush(AcceptorReady* ready);
  // Persists in-memory LSNs that moved since the last control-file write.
  void Checkpoint(AcceptorReady* ready);
  void OnDisconnect(ConnId conn);

  // Progress reported from outside the protocol (WAL backup, pageserver).
  void UpdateBackupLsn(Lsn lsn);
  void UpdateRemoteConsistentLsn(Lsn lsn);
  // WAL below the segment of this LSN may be deleted:
  // min(persisted remote_consistent, backup, commit; flush).
  Lsn RemovalHorizon() const;

  NodeId node_id() const { return opts_.node_id; }
  Term term() const { return state_.term; }
  const TermHistory& history() const { return state_.history; }
  Term last_log_term() const { return state_.history.UpTo(flush_lsn_).LastTerm(); }
  Lsn flush_lsn() const { return flush_lsn_; }
  Lsn write_lsn() const { return write_lsn_; }
  Lsn commit_lsn() const { return state_.commit_lsn; }  // live value
  Lsn peer_horizon_lsn() const { return state_.peer_horizon_lsn; }
  const PersistentState& state() const { return state_; }          // live values
  const PersistentState& persisted() const { return persisted_; }  // last persisted

 private:
  absl::Status HandleGreeting(ConnId from, const ProposerGreeting& m, AcceptorReady* ready);
  absl::Status HandleVote(ConnId from, const VoteRequest& m, AcceptorReady* ready);
  absl::Status HandleElected(const ProposerElected& m, AcceptorReady* ready);
  absl::Status CheckElected(const ProposerElected& m) const;
  absl::Status HandleAppend(ConnId from, const AppendRequest& m, AcceptorReady* ready);
  absl::Status HandleWalRead(ConnId from, const WalReadRequest& m, AcceptorReady* ready);
  absl::Status CheckGeneration(Generation g) const;
  void SyncWal(AcceptorReady* ready);
  void Persist(AcceptorReady* ready);
  AppendResponse MakeAppendResponse() const;
  void CheckInvariants() const;

  AcceptorOptions opts_;
  PersistentState state_;      // current values (what disk will hold after a persist)
  PersistentState persisted_;  // as last written
  Lsn write_lsn_;
  Lsn flush_lsn_;
  Lsn commit_candidate_;       // highest commit LSN heard in the current term
  std::vector<ConnId> ack_pending_;
};

}  // namespace neon::consensus

#endif  // NEON_LIB_CONSENSUS_ACCEPTOR_H_
