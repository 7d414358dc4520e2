// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// SecondaryLocation: a warm cache of a tenant attached on another node (location mode
// Secondary). Its layers live where an attached tenant's would,
//   <root>/tenants/<tenant_shard>/timelines/<timeline>/<layer name>
// so attaching here later opens them in place (TimelineImpl::LoadLayers keeps local files
// whose size matches the index) and downloads none of them.
//
// A pass: GET heatmap-v1.json; download each listed layer that is not local with the listed
// size (GetFile: temp file, sync, rename, sync directory; a size other than the heatmap's is
// DataLoss and the file is removed); then delete local layers and timeline directories the
// heatmap no longer lists. A pass stops between layers when the location is stopped.
//
// Thread safety: all methods may be called concurrently; one pass runs at a time.

#ifndef NEON_LIB_ENGINE_SECONDARY_H_
#define NEON_LIB_ENGINE_SECONDARY_H_

#include <map>
#include <set>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "engine/timeline.h"
#include "neon/engine.h"

namespace neon {

class SecondaryLocation {
 public:
  // Refresh period when the heatmap names none.
  static constexpr int64_t kDefaultRefreshUs = 60 * kMicrosPerSecond;

  // REQUIRES: deps.remote_store set.
  SecondaryLocation(const TimelineDeps& deps, SecondaryInfo info, std::string dir);
  ~SecondaryLocation();  // Stop()

  SecondaryInfo info() const;
  void set_warm(bool warm);
  // Starts a pass on a thread of its own unless one is running.
  void Start();
  // A pass on the calling thread (waits for a running one to end first).
  absl::Status RunPass();
  SecondaryProgress progress() const;
  // Warm, idle, and the refresh period has passed since the last pass ended.
  bool DueForRefresh(int64_t now_us) const;
  // Ends a running pass at its next layer and waits for it; later passes are Cancelled.
  void Stop();

 private:
  absl::Status Pass();
  absl::Status RemoveUnlisted(const std::map<TimelineId, std::set<std::string>>& listed);
  bool stopped() const;

  const TimelineDeps deps_;
  const std::string dir_;
  absl::Mutex run_mu_;  // held by a running pass
  mutable absl::Mutex mu_;
  SecondaryInfo info_ ABSL_GUARDED_BY(mu_);
  SecondaryProgress progress_ ABSL_GUARDED_BY(mu_);
  std::string heatmap_text_ ABSL_GUARDED_BY(mu_);
  uint64_t upload_period_ms_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool thread_running_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_SECONDARY_H_
