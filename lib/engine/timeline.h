// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// TimelineImpl: one branch of a tenant. Split by concern:
//   timeline.cc          construction, loading, info, leases, waiting
//   timeline_write.cc    Put / FinishWrite, rolling the open layer, backpressure
//   timeline_read.cc     GetPage@LSN, relation sizes, descent into ancestors
//   timeline_flush.cc    frozen in-memory layers -> L0 delta files
//   compaction.cc        L0 -> L1 compaction and image layer creation
//   gc.cc                garbage collection
//
// Locking: mu_ guards the LSNs, the layer map pointer and the leases; it is
// held only briefly. flush_mu_ serializes flushes; maint_mu_ serializes
// compaction, image creation and GC (they replace layers). Readers copy the
// layer-map pointer under mu_ and then read without locks.
//
// States: Active -> (Broken: a write to disk failed; reads still served) ->
// Deleted (every call fails with NotFound).

#ifndef NEON_LIB_ENGINE_TIMELINE_H_
#define NEON_LIB_ENGINE_TIMELINE_H_

#include <atomic>
#include <deque>
#include <functional>
#include <set>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "engine/catalog.h"
#include "engine/layer_map.h"
#include "engine/page_cache.h"
#include "neon/engine.h"
#include "neon/redo.h"
#include "remote/deletion_queue.h"
#include "remote/heatmap.h"
#include "remote/remote_timeline_client.h"

namespace neon {

// What a timeline borrows from its engine. All must outlive the timeline.
struct TimelineDeps {
  FileSystem* fs = nullptr;
  Clock* clock = nullptr;
  Executor* executor = nullptr;  // null: no background work
  PageCache* cache = nullptr;
  Catalog* catalog = nullptr;
  RedoManager* postgres_redo = nullptr;
  // Per-tenant redo managers (EngineOptions); the tenant sets postgres_redo.
  PostgresRedoFactory postgres_redo_factory;
  int64_t wait_lsn_timeout_us = 0;
  LayerWriterOptions writer_options;
  // Remote storage (all null without it).
  std::shared_ptr<ObjectStore> remote_store;
  std::shared_ptr<DeletionQueue> deletions;
  std::shared_ptr<ResidentLayers> residence;
  Executor* remote_executor = nullptr;  // null: uploads run in Engine::FlushRemote only
  int max_inflight_uploads = 4;
  // Null: every generation is current (RemoteStorageOptions::validate_generations).
  GenerationValidator validate_generations;
};

// OK when `generation` is still the tenant's current one (or nothing can say otherwise:
// no validator, no generation). FailedPrecondition when the control plane says another node
// holds a newer generation: that node's data must not be deleted from here. Unavailable when
// the validator fails.
absl::Status CheckGenerationCurrent(const TimelineDeps& deps, const TenantShardId& tenant,
                                    Generation generation);

// The index_part metadata of a timeline's catalog metadata, and back.
IndexMetadata ToIndexMetadata(const TimelineMeta& meta);
TimelineMeta FromIndexMetadata(const TimelineId& id, const IndexMetadata& m);

class TimelineImpl final : public Timeline, public std::enable_shared_from_this<TimelineImpl> {
 public:
  TimelineImpl(TimelineDeps deps, TenantShardId tenant, std::shared_ptr<const TenantConfig> config,
               TimelineMeta meta, std::shared_ptr<TimelineImpl> ancestor, std::string dir,
               std::shared_ptr<RemoteTimelineClient> remote);
  ~TimelineImpl() override;

  // Opens the layer files the catalog (or the remote index) lists. With
  // remote storage, a layer whose local file is missing or has the wrong size
  // is remote-only (downloaded on first use); without, that is DataLoss.
  absl::Status LoadLayers(const std::vector<LayerRecord>& layers);

  // ---- Timeline ----
  const TenantShardId& tenant_id() const override { return tenant_; }
  const TimelineId& id() const override { return id_; }
  TimelineInfo Info() const override;
  absl::Status Put(const Key& key, Lsn lsn, const Value& value) override;
  absl::Status PutRelBlock(const RelTag& rel, uint32_t blkno, Lsn lsn, const Value& value) override;
  absl::Status PutRelSize(const RelTag& rel, uint32_t nblocks, Lsn lsn) override;
  absl::Status FinishWrite(Lsn lsn) override;
  absl::StatusOr<std::string> GetPage(const Key& key, Lsn lsn) override;
  absl::StatusOr<std::string> GetRelPage(const RelTag& rel, uint32_t blkno, ReadLsn read) override;
  absl::Status GetRelPages(const RelTag& rel, absl::Span<const uint32_t> blknos, ReadLsn read,
                           std::vector<absl::StatusOr<std::string>>* pages) override;
  absl::StatusOr<uint32_t> GetRelSize(const RelTag& rel, ReadLsn read) override;
  absl::Status WaitLsn(Lsn lsn, int64_t timeout_us) override;
  absl::StatusOr<int64_t> LeaseLsn(Lsn lsn) override;
  absl::StatusOr<MaintenanceResult> Flush() override;
  absl::StatusOr<MaintenanceResult> Compact(bool force) override;
  absl::StatusOr<MaintenanceResult> Gc(std::optional<uint64_t> horizon_override) override;

  // ---- For the tenant and the engine ----
  TimelineMeta Meta() const;
  const std::shared_ptr<TimelineImpl>& ancestor() const { return ancestor_; }
  Lsn ancestor_lsn() const { return ancestor_lsn_; }
  Lsn last_record_lsn() const { return Lsn(last_record_lsn_.load(std::memory_order_acquire)); }
  // Branch points of children: kept readable by GC.
  void AddChildBranchPoint(Lsn lsn);
  void RemoveChildBranchPoint(Lsn lsn);
  // True if `lsn` may be read or branched from: at/above the GC cutoff or
  // exactly covered by a live lease.
  bool IsReadable(Lsn lsn) const;
  // Runs due background work synchronously (rolls, flush, compaction, GC).
  absl::Status Tick();
  // Stops accepting work and waits for running flush/compaction/GC.
  void Shutdown();
  // Marks deleted, waits for running work and removes files (catalog first).
  absl::Status Delete();
  // The upload queue (null without remote storage or generation).
  const std::shared_ptr<RemoteTimelineClient>& remote() const { return remote_; }
  // This timeline's heatmap entry: the layers that are local and in the uploaded index,
  // most recently used first, stamped `now_us`. Empty without remote storage.
  HeatmapTimeline HeatmapEntry(int64_t now_us) const;
  // The value of `key` at exactly `lsn` (no clamping, no GC check).
  absl::StatusOr<std::string> GetValueAt(const Key& key, Lsn lsn);
  // GetValueAt for each of `keys` (distinct, best in increasing order), as
  // one vectored read: out[i] is the value of keys[i] or its error.
  void GetValuesAt(absl::Span<const Key> keys, Lsn lsn,
                   std::vector<absl::StatusOr<std::string>>* out);
  // Every key with a version at or below `lsn` here or in ancestors (sorted).
  absl::StatusOr<std::vector<Key>> CollectKeyspace(Lsn lsn);

 private:
  friend class TimelineCompactor;

  std::shared_ptr<const LayerMap> Snapshot() const;
  absl::Status CheckWritable() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::Status EnsureOpenLayer(Lsn lsn);
  void FreezeOpenLayerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ShouldRollLocked(int64_t now_us) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::Status FlushFrozenLayers(MaintenanceResult* result);
  absl::Status FlushOneFrozen(const std::shared_ptr<InMemoryLayer>& layer, Lsn prev_record_lsn,
                              MaintenanceResult* result);
  // Commits `batch` plus this timeline's metadata as modified by `mutate`,
  // then runs `apply` (under mu_) to publish the change in memory. Holds
  // meta_mu_ throughout so metadata commits never interleave (a later commit
  // never carries an older GC cutoff or disk_consistent_lsn).
  // `upload` (if given) then schedules the matching remote update, still in
  // commit order; its failure breaks the timeline.
  absl::Status CommitMeta(CatalogBatch& batch, const std::function<void(TimelineMeta&)>& mutate,
                          const std::function<void()>& apply,
                          const std::vector<HistoricLayerPtr>& upload = {});
  // Schedules uploads of `add`, the removal of `remove` and (if given) new
  // metadata, ending with an index upload. No-op without remote storage.
  absl::Status ScheduleRemote(const std::vector<HistoricLayerPtr>& add,
                              const std::vector<HistoricLayerPtr>& remove,
                              const std::optional<TimelineMeta>& meta);
  void ScheduleFlush();
  void ScheduleCompaction();
  absl::StatusOr<Lsn> EffectiveReadLsn(ReadLsn read);
  absl::StatusOr<uint32_t> RelSizeAt(const RelTag& rel, Lsn lsn);
  absl::StatusOr<uint32_t> RelSizeForWrite(const RelTag& rel);
  void SetBroken(const absl::Status& s);
  // Writes a finished layer file into place and opens it.
  absl::StatusOr<HistoricLayerPtr> PublishLayerFile(const std::string& tmp_path,
                                                    const LayerFileInfo& info);
  std::string LayerPath(const std::string& name) const;
  std::string TempPath(const std::string& name);
  absl::Status CompactL0(bool force, MaintenanceResult* result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  absl::Status CreateImageLayers(bool force, MaintenanceResult* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  absl::Status CreateImageLayer(const KeyRange& range, const std::vector<Key>& keys, Lsn lsn,
                                MaintenanceResult* result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  // Swaps layers in the map and the catalog, then deletes removed files.
  absl::Status ReplaceLayers(const std::vector<HistoricLayerPtr>& add,
                             const std::vector<HistoricLayerPtr>& remove);
  Lsn ComputeGcCutoff(uint64_t horizon) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<Lsn> RetainLsnsLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const TimelineDeps deps_;
  const TenantShardId tenant_;
  const TimelineId id_;
  const std::shared_ptr<const TenantConfig> config_;
  const std::shared_ptr<TimelineImpl> ancestor_;
  const Lsn ancestor_lsn_;
  Lsn initdb_lsn_ ABSL_GUARDED_BY(mu_);  // set by the first write of a root timeline
  const uint32_t pg_version_;
  const std::string dir_;
  const uint64_t cache_uid_;
  const std::shared_ptr<RemoteTimelineClient> remote_;
  const LayerHandleContext handle_ctx_;

  std::atomic<uint64_t> last_record_lsn_{0};
  std::atomic<bool> shutdown_{false};
  std::atomic<bool> flush_scheduled_{false};
  std::atomic<bool> compaction_scheduled_{false};
  std::atomic<uint64_t> temp_seq_{0};
  // Whether this timeline's directory entry is known durable (its parent
  // synced). Creating a timeline skips that fsync; the first layer published
  // into the directory pays it.
  std::atomic<bool> dir_entry_synced_{false};

  mutable absl::Mutex mu_;
  absl::CondVar lsn_advanced_;
  std::shared_ptr<const LayerMap> layers_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<InMemoryLayer> open_layer_ ABSL_GUARDED_BY(mu_);
  std::deque<Lsn> frozen_prev_lsns_ ABSL_GUARDED_BY(mu_);  // per frozen layer, oldest first
  Lsn prev_record_lsn_ ABSL_GUARDED_BY(mu_);
  Lsn disk_consistent_lsn_ ABSL_GUARDED_BY(mu_);
  Lsn persisted_prev_record_lsn_ ABSL_GUARDED_BY(mu_);
  Lsn gc_cutoff_ ABSL_GUARDED_BY(mu_);
  std::map<Lsn, int64_t> leases_ ABSL_GUARDED_BY(mu_);           // lsn -> valid until (us)
  std::multiset<Lsn> child_branch_points_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, Lsn> lsn_by_time_ ABSL_GUARDED_BY(mu_);      // samples for pitr
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
  bool deleted_ ABSL_GUARDED_BY(mu_) = false;
  bool roll_requested_ ABSL_GUARDED_BY(mu_) = false;
  int64_t last_compaction_us_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_gc_us_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t ephemeral_seq_ ABSL_GUARDED_BY(mu_) = 0;

  // Writer-side cache of relation sizes at last_record_lsn (writer thread only).
  absl::flat_hash_map<RelTag, uint32_t> rel_size_cache_;
  std::string value_buf_;  // writer thread only

  absl::Mutex meta_mu_;   // orders catalog commits of this timeline's metadata
  absl::Mutex flush_mu_;  // one flush at a time
  absl::Mutex maint_mu_;  // compaction, image creation, GC
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_TIMELINE_H_
