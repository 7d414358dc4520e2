// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "consensus/acceptor.h"

#include <algorithm>

#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon::consensus {

Acceptor::Acceptor(AcceptorOptions options, PersistentState state, Lsn flush_lsn)
    : opts_(options),
      state_(std::move(state)),
      persisted_(state_),
      write_lsn_(flush_lsn),
      flush_lsn_(flush_lsn),
      commit_candidate_(state_.commit_lsn) {
  NEON_CHECK(flush_lsn >= state_.commit_lsn);
  NEON_CHECK(state_.history.Validate().ok());
  CheckInvariants();
}

void Acceptor::CheckInvariants() const {
  NEON_CHECK(write_lsn_ >= flush_lsn_);
  NEON_CHECK(state_.commit_lsn <= flush_lsn_);
  NEON_CHECK(state_.commit_lsn >= persisted_.commit_lsn);
  NEON_CHECK(state_.history.LastTerm() <= state_.term);
  NEON_CHECK(ack_pending_.size() <= kMaxAckPendingConns);
}

absl::Status Acceptor::Step(ConnId from, const ProposerMessage& msg, AcceptorReady* ready) {
  absl::Status s = std::visit(
      [&](const auto& m) -> absl::Status {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, ProposerGreeting>) return HandleGreeting(from, m, ready);
        if constexpr (std::is_same_v<T, VoteRequest>) return HandleVote(from, m, ready);
        if constexpr (std::is_same_v<T, ProposerElected>) return HandleElected(m, ready);
        if constexpr (std::is_same_v<T, AppendRequest>) return HandleAppend(from, m, ready);
        if constexpr (std::is_same_v<T, WalReadRequest>) return HandleWalRead(from, m, ready);
      },
      msg);
  CheckInvariants();
  return s;
}

absl::Status Acceptor::CheckGeneration(Generation g) const {
  if (g != state_.mconf.generation) {
    return absl::FailedPreconditionError(
        StrCat("node ", opts_.node_id.value(), ": message generation ",
               g.is_none() ? 0 : g.value(), " differs from ours ",
               state_.mconf.generation.is_none() ? 0 : state_.mconf.generation.value()));
  }
  return absl::OkStatus();
}

void Acceptor::SyncWal(AcceptorReady* ready) {
  if (write_lsn_ == flush_lsn_) return;
  if (!opts_.knobs.ack_before_fsync) ready->ops.push_back(SyncWalOp{});
  flush_lsn_ = write_lsn_;
}

void Acceptor::Persist(AcceptorReady* ready) {
  persisted_ = state_;
  ready->ops.push_back(PersistStateOp{state_});
}

absl::Status Acceptor::HandleGreeting(ConnId from, const ProposerGreeting& m,
                                      AcceptorReady* ready) {
  if (m.tenant_id != state_.tenant_id || m.timeline_id != state_.timeline_id) {
    return absl::FailedPreconditionError(StrCat("greeting for timeline ", m.tenant_id.ToString(),
                                                "/", m.timeline_id.ToString(), " not served here"));
  }
  const ServerInfo& ours = state_.server;
  if (m.server.wal_seg_size != ours.wal_seg_size) {
    return absl::FailedPreconditionError(StrCat("WAL segment size ", m.server.wal_seg_size,
                                                " differs from ours ", ours.wal_seg_size));
  }
  if (m.server.pg_version != 0 && ours.pg_version != 0 &&
      m.server.pg_version / 10000 != ours.pg_version / 10000) {
    return absl::FailedPreconditionError(StrCat("Postgres version ", m.server.pg_version,
                                                " differs from ours ", ours.pg_version));
  }
  if (m.mconf.generation > state_.mconf.generation && !m.mconf.Contains(opts_.node_id)) {
    return absl::FailedPreconditionError("greeting's configuration does not include this node");
  }
  bool changed = false;
  if (m.server.system_id != 0 && m.server.system_id != ours.system_id) {
    state_.server.system_id = m.server.system_id;
    if (m.server.pg_version != 0) state_.server.pg_version = m.server.pg_version;
    changed = true;
  }
  if (m.mconf.generation > state_.mconf.generation) {
    state_.mconf = m.mconf;
    changed = true;
  }
  if (changed) Persist(ready);
  ready->ops.push_back(SendOp{from, AcceptorGreeting{opts_.node_id, state_.mconf, state_.term}});
  return absl::OkStatus();
}

absl::Status Acceptor::HandleVote(ConnId from, const VoteRequest& m, AcceptorReady* ready) {
  NEON_RETURN_IF_ERROR(CheckGeneration(m.generation));
  SyncWal(ready);  // the new leader's start point must not overlap in-flight WAL
  VoteResponse resp;
  resp.generation = state_.mconf.generation;
  resp.term = state_.term;
  resp.flush_lsn = flush_lsn_;
  resp.truncate_lsn = state_.peer_horizon_lsn;
  resp.history = state_.history.UpTo(flush_lsn_);
  if (state_.term < m.term) {
    state_.term = m.term;
    if (!opts_.knobs.vote_without_persisting_term) Persist(ready);
    resp.term = m.term;
    resp.vote_given = true;
  }
  ready->ops.push_back(SendOp{from, std::move(resp)});
  return absl::OkStatus();
}

absl::Status Acceptor::CheckElected(const ProposerElected& m) const {
  NEON_RETURN_IF_ERROR(CheckGeneration(m.generation));
  NEON_RETURN_IF_ERROR(m.history.Validate());
  if (m.history.empty() || m.history.back().term != m.term) {
    return absl::InvalidArgumentError("ProposerElected history does not end in its term");
  }
  return absl::OkStatus();
}

absl::Status Acceptor::HandleElected(const ProposerElected& m, AcceptorReady* ready) {
  NEON_RETURN_IF_ERROR(CheckElected(m));
  if (state_.term > m.term) return absl::OkStatus();  // stale leader; it learns from appends
  // Computed on everything written, which SyncWal below makes the flushed end.
  std::optional<TermSwitch> lcp =
      FindHighestCommonPoint(m.history, state_.history.UpTo(write_lsn_), write_lsn_);
  if (!lcp) {
    return absl::FailedPreconditionError(StrCat("no common point between proposer history ",
                                                m.history.ToString(), " and ours ",
                                                state_.history.ToString()));
  }
  if (lcp->lsn != m.start_streaming_at) {
    return absl::FailedPreconditionError(StrCat(
        "proposer wants to start at ", m.start_streaming_at.ToString(), " but the divergence point is ",
        lcp->lsn.ToString(), " (ours ", state_.history.ToString(), ")"));
  }
  if (m.start_streaming_at < state_.commit_lsn) {
    return absl::InternalError(StrCat("refusing to truncate committed WAL: start ",
                                      m.start_streaming_at.ToString(), " < commit ",
                                      state_.commit_lsn.ToString()));
  }
  SyncWal(ready);
  if (state_.term < m.term) {
    state_.term = m.term;
    Persist(ready);
  }
  if (m.start_streaming_at < write_lsn_) {
    ready->ops.push_back(TruncateWalOp{m.start_streaming_at});
    write_lsn_ = flush_lsn_ = m.start_streaming_at;
  }
  Lsn tl_start = state_.timeline_start_lsn.valid() ? state_.timeline_start_lsn
                                                   : m.history.entries().front().lsn;
  state_.timeline_start_lsn = tl_start;
  state_.commit_lsn = std::max(state_.commit_lsn, tl_start);
  state_.backup_lsn = std::max(state_.backup_lsn, tl_start);
  state_.remote_consistent_lsn = std::max(state_.remote_consistent_lsn, tl_start);
  state_.history = m.history;
  commit_candidate_ = state_.commit_lsn;
  Persist(ready);
  return absl::OkStatus();
}

absl::Status Acceptor::HandleAppend(ConnId from, const AppendRequest& m, AcceptorReady* ready) {
  NEON_RETURN_IF_ERROR(CheckGeneration(m.generation));
  if (state_.term < m.term) {
    return absl::FailedPreconditionError(
        StrCat("append in term ", m.term.value(), " before its ProposerElected"));
  }
  if (state_.term > m.term) {  // refuse, telling the proposer our term
    AppendResponse resp;
    resp.generation = state_.mconf.generation;
    resp.term = state_.term;
    ready->ops.push_back(SendOp{from, std::move(resp)});
    return absl::OkStatus();
  }
  if (state_.history.LastTerm() != m.term) {
    return absl::FailedPreconditionError(
        StrCat("append in term ", m.term.value(), " before its ProposerElected was accepted"));
  }
  if (m.begin_lsn != write_lsn_) {
    return absl::FailedPreconditionError(
        StrCat("non-contiguous append at ", m.begin_lsn.ToString(), ", WAL ends at ",
               write_lsn_.ToString(), m.begin_lsn < write_lsn_ ? " (rewrite)" : " (gap)"));
  }
  NEON_CHECK(m.end_lsn.Minus(m.begin_lsn) == m.wal.size());
  bool pending = std::find(ack_pending_.begin(), ack_pending_.end(), from) != ack_pending_.end();
  if (!pending && ack_pending_.size() >= kMaxAckPendingConns) {
    return absl::ResourceExhaustedError("too many connections awaiting acknowledgement");
  }
  if (!m.wal.empty()) {
    ready->ops.push_back(AppendWalOp{m.begin_lsn, m.wal});
    write_lsn_ = m.end_lsn;
  }
  commit_candidate_ = std::max(commit_candidate_, m.commit_lsn);
  state_.peer_horizon_lsn = std::max(state_.peer_horizon_lsn, m.truncate_lsn);
  if (!pending) ack_pending_.push_back(from);
  return absl::OkStatus();
}

absl::Status Acceptor::HandleWalRead(ConnId from, const WalReadRequest& m, AcceptorReady* ready) {
  if (m.term != state_.term) {
    return absl::FailedPreconditionError(StrCat("WAL read for term ", m.term.value(),
                                                ", our term is ", state_.term.value()));
  }
  if (m.end_lsn > flush_lsn_ || m.begin_lsn < state_.local_start_lsn) {
    return absl::OutOfRangeError(StrCat("WAL read ", m.begin_lsn.ToString(), "..",
                                        m.end_lsn.ToString(), " outside ",
                                        state_.local_start_lsn.ToString(), "..",
                                        flush_lsn_.ToString()));
  }
  ready->ops.push_back(SendWalOp{from, m.term, m.begin_lsn, m.end_lsn});
  return absl::OkStatus();
}

AppendResponse Acceptor::MakeAppendResponse() const {
  AppendResponse resp;
  resp.generation = state_.mconf.generation;
  resp.term = state_.term;
  resp.flush_lsn = flush_lsn_;
  resp.commit_lsn = persisted_.commit_lsn;
  return resp;
}

void Acceptor::Flush(AcceptorReady* ready) {
  if (ack_pending_.empty()) return;
  SyncWal(ready);
  Lsn commit = std::min(std::max(commit_candidate_, state_.commit_lsn), flush_lsn_);
  NEON_CHECK(commit >= state_.commit_lsn);
  state_.commit_lsn = commit;
  // Persist when the commit LSN first reaches the current term's start (a
  // sync-safekeepers run waits for that) or runs a segment ahead.
  Lsn term_start = state_.history.empty() ? Lsn(0) : state_.history.back().lsn;
  bool crossed = persisted_.commit_lsn < term_start && commit >= term_start;
  bool lagging = commit.Minus(persisted_.commit_lsn) >= state_.server.wal_seg_size;
  if (crossed || lagging) Persist(ready);
  for (ConnId c : ack_pending_) ready->ops.push_back(SendOp{c, MakeAppendResponse()});
  ack_pending_.clear();
  CheckInvariants();
}

void Acceptor::Checkpoint(AcceptorReady* ready) {
  if (!(state_ == persisted_)) Persist(ready);
}

void Acceptor::OnDisconnect(ConnId conn) {
  ack_pending_.erase(std::remove(ack_pending_.begin(), ack_pending_.end(), conn),
                     ack_pending_.end());
}

void Acceptor::UpdateBackupLsn(Lsn lsn) {
  state_.backup_lsn = std::max(state_.backup_lsn, std::min(lsn, state_.commit_lsn));
}

void Acceptor::UpdateRemoteConsistentLsn(Lsn lsn) {
  state_.remote_consistent_lsn =
      std::max(state_.remote_consistent_lsn, std::min(lsn, state_.commit_lsn));
}

Lsn Acceptor::RemovalHorizon() const {
  return std::min({persisted_.remote_consistent_lsn, persisted_.backup_lsn,
                   persisted_.commit_lsn, flush_lsn_});
}

}  // namespace neon::consensus
