// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/page_cache.h"

#include "absl/hash/hash.h"
#include "base/check.h"

namespace neon {
namespace {

// Bytes charged per entry beyond its value: slot, index entry, shared_ptr
// control block. An estimate; what matters is that it is not zero.
constexpr size_t kEntryOverheadBytes = 64;

size_t Charge(const PageCache::Entry& v) { return v->size() + kEntryOverheadBytes; }

std::atomic<uint64_t> next_file_id{1};
std::atomic<uint64_t> next_timeline_uid{1};

}  // namespace

// Caches of 16 MiB and more are split into this many shards.
constexpr size_t kShards = 16;
constexpr size_t kMinShardedCapacity = 16ull << 20;

PageCache::PageCache(size_t capacity_bytes) : capacity_(capacity_bytes) {
  const size_t n = capacity_bytes >= kMinShardedCapacity ? kShards : 1;
  for (size_t i = 0; i < n; i++) shards_.push_back(std::make_unique<Shard>(capacity_bytes / n));
}

PageCache::Shard& PageCache::ShardFor(const CacheKey& k) {
  if (shards_.size() == 1) return *shards_[0];
  return *shards_[absl::Hash<CacheKey>()(k) % shards_.size()];
}

uint64_t PageCache::NewFileId() { return next_file_id.fetch_add(1, std::memory_order_relaxed); }

uint64_t PageCache::NewTimelineUid() {
  return next_timeline_uid.fetch_add(1, std::memory_order_relaxed);
}

PageCache::Entry PageCache::LookupBlock(uint64_t file_id, uint32_t blkno) {
  return Lookup(CacheKey{0, file_id, Key(), blkno});
}

void PageCache::InsertBlock(uint64_t file_id, uint32_t blkno, Entry block) {
  Insert(CacheKey{0, file_id, Key(), blkno}, std::move(block));
}

PageCache::Entry PageCache::LookupBlob(uint64_t file_id, uint64_t offset) {
  return Lookup(CacheKey{2, file_id, Key(), offset});
}

void PageCache::InsertBlob(uint64_t file_id, uint64_t offset, Entry value) {
  Insert(CacheKey{2, file_id, Key(), offset}, std::move(value));
}

PageCache::Entry PageCache::LookupPage(uint64_t timeline_uid, const Key& key, Lsn lsn) {
  return Lookup(CacheKey{1, timeline_uid, key, lsn.value()});
}

void PageCache::InsertPage(uint64_t timeline_uid, const Key& key, Lsn lsn, Entry page) {
  Insert(CacheKey{1, timeline_uid, key, lsn.value()}, std::move(page));
}

PageCache::Entry PageCache::Lookup(const CacheKey& k) {
  Entry e = ShardFor(k).Lookup(k);
  (e ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
  return e;
}

void PageCache::Insert(const CacheKey& k, Entry v) {
  NEON_CHECK(v != nullptr);
  if (ShardFor(k).Insert(k, std::move(v))) inserts_.fetch_add(1, std::memory_order_relaxed);
}

PageCache::Entry PageCache::Shard::Lookup(const CacheKey& k) {
  absl::MutexLock l(&mu);
  auto it = index.find(k);
  if (it == index.end()) return nullptr;
  Slot& s = slots[it->second];
  s.referenced = true;
  return s.value;
}

bool PageCache::Shard::Insert(const CacheKey& k, Entry v) {
  const size_t charge = Charge(v);
  if (charge > capacity) return false;  // could never fit: not cached
  absl::MutexLock l(&mu);
  auto it = index.find(k);
  if (it != index.end()) {
    // Same key: replace the value in place (for immutable data it is equal).
    Slot& s = slots[it->second];
    bytes = bytes - Charge(s.value) + charge;
    s.value = std::move(v);
    s.referenced = true;
    EvictUntilFits(0);
    return true;
  }
  EvictUntilFits(charge);
  size_t slot;
  if (!free.empty()) {
    slot = free.back();
    free.pop_back();
  } else {
    slot = slots.size();
    slots.emplace_back();
  }
  Slot& s = slots[slot];
  s.key = k;
  s.value = std::move(v);
  s.referenced = false;  // a new entry must be used once to earn a second chance
  s.used = true;
  index.emplace(k, slot);
  bytes += charge;
  return true;
}

void PageCache::Shard::EvictUntilFits(size_t incoming) {
  // Each slot is passed at most twice (once to clear its reference bit, once
  // to evict it), so two sweeps always make room; the bound is a safety net.
  const size_t max_steps = 2 * slots.size() + 2;
  for (size_t step = 0; step < max_steps && bytes + incoming > capacity; step++) {
    if (slots.empty()) return;
    if (hand >= slots.size()) hand = 0;
    Slot& s = slots[hand];
    size_t victim = hand++;
    if (!s.used) continue;
    if (s.referenced) {
      s.referenced = false;
      continue;
    }
    bytes -= Charge(s.value);
    index.erase(s.key);
    s.value = nullptr;
    s.used = false;
    free.push_back(victim);
    evictions.fetch_add(1, std::memory_order_relaxed);
  }
}

PageCache::Stats PageCache::GetStats() const {
  Stats st;
  st.hits = hits_.load(std::memory_order_relaxed);
  st.misses = misses_.load(std::memory_order_relaxed);
  st.inserts = inserts_.load(std::memory_order_relaxed);
  for (const auto& sh : shards_) {
    st.evictions += sh->evictions.load(std::memory_order_relaxed);
    absl::MutexLock l(&sh->mu);
    st.bytes += sh->bytes;
    st.entries += sh->index.size();
  }
  return st;
}

}  // namespace neon
