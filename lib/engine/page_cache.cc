// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/page_cache.h"

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

PageCache::PageCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}

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

PageCache::Entry PageCache::LookupPage(uint64_t timeline_uid, const Key& key, Lsn lsn) {
  return Lookup(CacheKey{1, timeline_uid, key, lsn.value()});
}

void PageCache::InsertPage(uint64_t timeline_uid, const Key& key, Lsn lsn, Entry page) {
  Insert(CacheKey{1, timeline_uid, key, lsn.value()}, std::move(page));
}

PageCache::Entry PageCache::Lookup(const CacheKey& k) {
  {
    absl::MutexLock l(&mu_);
    auto it = index_.find(k);
    if (it != index_.end()) {
      Slot& s = slots_[it->second];
      s.referenced = true;
      hits_.fetch_add(1, std::memory_order_relaxed);
      return s.value;
    }
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

void PageCache::Insert(const CacheKey& k, Entry v) {
  NEON_CHECK(v != nullptr);
  const size_t charge = Charge(v);
  if (charge > capacity_) return;  // could never fit: not cached
  absl::MutexLock l(&mu_);
  inserts_.fetch_add(1, std::memory_order_relaxed);
  auto it = index_.find(k);
  if (it != index_.end()) {
    // Same key: replace the value in place (for immutable data it is equal).
    Slot& s = slots_[it->second];
    bytes_ = bytes_ - Charge(s.value) + charge;
    s.value = std::move(v);
    s.referenced = true;
    EvictUntilFits(0);
    return;
  }
  EvictUntilFits(charge);
  size_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = slots_.size();
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.key = k;
  s.value = std::move(v);
  s.referenced = false;  // a new entry must be used once to earn a second chance
  s.used = true;
  index_.emplace(k, slot);
  bytes_ += charge;
}

void PageCache::EvictUntilFits(size_t incoming) {
  // Each slot is passed at most twice (once to clear its reference bit, once
  // to evict it), so two sweeps always make room; the bound is a safety net.
  const size_t max_steps = 2 * slots_.size() + 2;
  for (size_t step = 0; step < max_steps && bytes_ + incoming > capacity_; step++) {
    if (slots_.empty()) return;
    if (hand_ >= slots_.size()) hand_ = 0;
    Slot& s = slots_[hand_];
    size_t victim = hand_++;
    if (!s.used) continue;
    if (s.referenced) {
      s.referenced = false;
      continue;
    }
    bytes_ -= Charge(s.value);
    index_.erase(s.key);
    s.value = nullptr;
    s.used = false;
    free_.push_back(victim);
    evictions_.fetch_add(1, std::memory_order_relaxed);
  }
}

PageCache::Stats PageCache::GetStats() const {
  Stats st;
  st.hits = hits_.load(std::memory_order_relaxed);
  st.misses = misses_.load(std::memory_order_relaxed);
  st.inserts = inserts_.load(std::memory_order_relaxed);
  st.evictions = evictions_.load(std::memory_order_relaxed);
  absl::MutexLock l(&mu_);
  st.bytes = bytes_;
  st.entries = index_.size();
  return st;
}

}  // namespace neon
