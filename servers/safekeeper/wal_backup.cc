// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "safekeeper/wal_backup.h"

#include <algorithm>
#include <set>

#include "base/str_cat.h"
#include "common/log.h"
#include "consensus/wal_storage.h"

namespace neon::safekeeper {

uint64_t ChooseOffloader(std::vector<OffloaderCandidate> members, Lsn backup_lsn,
                         const TimelineId& timeline, uint64_t max_lag_bytes) {
  std::erase_if(members, [&](const OffloaderCandidate& c) { return c.local_start_lsn > backup_lsn; });
  if (members.empty()) return 0;
  Lsn max_commit;
  for (const OffloaderCandidate& c : members) max_commit = std::max(max_commit, c.commit_lsn);
  std::erase_if(members, [&](const OffloaderCandidate& c) {
    return max_commit.Minus(c.commit_lsn) > max_lag_bytes;
  });
  std::sort(members.begin(), members.end(),
            [](const OffloaderCandidate& a, const OffloaderCandidate& b) { return a.sk_id < b.sk_id; });
  uint64_t rem = 0;  // the 128-bit id modulo the count, byte by byte
  for (uint8_t b : timeline.bytes()) rem = (rem * 256 + b) % members.size();
  return members[rem].sk_id;
}

std::string WalBackupKey(const TenantId& tenant, const TimelineId& timeline,
                         const std::string& segment_name) {
  return StrCat(kWalBackupPrefix, tenant.ToString(), "/", timeline.ToString(), "/", segment_name);
}

bool WalBackup::IsOffloader(const Timeline& tl, int64_t now_us, int64_t waiting_since_us) const {
  const TimelineStatus s = tl.Status();
  const uint64_t self = ctx_->config.node_id.value();
  std::vector<OffloaderCandidate> members;
  members.push_back({self, s.state.commit_lsn, s.state.local_start_lsn});
  std::set<uint64_t> heard = {self};
  for (const PeerInfo& p : tl.LivePeers(now_us)) {
    members.push_back({p.sk_id, p.commit_lsn, p.local_start_lsn});
    heard.insert(p.sk_id);
  }
  if (waiting_since_us != 0 && now_us - waiting_since_us < ctx_->config.heartbeat_timeout_us) {
    for (consensus::NodeId id : s.state.mconf.AllNodes()) {
      if (!heard.count(id.value())) return false;  // not everyone heard yet: wait
    }
  }
  return ChooseOffloader(std::move(members), s.state.backup_lsn, tl.timeline_id(),
                         ctx_->config.max_offloader_lag_bytes) == self;
}

void WalBackup::MaybeStart(const std::shared_ptr<Timeline>& tl, int64_t now_us) {
  const TimelineStatus s = tl->Status();
  const uint64_t seg = s.pos.wal_seg_size;
  const TimelineKey key{tl->tenant_id(), tl->timeline_id()};
  int64_t since = 0;
  {
    absl::MutexLock l(&mu_);
    if (!s.error.ok() || s.state.commit_lsn.value() / seg <= s.state.backup_lsn.value() / seg) {
      waiting_since_us_.erase(key);
      return;
    }
    since = waiting_since_us_.emplace(key, now_us).first->second;
  }
  if (!IsOffloader(*tl, now_us, since)) return;
  {
    absl::MutexLock l(&mu_);
    if (running_.count(key)) return;
    if (auto it = retry_.find(key); it != retry_.end() && it->second.not_before_us > now_us) return;
    running_.insert(key);
  }
  executor_->Schedule([this, tl] { Run(tl); });
}

void WalBackup::Run(std::shared_ptr<Timeline> tl) {
  const TimelineKey key{tl->tenant_id(), tl->timeline_id()};
  bool ok = true;
  if (tl->EnterTask()) {
    ok = Upload(*tl);
    tl->LeaveTask();
  }
  absl::MutexLock l(&mu_);
  running_.erase(key);
  if (ok) {
    retry_.erase(key);
    return;
  }
  Retry& r = retry_[key];
  r.failures++;
  const int64_t delay = std::min<int64_t>(kBackupRetryMaxUs, int64_t{10'000} << std::min(r.failures, 20));
  r.not_before_us = MonotonicMicros() + delay;
}

bool WalBackup::Upload(Timeline& tl) {
  for (;;) {
    if (tl.cancelled() || !IsOffloader(tl, MonotonicMicros(), 0)) return true;
    const TimelineStatus s = tl.Status();
    const uint64_t seg = s.pos.wal_seg_size;
    const uint64_t segno = s.state.backup_lsn.value() / seg;
    const Lsn end((segno + 1) * seg);
    if (end > s.state.commit_lsn) return true;  // no full committed segment left
    const std::string name = consensus::WalSegmentName(segno, seg);
    std::string path = JoinPath(tl.dir(), name);
    if (!ctx_->fs->FileExists(path)) path += consensus::kPartialSuffix;
    const std::string key = WalBackupKey(tl.tenant_id(), tl.timeline_id(), name);
    absl::Status st = PutFile(*ctx_->store, key, *ctx_->fs, path);
    if (!st.ok()) {
      ctx_->metrics->backup_errors->Increment();
      server::LogWarn("wal_backup_failed", {{"tenant_id", tl.tenant_id().ToString()},
                                            {"timeline_id", tl.timeline_id().ToString()},
                                            {"segment", name},
                                            {"error", std::string(st.message())}});
      return false;
    }
    st = tl.WithNode([end](consensus::AcceptorNode& node) {
      node.acceptor().UpdateBackupLsn(end);
      return node.Checkpoint();  // backup_lsn is durable before it is published
    });
    if (!st.ok()) return false;
    ctx_->metrics->segments_backed_up->Increment();
    server::LogInfo("wal_backed_up", {{"tenant_id", tl.tenant_id().ToString()},
                                      {"timeline_id", tl.timeline_id().ToString()},
                                      {"segment", name},
                                      {"key", key}});
  }
}

}  // namespace neon::safekeeper
