// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// LayerMap: an immutable snapshot of a timeline's layers. Writers (flush,
// compaction, GC) build a new map and swap it in; readers take a shared_ptr
// to the current one, so a read never sees a half-updated set of layers and
// layers it uses stay open until it is done.
//
// Search (Neon's select_layer, as a sweep): for a key and an exclusive LSN
// bound, in-memory layers are consulted newest first, then historic layers:
// deltas ordered by LSN end (descending) and images by LSN (descending). Per
// key, delta LSN ranges never overlap, so the first delta covering the key
// below the bound is the newest; an image at or above that delta's top wins
// and ends the search (an image layer is authoritative: a key absent from it
// does not exist at its LSN).
//
// Thread safety: immutable after construction; share freely.

#ifndef NEON_LIB_ENGINE_LAYER_MAP_H_
#define NEON_LIB_ENGINE_LAYER_MAP_H_

#include <memory>
#include <vector>

#include "engine/in_memory_layer.h"
#include "engine/layer_file.h"
#include "engine/layer_handle.h"

namespace neon {

struct HistoricLayer {
  LayerDesc desc;
  std::string file_name;
  uint64_t file_size = 0;
  // Resident or only in object storage (downloaded on first use).
  std::shared_ptr<LayerHandle> handle;

  absl::StatusOr<std::shared_ptr<LayerReader>> Reader() const { return handle->Reader(); }
};
using HistoricLayerPtr = std::shared_ptr<const HistoricLayer>;

enum class CollectResult {
  kComplete,  // an image or will_init value was found
  kContinue,  // nothing older in this timeline: continue in the ancestor
  kAbsent,    // an image layer says the key does not exist at that LSN
};

class LayerMap {
 public:
  LayerMap() = default;
  LayerMap(std::vector<std::shared_ptr<InMemoryLayer>> in_memory,
           std::vector<HistoricLayerPtr> historic);

  // Values of `key` below `lsn_end` (exclusive), newest first, until complete.
  absl::StatusOr<CollectResult> Collect(const Key& key, Lsn lsn_end,
                                        std::vector<LayerValue>* out) const;

  // Oldest first; the last one may be open.
  const std::vector<std::shared_ptr<InMemoryLayer>>& in_memory() const { return in_memory_; }
  const std::vector<HistoricLayerPtr>& historic() const { return historic_; }
  // L0 deltas ordered by LSN start, oldest first.
  std::vector<HistoricLayerPtr> L0s() const;
  size_t num_l0() const { return num_l0_; }
  uint64_t historic_bytes() const;

  // Copies with changes.
  std::shared_ptr<const LayerMap> WithInMemory(std::vector<std::shared_ptr<InMemoryLayer>> m) const;
  std::shared_ptr<const LayerMap> WithChanges(const std::vector<HistoricLayerPtr>& add,
                                              const std::vector<HistoricLayerPtr>& remove,
                                              std::vector<std::shared_ptr<InMemoryLayer>> m) const;

 private:
  std::vector<std::shared_ptr<InMemoryLayer>> in_memory_;
  std::vector<HistoricLayerPtr> historic_;
  std::vector<const HistoricLayer*> deltas_;  // by lsn_range.end, descending
  std::vector<const HistoricLayer*> images_;  // by image lsn, descending
  size_t num_l0_ = 0;
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_LAYER_MAP_H_
