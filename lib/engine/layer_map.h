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
#include <optional>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"

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

// One key of LayerMap::CollectMany: what Collect() would append and return.
struct KeyCollect {
  Key key;
  std::vector<LayerValue> versions;  // newest first
  absl::StatusOr<CollectResult> result = CollectResult::kContinue;
};

class LayerMap {
 public:
  LayerMap() = default;
  LayerMap(std::vector<std::shared_ptr<InMemoryLayer>> in_memory,
           std::vector<HistoricLayerPtr> historic);

  // Values of `key` below `lsn_end` (exclusive), newest first, until complete.
  absl::StatusOr<CollectResult> Collect(const Key& key, Lsn lsn_end,
                                        std::vector<LayerValue>* out) const;
  // Collect() for each of `keys` (distinct; in increasing key order for the
  // best sharing) below the same `lsn_end`, appending to and setting each
  // KeyCollect. The searches advance in steps: at each step every unfinished
  // key picks its next layer by Collect()'s rules, and each picked layer is
  // opened and read once for all the keys that picked it. `decided` is called
  // once per key, as soon as its result is set (so the caller can use its
  // versions while they are hot). An error ends only the keys it concerns.
  void CollectMany(Lsn lsn_end, absl::Span<KeyCollect* const> keys,
                   absl::FunctionRef<void(KeyCollect*)> decided) const;

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
  // Where one key's sweep over the historic layers stands.
  struct Sweep {
    size_t di = 0;  // into deltas_
    size_t ii = 0;  // into images_
    Lsn lsn_end;    // exclusive bound of what is still to be collected
  };
  // The layer a key's search reads next and the LSN range it reads there
  // (layer null: no layer is left, continue in the ancestor).
  struct Step {
    const HistoricLayer* layer = nullptr;
    LsnRange range;
  };
  Step NextStep(const Key& key, Sweep* sweep) const;
  // Moves the sweep past the step whose read returned `found`; the key's
  // result once decided (an image, a will_init value, an absent key).
  static std::optional<CollectResult> AfterStep(const Step& step, bool found, Sweep* sweep,
                                                std::vector<LayerValue>* out);
  // One key's search of CollectMany over the historic layers.
  struct KeySearch {
    KeyCollect* k;
    size_t order;  // position in the keys: increasing key order within a layer
    Sweep sweep;
    Step step;
  };
  // Reads the layer all of `group` picked (once, in key order); the searches
  // not decided there go to *next.
  void ReadLayer(absl::Span<KeySearch> group, std::vector<KeySearch>* next,
                 absl::FunctionRef<void(KeyCollect*)> decided) const;
  // CollectMany over the in-memory layers; leaves unfinished keys in
  // *active and returns the bound below which the search goes on.
  Lsn CollectInMemory(Lsn lsn_end, absl::Span<KeyCollect* const> keys,
                      std::vector<KeyCollect*>* active,
                      absl::FunctionRef<void(KeyCollect*)> decided) const;

  std::vector<std::shared_ptr<InMemoryLayer>> in_memory_;
  std::vector<HistoricLayerPtr> historic_;
  std::vector<const HistoricLayer*> deltas_;  // by lsn_range.end, descending
  std::vector<const HistoricLayer*> images_;  // by image lsn, descending
  size_t num_l0_ = 0;
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_LAYER_MAP_H_
