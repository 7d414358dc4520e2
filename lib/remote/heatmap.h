// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// heatmap-v1.json: what an attached location tells its warm secondaries to keep. It lists,
// per timeline, the layers the attached location has on local disk and that object storage
// holds (hottest first), with Neon's field names:
//
//   tenants/<tenant_shard>/heatmap-v1.json
//   {"generation": 5, "upload_period_ms": 60000,
//    "timelines": [{"timeline_id": "<hex>",
//                   "layers": [{"name": "<layer>", "metadata": {"file_size": N,
//                               "generation": G, "shard": "0104"}, "access_time":
//                               "2026-11-21T10:00:00.000000Z", "cold": false}]}]}
//
// "metadata" is an index_part.json layer_metadata entry, so a secondary can name the object
// (RemoteLayerKey) without reading the index. The object has no generation suffix: the
// newest attachment's upload replaces it.
//
// Thread safety: values and pure functions.

#ifndef NEON_LIB_REMOTE_HEATMAP_H_
#define NEON_LIB_REMOTE_HEATMAP_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "neon/types.h"
#include "remote/index_part.h"

namespace neon {

inline constexpr uint64_t kMaxHeatmapBytes = 64ull << 20;

struct HeatmapLayer {
  std::string name;
  IndexLayerMetadata metadata;
  int64_t access_time_us = 0;  // Unix microseconds
  bool cold = false;
  friend bool operator==(const HeatmapLayer&, const HeatmapLayer&) = default;
};

struct HeatmapTimeline {
  TimelineId timeline_id;
  std::vector<HeatmapLayer> layers;  // hottest first
  friend bool operator==(const HeatmapTimeline&, const HeatmapTimeline&) = default;
};

struct Heatmap {
  Generation generation;
  uint64_t upload_period_ms = 0;  // 0: uploaded on request only
  std::vector<HeatmapTimeline> timelines;

  std::string Serialize() const;
  // DataLoss (naming the problem) for anything malformed: bad JSON, missing fields, bad ids,
  // layer names or metadata, a timeline listed twice.
  static absl::StatusOr<Heatmap> Parse(std::string_view json);
  friend bool operator==(const Heatmap&, const Heatmap&) = default;
};

std::string RemoteHeatmapKey(const TenantShardId& tenant);

}  // namespace neon

#endif  // NEON_LIB_REMOTE_HEATMAP_H_
