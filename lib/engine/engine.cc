// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// EngineImpl: owns the catalog, the page cache and the tenants of one work
// directory:
//   <root>/catalog/                          RocksDB catalog
//   <root>/tenants/<tenant_shard>/timelines/<timeline>/<layer files>
//   <root>/deletion/                         deletion queue (with remote storage)

#include <algorithm>
#include <map>

#include "absl/synchronization/mutex.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "engine/catalog.h"
#include "engine/page_cache.h"
#include "engine/layer_handle.h"
#include "engine/secondary.h"
#include "engine/tenant.h"
#include "neon/engine.h"
#include "remote/deletion_queue.h"
#include "remote/heatmap.h"
#include "remote/index_part.h"

namespace neon {
namespace {

Compression ToCompression(LayerCompression c) {
  switch (c) {
    case LayerCompression::kNone:
      return Compression::kNone;
    case LayerCompression::kLz4:
      return Compression::kLz4;
    case LayerCompression::kZstd:
      break;
  }
  return Compression::kZstd;
}

class EngineImpl final : public Engine {
 public:
  EngineImpl(EngineOptions options, std::string root)
      : options_(std::move(options)),
        root_(std::move(root)),
        cache_(options_.page_cache_bytes),
        residence_(std::make_shared<ResidentLayers>(options_.remote.local_layer_budget_bytes)) {}
  ~EngineImpl() override { Shutdown(); }

  absl::Status Init() {
    FileSystem& fs = *options_.fs;
    if (!fs.IsDirectory(root_)) {
      if (!options_.create_if_missing) {
        return absl::NotFoundError(StrCat("work directory ", root_, " does not exist"));
      }
      NEON_RETURN_IF_ERROR(fs.CreateDirs(root_));
    }
    NEON_RETURN_IF_ERROR(fs.CreateDirs(TenantsDir()));
    NEON_ASSIGN_OR_RETURN(catalog_, Catalog::Open(options_.fs, JoinPath(root_, "catalog")));
    deps_.fs = options_.fs.get();
    deps_.clock = options_.clock.get();
    deps_.executor = options_.background_work ? options_.executor.get() : nullptr;
    deps_.cache = &cache_;
    deps_.catalog = catalog_.get();
    deps_.postgres_redo = options_.postgres_redo.get();
    deps_.postgres_redo_factory = options_.postgres_redo_factory;
    deps_.wait_lsn_timeout_us = options_.wait_lsn_timeout_us;
    deps_.writer_options.compression = ToCompression(options_.layer_compression);
    NEON_RETURN_IF_ERROR(InitRemote());

    NEON_ASSIGN_OR_RETURN(auto tenants, catalog_->ListTenants());
    absl::MutexLock l(&mu_);
    for (auto& [id, config] : tenants) {
      NEON_ASSIGN_OR_RETURN(Generation g, catalog_->GetTenantGeneration(id));
      NEON_ASSIGN_OR_RETURN(tenants_[id], LoadTenant(id, config, g));
    }
    NEON_ASSIGN_OR_RETURN(auto secondaries, catalog_->ListSecondaries());
    if (!secondaries.empty() && deps_.remote_store == nullptr) {
      return absl::FailedPreconditionError(StrCat("work directory ", root_, " has ", secondaries.size(),
                                                  " secondary locations but no remote storage is configured"));
    }
    for (SecondaryRecord& r : secondaries) {
      secondaries_[r.id] = std::make_shared<SecondaryLocation>(
          deps_, SecondaryInfo{r.id, std::move(r.config), r.warm}, TenantDir(r.id));
    }
    // Tenant directories the catalog does not list are leftovers.
    NEON_ASSIGN_OR_RETURN(auto dirs, fs.GetChildren(TenantsDir()));
    for (const std::string& d : dirs) {
      auto id = TenantShardId::Parse(d);
      if (id.ok() && (tenants_.count(*id) || secondaries_.count(*id))) continue;
      NEON_RETURN_IF_ERROR(DeleteRecursively(fs, JoinPath(TenantsDir(), d)));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::shared_ptr<Tenant>> CreateTenant(const TenantShardId& id,
                                                       const TenantConfig& config) override {
    NEON_RETURN_IF_ERROR(TenantConfig::Parse(config.Serialize()).status());  // validates
    absl::MutexLock l(&mu_);
    NEON_RETURN_IF_ERROR(CheckOpen());
    if (tenants_.count(id)) return absl::AlreadyExistsError(StrCat("tenant ", id.ToString(), " already exists"));
    if (secondaries_.count(id)) {
      return absl::AlreadyExistsError(StrCat("tenant ", id.ToString(), " is a secondary location on this node"));
    }
    if (deps_.remote_store != nullptr) return AttachLocked(id, config, Generation::Of(1));
    std::string dir = TenantDir(id);
    NEON_RETURN_IF_ERROR(options_.fs->CreateDirs(JoinPath(dir, "timelines")));
    NEON_RETURN_IF_ERROR(options_.fs->SyncDir(TenantsDir()));
    CatalogBatch batch;
    batch.PutTenant(id, config);
    NEON_RETURN_IF_ERROR(catalog_->Commit(batch));
    auto t = std::make_shared<TenantImpl>(deps_, id, config, dir);
    tenants_[id] = t;
    return std::shared_ptr<Tenant>(t);
  }

  absl::StatusOr<std::shared_ptr<Tenant>> AttachTenant(const TenantShardId& id, const TenantConfig& config,
                                                       Generation generation) override {
    NEON_RETURN_IF_ERROR(TenantConfig::Parse(config.Serialize()).status());  // validates
    absl::MutexLock l(&mu_);
    NEON_RETURN_IF_ERROR(CheckOpen());
    auto it = tenants_.find(id);
    if (it != tenants_.end()) {
      Generation current = it->second->generation();
      if (generation == current) return std::shared_ptr<Tenant>(it->second);
      if (generation < current) {
        return absl::FailedPreconditionError(StrCat("tenant ", id.ToString(), " is attached with generation",
                                                    current.Suffix(), ", newer than", generation.Suffix()));
      }
      it->second->Shutdown();  // re-attach: local files stay as a cache
      tenants_.erase(it);
    }
    if (auto s = secondaries_.find(id); s != secondaries_.end()) {
      // Promotion: the secondary's layers are where the tenant's go, and stay.
      s->second->Stop();
      secondaries_.erase(s);
    }
    return AttachLocked(id, config, generation);
  }

  absl::StatusOr<std::shared_ptr<Tenant>> GetTenant(const TenantShardId& id) override {
    absl::MutexLock l(&mu_);
    auto it = tenants_.find(id);
    if (it == tenants_.end()) return absl::NotFoundError(StrCat("tenant ", id.ToString(), " not found"));
    return std::shared_ptr<Tenant>(it->second);
  }

  std::vector<TenantShardId> ListTenants() override {
    absl::MutexLock l(&mu_);
    std::vector<TenantShardId> out;
    for (const auto& [id, t] : tenants_) out.push_back(id);
    return out;
  }

  absl::Status DeleteTenant(const TenantShardId& id) override {
    absl::MutexLock l(&mu_);
    auto it = tenants_.find(id);
    if (it == tenants_.end()) return absl::NotFoundError(StrCat("tenant ", id.ToString(), " not found"));
    const bool remote = deps_.remote_store != nullptr && !it->second->generation().is_none();
    if (remote) NEON_RETURN_IF_ERROR(CheckGenerationCurrent(deps_, id, it->second->generation()));
    it->second->Shutdown();
    CatalogBatch batch;
    batch.DeleteTenant(id);
    NEON_RETURN_IF_ERROR(catalog_->Commit(batch));
    tenants_.erase(it);
    NEON_RETURN_IF_ERROR(DeleteRecursively(*options_.fs, TenantDir(id)));
    NEON_RETURN_IF_ERROR(options_.fs->SyncDir(TenantsDir()));
    if (!remote) return absl::OkStatus();
    return DeleteRemotePrefix(*deps_.remote_store, StrCat("tenants/", id.ToString(), "/"));
  }

  absl::Status DetachTenant(const TenantShardId& id) override {
    std::shared_ptr<TenantImpl> t;
    {
      absl::MutexLock l(&mu_);
      NEON_RETURN_IF_ERROR(CheckOpen());
      if (secondaries_.count(id)) return RemoveSecondaryLocked(id);
      auto it = tenants_.find(id);
      if (it == tenants_.end()) return absl::NotFoundError(StrCat("tenant ", id.ToString(), " not found"));
      if (deps_.remote_store == nullptr) {
        return absl::FailedPreconditionError(
            "no remote storage: detaching would lose the tenant's data (delete it instead)");
      }
      t = it->second;
    }
    // Everything ingested goes to layers and up with the index before the local copy goes.
    NEON_RETURN_IF_ERROR(FlushAndUpload(*t));
    absl::MutexLock l(&mu_);
    auto it = tenants_.find(id);
    if (it == tenants_.end() || it->second != t) {
      return absl::AbortedError(StrCat("tenant ", id.ToString(), " changed while detaching"));
    }
    return DropAttachedLocked(it);
  }

  absl::Status ConfigureSecondary(const TenantShardId& id, const TenantConfig& config, bool warm) override {
    NEON_RETURN_IF_ERROR(TenantConfig::Parse(config.Serialize()).status());  // validates
    if (deps_.remote_store == nullptr) {
      return absl::FailedPreconditionError("no remote storage: a secondary location has nothing to download");
    }
    std::shared_ptr<TenantImpl> attached;
    {
      absl::MutexLock l(&mu_);
      NEON_RETURN_IF_ERROR(CheckOpen());
      if (auto s = secondaries_.find(id); s != secondaries_.end()) {
        CatalogBatch batch;
        batch.PutSecondary(SecondaryRecord{id, config, warm});
        NEON_RETURN_IF_ERROR(catalog_->Commit(batch));
        s->second->set_warm(warm);
        if (warm) s->second->Start();
        return absl::OkStatus();
      }
      if (auto it = tenants_.find(id); it != tenants_.end()) attached = it->second;
    }
    if (attached != nullptr) {
      // Attached -> secondary: everything ingested goes up first. (The heatmap is the newly
      // attached location's to upload: one from here could replace a newer generation's.)
      NEON_RETURN_IF_ERROR(FlushAndUpload(*attached));
    }
    absl::MutexLock l(&mu_);
    NEON_RETURN_IF_ERROR(CheckOpen());
    auto it = tenants_.find(id);
    if ((it == tenants_.end() ? nullptr : it->second) != attached || secondaries_.count(id)) {
      return absl::AbortedError(StrCat("tenant ", id.ToString(), " changed while becoming secondary"));
    }
    if (attached != nullptr) attached->Shutdown();
    NEON_RETURN_IF_ERROR(options_.fs->CreateDirs(JoinPath(TenantDir(id), "timelines")));
    NEON_RETURN_IF_ERROR(options_.fs->SyncDir(TenantsDir()));
    CatalogBatch batch;
    batch.DeleteTenant(id);
    batch.PutSecondary(SecondaryRecord{id, config, warm});
    NEON_RETURN_IF_ERROR(catalog_->Commit(batch));
    if (attached != nullptr) tenants_.erase(it);
    auto loc = std::make_shared<SecondaryLocation>(deps_, SecondaryInfo{id, config, warm}, TenantDir(id));
    secondaries_[id] = loc;
    if (warm) loc->Start();
    return absl::OkStatus();
  }

  absl::Status StartSecondaryDownload(const TenantShardId& id) override {
    NEON_ASSIGN_OR_RETURN(auto loc, Secondary(id));
    loc->Start();
    return absl::OkStatus();
  }

  absl::StatusOr<SecondaryProgress> GetSecondaryProgress(const TenantShardId& id) override {
    NEON_ASSIGN_OR_RETURN(auto loc, Secondary(id));
    return loc->progress();
  }

  std::vector<SecondaryInfo> ListSecondaries() override {
    absl::MutexLock l(&mu_);
    std::vector<SecondaryInfo> out;
    for (const auto& [id, loc] : secondaries_) out.push_back(loc->info());
    return out;
  }

  absl::Status UploadHeatmap(const TenantShardId& id) override {
    if (deps_.remote_store == nullptr) return absl::FailedPreconditionError("no remote storage");
    std::shared_ptr<TenantImpl> t;
    {
      absl::MutexLock l(&mu_);
      NEON_RETURN_IF_ERROR(CheckOpen());
      auto it = tenants_.find(id);
      if (it == tenants_.end()) return absl::NotFoundError(StrCat("tenant ", id.ToString(), " not attached"));
      t = it->second;
    }
    const int64_t now = deps_.clock->NowMicros();
    Heatmap h;
    h.generation = t->generation();
    h.upload_period_ms = static_cast<uint64_t>(std::max<int64_t>(0, t->config().heatmap_period_us / 1000));
    for (const auto& tl : t->Timelines()) h.timelines.push_back(tl->HeatmapEntry(now));
    std::sort(h.timelines.begin(), h.timelines.end(),
              [](const HeatmapTimeline& a, const HeatmapTimeline& b) { return a.timeline_id < b.timeline_id; });
    // A stale attachment (a newer generation is attached elsewhere) leaves the newer one's
    // heatmap alone.
    auto existing = GetString(*deps_.remote_store, RemoteHeatmapKey(id), {}, kMaxHeatmapBytes);
    if (existing.ok()) {
      auto old = Heatmap::Parse(*existing);
      if (old.ok() && !old->generation.is_none() && !h.generation.is_none() && old->generation > h.generation) {
        return absl::FailedPreconditionError(StrCat("tenant ", id.ToString(), ": the heatmap in remote storage is from generation",
                                                    old->generation.Suffix(), ", newer than this node's", h.generation.Suffix()));
      }
    } else if (!absl::IsNotFound(existing.status())) {
      return existing.status();
    }
    NEON_RETURN_IF_ERROR(PutString(*deps_.remote_store, RemoteHeatmapKey(id), h.Serialize()));
    absl::MutexLock l(&mu_);
    heatmap_uploaded_us_[id] = now;
    return absl::OkStatus();
  }

  absl::Status ForgetTenant(const TenantShardId& id) override {
    absl::MutexLock l(&mu_);
    NEON_RETURN_IF_ERROR(CheckOpen());
    if (secondaries_.count(id)) return RemoveSecondaryLocked(id);
    auto it = tenants_.find(id);
    if (it == tenants_.end()) return absl::NotFoundError(StrCat("tenant ", id.ToString(), " not found"));
    return DropAttachedLocked(it);
  }

  absl::Status Tick() override {
    std::vector<std::shared_ptr<TenantImpl>> tenants;
    std::vector<TenantShardId> heatmaps_due;
    const int64_t now = deps_.clock->NowMicros();
    {
      absl::MutexLock l(&mu_);
      NEON_RETURN_IF_ERROR(CheckOpen());
      for (const auto& [id, t] : tenants_) {
        tenants.push_back(t);
        const int64_t period = t->config().heatmap_period_us;
        if (deps_.remote_store != nullptr && period > 0 && now - heatmap_uploaded_us_[id] >= period) {
          heatmaps_due.push_back(id);
        }
      }
      for (const auto& [id, loc] : secondaries_) {
        if (loc->DueForRefresh(now)) loc->Start();
      }
    }
    absl::Status first;
    for (const TenantShardId& id : heatmaps_due) {
      absl::Status s = UploadHeatmap(id);
      if (!absl::IsNotFound(s)) first.Update(s);
    }
    for (const auto& t : tenants) {
      for (const auto& tl : t->Timelines()) {
        first.Update(tl->Tick());
        if (tl->remote() != nullptr) tl->remote()->Retry();  // failed uploads run again
      }
    }
    first.Update(residence_->EnforceBudget());
    return first;
  }

  absl::Status FlushRemote() override {
    absl::Status first;
    for (const auto& tl : AllTimelines()) {
      if (tl->remote() != nullptr) first.Update(tl->remote()->Drain());
    }
    if (deletions_ != nullptr) first.Update(deletions_->Drain());
    return first;
  }

  RemoteStats GetRemoteStats() const override {
    RemoteStats r;
    r.resident_layer_bytes = residence_->resident_bytes();
    r.downloads = residence_->downloads();
    r.evictions = residence_->evictions();
    if (deletions_ != nullptr) {
      DeletionQueue::Stats d = deletions_->stats();
      r.deletions_done = d.keys_deleted;
      r.deletions_refused = d.keys_refused;
      r.deletion_lists_pending = d.lists_pending;
    }
    return r;
  }

  void Shutdown() override {
    std::map<TenantShardId, std::shared_ptr<TenantImpl>> tenants;
    {
      absl::MutexLock l(&mu_);
      if (shut_down_) return;
      shut_down_ = true;
      tenants = tenants_;
    }
    std::map<TenantShardId, std::shared_ptr<SecondaryLocation>> secondaries;
    {
      absl::MutexLock l(&mu_);
      secondaries = secondaries_;
    }
    for (const auto& [id, loc] : secondaries) loc->Stop();
    for (const auto& [id, t] : tenants) t->Shutdown();
    if (deletions_ != nullptr) deletions_->Shutdown();
    options_.executor.reset();  // joins an owned thread pool
  }

  CacheStats GetCacheStats() const override {
    PageCache::Stats s = cache_.GetStats();
    return CacheStats{s.hits, s.misses, s.bytes, cache_.capacity_bytes()};
  }

 private:
  absl::Status CheckOpen() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (shut_down_) return absl::CancelledError("engine is shut down");
    return absl::OkStatus();
  }
  absl::StatusOr<std::shared_ptr<SecondaryLocation>> Secondary(const TenantShardId& id) {
    absl::MutexLock l(&mu_);
    NEON_RETURN_IF_ERROR(CheckOpen());
    auto it = secondaries_.find(id);
    if (it == secondaries_.end()) {
      return absl::NotFoundError(StrCat("tenant ", id.ToString(), " is not a secondary location here"));
    }
    return it->second;
  }

  // Flushes every timeline of `t` and waits for the uploads (layers, then the index).
  static absl::Status FlushAndUpload(TenantImpl& t) {
    for (const auto& tl : t.Timelines()) {
      NEON_RETURN_IF_ERROR(tl->Flush().status());
      if (tl->remote() != nullptr) NEON_RETURN_IF_ERROR(tl->remote()->Drain());
    }
    return absl::OkStatus();
  }

  // Shuts an attached tenant down and removes its catalog entry and local files; remote data
  // stays.
  absl::Status DropAttachedLocked(std::map<TenantShardId, std::shared_ptr<TenantImpl>>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const TenantShardId id = it->first;
    it->second->Shutdown();
    CatalogBatch batch;
    batch.DeleteTenant(id);
    NEON_RETURN_IF_ERROR(catalog_->Commit(batch));
    tenants_.erase(it);
    heatmap_uploaded_us_.erase(id);
    NEON_RETURN_IF_ERROR(DeleteRecursively(*options_.fs, TenantDir(id)));
    return options_.fs->SyncDir(TenantsDir());
  }

  // Ends a secondary location and removes its local copy.
  absl::Status RemoveSecondaryLocked(const TenantShardId& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = secondaries_.find(id);
    it->second->Stop();  // a pass never takes mu_
    CatalogBatch batch;
    batch.DeleteSecondary(id);
    NEON_RETURN_IF_ERROR(catalog_->Commit(batch));
    secondaries_.erase(it);
    NEON_RETURN_IF_ERROR(DeleteRecursively(*options_.fs, TenantDir(id)));
    return options_.fs->SyncDir(TenantsDir());
  }

  absl::Status InitRemote() {
    const RemoteStorageOptions& r = options_.remote;
    if (r.store == nullptr) return absl::OkStatus();
    if (r.max_inflight_uploads < 1) return absl::InvalidArgumentError("max_inflight_uploads must be >= 1");
    Executor* executor = options_.background_work ? options_.executor.get() : nullptr;
    NEON_ASSIGN_OR_RETURN(deletions_, DeletionQueue::Open(options_.fs, JoinPath(root_, "deletion"), r.store,
                                                          r.validate_generations, executor));
    deps_.remote_store = r.store;
    deps_.deletions = deletions_;
    deps_.residence = residence_;
    deps_.remote_executor = executor;
    deps_.max_inflight_uploads = r.max_inflight_uploads;
    deps_.validate_generations = r.validate_generations;
    return absl::OkStatus();
  }

  // A tenant from the catalog, or (remote storage and a generation) from
  // object storage.
  absl::StatusOr<std::shared_ptr<TenantImpl>> LoadTenant(const TenantShardId& id, const TenantConfig& config,
                                                         Generation g) {
    auto t = std::make_shared<TenantImpl>(deps_, id, config, TenantDir(id), g);
    absl::Status s;
    if (deps_.remote_store != nullptr && !g.is_none()) {
      s = t->LoadFromRemote();
    } else {
      NEON_ASSIGN_OR_RETURN(auto metas, catalog_->ListTimelines(id));
      s = t->Load(std::move(metas));
    }
    NEON_RETURN_IF_ERROR(Annotate(s, StrCat("loading tenant ", id.ToString())));
    return t;
  }

  absl::StatusOr<std::shared_ptr<Tenant>> AttachLocked(const TenantShardId& id, const TenantConfig& config,
                                                       Generation generation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    NEON_RETURN_IF_ERROR(options_.fs->CreateDirs(JoinPath(TenantDir(id), "timelines")));
    NEON_RETURN_IF_ERROR(options_.fs->SyncDir(TenantsDir()));
    CatalogBatch batch;
    batch.PutTenant(id, config);
    batch.PutTenantGeneration(id, generation);
    batch.DeleteSecondary(id);
    NEON_RETURN_IF_ERROR(catalog_->Commit(batch));
    NEON_ASSIGN_OR_RETURN(auto t, LoadTenant(id, config, generation));
    tenants_[id] = t;
    return std::shared_ptr<Tenant>(t);
  }

  std::vector<std::shared_ptr<TimelineImpl>> AllTimelines() {
    std::vector<std::shared_ptr<TenantImpl>> tenants;
    {
      absl::MutexLock l(&mu_);
      for (const auto& [id, t] : tenants_) tenants.push_back(t);
    }
    std::vector<std::shared_ptr<TimelineImpl>> out;
    for (const auto& t : tenants) {
      for (auto& tl : t->Timelines()) out.push_back(std::move(tl));
    }
    return out;
  }

  std::string TenantsDir() const { return JoinPath(root_, "tenants"); }
  std::string TenantDir(const TenantShardId& id) const { return JoinPath(TenantsDir(), id.ToString()); }

  EngineOptions options_;
  const std::string root_;
  PageCache cache_;
  std::shared_ptr<ResidentLayers> residence_;
  std::shared_ptr<DeletionQueue> deletions_;
  std::unique_ptr<Catalog> catalog_;
  TimelineDeps deps_;
  mutable absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::map<TenantShardId, std::shared_ptr<TenantImpl>> tenants_ ABSL_GUARDED_BY(mu_);
  std::map<TenantShardId, std::shared_ptr<SecondaryLocation>> secondaries_ ABSL_GUARDED_BY(mu_);
  std::map<TenantShardId, int64_t> heatmap_uploaded_us_ ABSL_GUARDED_BY(mu_);  // Clock micros
};

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options,
                                                     const std::string& path) {
#ifdef NDEBUG
  // Debian's Abseil checks lock order on every Mutex operation (about 4x the
  // cost of an uncontended lock); release builds skip that.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  EngineOptions o = options;
  if (!o.fs) o.fs = NewPosixFileSystem();
  if (!o.clock) o.clock = NewRealClock();
  if (!o.executor && o.background_work) o.executor = NewThreadPoolExecutor(2);
  auto engine = std::make_unique<EngineImpl>(std::move(o), path);
  NEON_RETURN_IF_ERROR(engine->Init());
  return std::unique_ptr<Engine>(std::move(engine));
}

}  // namespace neon
