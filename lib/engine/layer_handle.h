// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// LayerHandle: where a historic layer's bytes are. A layer is *resident* (its
// file is in the timeline directory and a LayerReader is open) or *remote*
// (only in object storage). Reader() downloads a remote layer into place
// (temp file, sync, rename, sync directory), checks its size and opens it;
// Evict() drops a resident layer's local file if object storage has it (the
// uploaded index lists it). Readers holding a LayerReader keep reading the
// open file after an eviction or a removal.
//
//   resident ──Evict()──▶ remote ──Reader()──▶ resident
//      └──────────RemoveLocal() (layer replaced or garbage-collected)──▶ gone
//
// ResidentLayers (engine-wide) tracks resident layers with their last use
// and evicts the least recently used ones above the disk budget.
//
// Thread safety: all methods may be called concurrently. Lock order: a
// handle's mutex is never held while calling into ResidentLayers.

#ifndef NEON_LIB_ENGINE_LAYER_HANDLE_H_
#define NEON_LIB_ENGINE_LAYER_HANDLE_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "engine/layer_file.h"
#include "remote/remote_timeline_client.h"

namespace neon {

class ResidentLayers;

// What handles of one timeline share. `remote` null: the layer can never
// be evicted or downloaded.
struct LayerHandleContext {
  FileSystem* fs = nullptr;
  PageCache* cache = nullptr;
  // Shared: a handle released after the engine (a Tenant kept by the caller) still finds it.
  std::shared_ptr<ResidentLayers> residence;  // null: no budget tracking
  std::shared_ptr<ObjectStore> store;
  std::shared_ptr<RemoteTimelineClient> remote;
};

class LayerHandle : public std::enable_shared_from_this<LayerHandle> {
 public:
  // A layer whose file is open as `reader`.
  static std::shared_ptr<LayerHandle> Resident(const LayerHandleContext& ctx, std::string name,
                                               std::string path, uint64_t size,
                                               std::shared_ptr<LayerReader> reader);
  // A layer that is only in object storage.
  static std::shared_ptr<LayerHandle> Remote(const LayerHandleContext& ctx, std::string name,
                                             std::string path, uint64_t size);
  ~LayerHandle();

  // The open reader; downloads the file first if the layer is remote.
  // DataLoss if the download's size differs from the index's.
  absl::StatusOr<std::shared_ptr<LayerReader>> Reader();
  bool resident() const;
  uint64_t size() const { return size_; }
  const std::string& name() const { return name_; }
  int64_t last_used() const { return last_used_.load(std::memory_order_relaxed); }

  // Deletes the local file if the layer is resident and uploaded; returns
  // the bytes freed (0 when nothing was evicted).
  absl::StatusOr<uint64_t> Evict();
  // The layer left the timeline: deletes its local file (if any) and stops
  // tracking it. Readers that hold the reader keep using it.
  absl::Status RemoveLocal();

  LayerHandle(const LayerHandleContext& ctx, std::string name, std::string path, uint64_t size);

 private:
  absl::Status Download() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Touch();

  const LayerHandleContext ctx_;
  const std::string name_;
  const std::string path_;
  const uint64_t size_;
  std::atomic<int64_t> last_used_{0};

  mutable absl::Mutex mu_;
  std::shared_ptr<LayerReader> reader_ ABSL_GUARDED_BY(mu_);  // null: not resident
  bool removed_ ABSL_GUARDED_BY(mu_) = false;
};

class ResidentLayers {
 public:
  // budget_bytes 0: no limit (nothing is ever evicted).
  explicit ResidentLayers(uint64_t budget_bytes) : budget_bytes_(budget_bytes) {}

  void Add(const std::shared_ptr<LayerHandle>& h);
  void Remove(const LayerHandle* h);
  // A monotonically increasing use stamp.
  int64_t NextStamp() { return stamp_.fetch_add(1, std::memory_order_relaxed) + 1; }
  // Evicts least recently used, evictable layers until the resident bytes
  // are within the budget (or nothing more can go).
  absl::Status EnforceBudget();
  uint64_t resident_bytes() const;
  uint64_t evictions() const { return evictions_.load(); }
  uint64_t downloads() const { return downloads_.load(); }
  void CountDownload() { downloads_.fetch_add(1); }

 private:
  const uint64_t budget_bytes_;
  std::atomic<int64_t> stamp_{0};
  std::atomic<uint64_t> evictions_{0};
  std::atomic<uint64_t> downloads_{0};
  absl::Mutex enforce_mu_;  // one enforcement at a time
  mutable absl::Mutex mu_;
  absl::flat_hash_map<const LayerHandle*, std::pair<std::weak_ptr<LayerHandle>, uint64_t>> layers_
      ABSL_GUARDED_BY(mu_);
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_LAYER_HANDLE_H_
