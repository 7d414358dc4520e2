// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Proposer: connections, term collection, campaign and election. Streaming
// and commit are in proposer_stream.cc.

#include "consensus/proposer.h"

#include <algorithm>

#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon::consensus {

const char* ProposerPhaseName(ProposerPhase p) {
  switch (p) {
    case ProposerPhase::kCollectingTerms: return "collecting-terms";
    case ProposerPhase::kCampaign: return "campaign";
    case ProposerPhase::kElected: return "elected";
    case ProposerPhase::kSynced: return "synced";
    case ProposerPhase::kStopped: return "stopped";
  }
  return "?";
}

Proposer::Proposer(ProposerOptions options) : opts_(std::move(options)) {
  NEON_CHECK(!opts_.mconf.members.empty());
  NEON_CHECK(opts_.mconf.AllNodes().size() <= kMaxMembers);
  NEON_CHECK(opts_.max_append_bytes > 0 && opts_.max_append_bytes <= kMaxSendSize);
  for (NodeId id : opts_.mconf.AllNodes()) peers_.push_back(Peer{id});
}

Proposer::Peer* Proposer::FindPeer(NodeId id) {
  for (Peer& p : peers_) {
    if (p.id == id) return &p;
  }
  return nullptr;
}

std::vector<NodeId> Proposer::PeersIn(PeerState at_least) const {
  std::vector<NodeId> out;
  for (const Peer& p : peers_) {
    if (p.state >= at_least) out.push_back(p.id);
  }
  return out;
}

void Proposer::Stop(absl::Status reason) {
  NEON_CHECK(!reason.ok());
  if (phase_ == ProposerPhase::kStopped) return;
  phase_ = ProposerPhase::kStopped;
  stop_reason_ = std::move(reason);
}

void Proposer::OnConnected(NodeId node, ProposerReady* ready) {
  Peer* p = FindPeer(node);
  NEON_CHECK(p != nullptr);
  if (phase_ == ProposerPhase::kStopped || phase_ == ProposerPhase::kSynced) return;
  *p = Peer{p->id, PeerState::kHandshake, {}, {}, {}, p->flush_lsn, p->commit_lsn};
  ProposerGreeting g{opts_.tenant_id, opts_.timeline_id, opts_.mconf, opts_.server};
  ready->Send(node, std::move(g));
}

void Proposer::OnDisconnected(NodeId node) {
  Peer* p = FindPeer(node);
  NEON_CHECK(p != nullptr);
  // Acknowledged progress in our term stays valid; the stream does not.
  *p = Peer{p->id, PeerState::kOffline, {}, {}, {}, p->flush_lsn, p->commit_lsn};
  for (auto it = reads_pending_.begin(); it != reads_pending_.end();) {
    it = it->second == node ? reads_pending_.erase(it) : std::next(it);
  }
}

absl::Status Proposer::Step(NodeId from, const AcceptorMessage& msg, ProposerReady* ready) {
  if (phase_ == ProposerPhase::kStopped || phase_ == ProposerPhase::kSynced) {
    return absl::OkStatus();
  }
  Peer* p = FindPeer(from);
  if (p == nullptr || p->state == PeerState::kOffline) {
    return absl::FailedPreconditionError(StrCat("message from unconnected node ", from.value()));
  }
  absl::Status s = std::visit(
      [&](const auto& m) -> absl::Status {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, AcceptorGreeting>) return HandleGreeting(*p, m, ready);
        if constexpr (std::is_same_v<T, VoteResponse>) return HandleVote(*p, m, ready);
        if constexpr (std::is_same_v<T, AppendResponse>) return HandleAppendResponse(*p, m, ready);
        if constexpr (std::is_same_v<T, WalReadResponse>) return HandleWalRead(*p, m, ready);
      },
      msg);
  CheckInvariants();
  return s;
}

absl::Status Proposer::HandleGreeting(Peer& p, const AcceptorGreeting& m, ProposerReady* ready) {
  if (p.state != PeerState::kHandshake) {
    return absl::FailedPreconditionError("unexpected acceptor greeting");
  }
  if (m.node_id != p.id) {
    return absl::FailedPreconditionError(StrCat("connected to node ", p.id.value(),
                                                " but it says it is ", m.node_id.value()));
  }
  if (m.mconf.generation > opts_.mconf.generation) {
    if (phase_ != ProposerPhase::kCollectingTerms) {
      Stop(absl::AbortedError("acceptor has a newer configuration; restarting to adopt it"));
      return absl::OkStatus();
    }
    opts_.mconf = m.mconf;  // membership change: adopt before campaigning
  }
  p.state = PeerState::kGreeted;
  if (phase_ == ProposerPhase::kCollectingTerms) {
    term_ = std::max(term_, m.term);
    if (!opts_.mconf.IsQuorum(PeersIn(PeerState::kGreeted))) return absl::OkStatus();
    term_ = Term(term_.value() + 1);
    phase_ = ProposerPhase::kCampaign;
    for (Peer& q : peers_) {
      if (q.state == PeerState::kGreeted) SendVoteRequest(q, ready);
    }
    return absl::OkStatus();
  }
  if (m.term > term_) {
    Stop(absl::AbortedError(StrCat("term ", term_.value(), " rejected: node ", p.id.value(),
                                   " is at term ", m.term.value())));
    return absl::OkStatus();
  }
  SendVoteRequest(p, ready);
  return absl::OkStatus();
}

void Proposer::SendVoteRequest(Peer& p, ProposerReady* ready) {
  NEON_CHECK(p.state == PeerState::kGreeted);
  NEON_CHECK(term_ > Term(0));
  p.state = PeerState::kVoteSent;
  ready->Send(p.id, VoteRequest{opts_.mconf.generation, term_});
}

absl::Status Proposer::HandleVote(Peer& p, const VoteResponse& m, ProposerReady* ready) {
  if (p.state != PeerState::kVoteSent) {
    return absl::FailedPreconditionError("unexpected vote response");
  }
  if (m.term > term_) {
    Stop(absl::AbortedError(StrCat("term ", term_.value(), " rejected in vote by node ",
                                   p.id.value(), " at term ", m.term.value())));
    return absl::OkStatus();
  }
  if (m.term < term_ || (m.vote_given && m.term != term_)) {
    return absl::FailedPreconditionError("vote response for another term");
  }
  if (!m.vote_given && phase_ == ProposerPhase::kCampaign) {
    Stop(absl::AbortedError(StrCat("node ", p.id.value(), " refused its vote for term ",
                                   term_.value(), " (another proposer?)")));
    return absl::OkStatus();
  }
  if (m.history.empty() || m.history.back().lsn > m.flush_lsn) {
    return absl::FailedPreconditionError("vote response history is empty or beyond its flush");
  }
  p.vote = m;
  p.state = PeerState::kVoted;
  if (phase_ == ProposerPhase::kCampaign) {
    if (opts_.mconf.IsQuorum(PeersIn(PeerState::kVoted))) Elect(ready);
  } else {
    SendElected(p, ready);
  }
  return absl::OkStatus();
}

void Proposer::Elect(ProposerReady* ready) {
  const Peer* donor = nullptr;
  Lsn truncate;
  for (const Peer& p : peers_) {
    if (p.state != PeerState::kVoted) continue;
    NEON_CHECK(p.vote.vote_given && p.vote.term == term_);
    truncate = std::max(truncate, p.vote.truncate_lsn);
    if (donor == nullptr ||
        std::pair(p.vote.history.LastTerm(), p.vote.flush_lsn) >
            std::pair(donor->vote.history.LastTerm(), donor->vote.flush_lsn)) {
      donor = &p;
    }
  }
  NEON_CHECK(donor != nullptr);
  donor_ = donor->id;
  term_start_ = donor->vote.flush_lsn;
  history_ = donor->vote.history.UpTo(term_start_);
  NEON_CHECK(history_.LastTerm() < term_);
  history_.Append({term_, term_start_});
  truncate_lsn_ = std::min(truncate, term_start_);
  available_lsn_ = wal_begin_ = term_start_;
  phase_ = ProposerPhase::kElected;
  if (opts_.mode == ProposerMode::kNormal && opts_.expected_start_lsn.valid() &&
      opts_.expected_start_lsn != term_start_) {
    Stop(absl::FailedPreconditionError(
        StrCat("elected at ", term_start_.ToString(), " but the compute's WAL starts at ",
               opts_.expected_start_lsn.ToString(), ": take a new basebackup")));
    return;
  }
  if (opts_.mode == ProposerMode::kSyncSafekeepers && truncate_lsn_ == term_start_) {
    phase_ = ProposerPhase::kSynced;  // every acceptor already has everything
    return;
  }
  for (Peer& p : peers_) {
    if (p.state == PeerState::kVoted) SendElected(p, ready);
  }
}

void Proposer::SendElected(Peer& p, ProposerReady* ready) {
  NEON_CHECK(p.state == PeerState::kVoted);
  std::optional<TermSwitch> lcp =
      FindHighestCommonPoint(history_, p.vote.history, p.vote.flush_lsn);
  Lsn start = lcp ? lcp->lsn : history_.entries().front().lsn;
  // An acceptor cannot hold more of our term's WAL than we produced.
  NEON_CHECK(start <= available_lsn_);
  p.state = PeerState::kActive;
  p.streaming_at = p.elected_start = start;
  ready->Send(p.id, ProposerElected{opts_.mconf.generation, term_, start, history_});
  SendPending(p, /*heartbeat=*/true, ready);
}

absl::Status Proposer::HandleAppendResponse(Peer& p, const AppendResponse& m,
                                            ProposerReady* ready) {
  if (p.state != PeerState::kActive) {
    return absl::FailedPreconditionError("append response before election");
  }
  if (m.term > term_) {
    Stop(absl::AbortedError(StrCat("term ", term_.value(), " superseded: node ", p.id.value(),
                                   " is at term ", m.term.value())));
    return absl::OkStatus();
  }
  if (m.term < term_) return absl::FailedPreconditionError("append response for an older term");
  NEON_CHECK(m.flush_lsn <= available_lsn_);  // nobody has WAL we did not produce
  p.flush_lsn = std::max(p.flush_lsn, m.flush_lsn);
  p.commit_lsn = std::max(p.commit_lsn, m.commit_lsn);
  UpdateCommit(ready);
  UpdateTruncateLsn();
  MaybeFinishSync(ready);
  if (phase_ == ProposerPhase::kElected) SendPending(p, /*heartbeat=*/false, ready);
  return absl::OkStatus();
}

absl::Status Proposer::HandleWalRead(Peer& p, const WalReadResponse& m, ProposerReady* ready) {
  auto it = reads_pending_.find(m.begin_lsn);
  if (m.term != term_ || it == reads_pending_.end() || it->second != p.id) {
    return absl::OkStatus();  // stale; harmless
  }
  reads_pending_.erase(it);
  if (m.wal.empty() || m.begin_lsn.Plus(m.wal.size()) > wal_begin_) {
    return absl::FailedPreconditionError("WAL read response outside the requested range");
  }
  fetched_[m.begin_lsn] = m.wal;
  TrimBuffers();
  SendPendingAll(/*heartbeat=*/false, ready);
  return absl::OkStatus();
}

}  // namespace neon::consensus
