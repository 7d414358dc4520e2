// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// TimelineRegistry: every timeline of the safekeeper, by (tenant, timeline). Timelines live
// in <workdir>/<tenant_id>/<timeline_id>/ (safekeeper.control and the WAL segments, format in
// doc/format/consensus-wire.md). LoadAll() opens every one found there at start (a restart
// serves them again); Create() makes a new one durable before it is served; Delete() stops
// one (ending its streams and waiting for its background tasks) and removes its directory
// and, unless only_local, its backed-up WAL.
//
// Thread safety: every method may be called from any thread.

#ifndef NEON_SERVERS_SAFEKEEPER_TIMELINE_REGISTRY_H_
#define NEON_SERVERS_SAFEKEEPER_TIMELINE_REGISTRY_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "consensus/control_file.h"
#include "safekeeper/timeline.h"

namespace neon::safekeeper {

using TimelineKey = std::pair<TenantId, TimelineId>;

class TimelineRegistry {
 public:
  explicit TimelineRegistry(const SafekeeperContext* ctx) : ctx_(ctx) {}

  // Opens every timeline under the work directory. A timeline that cannot be opened (damaged
  // control file, missing WAL) is logged (event=timeline_load_failed) and not served; its
  // files are left alone. Returns the number loaded.
  absl::StatusOr<int> LoadAll();

  // NotFound if absent.
  absl::StatusOr<std::shared_ptr<Timeline>> Get(const TenantId& tenant,
                                                const TimelineId& timeline) const;
  // Creates and opens a timeline with this initial state. If it already exists, returns it
  // with *created = false. FailedPrecondition while a deletion of it is in progress.
  absl::StatusOr<std::shared_ptr<Timeline>> Create(const consensus::PersistentState& initial,
                                                   bool* created);
  // Stops the timeline and removes its directory (and its backed-up WAL unless
  // `only_local`). *dir_existed tells whether there was anything to delete.
  absl::Status Delete(const TenantId& tenant, const TimelineId& timeline, bool only_local,
                      bool* dir_existed);
  std::vector<std::shared_ptr<Timeline>> All() const;
  std::vector<TimelineId> TimelinesOf(const TenantId& tenant) const;
  size_t size() const;
  // Persists every timeline's live state (control file) and stops it (shutdown).
  void CancelAll();

  std::string DirOf(const TenantId& tenant, const TimelineId& timeline) const;

 private:
  absl::Status DeleteRemote(const TenantId& tenant, const TimelineId& timeline);

  const SafekeeperContext* const ctx_;
  mutable absl::Mutex mu_;
  std::map<TimelineKey, std::shared_ptr<Timeline>> timelines_ ABSL_GUARDED_BY(mu_);
  std::set<TimelineKey> busy_ ABSL_GUARDED_BY(mu_);  // being created or deleted
};

}  // namespace neon::safekeeper

#endif  // NEON_SERVERS_SAFEKEEPER_TIMELINE_REGISTRY_H_
