// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// PageCache: one bounded cache (in bytes) shared by every tenant of an
// Engine. It holds two kinds of entries:
//   * file blocks: verified (checksummed) payloads of immutable layer-file
//     blocks, keyed by (file id, block number);
//   * materialized pages: a page reconstructed for (timeline, key, lsn), valid
//     forever because data at or below an ingested LSN never changes.
// Eviction is CLOCK (second chance) over both kinds together.
//
// Thread safety: all methods are safe for concurrent use. Entries are handed
// out as shared_ptr<const std::string>, so eviction never invalidates a value
// a reader holds.

#ifndef NEON_LIB_ENGINE_PAGE_CACHE_H_
#define NEON_LIB_ENGINE_PAGE_CACHE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "neon/key.h"
#include "neon/types.h"

namespace neon {

class PageCache {
 public:
  using Entry = std::shared_ptr<const std::string>;

  explicit PageCache(size_t capacity_bytes);
  PageCache(const PageCache&) = delete;
  PageCache& operator=(const PageCache&) = delete;

  // Process-unique ids for layer files and timelines (never reused).
  static uint64_t NewFileId();
  static uint64_t NewTimelineUid();

  Entry LookupBlock(uint64_t file_id, uint32_t blkno);
  void InsertBlock(uint64_t file_id, uint32_t blkno, Entry block);

  // Decompressed values of compressed blobs, keyed by (file id, blob offset):
  // a hit skips decompression, as RocksDB's block cache holds uncompressed
  // blocks.
  Entry LookupBlob(uint64_t file_id, uint64_t offset);
  void InsertBlob(uint64_t file_id, uint64_t offset, Entry value);

  Entry LookupPage(uint64_t timeline_uid, const Key& key, Lsn lsn);
  void InsertPage(uint64_t timeline_uid, const Key& key, Lsn lsn, Entry page);

  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t inserts = 0;
    uint64_t evictions = 0;
    uint64_t bytes = 0;
    uint64_t entries = 0;
  };
  Stats GetStats() const;
  size_t capacity_bytes() const { return capacity_; }

 private:
  struct CacheKey {
    uint8_t kind;  // 0 = block, 1 = page, 2 = decompressed blob
    uint64_t id;   // file id or timeline uid
    Key key;       // pages only
    uint64_t n;    // block number, lsn or blob offset
    friend bool operator==(const CacheKey&, const CacheKey&) = default;
    template <typename H>
    friend H AbslHashValue(H h, const CacheKey& k) {
      return H::combine(std::move(h), k.kind, k.id, k.key, k.n);
    }
  };
  struct Slot {
    CacheKey key;
    Entry value;
    bool referenced = false;
    bool used = false;
  };

  // One CLOCK cache; the PageCache shards keys over several of them so
  // readers of different tenants rarely meet on one mutex.
  struct Shard {
    explicit Shard(size_t capacity) : capacity(capacity) {}
    Entry Lookup(const CacheKey& k);
    // Returns true if the value was stored.
    bool Insert(const CacheKey& k, Entry v);
    void EvictUntilFits(size_t incoming) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

    const size_t capacity;
    mutable absl::Mutex mu;
    absl::flat_hash_map<CacheKey, size_t> index ABSL_GUARDED_BY(mu);  // key -> slot
    std::vector<Slot> slots ABSL_GUARDED_BY(mu);
    std::vector<size_t> free ABSL_GUARDED_BY(mu);
    size_t hand ABSL_GUARDED_BY(mu) = 0;
    size_t bytes ABSL_GUARDED_BY(mu) = 0;
    std::atomic<uint64_t> evictions{0};
  };

  Entry Lookup(const CacheKey& k);
  void Insert(const CacheKey& k, Entry v);
  Shard& ShardFor(const CacheKey& k);

  const size_t capacity_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<uint64_t> hits_{0}, misses_{0}, inserts_{0};
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_PAGE_CACHE_H_
