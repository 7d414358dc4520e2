// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// SimWorld: acceptor and compute lifecycles, driving the real AcceptorNode
// and Proposer.

#include "base/check.h"
#include "base/str_cat.h"
#include "sim/sim_world.h"

namespace neon::sim {

using consensus::ProposerMode;
using consensus::ProposerPhase;

// ---- acceptors ----

void SimWorld::CheckAcceptor(int i) {
  AcceptorHost& h = acceptors_[i];
  if (h.node && !h.node->failed()) checker_.CheckAcceptor(i, h.incarnation, h.node->acceptor());
}

// Every byte on disk from the oldest kept segment to the flushed end.
void SimWorld::CheckAcceptorWal(int i) {
  AcceptorHost& h = acceptors_[i];
  const consensus::Acceptor& a = h.node->acceptor();
  Lsn begin = a.state().local_start_lsn;
  Lsn horizon = a.RemovalHorizon();
  Lsn kept(horizon.value() - horizon.value() % swarm_.segment_size);
  begin = std::max(begin, kept);
  Lsn end = h.node->wal().flush_lsn();
  auto wal = h.node->wal().Read(begin, end);
  if (!wal.ok()) return checker_.Fail(StrCat("acceptor ", i, " cannot read its WAL ",
                                             begin.ToString(), "..", end.ToString(), ": ",
                                             wal.status().ToString()));
  checker_.CheckAcceptorWal(i, a.history(), begin, *wal);
}

void SimWorld::DeliverToAcceptor(Conn& conn, const std::string& bytes) {
  int i = conn.acceptor;
  AcceptorHost& h = acceptors_[i];
  if (!h.node || h.incarnation != conn.acceptor_inc) return;
  uint64_t id = conn.id;
  absl::Status s = h.node->Receive(ConnId(id), bytes);
  if (!s.ok()) {
    if (h.node->failed()) return CrashAcceptor(i, s.ToString());
    if (s.code() == absl::StatusCode::kInternal) {
      checker_.Fail(StrCat("acceptor ", i, " refused an unsafe request: ", s.ToString()));
    }
    Log(StrCat("acceptor ", i, " refuses: ", s.ToString()));
    SendOutbox(i);
    CloseConn(id, "protocol error at acceptor");
  } else {
    SendOutbox(i);
  }
  CheckAcceptor(i);
  if (!h.flush_scheduled) {
    h.flush_scheduled = true;
    uint64_t inc = h.incarnation;
    At(rng_.Range(0, 3), [this, i, inc] {
      if (acceptors_[i].incarnation == inc) FlushAcceptor(i);
    });
  }
}

void SimWorld::FlushAcceptor(int i) {
  AcceptorHost& h = acceptors_[i];
  h.flush_scheduled = false;
  if (!h.node) return;
  absl::Status s = h.node->Flush();
  if (!s.ok()) return CrashAcceptor(i, s.ToString());
  SendOutbox(i);
  CheckAcceptor(i);
}

void SimWorld::SendOutbox(int i) {
  for (auto& [conn, bytes] : acceptors_[i].node->TakeOutbox()) {
    if (opts_.verbose) {
      auto m = consensus::DecodeAcceptorMessage(bytes);
      Log(StrCat("acceptor ", i, " -> conn ", conn.value(), ": ", consensus::DebugString(*m)));
    }
    Send(conn.value(), kToProposer, std::move(bytes));
  }
}

void SimWorld::CrashAcceptor(int i, const std::string& why) {
  AcceptorHost& h = acceptors_[i];
  if (!h.node) return;
  Log(StrCat("acceptor ", i, " crashes: ", why));
  result_.acceptor_crashes++;
  h.node.reset();
  h.incarnation++;
  CloseAllOf(i);
  uint64_t inc = h.incarnation;
  At(rng_.Range(50, 2000), [this, i, inc] {
    if (acceptors_[i].incarnation == inc && !acceptors_[i].node) RestartAcceptor(i);
  });
}

// Power loss: everything not synced is gone; then reopen from disk.
void SimWorld::RestartAcceptor(int i) {
  AcceptorHost& h = acceptors_[i];
  NEON_CHECK(!h.node);
  NEON_CHECK_OK(h.fs->SimulateCrash());
  consensus::AcceptorNodeOptions o;
  o.node_id = NodeId(i + 1);
  o.dir = "/sk/timeline";
  o.knobs.vote_without_persisting_term = opts_.broken == BrokenVariant::kVoteWithoutPersist;
  o.knobs.ack_before_fsync = opts_.broken == BrokenVariant::kAckBeforeFsync;
  auto node = AcceptorNode::Open(h.fs.get(), o);
  if (!node.ok()) {
    return checker_.Fail(StrCat("acceptor ", i, " cannot restart: ", node.status().ToString()));
  }
  h.node = std::move(*node);
  h.incarnation++;
  h.flush_scheduled = false;
  Log(StrCat("acceptor ", i, " up: term ", h.node->acceptor().term().value(), " flush ",
             h.node->acceptor().flush_lsn().ToString(), " history ",
             h.node->acceptor().history().ToString()));
  CheckAcceptor(i);
  if (checker_.ok()) CheckAcceptorWal(i);
}

// Checkpoint, pretend WAL everyone has is backed up, remove old segments.
void SimWorld::Maintain(int i) {
  At(kMaintenanceMs, [this, i] { Maintain(i); });
  AcceptorHost& h = acceptors_[i];
  if (!h.node) return;
  consensus::Acceptor& a = h.node->acceptor();
  a.UpdateBackupLsn(a.peer_horizon_lsn());
  a.UpdateRemoteConsistentLsn(a.peer_horizon_lsn());
  absl::Status s = h.node->Checkpoint();
  if (s.ok()) s = h.node->RemoveOldSegments();
  if (!s.ok()) return CrashAcceptor(i, s.ToString());
  CheckAcceptor(i);
}

// ---- computes ----

void SimWorld::StartCompute(int c, bool sync, Lsn start) {
  ComputeHost& ch = computes_[c];
  KillCompute(c);
  consensus::ProposerOptions o;
  o.tenant_id = tenant_;
  o.timeline_id = timeline_;
  o.mconf = mconf_;
  o.server = {170004, 1234, uint32_t(swarm_.segment_size)};
  o.mode = sync ? ProposerMode::kSyncSafekeepers : ProposerMode::kNormal;
  o.expected_start_lsn = start;
  o.max_inflight_bytes = swarm_.max_inflight_bytes;
  o.max_append_bytes = swarm_.max_append_bytes;
  o.knobs.commit_previous_term_entries = opts_.broken == BrokenVariant::kCommitPreviousTerm;
  ch.proposer = std::make_unique<Proposer>(o);
  ch.proposer_id = next_proposer_id_++;
  ch.last_commit = Lsn();
  ch.elected_reported = false;
  uint64_t inc = ch.incarnation;
  Log(StrCat("compute ", c, " starts proposer ", ch.proposer_id, sync ? " (sync-safekeepers)"
                                                                     : " (normal) at ",
             sync ? "" : start.ToString()));
  for (int i = 0; i < swarm_.acceptors; i++) {
    At(rng_.Range(0, 20), [this, c, inc, i] { Connect(c, inc, i); });
  }
  if (sync) {
    At(kSyncTimeoutMs, [this, c, inc] {
      if (computes_[c].incarnation != inc || !computes_[c].proposer) return;
      Log(StrCat("compute ", c, " sync-safekeepers timed out; retrying"));
      StartCompute(c, true, Lsn());
    });
  } else {
    At(swarm_.wal_every_ms, [this, c, inc] { WriteWal(c, inc); });
  }
}

void SimWorld::KillCompute(int c) {
  ComputeHost& ch = computes_[c];
  ch.incarnation++;
  if (!ch.proposer) return;
  for (int i = 0; i < swarm_.acceptors; i++) {
    if (ch.conn_of[i] != 0) CloseConn(ch.conn_of[i], "compute stops");
  }
  ch.conn_of.assign(swarm_.acceptors, 0);
  ch.proposer.reset();
}

void SimWorld::DeliverToProposer(Conn& conn, const std::string& bytes) {
  ComputeHost& ch = computes_[conn.compute];
  if (!ch.proposer || ch.incarnation != conn.compute_inc) return;
  auto msg = consensus::DecodeAcceptorMessage(bytes);
  NEON_CHECK_OK(msg.status());
  uint64_t id = conn.id;
  int c = conn.compute;
  ProposerReady ready;
  absl::Status s = ch.proposer->Step(NodeId(conn.acceptor + 1), *msg, &ready);
  Route(c, ready);
  if (!s.ok()) {
    Log(StrCat("compute ", c, " drops conn ", id, ": ", s.ToString()));
    CloseConn(id, "protocol error at proposer");
  }
  AfterProposerStep(c);
}

void SimWorld::AfterProposerStep(int c) {
  ComputeHost& ch = computes_[c];
  if (!ch.proposer) return;
  Proposer& p = *ch.proposer;
  bool elected = p.phase() == ProposerPhase::kElected || p.phase() == ProposerPhase::kSynced;
  if (elected && !ch.elected_reported) {
    ch.elected_reported = true;
    Log(StrCat("compute ", c, " proposer ", ch.proposer_id, " elected in term ",
               p.term().value(), " at ", p.term_start_lsn().ToString(), " donor ",
               p.donor().value(), " history ", p.history().ToString()));
    checker_.OnElected(ch.proposer_id, p.term(), p.history(), p.term_start_lsn());
  }
  if (p.commit_lsn() != ch.last_commit && p.commit_lsn().valid()) {
    ch.last_commit = p.commit_lsn();
    checker_.OnProposerCommit(ch.proposer_id, p.history(), p.commit_lsn());
    if (liveness_ && liveness_target_.valid() && p.commit_lsn() >= liveness_target_) {
      Log(StrCat("liveness reached: commit ", p.commit_lsn().ToString()));
      done_ = true;
    }
  }
  if (p.phase() == ProposerPhase::kSynced) {
    Lsn lsn = p.sync_lsn();
    Log(StrCat("compute ", c, " synced at ", lsn.ToString()));
    KillCompute(c);
    uint64_t inc = ch.incarnation;
    At(rng_.Range(0, 50), [this, c, inc, lsn] {
      if (computes_[c].incarnation == inc) StartCompute(c, false, lsn);
    });
  } else if (p.phase() == ProposerPhase::kStopped) {
    Log(StrCat("compute ", c, " proposer stops: ", p.stop_reason().ToString()));
    if (p.stop_reason().code() == absl::StatusCode::kInternal) {
      checker_.Fail(StrCat("proposer failed: ", p.stop_reason().ToString()));
    }
    KillCompute(c);
    result_.compute_restarts++;
    uint64_t inc = ch.incarnation;
    At(rng_.Range(200, 2000), [this, c, inc] {
      if (computes_[c].incarnation == inc && (!liveness_ || c == 0)) StartCompute(c, true, Lsn());
    });
  }
}

void SimWorld::TickComputes() {
  At(kTickMs, [this] { TickComputes(); });
  for (int c = 0; c < swarm_.computes; c++) {
    if (!computes_[c].proposer) continue;
    ProposerReady ready;
    computes_[c].proposer->Tick(&ready);
    Route(c, ready);
    AfterProposerStep(c);
  }
}

void SimWorld::WriteWal(int c, uint64_t inc) {
  ComputeHost& ch = computes_[c];
  if (ch.incarnation != inc || !ch.proposer) return;
  At(rng_.Range(1, 2 * swarm_.wal_every_ms), [this, c, inc] { WriteWal(c, inc); });
  Proposer& p = *ch.proposer;
  if (p.phase() != ProposerPhase::kElected) return;
  size_t n = size_t(rng_.Range(1, swarm_.wal_max_bytes));
  // Liveness: the cluster must commit the first kLivenessWrites writes made
  // after the faults stopped.
  if (liveness_ && ++liveness_writes_ == kLivenessWrites) {
    liveness_target_ = p.available_lsn().Plus(n);
  }
  checker_.OnWalProduced(p.term(), p.available_lsn().Plus(n));
  ProposerReady ready;
  absl::Status s = p.Propose(WalBytes(p.term(), p.available_lsn(), n), &ready);
  Route(c, ready);
  if (!s.ok() && s.code() != absl::StatusCode::kResourceExhausted) {
    checker_.Fail(StrCat("propose failed: ", s.ToString()));
  }
  AfterProposerStep(c);
}

}  // namespace neon::sim
