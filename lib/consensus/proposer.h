// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Proposer: the walproposer as a pure state machine (no I/O, no clock, no
// threads). The driver tells it about connections (OnConnected /
// OnDisconnected), feeds it decoded acceptor messages (Step), new local WAL
// (Propose) and heartbeat ticks (Tick), and sends the messages it appends to
// a ProposerReady, each to the acceptor named, in order, on the connection
// current for that acceptor. Connections must be FIFO (TCP-like); a broken
// one is reported with OnDisconnected and reconnected by the driver.
//
//   kCollectingTerms --greetings from a quorum--> kCampaign  (term = max + 1)
//   kCampaign --votes from a quorum--> kElected   (donor = max (last_log_term,
//                                                  flush); history = donor's
//                                                  + (term, donor flush))
//   kElected --sync mode: every live acceptor has commit >= start--> kSynced
//   any --a higher term seen, or a vote refused while campaigning,
//         or a start-LSN mismatch--> kStopped (the driver restarts it)
//
// In kElected it brings each acceptor to its divergence point with
// ProposerElected, streams WAL (older terms' WAL comes from the donor, and
// own WAL already trimmed from the buffer from an acceptor that has it,
// through WalReadRequest), and commits the quorum-th highest flush LSN once that is
// at or past the start of its own term (never counting earlier-term WAL by
// itself, the Raft rule).
//
// Thread safety: not thread-safe; one owner.

#ifndef NEON_LIB_CONSENSUS_PROPOSER_H_
#define NEON_LIB_CONSENSUS_PROPOSER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "neon/consensus.h"

namespace neon::consensus {

enum class ProposerMode {
  kNormal,           // a compute's walproposer: streams new WAL
  kSyncSafekeepers,  // elect, bring acceptors to one WAL end, report it
};

enum class ProposerPhase { kCollectingTerms, kCampaign, kElected, kSynced, kStopped };
const char* ProposerPhaseName(ProposerPhase p);

// Deliberately broken behaviours for proving that the simulator catches
// them. Never set outside tests.
struct ProposerTestingKnobs {
  // Commit WAL of earlier terms by counting replicas (Raft's figure 8).
  bool commit_previous_term_entries = false;
};

struct ProposerOptions {
  TenantId tenant_id;
  TimelineId timeline_id;
  MembershipConfig mconf;
  ServerInfo server;
  ProposerMode mode = ProposerMode::kNormal;
  // Normal mode: the LSN the compute's WAL starts at (its basebackup). The
  // election must land exactly there, else the proposer stops
  // (FailedPrecondition). Invalid = accept any start.
  Lsn expected_start_lsn;
  uint64_t max_inflight_bytes = 1 << 20;       // unacknowledged bytes per acceptor
  uint64_t max_append_bytes = kMaxSendSize;    // WAL per AppendRequest / WAL read
  uint64_t max_buffered_wal_bytes = 64 << 20;  // own WAL kept for catch-up
  ProposerTestingKnobs knobs;
};

struct Outgoing {
  NodeId to;
  ProposerMessage msg;
};
struct ProposerReady {
  std::vector<Outgoing> messages;
  void Send(NodeId to, ProposerMessage msg) {
    Outgoing& o = messages.emplace_back();
    o.to = to;
    o.msg = std::move(msg);
  }
};

inline constexpr size_t kMaxOutstandingWalReads = 4;
inline constexpr size_t kMaxFetchedChunks = 32;

class Proposer {
 public:
  explicit Proposer(ProposerOptions options);

  // A connection to `node` is up: sends the greeting.
  void OnConnected(NodeId node, ProposerReady* ready);
  // The connection to `node` broke; its per-connection state is forgotten.
  void OnDisconnected(NodeId node);
  // Processes a message from `from`. An error means the acceptor broke the
  // protocol: drop and reconnect that connection. Conditions that end this
  // proposer move it to kStopped instead (see stop_reason()).
  absl::Status Step(NodeId from, const AcceptorMessage& msg, ProposerReady* ready);
  // Appends local WAL at available_lsn() and streams it.
  // FailedPrecondition unless elected in normal mode; ResourceExhausted if
  // the unacknowledged buffer is full (back-pressure; retry later).
  absl::Status Propose(std::string_view wal, ProposerReady* ready);
  // Heartbeat: idle acceptors get an empty append carrying commit LSN;
  // stalled donor reads are retried.
  void Tick(ProposerReady* ready);

  ProposerPhase phase() const { return phase_; }
  const absl::Status& stop_reason() const { return stop_reason_; }
  Term term() const { return term_; }
  const TermHistory& history() const { return history_; }
  Lsn term_start_lsn() const { return term_start_; }  // valid once elected
  Lsn available_lsn() const { return available_lsn_; }
  Lsn commit_lsn() const { return commit_lsn_; }
  Lsn truncate_lsn() const { return truncate_lsn_; }
  NodeId donor() const { return donor_; }
  // Sync mode: the LSN to start the compute from, once phase() == kSynced.
  Lsn sync_lsn() const { return term_start_; }

 private:
  enum class PeerState { kOffline, kHandshake, kGreeted, kVoteSent, kVoted, kActive };
  struct Peer {
    NodeId id;
    PeerState state = PeerState::kOffline;
    VoteResponse vote;
    Lsn streaming_at;   // next LSN to send
    Lsn elected_start;  // where this connection's stream began
    Lsn flush_lsn;      // last acknowledged in our term (kept across reconnects)
    Lsn commit_lsn;     // its persisted commit, as last reported
    bool sent_since_tick = false;
  };

  Peer* FindPeer(NodeId id);
  std::vector<NodeId> PeersIn(PeerState at_least) const;
  void Stop(absl::Status reason);
  absl::Status HandleGreeting(Peer& p, const AcceptorGreeting& m, ProposerReady* ready);
  absl::Status HandleVote(Peer& p, const VoteResponse& m, ProposerReady* ready);
  absl::Status HandleAppendResponse(Peer& p, const AppendResponse& m, ProposerReady* ready);
  absl::Status HandleWalRead(Peer& p, const WalReadResponse& m, ProposerReady* ready);
  void SendVoteRequest(Peer& p, ProposerReady* ready);
  void Elect(ProposerReady* ready);
  void SendElected(Peer& p, ProposerReady* ready);

  // proposer_stream.cc
  void SendPending(Peer& p, bool heartbeat, ProposerReady* ready);
  void SendPendingAll(bool heartbeat, ProposerReady* ready);
  bool ChunkAt(Lsn begin, Lsn* end, std::string* data, ProposerReady* ready);
  void RequestWalRead(Lsn begin, Lsn end, ProposerReady* ready);
  void SendAppend(Peer& p, Lsn begin, Lsn end, std::string data, ProposerReady* ready);
  Lsn QuorumFlush(const std::vector<SafekeeperId>& set) const;
  void UpdateCommit(ProposerReady* ready);
  void UpdateTruncateLsn();
  void MaybeFinishSync(ProposerReady* ready);
  void TrimBuffers();
  void CheckInvariants() const;

  ProposerOptions opts_;
  ProposerPhase phase_ = ProposerPhase::kCollectingTerms;
  absl::Status stop_reason_;
  std::vector<Peer> peers_;
  Term term_;
  TermHistory history_;
  NodeId donor_;
  Lsn term_start_;
  Lsn available_lsn_;
  Lsn commit_lsn_;
  Lsn truncate_lsn_;
  Lsn wal_begin_;    // wal_ holds own WAL [wal_begin_, available_lsn_)
  std::string wal_;
  std::map<Lsn, std::string> fetched_;   // WAL read back from acceptors, by begin
  std::map<Lsn, NodeId> reads_pending_;  // WalReadRequests in flight, by begin
};

}  // namespace neon::consensus

#endif  // NEON_LIB_CONSENSUS_PROPOSER_H_
