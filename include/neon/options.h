// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Options of an Engine and configuration of a Tenant. Plain structs with
// Neon's defaults (reference: pageserver TenantConfig).
//
// Thread safety: plain values.

#ifndef NEON_INCLUDE_NEON_OPTIONS_H_
#define NEON_INCLUDE_NEON_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "neon/clock.h"
#include "neon/executor.h"
#include "neon/file_system.h"
#include "neon/remote_storage.h"

namespace neon {

class RedoManager;
struct TenantShardId;

// Makes the RedoManager of one tenant shard (see neon/postgres_redo.h).
using PostgresRedoFactory = std::function<std::shared_ptr<RedoManager>(const TenantShardId&)>;

inline constexpr int64_t kMicrosPerSecond = 1'000'000;

struct TenantConfig {
  // Roll the open in-memory layer after this much WAL (bytes of LSN distance)
  // or this much data.
  uint64_t checkpoint_distance = 256ull << 20;
  // ... or when it has been open this long and holds data.
  int64_t checkpoint_timeout_us = 10 * 60 * kMicrosPerSecond;
  // Target size of L1 delta and image layer files.
  uint64_t compaction_target_size = 128ull << 20;
  int64_t compaction_period_us = 20 * kMicrosPerSecond;
  // L0 -> L1 compaction starts at this many L0 layers.
  uint32_t compaction_threshold = 10;
  // At most this many x checkpoint_distance bytes of L0 per compaction.
  uint32_t compaction_upper_limit = 20;
  // Create an image layer for a key range once this many deltas stack above
  // its latest image.
  uint32_t image_creation_threshold = 3;
  // GC keeps this much WAL history (bytes of LSN) below last_record_lsn...
  uint64_t gc_horizon = 64ull << 20;
  int64_t gc_period_us = 60 * 60 * kMicrosPerSecond;
  // ... and everything needed to read any point of the last pitr_interval.
  int64_t pitr_interval_us = 7ll * 24 * 60 * 60 * kMicrosPerSecond;
  // Ingest backpressure: with this many L0 layers the writer flushes inline
  // (default 3 x compaction_threshold); with the stall threshold (default off)
  // the writer also compacts inline.
  std::optional<uint32_t> l0_flush_delay_threshold;
  std::optional<uint32_t> l0_flush_stall_threshold;
  int64_t lsn_lease_length_us = 10 * 60 * kMicrosPerSecond;
  // Upload heatmap-v1.json (the layers warm secondaries should hold) this often; 0 = only
  // when asked (Engine::UploadHeatmap).
  int64_t heatmap_period_us = 0;

  uint32_t effective_l0_flush_delay_threshold() const {
    return l0_flush_delay_threshold.value_or(3 * compaction_threshold);
  }

  // "key=value" lines, one per field (the catalog's persistent form).
  std::string Serialize() const;
  // InvalidArgument on unknown keys or bad numbers.
  static absl::StatusOr<TenantConfig> Parse(std::string_view text);
};

enum class LayerCompression { kNone, kZstd, kLz4 };

struct EngineOptions {
  // Seams; null means the real implementation (POSIX, wall clock, a pool of
  // two threads).
  std::shared_ptr<FileSystem> fs;
  std::shared_ptr<Clock> clock;
  std::shared_ptr<Executor> executor;
  // Applies Postgres WAL records. Null: only engine records can be redone and
  // reading a page that needs a Postgres record fails with FailedPrecondition.
  std::shared_ptr<RedoManager> postgres_redo;
  // Per-tenant alternative (one walredo process per tenant): when set, each
  // tenant calls it once at creation and uses its manager instead.
  PostgresRedoFactory postgres_redo_factory;

  // Bytes of the page cache shared by all tenants (file blocks and
  // materialized pages).
  size_t page_cache_bytes = 64ull << 20;
  // How long a read waits for an LSN not yet ingested.
  int64_t wait_lsn_timeout_us = 300 * kMicrosPerSecond;
  // Schedule flush, compaction and GC on the executor by themselves. When
  // false, only the synchronous calls (Flush, Compact, Gc, Tick) do them.
  bool background_work = true;
  LayerCompression layer_compression = LayerCompression::kZstd;
  // Create the work directory if missing.
  bool create_if_missing = true;
  // Object storage (the durable truth when set; see neon/remote_storage.h).
  RemoteStorageOptions remote;
};

}  // namespace neon

#endif  // NEON_INCLUDE_NEON_OPTIONS_H_
