// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// index_part.json: the durable description of one timeline in object storage
// (its layers and metadata), with Neon's field names. Grammar, versions and
// validation rules: doc/format/index_part.md. Remote keys:
//
//   tenants/<tenant_shard>/timelines/<timeline>/<layer_name>-<generation:08x>
//   tenants/<tenant_shard>/timelines/<timeline>/index_part.json-<generation:08x>
//
// (A generation-less legacy object has no suffix.) The layer key's shard part
// is the layer's own shard, which may differ from the reader's.
//
// Thread safety: values and pure functions, except the Download/List
// helpers, which call the (thread-safe) ObjectStore.

#ifndef NEON_LIB_REMOTE_INDEX_PART_H_
#define NEON_LIB_REMOTE_INDEX_PART_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "neon/object_store.h"
#include "neon/types.h"

namespace neon {

// The version we write. Parsing accepts kMinIndexPartVersion..this one.
inline constexpr uint32_t kIndexPartVersion = 15;
inline constexpr uint32_t kMinIndexPartVersion = 1;
inline constexpr std::string_view kIndexPartName = "index_part.json";
// Bound on one index_part.json download.
inline constexpr uint64_t kMaxIndexPartBytes = 64ull << 20;

struct IndexLayerMetadata {
  uint64_t file_size = 0;
  Generation generation;  // None: omitted ("generation-less" legacy object)
  ShardIndex shard;       // unsharded: omitted
  friend bool operator==(const IndexLayerMetadata&, const IndexLayerMetadata&) = default;
};

class JsonValue;
class JsonWriter;
// One layer_metadata entry, as index_part.json and heatmap-v1.json write it.
// Parse errors are DataLoss naming the layer.
void WriteIndexLayerMetadata(JsonWriter& w, const IndexLayerMetadata& l);
absl::StatusOr<IndexLayerMetadata> ParseIndexLayerMetadata(const std::string& name, const JsonValue& v);

struct IndexMetadata {
  Lsn disk_consistent_lsn;
  Lsn prev_record_lsn;                       // invalid: null
  std::optional<TimelineId> ancestor_timeline;
  Lsn ancestor_lsn;
  Lsn latest_gc_cutoff_lsn;
  Lsn initdb_lsn;
  uint32_t pg_version = 0;
  friend bool operator==(const IndexMetadata&, const IndexMetadata&) = default;
};

struct IndexPart {
  uint32_t version = kIndexPartVersion;
  std::map<std::string, IndexLayerMetadata> layer_metadata;  // by layer name
  IndexMetadata metadata;
  // RFC 3339 time the timeline was deleted at; empty: not deleted.
  std::string deleted_at;

  // Compact JSON with members in a fixed order (byte-stable output).
  std::string Serialize() const;
  // DataLoss (with the reason) for anything that is not a valid index:
  // malformed JSON, missing or mistyped required fields, bad LSNs or ids,
  // an unknown version, disk_consistent_lsn differing from the metadata's,
  // bad layer names. Unknown members are ignored (Neon adds fields freely).
  static absl::StatusOr<IndexPart> Parse(std::string_view json);
  friend bool operator==(const IndexPart&, const IndexPart&) = default;
};

// ---- Keys ------------------------------------------------------------------
std::string RemoteTimelinesPrefix(const TenantShardId& tenant);  // ".../timelines/"
std::string RemoteTimelinePrefix(const TenantShardId& tenant, const TimelineId& timeline);
std::string RemoteIndexKey(const TenantShardId& tenant, const TimelineId& timeline,
                           Generation generation);
// `layer_shard` is the layer's own shard (from its IndexLayerMetadata).
std::string RemoteLayerKey(const TenantShardId& tenant, ShardIndex layer_shard,
                           const TimelineId& timeline, std::string_view layer_name,
                           Generation generation);
// The generation of an index object's base name: "index_part.json" is None,
// "index_part.json-0000002a" is 42; anything else is InvalidArgument.
absl::StatusOr<Generation> ParseIndexGeneration(std::string_view base_name);
// OK if `name` can be a layer name in a key: 1..255 bytes of [0-9A-Za-z_-].
absl::Status ValidateLayerName(std::string_view name);

// ---- Loading (generation-aware) ---------------------------------------------
struct DownloadedIndex {
  IndexPart index;
  Generation generation;  // of the object it came from
};

// The index a node holding `generation` must load: its own object if present
// (a restart with the same generation), else generation - 1's, else the
// highest generation below its own found by listing. Objects of newer
// generations are never read. NotFound if there is none.
absl::StatusOr<DownloadedIndex> DownloadIndexPart(ObjectStore& store, const TenantShardId& tenant,
                                                  const TimelineId& timeline, Generation generation);
// Timelines with any object under the tenant's timelines/ prefix, ascending.
absl::StatusOr<std::vector<TimelineId>> ListRemoteTimelines(ObjectStore& store,
                                                            const TenantShardId& tenant);

// Deletes every object under `prefix`, index_part objects first (so no
// reader finds an index whose layers are gone). No generation check: for
// explicit timeline and tenant deletion only.
absl::Status DeleteRemotePrefix(ObjectStore& store, std::string_view prefix);
absl::Status DeleteRemoteTimeline(ObjectStore& store, const TenantShardId& tenant,
                                  const TimelineId& timeline);

}  // namespace neon

#endif  // NEON_LIB_REMOTE_INDEX_PART_H_
