// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Proposer: streaming WAL to acceptors, donor reads, commit and
// sync-safekeepers completion.

#include <algorithm>

#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "consensus/proposer.h"

namespace neon::consensus {

absl::Status Proposer::Propose(std::string_view wal, ProposerReady* ready) {
  if (phase_ != ProposerPhase::kElected || opts_.mode != ProposerMode::kNormal) {
    return absl::FailedPreconditionError(
        StrCat("cannot propose WAL in phase ", ProposerPhaseName(phase_)));
  }
  TrimBuffers();
  if (wal_.size() + wal.size() > opts_.max_buffered_wal_bytes) {
    return absl::ResourceExhaustedError("proposer WAL buffer full: acceptors are behind");
  }
  wal_.append(wal);
  available_lsn_ = available_lsn_.Plus(wal.size());
  SendPendingAll(/*heartbeat=*/false, ready);
  CheckInvariants();
  return absl::OkStatus();
}

void Proposer::Tick(ProposerReady* ready) {
  if (phase_ != ProposerPhase::kElected) return;
  for (Peer& p : peers_) {
    if (p.state != PeerState::kActive) continue;
    SendPending(p, /*heartbeat=*/!p.sent_since_tick, ready);
    p.sent_since_tick = false;
  }
}

void Proposer::SendPendingAll(bool heartbeat, ProposerReady* ready) {
  for (Peer& p : peers_) {
    if (p.state == PeerState::kActive) SendPending(p, heartbeat, ready);
  }
}

// Sends WAL the acceptor lacks, within the in-flight window; an empty append
// if nothing was sent and a heartbeat is due.
void Proposer::SendPending(Peer& p, bool heartbeat, ProposerReady* ready) {
  NEON_CHECK(p.state == PeerState::kActive);
  bool sent = false;
  while (phase_ == ProposerPhase::kElected && p.streaming_at < available_lsn_) {
    Lsn acked = std::max(p.flush_lsn, p.elected_start);
    if (p.streaming_at.Minus(acked) >= opts_.max_inflight_bytes) break;
    Lsn end = std::min(p.streaming_at.Plus(opts_.max_append_bytes), available_lsn_);
    std::string data;
    if (!ChunkAt(p.streaming_at, &end, &data, ready)) break;
    SendAppend(p, p.streaming_at, end, std::move(data), ready);
    sent = true;
  }
  if (!sent && heartbeat && phase_ == ProposerPhase::kElected) {
    SendAppend(p, p.streaming_at, p.streaming_at, "", ready);
  }
}

// WAL at [begin, *end): from our own buffer, or from WAL reads of what lies
// below it (older terms' WAL from the donor; our own trimmed WAL from an
// acceptor that acknowledged it), asking for it if missing. May shorten
// *end. False if the bytes are not here yet.
bool Proposer::ChunkAt(Lsn begin, Lsn* end, std::string* data, ProposerReady* ready) {
  if (begin >= wal_begin_) {
    *data = wal_.substr(begin.Minus(wal_begin_), end->Minus(begin));
    return true;
  }
  *end = std::min(*end, wal_begin_);
  if (begin < term_start_) *end = std::min(*end, term_start_);
  auto it = fetched_.upper_bound(begin);
  if (it != fetched_.begin()) {
    --it;
    Lsn chunk_end = it->first.Plus(it->second.size());
    if (chunk_end > begin) {
      *end = std::min(*end, chunk_end);
      *data = it->second.substr(begin.Minus(it->first), end->Minus(begin));
      return true;
    }
  }
  // Missing: ask for it and read ahead, one full-size read per outstanding
  // request (appends are then cut from the fetched chunks).
  for (size_t k = 0; k < kMaxOutstandingWalReads && begin < wal_begin_; k++) {
    Lsn limit = begin < term_start_ ? term_start_ : wal_begin_;
    Lsn chunk_end = std::min(begin.Plus(kMaxSendSize), limit);
    if (!fetched_.count(begin)) RequestWalRead(begin, chunk_end, ready);
    begin = chunk_end;
  }
  return false;
}

void Proposer::RequestWalRead(Lsn begin, Lsn end, ProposerReady* ready) {
  if (reads_pending_.count(begin) || reads_pending_.size() >= kMaxOutstandingWalReads) return;
  // The donor's WAL below our start is ours by construction, while its term
  // is still ours (it refuses otherwise); an acceptor that acknowledged that
  // far in our term has the same bytes.
  const Peer* source = nullptr;
  for (const Peer& p : peers_) {
    if (p.state == PeerState::kOffline || p.state == PeerState::kHandshake) continue;
    bool is_donor = p.id == donor_ && p.state >= PeerState::kVoteSent && end <= term_start_;
    bool has_it = p.state == PeerState::kActive && p.flush_lsn >= end;
    if (is_donor || has_it) {
      source = &p;
      if (is_donor) break;
    }
  }
  if (source == nullptr) return;  // retried on the next tick
  reads_pending_[begin] = source->id;
  ready->Send(source->id, WalReadRequest{term_, begin, end});
}

void Proposer::SendAppend(Peer& p, Lsn begin, Lsn end, std::string data, ProposerReady* ready) {
  NEON_CHECK(end.Minus(begin) == data.size() && data.size() <= kMaxSendSize);
  NEON_CHECK(begin == p.streaming_at && end <= available_lsn_);
  AppendRequest req{opts_.mconf.generation, term_, begin, end, commit_lsn_, truncate_lsn_,
                    std::move(data)};
  ready->Send(p.id, std::move(req));
  p.streaming_at = end;
  p.sent_since_tick = true;
}

// The highest LSN that a majority of `set` has flushed in our term. Before
// the term start a flush does not count (unless the broken knob says so):
// earlier-term WAL becomes committed only with our own.
Lsn Proposer::QuorumFlush(const std::vector<SafekeeperId>& set) const {
  std::vector<Lsn> flushes;
  for (const SafekeeperId& m : set) {
    for (const Peer& p : peers_) {
      if (p.id != m.id) continue;
      bool counts = p.flush_lsn >= term_start_ || opts_.knobs.commit_previous_term_entries;
      flushes.push_back(counts ? p.flush_lsn : Lsn(0));
    }
  }
  NEON_CHECK(flushes.size() == set.size());
  std::sort(flushes.begin(), flushes.end(), std::greater<Lsn>());
  return flushes[set.size() / 2];  // quorum = n/2 + 1 highest
}

void Proposer::UpdateCommit(ProposerReady* ready) {
  Lsn candidate = QuorumFlush(opts_.mconf.members);
  if (opts_.mconf.IsJoint()) candidate = std::min(candidate, QuorumFlush(opts_.mconf.new_members));
  bool allowed = candidate >= term_start_ || opts_.knobs.commit_previous_term_entries;
  if (!allowed || candidate <= commit_lsn_) return;
  NEON_CHECK(candidate <= available_lsn_);
  commit_lsn_ = candidate;
  if (phase_ == ProposerPhase::kElected) SendPendingAll(/*heartbeat=*/true, ready);
}

void Proposer::UpdateTruncateLsn() {
  Lsn min_flush = Lsn::Max();
  for (const Peer& p : peers_) min_flush = std::min(min_flush, p.flush_lsn);
  truncate_lsn_ = std::max(truncate_lsn_, std::min(min_flush, commit_lsn_));
}

// Sync mode is done when the quorum commit and every connected acceptor's
// persisted commit reached the term start (the pageserver may stream from
// any of them).
void Proposer::MaybeFinishSync(ProposerReady* ready) {
  if (opts_.mode != ProposerMode::kSyncSafekeepers || phase_ != ProposerPhase::kElected) return;
  if (commit_lsn_ < term_start_) return;
  for (const Peer& p : peers_) {
    if (p.state == PeerState::kOffline) continue;
    if (p.state != PeerState::kActive || p.commit_lsn < term_start_) return;
  }
  SendPendingAll(/*heartbeat=*/true, ready);  // spread the final truncate LSN
  phase_ = ProposerPhase::kSynced;
}

// Own WAL every acceptor acknowledged is never needed again; committed WAL
// is on a quorum and can be read back from one if the buffer runs short.
void Proposer::TrimBuffers() {
  constexpr uint64_t kTrimBatch = 1 << 20;
  Lsn upto = wal_begin_;
  if (truncate_lsn_ > wal_begin_ && truncate_lsn_.Minus(wal_begin_) >= kTrimBatch) {
    upto = truncate_lsn_;
  }
  if (wal_.size() > opts_.max_buffered_wal_bytes / 2 && commit_lsn_ > upto) upto = commit_lsn_;
  if (upto > wal_begin_) {
    NEON_CHECK(upto <= available_lsn_);
    wal_.erase(0, upto.Minus(wal_begin_));
    wal_begin_ = upto;
  }
  while (fetched_.size() > kMaxFetchedChunks) fetched_.erase(fetched_.begin());
}

void Proposer::CheckInvariants() const {
  if (phase_ != ProposerPhase::kElected && phase_ != ProposerPhase::kSynced) return;
  NEON_CHECK(history_.back().term == term_ && history_.back().lsn == term_start_);
  NEON_CHECK(wal_begin_ >= term_start_ && wal_begin_.Plus(wal_.size()) == available_lsn_);
  NEON_CHECK(commit_lsn_ <= available_lsn_);
  NEON_CHECK(reads_pending_.size() <= kMaxOutstandingWalReads);
  NEON_CHECK(fetched_.size() <= kMaxFetchedChunks + 1);
}

}  // namespace neon::consensus
