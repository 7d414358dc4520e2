// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Timeline: opening, the proposer batch strand, publication of positions, term bumps and
// cancellation. WAL reads, feedback, peers and housekeeping are in timeline_wal.cc.

#include "safekeeper/timeline.h"

#include <algorithm>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "common/log.h"
#include "consensus/wal_storage.h"

namespace neon::safekeeper {

using consensus::AcceptorNode;
using consensus::ConnId;
using consensus::Term;

absl::StatusOr<std::shared_ptr<Timeline>> Timeline::Open(const SafekeeperContext* ctx,
                                                         std::string dir) {
  std::shared_ptr<Timeline> tl(new Timeline(ctx, std::move(dir)));
  consensus::AcceptorNodeOptions o;
  o.node_id = ctx->config.node_id;
  o.dir = tl->dir_;
  NEON_ASSIGN_OR_RETURN(std::unique_ptr<AcceptorNode> node, AcceptorNode::Open(ctx->fs, o));
  const consensus::PersistentState& st = node->acceptor().state();
  tl->tenant_id_ = st.tenant_id;
  tl->timeline_id_ = st.timeline_id;
  // The oldest segment still here (older ones were removed after backup).
  const uint64_t seg = st.server.wal_seg_size;
  NEON_ASSIGN_OR_RETURN(std::vector<std::string> names, ctx->fs->GetChildren(tl->dir_));
  uint64_t oldest = node->wal().flush_lsn().value() / seg;
  for (const std::string& name : names) {
    uint64_t segno = 0;
    bool partial = false;
    if (consensus::ParseWalSegmentName(name, seg, &segno, &partial)) oldest = std::min(oldest, segno);
  }
  absl::MutexLock l(&tl->mu_);
  tl->removed_below_segno_ = oldest;
  tl->wal_start_ = std::max(st.local_start_lsn, Lsn(oldest * seg));
  tl->last_checkpoint_us_ = MonotonicMicros();
  tl->node_ = std::move(node);
  AfterStep after;
  tl->Publish(&after);
  return tl;
}

Timeline::~Timeline() = default;

absl::StatusOr<ConnId> Timeline::AttachProposer(std::shared_ptr<ProposerLink> link) {
  absl::MutexLock l(&state_mu_);
  if (cancelled_) return absl::UnavailableError("timeline is being deleted");
  if (!failed_.ok()) {
    return absl::UnavailableError(
        StrCat("timeline failed and refuses writes until the safekeeper restarts: ",
               failed_.message()));
  }
  if (proposers_.size() >= kMaxProposerConnsPerTimeline) {
    return absl::ResourceExhaustedError(
        StrCat("more than ", kMaxProposerConnsPerTimeline, " proposer connections"));
  }
  const uint64_t id = next_id_++;
  proposers_[id] = std::move(link);
  return ConnId(id);
}

void Timeline::Receive(ConnId conn, std::string frame) {
  std::shared_ptr<ProposerLink> link;
  {
    absl::MutexLock l(&state_mu_);
    auto it = proposers_.find(conn.value());
    if (it != proposers_.end()) link = it->second;
  }
  {
    absl::MutexLock l(&inbox_mu_);
    inbox_.push_back(InboxItem{conn, std::move(link), std::move(frame), false});
  }
  ScheduleDrain();
}

void Timeline::DetachProposer(ConnId conn) {
  {
    absl::MutexLock l(&inbox_mu_);
    inbox_.push_back(InboxItem{conn, nullptr, {}, true});
  }
  ScheduleDrain();
}

void Timeline::ScheduleDrain() {
  {
    absl::MutexLock l(&inbox_mu_);
    if (drain_scheduled_ || inbox_.empty()) return;
    drain_scheduled_ = true;
  }
  ctx_->executor->Schedule([self = shared_from_this()] { self->Drain(); });
}

// One batch per task; a timeline with more work goes to the back of the executor's queue so
// busy timelines do not starve the others.
void Timeline::Drain() {
  std::deque<InboxItem> batch;
  {
    absl::MutexLock l(&inbox_mu_);
    batch.swap(inbox_);
  }
  if (!batch.empty()) ProcessBatch(batch);
  {
    absl::MutexLock l(&inbox_mu_);
    drain_scheduled_ = false;
  }
  ScheduleDrain();
}

void Timeline::ProcessBatch(std::deque<InboxItem>& batch) {
  AfterStep after;
  std::vector<std::shared_ptr<ProposerLink>> processed;
  {
    absl::MutexLock l(&mu_);
    bool stopped = !error_.ok() || cancelled();
    bool stepped = false;
    for (InboxItem& item : batch) {
      if (item.disconnect) {
        if (!stopped) node_->OnDisconnect(item.conn);
        absl::MutexLock sl(&state_mu_);
        proposers_.erase(item.conn.value());
        continue;
      }
      if (item.link != nullptr) processed.push_back(item.link);
      bool live = false;
      {
        absl::MutexLock sl(&state_mu_);
        live = proposers_.count(item.conn.value()) > 0;
      }
      // Frames of a refused (or closed) connection that were queued behind the refusal.
      if (stopped || !live) continue;
      ctx_->metrics->frames_received->Increment();
      ctx_->metrics->wal_received_bytes->Increment(item.frame.size());
      stepped = true;
      absl::Status s = node_->Receive(item.conn, item.frame);
      if (s.ok()) continue;
      if (node_->failed()) {
        Fail(node_->error(), &after);
        stopped = true;
        continue;
      }
      ctx_->metrics->frames_refused->Increment();
      node_->OnDisconnect(item.conn);
      absl::MutexLock sl(&state_mu_);
      server::LogInfo("proposer_message_refused",
                      {{"tenant_id", tenant_id_.ToString()},
                       {"timeline_id", timeline_id_.ToString()},
                       {"conn", item.conn.value()},
                       {"error", std::string(s.message())}});
      auto it = proposers_.find(item.conn.value());
      if (it != proposers_.end()) {
        after.refused.emplace_back(it->second, s);
        proposers_.erase(it);
      }
    }
    if (!stopped && stepped) {
      const int64_t start = MonotonicMicros();
      absl::Status s = node_->Flush();
      ctx_->metrics->flushes->Increment();
      ctx_->metrics->flush_seconds->Observe(double(MonotonicMicros() - start) / 1e6);
      if (!s.ok()) Fail(node_->failed() ? node_->error() : s, &after);
    }
    Publish(&after);
  }
  Finish(after);
  for (const auto& link : processed) link->Processed();
}

void Timeline::Publish(AfterStep* after) {
  const consensus::Acceptor& a = node_->acceptor();
  Positions p;
  p.term = a.term();
  p.last_log_term = a.last_log_term();
  p.flush_lsn = a.flush_lsn();
  p.commit_lsn = a.commit_lsn();
  p.wal_start_lsn = wal_start_;
  p.wal_seg_size = a.state().server.wal_seg_size;
  std::vector<std::pair<ConnId, std::string>> outbox = node_->TakeOutbox();
  absl::MutexLock l(&state_mu_);
  p.history_version = pos_.history_version;
  if (!(a.state().history == state_.history) || p.flush_lsn < pos_.flush_lsn) p.history_version++;
  const bool progressed =
      p.commit_lsn != pos_.commit_lsn || p.flush_lsn != pos_.flush_lsn || p.term != pos_.term;
  state_ = a.state();
  persisted_ = a.persisted();
  pos_ = p;
  std::map<uint64_t, size_t> index;  // conn -> position in deliveries
  for (auto& [conn, frame] : outbox) {
    auto it = proposers_.find(conn.value());
    if (it == proposers_.end()) continue;  // internal messages, closed connections
    auto [pos, fresh] = index.emplace(conn.value(), after->deliveries.size());
    if (fresh) after->deliveries.emplace_back(it->second, std::vector<std::string>());
    after->deliveries[pos->second].second.push_back(std::move(frame));
  }
  if (progressed) {
    for (const auto& [id, w] : watchers_) after->wake.push_back(w);
  }
}

void Timeline::Fail(const absl::Status& s, AfterStep* after) {
  if (!error_.ok()) return;
  error_ = s;
  server::LogError("timeline_failed", {{"tenant_id", tenant_id_.ToString()},
                                       {"timeline_id", timeline_id_.ToString()},
                                       {"error", std::string(s.message())}});
  absl::MutexLock l(&state_mu_);
  failed_ = s;
  const absl::Status why = absl::UnavailableError(StrCat("timeline failed: ", s.message()));
  for (auto& [id, link] : proposers_) after->refused.emplace_back(link, why);
  proposers_.clear();
}

void Timeline::Finish(AfterStep& after) {
  for (auto& [link, frames] : after.deliveries) link->Deliver(std::move(frames));
  for (auto& [link, status] : after.refused) link->Close(status);
  for (auto& w : after.wake) w->OnProgress();
}

absl::Status Timeline::WithNode(const std::function<absl::Status(AcceptorNode&)>& fn) {
  AfterStep after;
  absl::Status result;
  {
    absl::MutexLock l(&mu_);
    if (cancelled()) return absl::UnavailableError("timeline is being deleted");
    if (!error_.ok()) return absl::UnavailableError(StrCat("timeline failed: ", error_.message()));
    result = fn(*node_);
    if (!result.ok() && node_->failed()) Fail(node_->error(), &after);
    Publish(&after);
  }
  Finish(after);
  return result;
}

absl::StatusOr<std::pair<Term, Term>> Timeline::BumpTerm(std::optional<Term> term) {
  Term previous, current;
  absl::Status s = WithNode([&](AcceptorNode& node) {
    previous = node.acceptor().term();
    if (!term && previous.value() == UINT64_MAX) {
      return absl::OutOfRangeError("the term cannot grow any further");
    }
    current = term ? std::max(previous, *term) : Term(previous.value() + 1);
    if (current == previous) return absl::OkStatus();
    // A vote request in the new term persists it (fsync) before anything else happens, as
    // a vote does; the reply goes to no connection.
    return node.Step(kInternalConn, consensus::VoteRequest{
                                        node.acceptor().state().mconf.generation, current});
  });
  if (!s.ok()) return s;
  server::LogInfo("term_bumped", {{"tenant_id", tenant_id_.ToString()},
                                  {"timeline_id", timeline_id_.ToString()},
                                  {"previous_term", previous.value()},
                                  {"current_term", current.value()}});
  return std::make_pair(previous, current);
}

bool Timeline::EnterTask() {
  absl::MutexLock l(&state_mu_);
  if (cancelled_) return false;
  tasks_++;
  return true;
}

void Timeline::LeaveTask() {
  absl::MutexLock l(&state_mu_);
  tasks_--;
}

uint64_t Timeline::AddCancelHook(std::function<void()> hook) {
  absl::MutexLock l(&state_mu_);
  const uint64_t id = next_id_++;
  cancel_hooks_[id] = std::move(hook);
  return id;
}

void Timeline::RemoveCancelHook(uint64_t handle) {
  absl::MutexLock l(&state_mu_);
  cancel_hooks_.erase(handle);
}

bool Timeline::cancelled() const {
  absl::MutexLock l(&state_mu_);
  return cancelled_;
}

void Timeline::Cancel(const absl::Status& why) {
  std::map<uint64_t, std::shared_ptr<ProposerLink>> links;
  std::map<uint64_t, std::shared_ptr<WalWatcher>> watchers;
  std::map<uint64_t, std::function<void()>> hooks;
  {
    absl::MutexLock l(&state_mu_);
    cancelled_ = true;
    links.swap(proposers_);
    watchers.swap(watchers_);
    readers_.clear();
    hooks = cancel_hooks_;
  }
  for (auto& [id, link] : links) link->Close(why);
  for (auto& [id, w] : watchers) w->Close(why);
  for (auto& [id, hook] : hooks) hook();
  {
    absl::MutexLock l(&state_mu_);
    state_mu_.Await(absl::Condition(
        +[](int* tasks) { return *tasks == 0; }, &tasks_));
  }
  absl::MutexLock l(&mu_);  // a batch that started before the flag was set has finished
}

}  // namespace neon::safekeeper
