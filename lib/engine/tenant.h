// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// TenantImpl: a tenant shard's timelines. Creating, branching and deleting a
// timeline is one synced catalog commit; a branch costs O(1) (no data copied):
// it records (ancestor, ancestor_lsn) and registers its branch point with the
// ancestor so GC keeps that LSN readable.
//
// Thread safety: safe for concurrent use.

#ifndef NEON_LIB_ENGINE_TENANT_H_
#define NEON_LIB_ENGINE_TENANT_H_

#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "engine/timeline.h"

namespace neon {

class TenantImpl final : public Tenant {
 public:
  TenantImpl(TimelineDeps deps, TenantShardId id, TenantConfig config, std::string dir,
             Generation generation = Generation::None());

  // Rebuilds timelines from catalog metadata (ancestors first).
  absl::Status Load(std::vector<TimelineMeta> metas);
  // Rebuilds timelines from object storage: the index_part.json of every
  // remote timeline (generation-aware), local files used where they match.
  // The catalog is rewritten to match; local timelines the remote does not
  // have are dropped.
  absl::Status LoadFromRemote();

  const TenantShardId& id() const override { return id_; }
  TenantConfig config() const override { return *config_; }
  Generation generation() const override { return generation_; }
  absl::StatusOr<std::shared_ptr<Timeline>> CreateTimeline(const TimelineId& id,
                                                           uint32_t pg_version) override;
  absl::StatusOr<std::shared_ptr<Timeline>> CreateBranch(const TimelineId& id,
                                                         const TimelineId& ancestor,
                                                         Lsn lsn) override;
  absl::StatusOr<std::shared_ptr<Timeline>> GetTimeline(const TimelineId& id) override;
  std::vector<TimelineInfo> ListTimelines() override;
  absl::Status DeleteTimeline(const TimelineId& id) override;

  std::vector<std::shared_ptr<TimelineImpl>> Timelines();
  void Shutdown();
  const std::string& dir() const { return dir_; }

 private:
  std::string TimelineDir(const TimelineId& id) const;
  bool remote_enabled() const { return deps_.remote_store != nullptr && !generation_.is_none(); }
  absl::StatusOr<std::shared_ptr<TimelineImpl>> Register(const TimelineMeta& meta,
                                                         std::shared_ptr<TimelineImpl> ancestor,
                                                         const std::vector<LayerRecord>& layers,
                                                         IndexPart uploaded = {});
  // Registers `metas` ancestors first, then removes unlisted directories.
  absl::Status LoadTimelines(std::vector<TimelineMeta> metas,
                             std::map<TimelineId, std::vector<LayerRecord>> layers,
                             std::map<TimelineId, IndexPart> indexes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Uploads a new timeline's first index (eagerly, as Neon does).
  void UploadInitialIndex(const std::shared_ptr<TimelineImpl>& tl, const TimelineMeta& meta);

  // This tenant's redo manager when EngineOptions::postgres_redo_factory is
  // set (deps_.postgres_redo points at it); declared first: deps_ uses it.
  const std::shared_ptr<RedoManager> redo_;
  const TimelineDeps deps_;
  const TenantShardId id_;
  const std::shared_ptr<const TenantConfig> config_;
  const std::string dir_;
  const Generation generation_;
  absl::Mutex mu_;  // serializes create/branch/delete and guards timelines_
  std::map<TimelineId, std::shared_ptr<TimelineImpl>> timelines_ ABSL_GUARDED_BY(mu_);
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_TENANT_H_
