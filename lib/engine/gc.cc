// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Garbage collection (Neon's rules). The cutoff is the lower of
//   space: last_record_lsn - gc_horizon, and
//   time:  the newest LSN ingested at least pitr_interval ago,
// clamped to disk_consistent_lsn and never moving backwards. It is committed
// to the catalog before any layer goes. A layer is removed only if
//   1. it ends at or below the cutoff,
//   2. it starts above every retained LSN (children's branch points, leases),
//   3. newer image layers at or below the cutoff cover its whole key range.

#include <algorithm>

#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "engine/timeline.h"

namespace neon {
namespace {

// True if the union of `ranges` covers `target`.
bool Covers(std::vector<KeyRange> ranges, const KeyRange& target) {
  std::sort(ranges.begin(), ranges.end());
  Key cur = target.start;
  for (const KeyRange& r : ranges) {
    if (r.start > cur) break;
    if (r.end > cur) cur = r.end;
    if (cur >= target.end) return true;
  }
  return cur >= target.end;
}

}  // namespace

Lsn TimelineImpl::ComputeGcCutoff(uint64_t horizon) {
  Lsn last = last_record_lsn();
  Lsn space(last.value() > horizon ? last.value() - horizon : 0);
  Lsn time = gc_cutoff_;
  if (config_->pitr_interval_us == 0) {
    time = last;
  } else {
    int64_t boundary = deps_.clock->NowMicros() - config_->pitr_interval_us;
    auto it = lsn_by_time_.upper_bound(boundary);
    if (it != lsn_by_time_.begin()) time = std::prev(it)->second;
  }
  Lsn cutoff = std::min({space, time, disk_consistent_lsn_});
  return std::max(cutoff, gc_cutoff_);
}

absl::StatusOr<MaintenanceResult> TimelineImpl::Gc(std::optional<uint64_t> horizon_override) {
  absl::MutexLock m(&maint_mu_);
  if (shutdown_.load()) return absl::CancelledError("timeline is shutting down");
  MaintenanceResult result;
  Lsn cutoff, old_cutoff;
  std::vector<Lsn> retain;
  {
    absl::MutexLock l(&mu_);
    if (deleted_) return absl::NotFoundError(StrCat("timeline ", id_.ToString(), " was deleted"));
    old_cutoff = gc_cutoff_;
    cutoff = ComputeGcCutoff(horizon_override.value_or(config_->gc_horizon));
    last_gc_us_ = deps_.clock->NowMicros();
  }
  if (cutoff > old_cutoff) {
    CatalogBatch batch;
    NEON_RETURN_IF_ERROR(CommitMeta(
        batch, [&](TimelineMeta& meta) { meta.gc_cutoff = cutoff; },
        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          gc_cutoff_ = std::max(gc_cutoff_, cutoff);
          // Keep one time sample at or below the cutoff; drop older ones.
          auto it = lsn_by_time_.begin();
          while (it != lsn_by_time_.end() && std::next(it) != lsn_by_time_.end() &&
                 std::next(it)->second <= cutoff) {
            it = lsn_by_time_.erase(it);
          }
        }));
  }
  {
    // Read after the cutoff is published: a branch or lease made meanwhile
    // either saw the new cutoff (and was refused) or is in this list.
    absl::ReaderMutexLock l(&mu_);
    retain = RetainLsnsLocked();
  }
  Lsn max_retain;
  for (Lsn r : retain) max_retain = std::max(max_retain, r);

  auto map = Snapshot();
  std::vector<HistoricLayerPtr> victims;
  for (const auto& h : map->historic()) {
    const LayerDesc& d = h->desc;
    if (d.lsn_range.end > cutoff) continue;  // rule 1
    if (max_retain.valid() && d.lsn_range.start <= max_retain) continue;  // rule 2
    std::vector<KeyRange> newer_images;
    for (const auto& img : map->historic()) {
      if (img->desc.is_image && img->desc.image_lsn() >= d.lsn_range.end &&
          img->desc.image_lsn() <= cutoff) {
        newer_images.push_back(img->desc.key_range);
      }
    }
    if (!Covers(std::move(newer_images), d.key_range)) continue;  // rule 3
    victims.push_back(h);
  }
  if (victims.empty()) return result;
  NEON_RETURN_IF_ERROR(ReplaceLayers({}, victims));
  result.layers_removed = victims.size();
  return result;
}

}  // namespace neon
