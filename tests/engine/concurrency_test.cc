// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Readers race with the writer and with flush, compaction, image creation and
// GC running on a real thread pool. Every value a reader sees must be exactly
// the one written for that (key, lsn). Meant to be run under TSan too
// (-DNEON_SANITIZE=thread); see doc/testing.md.

#include <atomic>
#include <thread>

#include "engine_test_util.h"

namespace neon::testing {
namespace {

std::string Expected(uint32_t key, uint64_t round) {
  return "k" + std::to_string(key) + "@" + std::to_string(round) + std::string(200, 'x');
}

TEST(EngineConcurrencyTest, ReadersDuringFlushCompactionAndGc) {
  EngineOptions o;
  o.fs = NewMemFileSystem();
  o.executor = NewThreadPoolExecutor(2);
  o.background_work = true;
  o.page_cache_bytes = 1 << 20;
  auto engine = ValueOrDie(Engine::Open(o, "/conc"));
  TenantConfig config = SmallConfig();
  config.gc_horizon = 4096;
  auto tenant = ValueOrDie(engine->CreateTenant(TenantShardId::Unsharded(TenantId::Generate()), config));
  auto tl = ValueOrDie(tenant->CreateTimeline(TimelineId::Generate(), 15));

  constexpr uint32_t kKeys = 64;
  constexpr uint64_t kRounds = 300;
  // Round r writes every key at LSN (r+1)*kKeys*8 .. so the LSN encodes the round.
  auto lsn_of = [](uint64_t round, uint32_t key) { return Lsn((round * kKeys + key + 1) * 8); };
  std::atomic<bool> done{false};
  std::atomic<uint64_t> reads{0}, errors{0};

  auto reader = [&](uint64_t seed) {
    uint64_t x = seed;
    while (!done.load()) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      uint32_t key = uint32_t((x >> 33) % kKeys);
      TimelineInfo info = tl->Info();
      Lsn last = info.last_record_lsn;
      if (!last.valid() || last < lsn_of(0, kKeys - 1)) continue;
      // Read at the tip: the newest round whose value for `key` is visible.
      uint64_t round = (last.value() / 8 - 1 - key) / kKeys;
      if (lsn_of(round, key) > last) round--;
      auto got = tl->GetPage(TestKey(key), last);
      if (!got.ok()) {
        // Only GC racing past a stale tip may refuse a read.
        if (!absl::IsOutOfRange(got.status())) {
          ADD_FAILURE() << got.status();
          errors++;
        }
        continue;
      }
      if (*got != Expected(key, round)) {
        ADD_FAILURE() << "key " << key << " at " << last.ToString() << " read " << got->substr(0, 12)
                      << " want " << Expected(key, round).substr(0, 12);
        errors++;
      }
      reads++;
    }
  };
  std::thread r1(reader, 1), r2(reader, 2);
  std::thread maintenance([&] {
    while (!done.load()) {
      (void)tl->Compact(false);
      (void)tl->Gc(std::nullopt);
      std::this_thread::yield();
    }
  });
  for (uint64_t round = 0; round < kRounds && errors.load() == 0; round++) {
    for (uint32_t k = 0; k < kKeys; k++) {
      Lsn lsn = lsn_of(round, k);
      NEON_ASSERT_OK(tl->Put(TestKey(k), lsn, TestImage(Expected(k, round))));
      NEON_ASSERT_OK(tl->FinishWrite(lsn));
    }
  }
  done.store(true);
  r1.join();
  r2.join();
  maintenance.join();
  EXPECT_EQ(errors.load(), 0u);
  EXPECT_GT(reads.load(), 100u);
  TimelineInfo info = tl->Info();
  EXPECT_GT(info.num_historic_layers, 0u);
  for (uint32_t k = 0; k < kKeys; k++) {
    EXPECT_EQ(ValueOrDie(tl->GetPage(TestKey(k), info.last_record_lsn)), Expected(k, kRounds - 1));
  }
  engine->Shutdown();
}

}  // namespace
}  // namespace neon::testing
