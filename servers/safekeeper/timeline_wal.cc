// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Timeline: WAL readers and reads, pageserver feedback, peers heard through the broker, and
// the once-a-second housekeeping (persisting backup / remote_consistent LSNs, WAL removal).

#include <algorithm>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "common/log.h"
#include "consensus/wal_storage.h"
#include "safekeeper/timeline.h"

namespace neon::safekeeper {

using consensus::AcceptorNode;

absl::StatusOr<uint64_t> Timeline::AttachReader(std::shared_ptr<WalWatcher> watcher,
                                                ReaderInfo info) {
  absl::MutexLock l(&state_mu_);
  if (cancelled_) return absl::UnavailableError("timeline is being deleted");
  if (watchers_.size() >= kMaxReadersPerTimeline) {
    return absl::ResourceExhaustedError(
        StrCat("more than ", kMaxReadersPerTimeline, " WAL readers"));
  }
  if (info.start_lsn < pos_.wal_start_lsn) {
    return absl::OutOfRangeError(StrCat("start_lsn ", info.start_lsn.ToString(),
                                        " is below the oldest WAL kept here, ",
                                        pos_.wal_start_lsn.ToString()));
  }
  const uint64_t id = next_id_++;
  info.id = id;
  info.sent_lsn = info.start_lsn;
  watchers_[id] = std::move(watcher);
  readers_[id] = std::move(info);
  return id;
}

void Timeline::DetachReader(uint64_t id) {
  absl::MutexLock l(&state_mu_);
  watchers_.erase(id);
  readers_.erase(id);
}

void Timeline::RecordSent(uint64_t id, Lsn end) {
  absl::MutexLock l(&state_mu_);
  auto it = readers_.find(id);
  if (it != readers_.end()) it->second.sent_lsn = end;
}

void Timeline::RecordFeedback(uint64_t id, const consensus::PageserverFeedback& feedback) {
  absl::MutexLock l(&state_mu_);
  auto it = readers_.find(id);
  if (it != readers_.end()) it->second.feedback = feedback;
  // Kept after the reader leaves, until the next tick applies it.
  readers_remote_consistent_lsn_ =
      std::max(readers_remote_consistent_lsn_, feedback.remote_consistent_lsn);
}

Positions Timeline::positions() const {
  absl::MutexLock l(&state_mu_);
  return pos_;
}

absl::StatusOr<std::string> Timeline::ReadWal(Lsn begin, Lsn end, bool uncommitted,
                                              consensus::Term term) {
  if (!uncommitted) {
    const Positions p = positions();
    if (end > p.commit_lsn || begin < p.wal_start_lsn) {
      return absl::OutOfRangeError(StrCat("WAL ", begin.ToString(), "..", end.ToString(),
                                          " is not committed WAL kept here (",
                                          p.wal_start_lsn.ToString(), "..",
                                          p.commit_lsn.ToString(), ")"));
    }
    return ReadSegments(begin, end);
  }
  absl::MutexLock l(&mu_);
  if (!error_.ok()) return absl::UnavailableError(StrCat("timeline failed: ", error_.message()));
  if (node_->acceptor().term() != term) {
    return absl::AbortedError(StrCat("term changed from ", term.value(), " to ",
                                     node_->acceptor().term().value()));
  }
  if (end > node_->acceptor().flush_lsn() || begin < wal_start_) {
    return absl::OutOfRangeError(StrCat("WAL ", begin.ToString(), "..", end.ToString(),
                                        " is not flushed WAL kept here"));
  }
  return node_->wal().Read(begin, end);
}

// Committed WAL never changes, so it is read straight from the segment files. The segment
// may be renamed from "<name>.partial" to "<name>" (or back, when a later part is truncated)
// at any time, so both names are tried.
absl::StatusOr<std::string> Timeline::ReadSegments(Lsn begin, Lsn end) const {
  const uint64_t seg = positions().wal_seg_size;
  std::string out;
  out.reserve(end.Minus(begin));
  for (Lsn pos = begin; pos < end;) {
    const uint64_t segno = pos.value() / seg, off = pos.value() % seg;
    const size_t n = size_t(std::min<uint64_t>(end.Minus(pos), seg - off));
    const std::string full = JoinPath(dir_, consensus::WalSegmentName(segno, seg));
    const std::string partial = full + consensus::kPartialSuffix;
    absl::StatusOr<std::unique_ptr<RandomAccessFile>> f = ctx_->fs->NewRandomAccessFile(partial);
    if (absl::IsNotFound(f.status())) f = ctx_->fs->NewRandomAccessFile(full);
    if (absl::IsNotFound(f.status())) f = ctx_->fs->NewRandomAccessFile(partial);
    if (absl::IsNotFound(f.status())) {
      return absl::OutOfRangeError(StrCat("WAL segment ", consensus::WalSegmentName(segno, seg),
                                          " was removed"));
    }
    if (!f.ok()) return f.status();
    const size_t old = out.size();
    out.resize(old + n);
    NEON_ASSIGN_OR_RETURN(size_t got, (*f)->Read(off, n, out.data() + old));
    if (got != n) {
      return absl::DataLossError(StrCat("WAL segment ", full, " is short: ", got, " of ", n,
                                        " bytes at offset ", off));
    }
    pos = pos.Plus(n);
  }
  return out;
}

TimelineStatus Timeline::Status() const {
  absl::MutexLock l(&state_mu_);
  TimelineStatus s;
  s.state = state_;
  s.persisted = persisted_;
  s.pos = pos_;
  s.proposers = int(proposers_.size());
  for (const auto& [id, r] : readers_) s.readers.push_back(r);
  for (const auto& [id, p] : peers_) s.peers.push_back(p);
  s.error = failed_;
  return s;
}

void Timeline::OnPeerInfo(const PeerInfo& info) {
  if (info.sk_id == ctx_->config.node_id.value()) return;
  absl::MutexLock l(&state_mu_);
  peers_[info.sk_id] = info;
  // Values that only grow (Neon's max-merge): what any member backed up, and what the
  // pageserver made durable.
  peers_backup_lsn_ = std::max(peers_backup_lsn_, info.backup_lsn);
  peers_remote_consistent_lsn_ = std::max(peers_remote_consistent_lsn_, info.remote_consistent_lsn);
}

std::vector<PeerInfo> Timeline::LivePeers(int64_t now_us) const {
  absl::MutexLock l(&state_mu_);
  std::vector<PeerInfo> out;
  for (const auto& [id, p] : peers_) {
    if (now_us - p.heard_at_us <= ctx_->config.heartbeat_timeout_us) out.push_back(p);
  }
  return out;
}

bool Timeline::IsActive() const {
  absl::MutexLock l(&state_mu_);
  const uint64_t seg = pos_.wal_seg_size;
  return !proposers_.empty() ||
         state_.commit_lsn.value() / seg > state_.backup_lsn.value() / seg ||
         state_.remote_consistent_lsn < state_.commit_lsn;
}

int Timeline::proposer_count() const {
  absl::MutexLock l(&state_mu_);
  return int(proposers_.size());
}

void Timeline::Tick(int64_t now_us) {
  AfterStep after;
  {
    absl::MutexLock l(&mu_);
    if (error_.ok() && !cancelled()) {
      ApplyAndPersist(&after, now_us);
      if (error_.ok()) RemoveOldWal(&after);
      Publish(&after);
    }
  }
  Finish(after);
  std::vector<std::shared_ptr<WalWatcher>> watchers;
  {
    absl::MutexLock l(&state_mu_);
    for (const auto& [id, w] : watchers_) watchers.push_back(w);
  }
  for (const auto& w : watchers) w->OnTick(now_us);
}

// Feeds the acceptor what readers and peers report and persists it when it moved (the
// removal horizon uses persisted values only).
void Timeline::ApplyAndPersist(AfterStep* after, int64_t now_us) {
  consensus::Acceptor& a = node_->acceptor();
  Lsn remote, backup, peer_commit;
  {
    absl::MutexLock l(&state_mu_);
    remote = std::max(peers_remote_consistent_lsn_, readers_remote_consistent_lsn_);
    backup = peers_backup_lsn_;
    for (const auto& [id, p] : peers_) {
      if (p.last_log_term == a.last_log_term()) peer_commit = std::max(peer_commit, p.commit_lsn);
    }
  }
  if (peer_commit > a.commit_lsn()) AdoptPeerCommit(peer_commit, after);
  if (!error_.ok()) return;
  if (remote.valid()) a.UpdateRemoteConsistentLsn(remote);
  if (backup.valid()) a.UpdateBackupLsn(backup);
  const consensus::PersistentState& st = a.state();
  const consensus::PersistentState& p = a.persisted();
  // Backup and remote_consistent LSNs are persisted as soon as they move (WAL removal and
  // the peers depend on them); the rest (commit, peer horizon) at least every interval.
  const bool moved = st.backup_lsn != p.backup_lsn ||
                     st.remote_consistent_lsn != p.remote_consistent_lsn;
  const bool stale = !(st == p) && now_us - last_checkpoint_us_ >= kCheckpointIntervalUs;
  if (moved || stale) {
    if (absl::Status s = node_->Checkpoint(); !s.ok()) Fail(s, after);
    last_checkpoint_us_ = now_us;
  }
}

// A peer with the same last_log_term has the same WAL of that term up to its flush LSN (one
// leader wrote it), so its commit LSN is ours too, up to our flush LSN (Neon's rule). It is
// given to the acceptor as an empty append of our term, as the proposer's heartbeat would.
void Timeline::AdoptPeerCommit(Lsn peer_commit, AfterStep* after) {
  consensus::Acceptor& a = node_->acceptor();
  if (a.term() != a.last_log_term() || a.history().LastTerm() != a.term() ||
      a.write_lsn() != a.flush_lsn()) {
    return;
  }
  consensus::AppendRequest heartbeat{a.state().mconf.generation, a.term(), a.write_lsn(),
                                     a.write_lsn(), peer_commit, Lsn(0), std::string()};
  absl::Status s = node_->Step(kInternalConn, heartbeat);
  if (s.ok()) s = node_->Flush();
  if (!s.ok() && node_->failed()) Fail(node_->error(), after);
}

// Deletes the segments wholly below min(backup, commit, remote_consistent, flush) (the
// acceptor's persisted values, reference 5.7) and the persisted peer horizon, so lagging
// peers can still catch up from here.
void Timeline::RemoveOldWal(AfterStep* after) {
  const consensus::Acceptor& a = node_->acceptor();
  const Lsn horizon = std::min({a.RemovalHorizon(), node_->wal().flush_lsn(),
                                a.persisted().peer_horizon_lsn});
  const uint64_t seg = a.state().server.wal_seg_size;
  const uint64_t segno = horizon.value() / seg;
  if (segno <= removed_below_segno_) return;
  if (absl::Status s = node_->wal().RemoveSegmentsBelow(horizon); !s.ok()) {
    Fail(s, after);
    return;
  }
  const uint64_t first = std::max(removed_below_segno_, a.state().local_start_lsn.value() / seg);
  if (segno > first) ctx_->metrics->segments_removed->Increment(segno - first);
  server::LogInfo("wal_removed", {{"tenant_id", tenant_id_.ToString()},
                                  {"timeline_id", timeline_id_.ToString()},
                                  {"below", Lsn(segno * seg).ToString()}});
  removed_below_segno_ = segno;
  wal_start_ = std::max(a.state().local_start_lsn, Lsn(segno * seg));
}

}  // namespace neon::safekeeper
