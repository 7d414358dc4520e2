// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The datasets of engine_bench's GetPage benchmarks: the same page versions
// held by neonstore (EngineLayers) and by the RocksDB baseline (RocksLayers),
// and what both are built from (LayerHistory, MakePage). See engine_bench.cc
// for the benchmarks and doc/benchmarks.md for the figures.
//
// Thread safety: single-threaded (benchmarks run one at a time).

#ifndef NEON_BENCH_ENGINE_BENCH_DATA_H_
#define NEON_BENCH_ENGINE_BENCH_DATA_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/bench_util.h"
#include "engine/layer_file.h"
#include "neon/engine.h"
#include "rocksdb/db.h"

namespace neon::bench {

// engine_bench's own command-line flags (see ParseFlags in engine_bench.cc).
struct EngineBenchFlags {
  bool smoke = false;                  // --engine_bench_smoke: tiny sizes, for CTest
  bool no_deadlock_detection = false;  // --engine_bench_no_deadlock_detection
  bool entropy_pages = false;          // --engine_bench_page=entropy
  LayerCompression compression = EngineOptions().layer_compression;  // --engine_bench_compression=
  uint32_t keys = 2000;                // --engine_bench_keys=N
};
extern EngineBenchFlags g_flags;

inline constexpr size_t kCacheBytes = size_t{64} << 20;  // page cache = RocksDB block cache
inline constexpr Lsn kFirstLsn{0x0100'0000};
inline constexpr uint64_t kLsnStep = 0x40;            // one small WAL record per version
inline constexpr uint64_t kReadLsnRange = 1ull << 30;  // distinct read LSNs above the data
inline constexpr size_t kRocksKeySize = Key::kEncodedSize + 8;  // key || lsn (big-endian)
inline constexpr RelTag kHeapRel{1663, 5, 16384, uint8_t(ForkNumber::kMain)};
inline constexpr RelTag kVmRel{1663, 5, 16384, uint8_t(ForkNumber::kVisibilityMap)};

// Background work off (nothing runs behind a measurement), kCacheBytes of
// page cache, the compression chosen by the flags.
EngineOptions BenchEngineOptions();

// An 8 KiB page for block `seed`, of the kind chosen by --engine_bench_page:
//   pgbench  (default) a full pgbench_accounts heap page: 61 tuples of 128
//            bytes (tuple header, aid, bid, a pseudo-random abalance, 84-byte
//            blank filler); zstd-1 shrinks it ~10x;
//   entropy  header, a 3 KiB hole, then ~5000 bytes drawn from 16 symbols: no
//            repeats, so zstd falls back to Huffman-coded literals (~2x), its
//            slowest case to decompress.
std::string MakePage(uint32_t seed);

// ---- RocksDB helpers ---------------------------------------------------------

// Default options, create_if_missing, an LRU block cache of kCacheBytes.
std::unique_ptr<rocksdb::DB> OpenRocks(const std::string& path);
void CheckRocks(const rocksdb::Status& s, std::string_view what);
// Waits until RocksDB has no flush or compaction running or pending.
void WaitRocksIdle(rocksdb::DB* db);
// out[kRocksKeySize] = key (18 bytes) || lsn (8 bytes, big-endian).
void EncodeRocksKey(const Key& key, Lsn lsn, uint8_t* out);

// ---- The versions both stores hold -------------------------------------------

// Per key (a visibility-map page, so that ClearVisibilityMapFlags applies) an
// image, then N rounds of one ClearVisibilityMapFlags delta per key, each
// version at its own LSN.
class LayerHistory {
 public:
  LayerHistory(uint32_t keys, uint32_t deltas) : keys_(keys), deltas_(deltas) {}

  uint32_t keys() const { return keys_; }
  uint32_t deltas() const { return deltas_; }
  static Key KeyOf(uint32_t k) { return Key::RelBlock(kVmRel, k); }

  // Calls put(key, lsn, value) for every version in LSN order, and flush()
  // after the images and after every max(1, N/10) rounds of deltas: an image
  // L0 layer plus min(N, 10) delta L0 layers, every layer spanning all keys.
  template <typename PutFn, typename FlushFn>
  void Replay(PutFn put, FlushFn flush) const {
    for (uint32_t k = 0; k < keys_; k++) put(KeyOf(k), ImageLsn(k), Value::Image(MakePage(k)));
    flush();
    const uint32_t rounds_per_flush = std::max(1u, deltas_ / 10);
    for (uint32_t r = 0; r < deltas_; r++) {
      for (uint32_t k = 0; k < keys_; k++) put(KeyOf(k), DeltaLsn(k, r), Delta(k, r));
      if ((r + 1) % rounds_per_flush == 0 || r + 1 == deltas_) flush();
    }
  }

  Lsn last_lsn() const {
    return deltas_ == 0 ? ImageLsn(keys_ - 1) : DeltaLsn(keys_ - 1, deltas_ - 1);
  }
  // The timeline is declared ingested up to here: every LSN in
  // (last_lsn, end_lsn] reads the same, final pages.
  Lsn end_lsn() const { return last_lsn().Plus(kReadLsnRange); }
  // The c-th distinct read LSN in (last_lsn, end_lsn).
  Lsn ReadLsnBelowEnd(uint64_t c) const {
    return Lsn(end_lsn().value() - 1 - c % (kReadLsnRange - 2));
  }
  // Key k's final page, by applying its deltas with the engine's redo.
  std::string ExpectedPage(uint32_t k) const;

 private:
  Lsn ImageLsn(uint32_t k) const { return Lsn(kFirstLsn.value() + uint64_t(k) * kLsnStep); }
  Lsn DeltaLsn(uint32_t k, uint32_t r) const {
    return Lsn(kFirstLsn.value() + (uint64_t(keys_) * (r + 1) + k) * kLsnStep);
  }
  static Value Delta(uint32_t k, uint32_t r);

  const uint32_t keys_;
  const uint32_t deltas_;
};

// A fixed pseudo-random order of the keys, the same for both stores.
std::vector<uint32_t> ReadOrder(uint32_t keys);

// The history in a neonstore timeline: on disk as L0 layers, then (Compact)
// as an L1 delta layer plus an image layer at end_lsn.
class EngineLayers {
 public:
  EngineLayers(uint32_t keys, uint32_t deltas);

  // Compact(true): L0s -> L1, and an image layer at end_lsn. Then declares
  // more LSNs ingested so reads above the image can use distinct LSNs too.
  void Compact();
  // A read LSN never used before (so never a materialized-page hit): below
  // end_lsn (deltas serve), or above it (the image layer serves once compacted).
  Lsn NextReadLsn(bool above_image);

  const LayerHistory& history() const { return history_; }
  const std::vector<uint32_t>& order() const { return order_; }
  Timeline* timeline() const { return tl_.get(); }
  Engine* engine() const { return engine_.get(); }
  bool compacted() const { return compacted_; }

 private:
  static constexpr uint64_t kVerifyCycle = kReadLsnRange - 10;  // never reached by benchmarks
  // Checks the first and last key at `lsn` against ExpectedPage.
  void Verify(Lsn lsn);

  const LayerHistory history_;
  const std::vector<uint32_t> order_;
  TempDir dir_;
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<Timeline> tl_;
  bool compacted_ = false;
  uint64_t below_cycle_ = 0, above_cycle_ = 0;
};

// The baseline: the same history in RocksDB as (key || lsn) -> serialized
// Value, flushed at the same points, read by reverse seek.
class RocksLayers {
 public:
  RocksLayers(uint32_t keys, uint32_t deltas);

  // CompactRange over everything, then waits for RocksDB to settle.
  void Compact();
  // GetPage@LSN: SeekForPrev(key || lsn), then Prev() back to the newest
  // will_init version, then the engine's own redo (neon::Reconstruct).
  // `it` may be reused across reads; `versions` is scratch.
  static absl::StatusOr<std::string> Read(rocksdb::Iterator* it, const Key& key, Lsn lsn,
                                          std::vector<LayerValue>* versions);

  Lsn NextReadLsn() { return history_.ReadLsnBelowEnd(cycle_++); }
  const LayerHistory& history() const { return history_; }
  const std::vector<uint32_t>& order() const { return order_; }
  rocksdb::DB* db() const { return db_.get(); }
  bool compacted() const { return compacted_; }
  size_t NumFiles() const;

 private:
  void Verify();

  const LayerHistory history_;
  const std::vector<uint32_t> order_;
  TempDir dir_;
  std::unique_ptr<rocksdb::DB> db_;
  bool compacted_ = false;
  uint64_t cycle_ = 0;
};

}  // namespace neon::bench

#endif  // NEON_BENCH_ENGINE_BENCH_DATA_H_
