// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// WalBackup: uploads each timeline's full WAL segments to object storage (reference 6.4),
// as `wal/<tenant_id>/<timeline_id>/<segment name>` (doc/format/safekeeper.md).
//
// One safekeeper per timeline uploads: the offloader chosen deterministically, without
// locks, from the members alive through the broker (ChooseOffloader). The choice waits until
// every other member of the timeline's configuration has been heard, or for the heartbeat
// timeout after the first full segment was waiting (the silent ones are then taken as down),
// so that the members decide on the same view. Several may still upload for a while when
// their views differ; that is harmless, the objects have the same content.
// The offloader uploads every complete segment in [segno(backup_lsn), segno(commit_lsn)) in
// order and, after each, advances backup_lsn and persists it in the control file; backup_lsn
// then spreads to the peers through the broker (max-merge). A failed upload is retried with
// backoff (10 ms doubling up to kBackupRetryMaxUs).
//
// Thread safety: MaybeStart() may be called from any thread; uploads run on the executor
// given, at most one per timeline.

#ifndef NEON_SERVERS_SAFEKEEPER_WAL_BACKUP_H_
#define NEON_SERVERS_SAFEKEEPER_WAL_BACKUP_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "safekeeper/timeline_registry.h"

namespace neon::safekeeper {

// One member's view, as an offloader candidate.
struct OffloaderCandidate {
  uint64_t sk_id = 0;
  Lsn commit_lsn;
  Lsn local_start_lsn;
};

// Neon's election: among `members` (alive, self included) whose local WAL starts at or below
// `backup_lsn`, those within `max_lag_bytes` of the highest commit LSN, sorted by id; the
// one at (timeline id as a big-endian u128) modulo their number. 0 if there is none.
uint64_t ChooseOffloader(std::vector<OffloaderCandidate> members, Lsn backup_lsn,
                         const TimelineId& timeline, uint64_t max_lag_bytes);

// The object key of a segment.
std::string WalBackupKey(const TenantId& tenant, const TimelineId& timeline,
                         const std::string& segment_name);

class WalBackup {
 public:
  // `ctx` (with a non-null store) and `executor` outlive this object.
  WalBackup(const SafekeeperContext* ctx, Executor* executor) : ctx_(ctx), executor_(executor) {}

  // Starts an upload task for `tl` if this node is its offloader, a full segment awaits
  // backup, none is running, and no retry delay is pending.
  void MaybeStart(const std::shared_ptr<Timeline>& tl, int64_t now_us);

 private:
  struct Retry {
    int failures = 0;
    int64_t not_before_us = 0;
  };
  // `waiting_since_us`: when a full segment was first seen waiting (the view may still be
  // incomplete until the heartbeat timeout); 0 once the upload task runs.
  bool IsOffloader(const Timeline& tl, int64_t now_us, int64_t waiting_since_us) const;
  void Run(std::shared_ptr<Timeline> tl);
  // Uploads segments until caught up; false after a failure.
  bool Upload(Timeline& tl);

  const SafekeeperContext* const ctx_;
  Executor* const executor_;
  absl::Mutex mu_;
  std::set<TimelineKey> running_ ABSL_GUARDED_BY(mu_);
  std::map<TimelineKey, Retry> retry_ ABSL_GUARDED_BY(mu_);
  std::map<TimelineKey, int64_t> waiting_since_us_ ABSL_GUARDED_BY(mu_);
};

}  // namespace neon::safekeeper

#endif  // NEON_SERVERS_SAFEKEEPER_WAL_BACKUP_H_
