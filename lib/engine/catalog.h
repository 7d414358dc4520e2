// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Catalog: the engine's local record of tenants, timelines and their layer
// files, kept in RocksDB (running on the engine's FileSystem through
// rocksdb_env.h). Every change is one synced, atomic WriteBatch, so after a
// crash the catalog is exactly as of some committed batch. Layer files are
// written and synced before the batch that lists them, and deleted only after
// the batch that unlists them; files the catalog does not list are leftovers
// and are removed when the engine opens.
//
// Keys:  T<tenant_shard>                    -> TenantConfig text
//        G<tenant_shard>                    -> attachment generation (8 hex; absent = none)
//        L<tenant_shard>/<timeline>         -> TimelineMeta (versioned binary)
//        Y<tenant_shard>/<timeline>/<layer> -> file size (u64 BE)
//
// Thread safety: safe for concurrent use.

#ifndef NEON_LIB_ENGINE_CATALOG_H_
#define NEON_LIB_ENGINE_CATALOG_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "neon/file_system.h"
#include "neon/options.h"
#include "neon/types.h"

namespace rocksdb {
class DB;
class Env;
class WriteBatch;
}  // namespace rocksdb

namespace neon {

struct TimelineMeta {
  TimelineId id;
  std::optional<TimelineId> ancestor;
  Lsn ancestor_lsn;
  Lsn disk_consistent_lsn;
  Lsn prev_record_lsn;
  Lsn gc_cutoff;
  Lsn initdb_lsn;
  uint32_t pg_version = 0;

  std::string Encode() const;
  static absl::StatusOr<TimelineMeta> Decode(std::string_view data);
  friend bool operator==(const TimelineMeta&, const TimelineMeta&) = default;
};

struct LayerRecord {
  std::string file_name;
  uint64_t file_size = 0;
};

// A secondary location (a warm cache of a tenant attached elsewhere).
struct SecondaryRecord {
  TenantShardId id;
  TenantConfig config;
  bool warm = true;
};

class CatalogBatch {
 public:
  CatalogBatch();
  ~CatalogBatch();
  void PutTenant(const TenantShardId& t, const TenantConfig& config);
  void DeleteTenant(const TenantShardId& t);  // with all its timelines and layers
  void PutTenantGeneration(const TenantShardId& t, Generation g);
  void PutSecondary(const SecondaryRecord& r);
  void DeleteSecondary(const TenantShardId& t);
  void PutTimeline(const TenantShardId& t, const TimelineMeta& meta);
  void DeleteTimeline(const TenantShardId& t, const TimelineId& tl);  // with its layers
  void AddLayer(const TenantShardId& t, const TimelineId& tl, const LayerRecord& layer);
  void RemoveLayer(const TenantShardId& t, const TimelineId& tl, const std::string& file_name);
  rocksdb::WriteBatch* rep() { return rep_.get(); }

 private:
  std::unique_ptr<rocksdb::WriteBatch> rep_;
};

class Catalog {
 public:
  static absl::StatusOr<std::unique_ptr<Catalog>> Open(std::shared_ptr<FileSystem> fs,
                                                       const std::string& dir);
  ~Catalog();

  // Applies the batch atomically and durably (synced).
  absl::Status Commit(CatalogBatch& batch);

  absl::StatusOr<std::vector<std::pair<TenantShardId, TenantConfig>>> ListTenants();
  absl::StatusOr<std::vector<TimelineMeta>> ListTimelines(const TenantShardId& t);
  // None for tenants without a recorded generation.
  absl::StatusOr<Generation> GetTenantGeneration(const TenantShardId& t);
  absl::StatusOr<std::vector<LayerRecord>> ListLayers(const TenantShardId& t, const TimelineId& tl);
  absl::StatusOr<std::vector<SecondaryRecord>> ListSecondaries();

 private:
  Catalog() = default;
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(const std::string& prefix);

  std::shared_ptr<FileSystem> fs_;
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_CATALOG_H_
