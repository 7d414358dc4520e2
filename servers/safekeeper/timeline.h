// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Timeline: one (tenant, timeline) of the safekeeper: the Paxos acceptor with its durable
// storage (consensus::AcceptorNode: control file + WAL segments in <workdir>/<tenant>/<timeline>),
// the proposer connections that drive it, the WAL readers it serves, what it has heard of its
// peers through the broker, and its WAL backup and removal bookkeeping.
//
// Proposer frames are processed in batches by one task at a time (a strand on the shared
// executor): every frame queued when the task starts is stepped through the acceptor, then
// the acceptor is flushed, so appended WAL is fsynced before the AppendResponses (which the
// acceptor emits only after its SyncWalOp) go back to their connections: an acknowledgement
// means the WAL is on disk. A refused message ends its connection. An I/O error makes the
// timeline fail (fail-stop): proposers are disconnected and refused until the process is
// restarted, which reopens the timeline from disk.
//
// Positions (term, flush, commit, ...) are published after every batch to a snapshot that
// readers, the HTTP API and the broker read without waiting for an fsync.
//
// Thread safety: every public method may be called from any thread. `mu_` serializes use of
// the acceptor (held across its I/O); `state_mu_` guards the published snapshot, the
// connection tables and the peer table, and is never held across I/O. Lock order: mu_ before
// state_mu_.

#ifndef NEON_SERVERS_SAFEKEEPER_TIMELINE_H_
#define NEON_SERVERS_SAFEKEEPER_TIMELINE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "consensus/acceptor_node.h"
#include "safekeeper/context.h"

namespace neon::safekeeper {

// A proposer connection as the timeline sees it. Methods are called from the timeline's
// batch task and must not block.
class ProposerLink {
 public:
  virtual ~ProposerLink() = default;
  // Encoded acceptor messages for the proposer, in order.
  virtual void Deliver(std::vector<std::string> frames) = 0;
  // One frame given to Timeline::Receive was processed (flow control).
  virtual void Processed() = 0;
  // Ends the connection with `status`.
  virtual void Close(const absl::Status& status) = 0;
};

// A WAL reader (StreamWal) as the timeline sees it. Methods must not block.
class WalWatcher {
 public:
  virtual ~WalWatcher() = default;
  // The commit or flush LSN or the term moved.
  virtual void OnProgress() = 0;
  // About once a second (keepalives).
  virtual void OnTick(int64_t now_us) = 0;
  virtual void Close(const absl::Status& status) = 0;
};

// A peer safekeeper's latest SafekeeperTimelineInfo, as heard through the broker.
struct PeerInfo {
  uint64_t sk_id = 0;
  consensus::Term term;
  consensus::Term last_log_term;
  Lsn flush_lsn, commit_lsn, backup_lsn, remote_consistent_lsn, peer_horizon_lsn, local_start_lsn;
  std::string pg_connstr, http_connstr;
  std::optional<std::string> availability_zone;
  int64_t heard_at_us = 0;  // MonotonicMicros() when received
};

// A WAL reader's identity and progress.
struct ReaderInfo {
  uint64_t id = 0;
  uint64_t reader_node_id = 0;
  uint32_t shard_number = 0, shard_count = 0;
  bool include_uncommitted = false;
  Lsn start_lsn;
  Lsn sent_lsn;  // end of the WAL sent so far
  std::optional<consensus::PageserverFeedback> feedback;
};

// The published state of the timeline.
struct Positions {
  consensus::Term term;
  consensus::Term last_log_term;
  Lsn flush_lsn;
  Lsn commit_lsn;
  Lsn wal_start_lsn;  // the oldest WAL byte still stored locally
  uint64_t wal_seg_size = 0;
  uint64_t history_version = 0;  // changes whenever a truncation may have happened
};

struct TimelineStatus {
  consensus::PersistentState state;      // live values (term, history, LSNs)
  consensus::PersistentState persisted;  // as in the control file
  Positions pos;
  int proposers = 0;
  std::vector<ReaderInfo> readers;
  std::vector<PeerInfo> peers;
  absl::Status error;  // non-OK once the timeline failed
};

class Timeline : public std::enable_shared_from_this<Timeline> {
 public:
  // Opens the timeline stored in `dir` (control file, end of WAL).
  static absl::StatusOr<std::shared_ptr<Timeline>> Open(const SafekeeperContext* ctx,
                                                        std::string dir);
  ~Timeline();

  const TenantId& tenant_id() const { return tenant_id_; }
  const TimelineId& timeline_id() const { return timeline_id_; }
  const std::string& dir() const { return dir_; }
  const SafekeeperContext& ctx() const { return *ctx_; }

  // ---- Proposers (ProposerStream) ----
  // Registers a connection. Unavailable if the timeline failed or is being deleted;
  // ResourceExhausted beyond kMaxProposerConnsPerTimeline.
  absl::StatusOr<consensus::ConnId> AttachProposer(std::shared_ptr<ProposerLink> link);
  // Queues one frame from `conn` for the next batch.
  void Receive(consensus::ConnId conn, std::string frame);
  // The connection ended (queued behind its frames).
  void DetachProposer(consensus::ConnId conn);

  // ---- WAL readers (StreamWal) ----
  // Registers a reader starting at info.start_lsn. OutOfRange if that WAL is no longer
  // stored here (or precedes the timeline); Unavailable while the timeline is deleted.
  absl::StatusOr<uint64_t> AttachReader(std::shared_ptr<WalWatcher> watcher, ReaderInfo info);
  void DetachReader(uint64_t id);
  void RecordSent(uint64_t id, Lsn end);
  void RecordFeedback(uint64_t id, const consensus::PageserverFeedback& feedback);
  Positions positions() const;
  // WAL bytes [begin, end). Committed WAL (end <= commit) is read from the segment files
  // without waiting for the acceptor; uncommitted WAL is read under the acceptor's lock and
  // only while the term is still `term` (Aborted otherwise). NotFound/OutOfRange if removed.
  absl::StatusOr<std::string> ReadWal(Lsn begin, Lsn end, bool uncommitted, consensus::Term term);

  // ---- Management ----
  TimelineStatus Status() const;
  // Raises the term to max(current, term) or current + 1 (persisted, like a vote).
  // Returns (previous, current).
  absl::StatusOr<std::pair<consensus::Term, consensus::Term>> BumpTerm(
      std::optional<consensus::Term> term);
  // Runs `fn` on the acceptor under its lock, then publishes the new positions and sends
  // whatever the acceptor queued for connected proposers. Unavailable if the timeline failed
  // or is being deleted.
  absl::Status WithNode(const std::function<absl::Status(consensus::AcceptorNode&)>& fn);

  // ---- Peers (broker) ----
  void OnPeerInfo(const PeerInfo& info);
  // Peers heard within the heartbeat timeout.
  std::vector<PeerInfo> LivePeers(int64_t now_us) const;
  // Neon's "active": a proposer is connected, a full segment awaits backup, or the
  // pageserver has not made everything committed durable remotely.
  bool IsActive() const;
  int proposer_count() const;

  // ---- Housekeeping (once a second from the server's ticker) ----
  // Applies reader feedback and peer values (backup, remote_consistent, and the commit LSN
  // of peers whose last_log_term equals ours), persists them (the commit LSN at least every
  // kCheckpointIntervalUs), removes WAL below the horizon, ticks the readers.
  void Tick(int64_t now_us);

  // ---- Background tasks (WAL backup, peer recovery) ----
  // Tasks register while they run; Cancel() waits for them. False once cancelled.
  bool EnterTask();
  void LeaveTask();
  // A cancel hook run by Cancel() (e.g. cancelling a gRPC call). Returns a handle for
  // RemoveCancelHook.
  uint64_t AddCancelHook(std::function<void()> hook);
  void RemoveCancelHook(uint64_t handle);
  bool cancelled() const;
  // Stops the timeline: ends every stream with `why`, runs the cancel hooks, waits for the
  // running batch and tasks. Afterwards the directory may be removed.
  void Cancel(const absl::Status& why);

 private:
  struct InboxItem {
    consensus::ConnId conn;
    std::shared_ptr<ProposerLink> link;  // null once the connection was closed
    std::string frame;
    bool disconnect = false;
  };

  Timeline(const SafekeeperContext* ctx, std::string dir) : ctx_(ctx), dir_(std::move(dir)) {}
  void ScheduleDrain();
  void Drain();
  void ProcessBatch(std::deque<InboxItem>& batch);
  // After any use of the acceptor: publish positions, route the outbox (REQUIRES mu_).
  struct AfterStep {
    std::vector<std::pair<std::shared_ptr<ProposerLink>, std::vector<std::string>>> deliveries;
    std::vector<std::pair<std::shared_ptr<ProposerLink>, absl::Status>> refused;
    std::vector<std::shared_ptr<WalWatcher>> wake;
  };
  void Publish(AfterStep* after) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Fail(const absl::Status& s, AfterStep* after) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Finish(AfterStep& after);
  absl::StatusOr<std::string> ReadSegments(Lsn begin, Lsn end) const;
  void ApplyAndPersist(AfterStep* after, int64_t now_us) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AdoptPeerCommit(Lsn peer_commit, AfterStep* after) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveOldWal(AfterStep* after) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SafekeeperContext* const ctx_;
  const std::string dir_;
  TenantId tenant_id_;
  TimelineId timeline_id_;

  absl::Mutex mu_ ABSL_ACQUIRED_BEFORE(state_mu_);
  std::unique_ptr<consensus::AcceptorNode> node_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);  // sticky failure
  uint64_t removed_below_segno_ ABSL_GUARDED_BY(mu_) = 0;  // segments below were removed
  Lsn wal_start_ ABSL_GUARDED_BY(mu_);                     // oldest WAL byte stored here
  int64_t last_checkpoint_us_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex inbox_mu_;
  std::deque<InboxItem> inbox_ ABSL_GUARDED_BY(inbox_mu_);
  bool drain_scheduled_ ABSL_GUARDED_BY(inbox_mu_) = false;

  mutable absl::Mutex state_mu_;
  consensus::PersistentState state_ ABSL_GUARDED_BY(state_mu_);
  consensus::PersistentState persisted_ ABSL_GUARDED_BY(state_mu_);
  Positions pos_ ABSL_GUARDED_BY(state_mu_);
  absl::Status failed_ ABSL_GUARDED_BY(state_mu_);
  std::map<uint64_t, std::shared_ptr<ProposerLink>> proposers_ ABSL_GUARDED_BY(state_mu_);
  std::map<uint64_t, std::shared_ptr<WalWatcher>> watchers_ ABSL_GUARDED_BY(state_mu_);
  std::map<uint64_t, ReaderInfo> readers_ ABSL_GUARDED_BY(state_mu_);
  std::map<uint64_t, PeerInfo> peers_ ABSL_GUARDED_BY(state_mu_);
  Lsn peers_backup_lsn_ ABSL_GUARDED_BY(state_mu_);
  Lsn peers_remote_consistent_lsn_ ABSL_GUARDED_BY(state_mu_);
  Lsn readers_remote_consistent_lsn_ ABSL_GUARDED_BY(state_mu_);  // max over all feedback
  bool cancelled_ ABSL_GUARDED_BY(state_mu_) = false;
  int tasks_ ABSL_GUARDED_BY(state_mu_) = 0;
  std::map<uint64_t, std::function<void()>> cancel_hooks_ ABSL_GUARDED_BY(state_mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(state_mu_) = 1;
};

// The ConnId used for the acceptor messages the server itself sends (term bumps, peer
// recovery); no connection has it, so replies to it are dropped.
inline constexpr consensus::ConnId kInternalConn{~uint64_t{0}};

}  // namespace neon::safekeeper

#endif  // NEON_SERVERS_SAFEKEEPER_TIMELINE_H_
