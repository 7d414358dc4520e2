// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// EngineImpl: owns the catalog, the page cache and the tenants of one work
// directory:
//   <root>/catalog/                          RocksDB catalog
//   <root>/tenants/<tenant_shard>/timelines/<timeline>/<layer files>

#include <map>

#include "absl/synchronization/mutex.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "engine/catalog.h"
#include "engine/page_cache.h"
#include "engine/tenant.h"
#include "neon/engine.h"

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
      : options_(std::move(options)), root_(std::move(root)), cache_(options_.page_cache_bytes) {}
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
    deps_.wait_lsn_timeout_us = options_.wait_lsn_timeout_us;
    deps_.writer_options.compression = ToCompression(options_.layer_compression);

    NEON_ASSIGN_OR_RETURN(auto tenants, catalog_->ListTenants());
    absl::MutexLock l(&mu_);
    for (auto& [id, config] : tenants) {
      auto t = std::make_shared<TenantImpl>(deps_, id, config, TenantDir(id));
      NEON_ASSIGN_OR_RETURN(auto metas, catalog_->ListTimelines(id));
      NEON_RETURN_IF_ERROR(Annotate(t->Load(std::move(metas)), StrCat("loading tenant ", id.ToString())));
      tenants_[id] = t;
    }
    // Tenant directories the catalog does not list are leftovers.
    NEON_ASSIGN_OR_RETURN(auto dirs, fs.GetChildren(TenantsDir()));
    for (const std::string& d : dirs) {
      auto id = TenantShardId::Parse(d);
      if (id.ok() && tenants_.count(*id)) continue;
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
    it->second->Shutdown();
    CatalogBatch batch;
    batch.DeleteTenant(id);
    NEON_RETURN_IF_ERROR(catalog_->Commit(batch));
    tenants_.erase(it);
    NEON_RETURN_IF_ERROR(DeleteRecursively(*options_.fs, TenantDir(id)));
    return options_.fs->SyncDir(TenantsDir());
  }

  absl::Status Tick() override {
    std::vector<std::shared_ptr<TenantImpl>> tenants;
    {
      absl::MutexLock l(&mu_);
      NEON_RETURN_IF_ERROR(CheckOpen());
      for (const auto& [id, t] : tenants_) tenants.push_back(t);
    }
    absl::Status first;
    for (const auto& t : tenants) {
      for (const auto& tl : t->Timelines()) first.Update(tl->Tick());
    }
    return first;
  }

  void Shutdown() override {
    std::map<TenantShardId, std::shared_ptr<TenantImpl>> tenants;
    {
      absl::MutexLock l(&mu_);
      if (shut_down_) return;
      shut_down_ = true;
      tenants = tenants_;
    }
    for (const auto& [id, t] : tenants) t->Shutdown();
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
  std::string TenantsDir() const { return JoinPath(root_, "tenants"); }
  std::string TenantDir(const TenantShardId& id) const { return JoinPath(TenantsDir(), id.ToString()); }

  EngineOptions options_;
  const std::string root_;
  PageCache cache_;
  std::unique_ptr<Catalog> catalog_;
  TimelineDeps deps_;
  mutable absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::map<TenantShardId, std::shared_ptr<TenantImpl>> tenants_ ABSL_GUARDED_BY(mu_);
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
