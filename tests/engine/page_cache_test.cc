// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/page_cache.h"

#include <random>
#include <set>
#include <thread>

#include "gtest/gtest.h"

namespace neon {
namespace {

constexpr size_t kBlock = 8188;
constexpr size_t kOverhead = 64;

PageCache::Entry Val(size_t size, char fill) {
  return std::make_shared<const std::string>(size, fill);
}

TEST(PageCacheTest, HitsAndMisses) {
  PageCache cache(1 << 20);
  EXPECT_EQ(cache.capacity_bytes(), size_t{1} << 20);
  EXPECT_EQ(cache.LookupBlock(1, 0), nullptr);
  cache.InsertBlock(1, 0, Val(100, 'a'));
  auto e = cache.LookupBlock(1, 0);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(*e, std::string(100, 'a'));
  EXPECT_EQ(cache.LookupBlock(1, 1), nullptr);
  EXPECT_EQ(cache.LookupBlock(2, 0), nullptr);
  // Pages and blocks with the same numbers do not collide.
  EXPECT_EQ(cache.LookupPage(1, Key(), Lsn(0)), nullptr);
  const Key k(0, 1, 2, 3, 0, 4);
  cache.InsertPage(1, k, Lsn(10), Val(8192, 'p'));
  EXPECT_EQ(*cache.LookupPage(1, k, Lsn(10)), std::string(8192, 'p'));
  EXPECT_EQ(cache.LookupPage(1, k, Lsn(11)), nullptr);
  EXPECT_EQ(cache.LookupPage(2, k, Lsn(10)), nullptr);
  EXPECT_EQ(cache.LookupPage(1, k.Next(), Lsn(10)), nullptr);
  const PageCache::Stats s = cache.GetStats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 7u);
  EXPECT_EQ(s.inserts, 2u);
  EXPECT_EQ(s.entries, 2u);
  EXPECT_EQ(s.bytes, 100 + 8192 + 2 * kOverhead);
  EXPECT_EQ(s.evictions, 0u);
}

TEST(PageCacheTest, ReplaceKeepsOneEntry) {
  PageCache cache(1 << 20);
  cache.InsertBlock(1, 7, Val(10, 'a'));
  cache.InsertBlock(1, 7, Val(20, 'b'));
  EXPECT_EQ(*cache.LookupBlock(1, 7), std::string(20, 'b'));
  EXPECT_EQ(cache.GetStats().entries, 1u);
  EXPECT_EQ(cache.GetStats().bytes, 20 + kOverhead);
}

TEST(PageCacheTest, CapacityIsABound) {
  const size_t capacity = 100 * (kBlock + kOverhead);
  PageCache cache(capacity);
  for (uint32_t i = 0; i < 1000; i++) {
    cache.InsertBlock(1, i, Val(kBlock, char(i)));
    if (i % 3 == 0) cache.LookupBlock(1, i / 2);
    const PageCache::Stats s = cache.GetStats();
    ASSERT_LE(s.bytes, capacity);
  }
  const PageCache::Stats s = cache.GetStats();
  EXPECT_EQ(s.entries, 100u);
  EXPECT_EQ(s.evictions, 900u);
  EXPECT_EQ(s.bytes, 100 * (kBlock + kOverhead));
  // The newest block is there, with the right content.
  EXPECT_EQ(*cache.LookupBlock(1, 999), std::string(kBlock, char(999)));
}

TEST(PageCacheTest, OversizedEntryIsNotCached) {
  PageCache cache(1000);
  cache.InsertBlock(1, 1, Val(2000, 'x'));
  EXPECT_EQ(cache.LookupBlock(1, 1), nullptr);
  EXPECT_EQ(cache.GetStats().entries, 0u);
  PageCache zero(0);
  zero.InsertBlock(1, 1, Val(1, 'x'));
  EXPECT_EQ(zero.LookupBlock(1, 1), nullptr);
}

TEST(PageCacheTest, ReferencedEntriesGetASecondChance) {
  const size_t n = 50;
  PageCache cache(n * (kBlock + kOverhead));
  for (uint32_t i = 0; i < n; i++) cache.InsertBlock(1, i, Val(kBlock, 'a'));
  // Use the even blocks; the odd ones were never read.
  for (uint32_t i = 0; i < n; i += 2) ASSERT_NE(cache.LookupBlock(1, i), nullptr);
  for (uint32_t i = 0; i < n / 2; i++) cache.InsertBlock(2, i, Val(kBlock, 'b'));
  for (uint32_t i = 0; i < n; i++) {
    EXPECT_EQ(cache.LookupBlock(1, i) != nullptr, i % 2 == 0) << i;
  }
  EXPECT_EQ(cache.GetStats().evictions, n / 2);
}

TEST(PageCacheTest, HeldEntriesSurviveEviction) {
  PageCache cache(2 * (100 + kOverhead));
  cache.InsertBlock(1, 0, Val(100, 'k'));
  PageCache::Entry held = cache.LookupBlock(1, 0);
  for (uint32_t i = 1; i < 10; i++) cache.InsertBlock(1, i, Val(100, 'z'));
  EXPECT_EQ(cache.LookupBlock(1, 0), nullptr);
  EXPECT_EQ(*held, std::string(100, 'k'));
}

TEST(PageCacheTest, IdsAreUnique) {
  std::set<uint64_t> files, timelines;
  for (int i = 0; i < 1000; i++) {
    EXPECT_TRUE(files.insert(PageCache::NewFileId()).second);
    EXPECT_TRUE(timelines.insert(PageCache::NewTimelineUid()).second);
  }
  EXPECT_EQ(files.count(0), 0u);  // 0 is never handed out
}

TEST(PageCacheTest, ConcurrentUse) {
  const size_t capacity = 64 * (kBlock + kOverhead);
  PageCache cache(capacity);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 20000; i++) {
        const uint32_t blk = rng() % 200;
        const uint64_t file = 1 + rng() % 2;
        const char fill = char(blk * 7 + file);
        if (rng() % 2) {
          cache.InsertBlock(file, blk, Val(kBlock, fill));
        } else if (auto e = cache.LookupBlock(file, blk)) {
          if ((*e)[0] != fill || e->size() != kBlock) wrong++;
        }
        if (i % 1000 == 0 && cache.GetStats().bytes > capacity) wrong++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  const PageCache::Stats s = cache.GetStats();
  EXPECT_LE(s.bytes, capacity);
  EXPECT_EQ(s.hits + s.misses, 4u * 20000 - s.inserts);
  EXPECT_GT(s.hits, 0u);
  EXPECT_GT(s.evictions, 0u);
}

}  // namespace
}  // namespace neon
