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
    uint8_t kind;  // 0 = block, 1 = page
    uint64_t id;   // file id or timeline uid
    Key key;       // pages only
    uint64_t n;    // block number or lsn
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

  Entry Lookup(const CacheKey& k);
  void Insert(const CacheKey& k, Entry v);
  void EvictUntilFits(size_t incoming) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t capacity_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<CacheKey, size_t> index_ ABSL_GUARDED_BY(mu_);  // key -> slot
  std::vector<Slot> slots_ ABSL_GUARDED_BY(mu_);
  std::vector<size_t> free_ ABSL_GUARDED_BY(mu_);
  size_t hand_ ABSL_GUARDED_BY(mu_) = 0;
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> hits_{0}, misses_{0}, inserts_{0}, evictions_{0};
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_PAGE_CACHE_H_
