// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Remote storage of an Engine: the object store that holds every tenant's
// layers and index_part.json (the durable truth; the local directory is a
// cache), the generation check guarding deletions, and the local disk budget.
// See doc/format/index_part.md for the object layout.
//
// Thread safety: plain values. The validator is called from the engine's
// background work (or from Engine::FlushRemote's caller), one call at a time.

#ifndef NEON_INCLUDE_NEON_REMOTE_STORAGE_H_
#define NEON_INCLUDE_NEON_REMOTE_STORAGE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "neon/object_store.h"
#include "neon/types.h"

namespace neon {

struct TenantGeneration {
  TenantShardId tenant;
  Generation generation;
};

// Answers, for each (tenant, generation), whether that generation is still
// the tenant's current one (the storage controller's /validate). An error
// leaves the deletions queued for a later attempt. Must return exactly one
// answer per request entry.
using GenerationValidator =
    std::function<absl::StatusOr<std::vector<bool>>(const std::vector<TenantGeneration>&)>;

struct RemoteStorageOptions {
  // Null: no remote storage (tenants live on local disk only).
  std::shared_ptr<ObjectStore> store;
  // Null: every generation is taken as current (a single node that owns its
  // tenants). With several nodes this must ask the storage controller.
  GenerationValidator validate_generations;
  // Layer and index uploads in flight per timeline (>= 1).
  int max_inflight_uploads = 4;
  // Local bytes of layer files the engine keeps; above it the least recently
  // used layers that are safely uploaded are evicted (deleted locally) and
  // downloaded again when read. 0 = no limit.
  uint64_t local_layer_budget_bytes = 0;
};

}  // namespace neon

#endif  // NEON_INCLUDE_NEON_REMOTE_STORAGE_H_
