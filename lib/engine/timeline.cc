// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/timeline.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon {

TimelineImpl::TimelineImpl(TimelineDeps deps, TenantShardId tenant,
                           std::shared_ptr<const TenantConfig> config, TimelineMeta meta,
                           std::shared_ptr<TimelineImpl> ancestor, std::string dir,
                           std::shared_ptr<RemoteTimelineClient> remote)
    : deps_(deps),
      tenant_(tenant),
      id_(meta.id),
      config_(std::move(config)),
      ancestor_(std::move(ancestor)),
      ancestor_lsn_(meta.ancestor_lsn),
      initdb_lsn_(meta.initdb_lsn),
      pg_version_(meta.pg_version),
      dir_(std::move(dir)),
      cache_uid_(PageCache::NewTimelineUid()),
      remote_(std::move(remote)),
      handle_ctx_{deps.fs, deps.cache, deps.residence, remote_ ? deps.remote_store : nullptr, remote_} {
  NEON_CHECK(meta.ancestor.has_value() == (ancestor_ != nullptr));
  last_record_lsn_.store(meta.disk_consistent_lsn.value());
  prev_record_lsn_ = meta.prev_record_lsn;
  persisted_prev_record_lsn_ = meta.prev_record_lsn;
  disk_consistent_lsn_ = meta.disk_consistent_lsn;
  gc_cutoff_ = meta.gc_cutoff;
  layers_ = std::make_shared<const LayerMap>();
}

TimelineImpl::~TimelineImpl() = default;

std::string TimelineImpl::LayerPath(const std::string& name) const { return JoinPath(dir_, name); }

std::string TimelineImpl::TempPath(const std::string& name) {
  return JoinPath(dir_, StrCat(name, ".", temp_seq_.fetch_add(1), ".___temp"));
}

absl::Status CheckGenerationCurrent(const TimelineDeps& deps, const TenantShardId& tenant,
                                    Generation generation) {
  if (!deps.validate_generations || generation.is_none()) return absl::OkStatus();
  absl::StatusOr<std::vector<bool>> valid =
      deps.validate_generations({TenantGeneration{tenant, generation}});
  if (!valid.ok()) {
    return absl::UnavailableError(StrCat("cannot validate generation ", generation.value(),
                                         " of tenant ", tenant.ToString(), ": ",
                                         valid.status().message()));
  }
  if (valid->size() != 1) {
    return absl::InternalError("generation validator answered the wrong number of entries");
  }
  if (!(*valid)[0]) {
    return absl::FailedPreconditionError(
        StrCat("generation ", generation.value(), " of tenant ", tenant.ToString(),
               " is no longer current (another node attached it): its remote data is not "
               "deleted from here"));
  }
  return absl::OkStatus();
}

IndexMetadata ToIndexMetadata(const TimelineMeta& meta) {
  IndexMetadata m;
  m.disk_consistent_lsn = meta.disk_consistent_lsn;
  m.prev_record_lsn = meta.prev_record_lsn;
  m.ancestor_timeline = meta.ancestor;
  m.ancestor_lsn = meta.ancestor_lsn;
  m.latest_gc_cutoff_lsn = meta.gc_cutoff;
  m.initdb_lsn = meta.initdb_lsn;
  m.pg_version = meta.pg_version;
  return m;
}

TimelineMeta FromIndexMetadata(const TimelineId& id, const IndexMetadata& m) {
  TimelineMeta meta;
  meta.id = id;
  meta.ancestor = m.ancestor_timeline;
  meta.ancestor_lsn = m.ancestor_lsn;
  meta.disk_consistent_lsn = m.disk_consistent_lsn;
  meta.prev_record_lsn = m.prev_record_lsn;
  meta.gc_cutoff = m.latest_gc_cutoff_lsn;
  meta.initdb_lsn = m.initdb_lsn;
  meta.pg_version = m.pg_version;
  return meta;
}

absl::Status TimelineImpl::LoadLayers(const std::vector<LayerRecord>& records) {
  absl::flat_hash_set<std::string> listed;
  std::vector<HistoricLayerPtr> historic;
  for (const LayerRecord& r : records) {
    std::string path = LayerPath(r.file_name);
    auto h = std::make_shared<HistoricLayer>();
    h->file_name = r.file_name;
    h->file_size = r.file_size;
    auto size = deps_.fs->GetFileSize(path);
    if (size.ok() && *size == r.file_size) {
      NEON_ASSIGN_OR_RETURN(auto reader, LayerReader::Open(deps_.fs, path, deps_.cache));
      h->desc = reader->desc();
      h->handle = LayerHandle::Resident(handle_ctx_, r.file_name, path, r.file_size, std::move(reader));
      listed.insert(r.file_name);
    } else if (remote_ != nullptr) {
      // Not here (or not whole): object storage has it.
      NEON_ASSIGN_OR_RETURN(h->desc, LayerDesc::ParseFileName(r.file_name));
      h->desc.tenant = tenant_;
      h->desc.timeline = id_;
      h->handle = LayerHandle::Remote(handle_ctx_, r.file_name, path, r.file_size);
    } else if (!size.ok()) {
      return absl::DataLossError(StrCat("timeline ", id_.ToString(), ": layer ", r.file_name,
                                        " listed in the catalog is missing: ", size.status().message()));
    } else {
      return absl::DataLossError(StrCat("layer ", path, " has ", *size, " bytes, catalog says ",
                                        r.file_size));
    }
    historic.push_back(std::move(h));
  }
  // Anything else in the directory is a leftover of an interrupted write:
  // temp files, ephemeral files, layers written but never committed.
  NEON_RETURN_IF_ERROR(deps_.fs->CreateDirs(dir_));
  NEON_ASSIGN_OR_RETURN(auto children, deps_.fs->GetChildren(dir_));
  bool removed = false;
  for (const std::string& c : children) {
    if (listed.contains(c)) continue;
    NEON_RETURN_IF_ERROR(deps_.fs->DeleteFile(JoinPath(dir_, c)));
    removed = true;
  }
  if (removed) NEON_RETURN_IF_ERROR(deps_.fs->SyncDir(dir_));
  absl::MutexLock l(&mu_);
  layers_ = std::make_shared<const LayerMap>(std::vector<std::shared_ptr<InMemoryLayer>>{},
                                             std::move(historic));
  return absl::OkStatus();
}

std::shared_ptr<const LayerMap> TimelineImpl::Snapshot() const {
  absl::ReaderMutexLock l(&mu_);
  return layers_;
}

TimelineMeta TimelineImpl::Meta() const {
  absl::ReaderMutexLock l(&mu_);
  TimelineMeta m;
  m.id = id_;
  if (ancestor_) m.ancestor = ancestor_->id();
  m.ancestor_lsn = ancestor_lsn_;
  m.disk_consistent_lsn = disk_consistent_lsn_;
  m.prev_record_lsn = persisted_prev_record_lsn_;
  m.gc_cutoff = gc_cutoff_;
  m.initdb_lsn = initdb_lsn_;
  m.pg_version = pg_version_;
  return m;
}

absl::Status TimelineImpl::CommitMeta(CatalogBatch& batch,
                                      const std::function<void(TimelineMeta&)>& mutate,
                                      const std::function<void()>& apply,
                                      const std::vector<HistoricLayerPtr>& upload) {
  absl::MutexLock m(&meta_mu_);
  TimelineMeta meta = Meta();
  mutate(meta);
  batch.PutTimeline(tenant_, meta);
  NEON_RETURN_IF_ERROR(deps_.catalog->Commit(batch));
  {
    absl::MutexLock l(&mu_);
    apply();
  }
  return ScheduleRemote(upload, {}, meta);
}

absl::Status TimelineImpl::ScheduleRemote(const std::vector<HistoricLayerPtr>& add,
                                          const std::vector<HistoricLayerPtr>& remove,
                                          const std::optional<TimelineMeta>& meta) {
  if (remote_ == nullptr) return absl::OkStatus();
  std::vector<LocalLayer> adds;
  for (const auto& h : add) adds.push_back(LocalLayer{h->file_name, LayerPath(h->file_name), h->file_size});
  std::vector<std::string> removes;
  for (const auto& h : remove) removes.push_back(h->file_name);
  std::optional<IndexMetadata> index_meta;
  if (meta) index_meta = ToIndexMetadata(*meta);
  absl::Status s = remote_->ScheduleUpdate(adds, removes, index_meta);
  if (!s.ok() && !absl::IsCancelled(s)) {
    // The local state moved on without its upload: a later index must not
    // describe it, so stop here.
    SetBroken(Annotate(s, "scheduling an upload"));
  }
  return s;
}

TimelineInfo TimelineImpl::Info() const {
  auto map = Snapshot();
  absl::ReaderMutexLock l(&mu_);
  TimelineInfo info;
  info.tenant_id = tenant_;
  info.timeline_id = id_;
  if (ancestor_) info.ancestor_timeline_id = ancestor_->id();
  info.ancestor_lsn = ancestor_lsn_;
  info.last_record_lsn = last_record_lsn();
  info.prev_record_lsn = prev_record_lsn_;
  info.disk_consistent_lsn = disk_consistent_lsn_;
  info.applied_gc_cutoff_lsn = gc_cutoff_;
  info.initdb_lsn = initdb_lsn_;
  info.pg_version = pg_version_;
  info.num_l0_layers = map->num_l0();
  info.num_historic_layers = map->historic().size();
  info.historic_layer_bytes = map->historic_bytes();
  for (const auto& h : map->historic()) {
    if (h->handle->resident()) info.resident_layer_bytes += h->file_size;
  }
  if (remote_) info.remote_consistent_lsn = remote_->remote_consistent_lsn();
  return info;
}

HeatmapTimeline TimelineImpl::HeatmapEntry(int64_t now_us) const {
  HeatmapTimeline out;
  out.timeline_id = id_;
  if (remote_ == nullptr) return out;
  const IndexPart uploaded = remote_->uploaded_index();
  std::vector<std::pair<int64_t, HeatmapLayer>> hot;
  for (const auto& h : Snapshot()->historic()) {
    if (!h->handle->resident()) continue;
    auto it = uploaded.layer_metadata.find(h->file_name);
    if (it == uploaded.layer_metadata.end()) continue;  // not uploaded yet: next heatmap
    hot.emplace_back(h->handle->last_used(), HeatmapLayer{h->file_name, it->second, now_us, false});
  }
  std::stable_sort(hot.begin(), hot.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (auto& [stamp, layer] : hot) out.layers.push_back(std::move(layer));
  return out;
}

void TimelineImpl::SetBroken(const absl::Status& s) {
  absl::MutexLock l(&mu_);
  if (broken_.ok()) broken_ = Annotate(s, StrCat("timeline ", id_.ToString(), " is broken"));
}

absl::Status TimelineImpl::WaitLsn(Lsn lsn, int64_t timeout_us) {
  absl::MutexLock l(&mu_);
  absl::Time deadline = absl::Now() + absl::Microseconds(timeout_us);
  while (last_record_lsn() < lsn) {
    if (deleted_ || shutdown_.load()) return absl::CancelledError("timeline is shutting down");
    if (lsn_advanced_.WaitWithDeadline(&mu_, deadline) && last_record_lsn() < lsn) {
      return absl::DeadlineExceededError(StrCat("timed out waiting for LSN ", lsn.ToString(),
                                                ": last_record_lsn is ", last_record_lsn().ToString()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> TimelineImpl::LeaseLsn(Lsn lsn) {
  if (!lsn.valid()) return absl::InvalidArgumentError("cannot lease LSN 0/0");
  int64_t now = deps_.clock->NowMicros();
  absl::MutexLock l(&mu_);
  auto it = leases_.find(lsn);
  bool live = it != leases_.end() && it->second > now;
  if (!live && lsn < gc_cutoff_) {
    return absl::FailedPreconditionError(StrCat("LSN ", lsn.ToString(), " is below the GC cutoff ",
                                                gc_cutoff_.ToString()));
  }
  int64_t until = now + config_->lsn_lease_length_us;
  if (it != leases_.end()) {
    it->second = std::max(it->second, until);
    return it->second;
  }
  leases_[lsn] = until;
  return until;
}

bool TimelineImpl::IsReadable(Lsn lsn) const {
  absl::ReaderMutexLock l(&mu_);
  if (lsn >= gc_cutoff_) return true;
  auto it = leases_.find(lsn);
  return it != leases_.end() && it->second > deps_.clock->NowMicros();
}

void TimelineImpl::AddChildBranchPoint(Lsn lsn) {
  absl::MutexLock l(&mu_);
  child_branch_points_.insert(lsn);
}

void TimelineImpl::RemoveChildBranchPoint(Lsn lsn) {
  absl::MutexLock l(&mu_);
  auto it = child_branch_points_.find(lsn);
  if (it != child_branch_points_.end()) child_branch_points_.erase(it);
}

std::vector<Lsn> TimelineImpl::RetainLsnsLocked() const {
  std::vector<Lsn> out(child_branch_points_.begin(), child_branch_points_.end());
  int64_t now = deps_.clock->NowMicros();
  for (const auto& [lsn, until] : leases_) {
    if (until > now) out.push_back(lsn);
  }
  return out;
}

absl::Status TimelineImpl::Tick() {
  if (shutdown_.load()) return absl::OkStatus();
  int64_t now = deps_.clock->NowMicros();
  bool flush = false, compact = false, gc = false;
  {
    absl::MutexLock l(&mu_);
    if (deleted_) return absl::OkStatus();
    if (open_layer_ && now - open_layer_->opened_at_us() >= config_->checkpoint_timeout_us) {
      // Freeze now if no record is half-written, else let the writer do it.
      if (open_layer_->max_lsn() <= last_record_lsn()) {
        FreezeOpenLayerLocked();
      } else {
        roll_requested_ = true;
      }
    }
    flush = layers_->in_memory().size() > (open_layer_ ? 1u : 0u);
    compact = layers_->num_l0() >= config_->compaction_threshold ||
              now - last_compaction_us_ >= config_->compaction_period_us;
    gc = now - last_gc_us_ >= config_->gc_period_us;
  }
  if (flush) NEON_RETURN_IF_ERROR(Flush().status());
  if (compact) NEON_RETURN_IF_ERROR(Compact(false).status());
  if (gc) NEON_RETURN_IF_ERROR(Gc(std::nullopt).status());
  return absl::OkStatus();
}

void TimelineImpl::ScheduleFlush() {
  if (deps_.executor == nullptr || shutdown_.load() || flush_scheduled_.exchange(true)) return;
  std::weak_ptr<TimelineImpl> weak = weak_from_this();
  deps_.executor->Schedule([weak] {
    auto self = weak.lock();
    if (!self) return;
    self->flush_scheduled_.store(false);
    if (self->shutdown_.load()) return;
    auto r = self->Flush();
    if (r.ok()) self->ScheduleCompaction();
  });
}

void TimelineImpl::ScheduleCompaction() {
  if (deps_.executor == nullptr || shutdown_.load()) return;
  if (Snapshot()->num_l0() < config_->compaction_threshold) return;
  if (compaction_scheduled_.exchange(true)) return;
  std::weak_ptr<TimelineImpl> weak = weak_from_this();
  deps_.executor->Schedule([weak] {
    auto self = weak.lock();
    if (!self) return;
    self->compaction_scheduled_.store(false);
    if (self->shutdown_.load()) return;
    // An error leaves the layers as they were; the next flush or tick retries.
    if (self->Compact(false).ok()) self->ScheduleCompaction();
  });
}

void TimelineImpl::Shutdown() {
  shutdown_.store(true);
  {
    absl::MutexLock l(&mu_);
    lsn_advanced_.SignalAll();
  }
  absl::MutexLock f(&flush_mu_);
  absl::MutexLock m(&maint_mu_);
  if (remote_) remote_->Shutdown();
}

absl::Status TimelineImpl::Delete() {
  {
    absl::MutexLock l(&mu_);
    deleted_ = true;
    lsn_advanced_.SignalAll();
  }
  Shutdown();
  CatalogBatch batch;
  batch.DeleteTimeline(tenant_, id_);
  NEON_RETURN_IF_ERROR(deps_.catalog->Commit(batch));
  {
    absl::MutexLock l(&mu_);
    open_layer_.reset();
    layers_ = std::make_shared<const LayerMap>();
  }
  NEON_RETURN_IF_ERROR(DeleteRecursively(*deps_.fs, dir_));
  NEON_RETURN_IF_ERROR(deps_.fs->SyncDir(DirName(dir_)));
  if (remote_ == nullptr) return absl::OkStatus();
  // Neon's immediate path (no generation check): index objects first, so no
  // attacher finds an index whose layers are gone.
  return DeleteRemoteTimeline(*deps_.remote_store, tenant_, id_);
}

absl::StatusOr<HistoricLayerPtr> TimelineImpl::PublishLayerFile(const std::string& tmp_path,
                                                                const LayerFileInfo& info) {
  auto h = std::make_shared<HistoricLayer>();
  h->desc = info.desc;
  h->file_name = info.desc.FileName();
  h->file_size = info.file_size;
  std::string path = LayerPath(h->file_name);
  if (!dir_entry_synced_.load()) {
    NEON_RETURN_IF_ERROR(deps_.fs->SyncDir(DirName(dir_)));
    dir_entry_synced_.store(true);
  }
  NEON_RETURN_IF_ERROR(deps_.fs->RenameFile(tmp_path, path));
  NEON_RETURN_IF_ERROR(deps_.fs->SyncDir(dir_));
  NEON_ASSIGN_OR_RETURN(auto reader, LayerReader::Open(deps_.fs, path, deps_.cache));
  h->handle = LayerHandle::Resident(handle_ctx_, h->file_name, path, h->file_size, std::move(reader));
  // Best effort: make room by evicting uploaded layers (this one is not yet).
  if (deps_.residence != nullptr) (void)deps_.residence->EnforceBudget();
  return HistoricLayerPtr(std::move(h));
}

}  // namespace neon
