// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Consensus: the vocabulary of the Paxos-replicated WAL (Neon's safekeeper
// protocol). A proposer (the compute's walproposer, or sync-safekeepers)
// replicates WAL to acceptors (safekeepers); a transaction commits once a
// quorum of acceptors has its WAL on disk. This header holds the value types
// and messages and the binary codec (doc/format/consensus-wire.md). The state
// machines that exchange these messages live in lib/consensus (see its
// README.md for the driver contract).
//
// Thread safety: everything here is a plain value type; const methods may be
// called concurrently, and the codec functions are pure and thread-safe.

#ifndef NEON_INCLUDE_NEON_CONSENSUS_H_
#define NEON_INCLUDE_NEON_CONSENSUS_H_

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "neon/types.h"

namespace neon::consensus {

// ---- Strong scalar types ----------------------------------------------------

// A u64 with a tag so that terms, node ids and connection ids never mix.
template <typename Tag>
class StrongId {
 public:
  constexpr StrongId() = default;
  constexpr explicit StrongId(uint64_t v) : value_(v) {}
  constexpr uint64_t value() const { return value_; }
  std::string ToString() const { return std::to_string(value_); }
  friend constexpr auto operator<=>(StrongId, StrongId) = default;
  template <typename H>
  friend H AbslHashValue(H h, StrongId id) {
    return H::combine(std::move(h), id.value_);
  }

 private:
  uint64_t value_ = 0;
};

struct TermTag {};
struct NodeIdTag {};
struct ConnIdTag {};
// Paxos ballot. Term 0 is the initial term; nobody is ever elected in it.
using Term = StrongId<TermTag>;
// A safekeeper's identity (stable across restarts).
using NodeId = StrongId<NodeIdTag>;
// A driver-assigned handle of one connection to an acceptor; replies go back
// on the connection the request came from.
using ConnId = StrongId<ConnIdTag>;

// ---- Protocol limits (wire-visible; see consensus-wire.md) ------------------

inline constexpr uint8_t kWireVersion = 1;
// Largest WAL payload of one AppendRequest / WalReadResponse (XLOG_BLCKSZ*16).
inline constexpr uint64_t kMaxSendSize = 131072;
inline constexpr size_t kMaxTermHistoryEntries = 4096;
inline constexpr size_t kMaxMembers = 32;
inline constexpr size_t kMaxHostLength = 255;
// No encoded message is larger than this.
inline constexpr size_t kMaxMessageSize = 256 * 1024;
inline constexpr uint64_t kDefaultWalSegmentSize = 16 * 1024 * 1024;

// ---- Term history -----------------------------------------------------------

// One entry: WAL of `term` starts at `lsn`.
struct TermSwitch {
  Term term;
  Lsn lsn;
  friend bool operator==(const TermSwitch&, const TermSwitch&) = default;
};

// Where each term's WAL begins: terms strictly increasing, LSNs
// non-decreasing. Equivalent to knowing the term of every WAL byte: the bytes
// [e[i].lsn, e[i+1].lsn) belong to e[i].term.
class TermHistory {
 public:
  TermHistory() = default;
  explicit TermHistory(std::vector<TermSwitch> entries) : entries_(std::move(entries)) {}

  const std::vector<TermSwitch>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  const TermSwitch& back() const { return entries_.back(); }  // REQUIRES: !empty()
  void Append(TermSwitch e) { entries_.push_back(e); }

  // The entries with lsn <= flush (an entry starting exactly at flush is kept:
  // a new leader's term may begin with zero bytes).
  TermHistory UpTo(Lsn flush) const;
  // Term of the last entry (Term 0 if empty): "last_log_term" when applied
  // to UpTo(flush_lsn).
  Term LastTerm() const;
  // Term that owns the WAL byte at `lsn`; Term 0 if before the first entry.
  Term TermAt(Lsn lsn) const;
  // InvalidArgument unless terms strictly increase and LSNs do not decrease.
  absl::Status Validate() const;
  std::string ToString() const;  // "[(1, 0/10), (2, 0/20)]"

  friend bool operator==(const TermHistory&, const TermHistory&) = default;

 private:
  std::vector<TermSwitch> entries_;
};

// The highest point where an acceptor's WAL (history `acc` up to `acc_flush`)
// agrees with the proposer's history `prop`; nullopt if they share no term.
// This is where the acceptor must be truncated before it streams in the
// proposer's term (Neon's find_highest_common_point).
std::optional<TermSwitch> FindHighestCommonPoint(const TermHistory& prop, const TermHistory& acc,
                                                 Lsn acc_flush);

// ---- Membership ---------------------------------------------------------------

struct SafekeeperId {
  NodeId id;
  std::string host;
  uint16_t pg_port = 0;
  friend bool operator==(const SafekeeperId&, const SafekeeperId&) = default;
};

// Static membership today (generation None, 3 or 5 members); generations and
// joint configurations (new_members non-empty) are carried on the wire and
// honoured by the quorum rules, but not yet driven by a reconfiguration
// procedure.
struct MembershipConfig {
  Generation generation;  // None = legacy (wire value 0)
  std::vector<SafekeeperId> members;
  std::vector<SafekeeperId> new_members;  // empty = not joint

  bool IsJoint() const { return !new_members.empty(); }
  bool Contains(NodeId id) const;
  // Every node of members and new_members, without duplicates.
  std::vector<NodeId> AllNodes() const;
  // True if `voters` holds a majority of members (and of new_members if joint).
  bool IsQuorum(const std::vector<NodeId>& voters) const;
  friend bool operator==(const MembershipConfig&, const MembershipConfig&) = default;
};

struct ServerInfo {
  uint32_t pg_version = 0;  // PG_VERSION_NUM, e.g. 170004
  uint64_t system_id = 0;   // 0 = unknown
  uint32_t wal_seg_size = 0;
  friend bool operator==(const ServerInfo&, const ServerInfo&) = default;
};

// ---- Messages: proposer -> acceptor ----------------------------------------

struct ProposerGreeting {
  TenantId tenant_id;
  TimelineId timeline_id;
  MembershipConfig mconf;
  ServerInfo server;
};
struct VoteRequest {
  Generation generation;
  Term term;
};
struct ProposerElected {
  Generation generation;
  Term term;
  Lsn start_streaming_at;  // the acceptor truncates its WAL here
  TermHistory history;     // the proposer's full history; back().term == term
};
struct AppendRequest {
  Generation generation;
  Term term;
  Lsn begin_lsn;
  Lsn end_lsn;  // end - begin == wal.size() <= kMaxSendSize
  Lsn commit_lsn;
  Lsn truncate_lsn;  // every acceptor has flushed this far
  std::string wal;
};
// Donor read (proposer catching a lagging acceptor up from another one).
// Served only while the acceptor's term equals `term`.
struct WalReadRequest {
  Term term;
  Lsn begin_lsn;
  Lsn end_lsn;  // end - begin <= kMaxSendSize
};

// ---- Messages: acceptor -> proposer ----------------------------------------

struct AcceptorGreeting {
  NodeId node_id;
  MembershipConfig mconf;
  Term term;
};
struct VoteResponse {
  Generation generation;
  Term term;
  bool vote_given = false;
  Lsn flush_lsn;
  Lsn truncate_lsn;
  TermHistory history;  // acceptor history up to flush_lsn
};
struct HotStandbyFeedback {
  int64_t ts = 0;
  uint64_t xmin = 0;
  uint64_t catalog_xmin = 0;
  friend bool operator==(const HotStandbyFeedback&, const HotStandbyFeedback&) = default;
};
struct PageserverFeedback {
  uint64_t current_timeline_size = 0;
  Lsn last_received_lsn;
  Lsn disk_consistent_lsn;
  Lsn remote_consistent_lsn;
  int64_t replytime_us = 0;
  uint32_t shard_number = 0;
  friend bool operator==(const PageserverFeedback&, const PageserverFeedback&) = default;
};
struct AppendResponse {
  Generation generation;
  Term term;      // acceptor's term; > request term means "rejected"
  Lsn flush_lsn;  // durable WAL end
  Lsn commit_lsn; // the acceptor's persisted commit LSN
  HotStandbyFeedback hs_feedback;
  std::optional<PageserverFeedback> ps_feedback;
};
struct WalReadResponse {
  Term term;
  Lsn begin_lsn;
  std::string wal;
};

using ProposerMessage =
    std::variant<ProposerGreeting, VoteRequest, ProposerElected, AppendRequest, WalReadRequest>;
using AcceptorMessage = std::variant<AcceptorGreeting, VoteResponse, AppendResponse, WalReadResponse>;

// ---- Codec ------------------------------------------------------------------

// Encodes one message as `u8 version, u8 tag, body` (consensus-wire.md).
// REQUIRES: the message respects the limits above (checked; a violation is a
// bug in the caller).
std::string EncodeProposerMessage(const ProposerMessage& msg);
std::string EncodeAcceptorMessage(const AcceptorMessage& msg);
// Decodes one whole message. InvalidArgument for an unknown version or tag,
// short or trailing bytes, or any field out of its limits; never crashes.
absl::StatusOr<ProposerMessage> DecodeProposerMessage(std::string_view data);
absl::StatusOr<AcceptorMessage> DecodeAcceptorMessage(std::string_view data);

// Short human-readable renderings for logs and scenario tests.
std::string DebugString(const ProposerMessage& msg);
std::string DebugString(const AcceptorMessage& msg);

}  // namespace neon::consensus

#endif  // NEON_INCLUDE_NEON_CONSENSUS_H_
