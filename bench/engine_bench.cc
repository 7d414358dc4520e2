// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// engine_bench: the page store's hot paths, each against a baseline measured
// in the same run so the figure that matters is a ratio (doc/benchmarks.md).
//
//   GetPage/CacheHit             one page read again and again (materialized hit)
//   GetPage/<stage>/<store>/N    image + N deltas per key, many keys, read at
//                                LSNs never read before (no materialized hit):
//                                  L0     image L0 + min(N,10) delta L0 layers
//                                  L1     after Compact(true), read below the
//                                         new image: the L1 delta layer serves
//                                  Image  after Compact(true), read above it
//                                rocksdb: (key || lsn BE) -> serialized Value,
//                                SeekForPrev + Prev back to the image, same redo
//   Ingest/<store>/batch:B       100-byte values, B puts per FinishWrite (per
//                                WriteBatch for rocksdb; rocksdb-nowal: WAL off)
//   Flush/<store>                an in-memory layer (memtable) of 256Ki values to disk
//   CreateBranch/<parent pages>  branch creation as the parent grows
//
// Every engine runs on a POSIX directory under /tmp with background work off,
// so nothing runs behind the measurement. Extra flags (before the benchmark
// library's own): --engine_bench_smoke (tiny sizes, for CTest),
// --engine_bench_keys=N (keys of the GetPage datasets, default 2000),
// --engine_bench_page=pgbench|entropy (page contents, see MakePage).

#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/str_cat.h"
#include "bench/bench_util.h"
#include "engine/reconstruct.h"
#include "neon/engine.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"

namespace neon::bench {
namespace {

struct Flags {
  bool smoke = false;
  bool no_deadlock_detection = false;
  bool entropy_pages = false;
  LayerCompression compression = EngineOptions().layer_compression;
  uint32_t keys = 2000;
};
Flags g_flags;

constexpr size_t kCacheBytes = size_t{64} << 20;  // neonstore page cache = RocksDB block cache
constexpr Lsn kFirstLsn{0x0100'0000};
constexpr uint64_t kLsnStep = 0x40;            // one small WAL record per version
constexpr uint64_t kReadLsnRange = 1ull << 30;  // distinct read LSNs above the data
constexpr size_t kRocksKeySize = Key::kEncodedSize + 8;
constexpr uint32_t kVmHeapBlocksPerPage = 32672;  // heap blocks covered by one VM page
const RelTag kHeapRel{1663, 5, 16384, uint8_t(ForkNumber::kMain)};
const RelTag kVmRel{1663, 5, 16384, uint8_t(ForkNumber::kVisibilityMap)};

EngineOptions BenchEngineOptions() {
  EngineOptions o;
  o.background_work = false;
  o.page_cache_bytes = kCacheBytes;
  o.layer_compression = g_flags.compression;
  return o;
}

void StoreLE16(uint16_t v, char* out) {
  out[0] = char(v & 0xFF), out[1] = char(v >> 8);
}
void StoreLE32(uint32_t v, char* out) {
  for (int i = 0; i < 4; i++, v >>= 8) out[i] = char(v & 0xFF);
}

// An 8 KiB page for block `seed`, of the kind chosen by --engine_bench_page:
//   pgbench  a full pgbench_accounts heap page: 61 tuples of 128 bytes (tuple
//            header, aid, bid, a pseudo-random abalance, 84-byte blank filler);
//            zstd-1 shrinks it ~10x (the default);
//   entropy  header, a 3 KiB hole, then ~5000 bytes drawn from 16 symbols:
//            no repeats, so zstd falls back to Huffman-coded literals (~2x),
//            its slowest case to decompress.
std::string MakePage(uint32_t seed) {
  std::string p(kPageSize, '\0');
  uint64_t x = uint64_t(seed) * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&x] {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return x;
  };
  if (g_flags.entropy_pages) {
    constexpr uint16_t kUpper = uint16_t(kPageSize - 5000);
    StoreLE16(64, &p[12]);      // pd_lower
    StoreLE16(kUpper, &p[14]);  // pd_upper: not a new page
    for (size_t i = kUpper; i < kPageSize; i++) p[i] = "abcdefghijklmnop"[next() & 15];
    return p;
  }
  constexpr size_t kHeader = 24, kTuple = 128, kTuples = (kPageSize - kHeader) / (kTuple + 4);
  const uint16_t upper = uint16_t(kPageSize - kTuples * kTuple);
  StoreLE16(uint16_t(kHeader + 4 * kTuples), &p[12]);
  StoreLE16(upper, &p[14]);
  StoreLE16(uint16_t(kPageSize), &p[16]);  // pd_special
  StoreLE16(uint16_t(kPageSize | 4), &p[18]);
  for (size_t i = 0; i < kTuples; i++) {
    const size_t off = kPageSize - (i + 1) * kTuple;
    StoreLE32(uint32_t(off | (1u << 15) | (121u << 17)), &p[kHeader + 4 * i]);  // line pointer
    char* t = &p[off];
    StoreLE32(1000 + seed / 16, t);         // t_xmin
    StoreLE16(uint16_t(i + 1), t + 16);      // t_ctid.offset
    StoreLE32(seed, t + 12);                // t_ctid.block
    StoreLE16(4, t + 18);                    // t_infomask2: 4 attributes
    StoreLE16(0x0902, t + 20);               // t_infomask
    t[22] = 24;                             // t_hoff
    StoreLE32(uint32_t(seed * kTuples + i + 1), t + 24);  // aid
    StoreLE32(1 + seed / 1600, t + 28);                   // bid
    StoreLE32(uint32_t(int32_t(next() % 10001) - 5000), t + 32);  // abalance
    t[36] = char((85 << 1) | 1);            // 1-byte varlena header of filler
    std::memset(t + 37, ' ', 84);
  }
  return p;
}

void PutBE64(uint8_t* out, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) out[i] = uint8_t(v);
}
uint64_t GetBE64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | uint8_t(in[i]);
  return v;
}

// ---- The GetPage datasets --------------------------------------------------

// The versions both stores hold: per key (a VM page) an image, then N rounds
// of one ClearVisibilityMapFlags delta per key, each at its own LSN.
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

  Lsn last_lsn() const { return deltas_ == 0 ? ImageLsn(keys_ - 1) : DeltaLsn(keys_ - 1, deltas_ - 1); }
  // The timeline is declared ingested up to here: every LSN in
  // (last_lsn, end_lsn] reads the same, final pages.
  Lsn end_lsn() const { return last_lsn().Plus(kReadLsnRange); }
  // The c-th distinct read LSN in (last_lsn, end_lsn).
  Lsn ReadLsnBelowEnd(uint64_t c) const {
    return Lsn(end_lsn().value() - 1 - c % (kReadLsnRange - 2));
  }

  std::string ExpectedPage(uint32_t k) const {
    std::string page = MakePage(k);
    for (uint32_t r = 0; r < deltas_; r++) {
      Value d = Delta(k, r);
      CheckOk(ApplyEngineRecord(KeyOf(k), DeltaLsn(k, r), d.record(), &page), "expected page");
    }
    return page;
  }

 private:
  Lsn ImageLsn(uint32_t k) const { return Lsn(kFirstLsn.value() + uint64_t(k) * kLsnStep); }
  Lsn DeltaLsn(uint32_t k, uint32_t r) const {
    return Lsn(kFirstLsn.value() + (uint64_t(keys_) * (r + 1) + k) * kLsnStep);
  }
  static Value Delta(uint32_t k, uint32_t r) {
    ClearVisibilityMapFlags c;
    c.new_heap_blkno = k * kVmHeapBlocksPerPage + (r * 97) % kVmHeapBlocksPerPage;
    c.flags = 0x03;
    return Value::FromRecord(c);
  }

  const uint32_t keys_;
  const uint32_t deltas_;
};

// A fixed pseudo-random order of the keys, the same for both stores.
std::vector<uint32_t> ReadOrder(uint32_t keys) {
  std::vector<uint32_t> order(keys);
  std::iota(order.begin(), order.end(), 0u);
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  return order;
}

class EngineLayers {
 public:
  EngineLayers(uint32_t keys, uint32_t deltas)
      : history_(keys, deltas), order_(ReadOrder(keys)), dir_("neon_bench_layers") {
    engine_ = ValueOrDie(Engine::Open(BenchEngineOptions(), dir_.Sub("engine")), "open engine");
    auto tenant = ValueOrDie(
        engine_->CreateTenant(TenantShardId::Unsharded(TenantId::Generate()), TenantConfig{}),
        "create tenant");
    tl_ = ValueOrDie(tenant->CreateTimeline(TimelineId::Generate(), 16), "create timeline");
    history_.Replay(
        [&](const Key& key, Lsn lsn, const Value& v) {
          CheckOk(tl_->Put(key, lsn, v), "put");
          CheckOk(tl_->FinishWrite(lsn), "finish write");
        },
        [&] { CheckOk(tl_->Flush().status(), "flush"); });
    CheckOk(tl_->FinishWrite(history_.end_lsn()), "finish write");
    CheckOk(tl_->Flush().status(), "flush");
    Verify(history_.ReadLsnBelowEnd(kVerifyCycle));
  }

  // Compact(true): L0s -> L1, and an image layer at end_lsn. Then declares
  // more LSNs ingested so reads above the image can use distinct LSNs too.
  void Compact() {
    CheckOk(tl_->Compact(true).status(), "compact");
    CheckOk(tl_->FinishWrite(history_.end_lsn().Plus(kReadLsnRange)), "finish write");
    compacted_ = true;
    Verify(history_.ReadLsnBelowEnd(kVerifyCycle + 1));
    Verify(history_.end_lsn().Plus(kReadLsnRange - 1));
  }

  // A read LSN never used before (so never a materialized-page hit).
  Lsn NextReadLsn(bool above_image) {
    return above_image ? history_.end_lsn().Plus(1 + (above_cycle_++ % (kReadLsnRange - 2)))
                       : history_.ReadLsnBelowEnd(below_cycle_++);
  }

  const LayerHistory& history() const { return history_; }
  const std::vector<uint32_t>& order() const { return order_; }
  Timeline* timeline() const { return tl_.get(); }
  Engine* engine() const { return engine_.get(); }
  bool compacted() const { return compacted_; }

 private:
  static constexpr uint64_t kVerifyCycle = kReadLsnRange - 10;  // never reached by benchmarks

  void Verify(Lsn lsn) {
    for (uint32_t k : {0u, history_.keys() - 1}) {
      std::string page = ValueOrDie(tl_->GetPage(LayerHistory::KeyOf(k), lsn), "verify read");
      if (page != history_.ExpectedPage(k)) CheckOk(absl::InternalError("wrong page"), "verify");
    }
  }

  const LayerHistory history_;
  const std::vector<uint32_t> order_;
  TempDir dir_;
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<Timeline> tl_;
  bool compacted_ = false;
  uint64_t below_cycle_ = 0, above_cycle_ = 0;
};

std::unique_ptr<rocksdb::DB> OpenRocks(const std::string& path) {
  rocksdb::Options o;
  o.create_if_missing = true;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = rocksdb::NewLRUCache(kCacheBytes);
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(o, path, &db);
  if (!s.ok()) CheckOk(absl::InternalError(s.ToString()), "open rocksdb");
  return std::unique_ptr<rocksdb::DB>(db);
}

void CheckRocks(const rocksdb::Status& s, std::string_view what) {
  if (!s.ok()) CheckOk(absl::InternalError(s.ToString()), what);
}

// Waits until RocksDB has no flush or compaction running or pending.
void WaitRocksIdle(rocksdb::DB* db) {
  for (;;) {
    uint64_t busy = 0, v = 0;
    for (const char* p : {"rocksdb.num-running-compactions", "rocksdb.compaction-pending",
                          "rocksdb.num-running-flushes", "rocksdb.mem-table-flush-pending"}) {
      if (db->GetIntProperty(p, &v)) busy += v;
    }
    if (busy == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void EncodeRocksKey(const Key& key, Lsn lsn, uint8_t* out) {
  key.EncodeTo(out);
  PutBE64(out + Key::kEncodedSize, lsn.value());
}

// The baseline: the same versions in RocksDB, read by reverse seek.
class RocksLayers {
 public:
  RocksLayers(uint32_t keys, uint32_t deltas)
      : history_(keys, deltas), order_(ReadOrder(keys)), dir_("neon_bench_rocks") {
    db_ = OpenRocks(dir_.Sub("db"));
    std::string v;
    history_.Replay(
        [&](const Key& key, Lsn lsn, const Value& value) {
          uint8_t k[kRocksKeySize];
          EncodeRocksKey(key, lsn, k);
          v.clear();
          value.AppendSerialized(&v);
          CheckRocks(db_->Put(rocksdb::WriteOptions(),
                              rocksdb::Slice(reinterpret_cast<char*>(k), sizeof(k)), v),
                     "rocksdb put");
        },
        [&] { CheckRocks(db_->Flush(rocksdb::FlushOptions()), "rocksdb flush"); });
    WaitRocksIdle(db_.get());
    Verify();
  }

  void Compact() {
    CheckRocks(db_->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr), "compact");
    WaitRocksIdle(db_.get());
    compacted_ = true;
    Verify();
  }

  // GetPage@LSN: SeekForPrev(key || lsn), then Prev() back to the newest
  // will_init version, then the engine's own redo. `it` may be reused.
  static absl::StatusOr<std::string> Read(rocksdb::Iterator* it, const Key& key, Lsn lsn,
                                          std::vector<LayerValue>* versions) {
    uint8_t target[kRocksKeySize];
    EncodeRocksKey(key, lsn, target);
    versions->clear();
    for (it->SeekForPrev(rocksdb::Slice(reinterpret_cast<char*>(target), sizeof(target)));
         it->Valid(); it->Prev()) {
      rocksdb::Slice k = it->key();
      if (k.size() != kRocksKeySize || std::memcmp(k.data(), target, Key::kEncodedSize) != 0) break;
      rocksdb::Slice v = it->value();
      LayerValue& lv = versions->emplace_back();
      lv.lsn = Lsn(GetBE64(k.data() + Key::kEncodedSize));
      lv.data.assign(v.data(), v.size());
      lv.will_init = Value::SerializedWillInit(lv.data);
      if (lv.will_init) break;
    }
    if (!it->status().ok()) return absl::InternalError(it->status().ToString());
    return Reconstruct(key, lsn, *versions, nullptr);
  }

  Lsn NextReadLsn() { return history_.ReadLsnBelowEnd(cycle_++); }
  const LayerHistory& history() const { return history_; }
  const std::vector<uint32_t>& order() const { return order_; }
  rocksdb::DB* db() const { return db_.get(); }
  bool compacted() const { return compacted_; }
  size_t NumFiles() const {
    std::vector<rocksdb::LiveFileMetaData> files;
    db_->GetLiveFilesMetaData(&files);
    return files.size();
  }

 private:
  void Verify() {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    std::vector<LayerValue> versions;
    for (uint32_t k : {0u, history_.keys() - 1}) {
      Lsn lsn = history_.ReadLsnBelowEnd(kReadLsnRange - 10);
      std::string page = ValueOrDie(Read(it.get(), LayerHistory::KeyOf(k), lsn, &versions), "verify");
      if (page != history_.ExpectedPage(k)) CheckOk(absl::InternalError("wrong page"), "verify");
    }
  }

  const LayerHistory history_;
  const std::vector<uint32_t> order_;
  TempDir dir_;
  std::unique_ptr<rocksdb::DB> db_;
  bool compacted_ = false;
  uint64_t cycle_ = 0;
};

// One dataset of each store is alive at a time; benchmarks are registered so
// that consecutive ones share it (L0, then compacted in place).
std::unique_ptr<EngineLayers> g_engine_layers;
std::unique_ptr<RocksLayers> g_rocks_layers;

enum class Stage { kL0, kL1, kImage };

EngineLayers& GetEngineLayers(uint32_t deltas, Stage stage) {
  auto& d = g_engine_layers;
  if (!d || d->history().deltas() != deltas || (stage == Stage::kL0 && d->compacted())) {
    d.reset();
    d = std::make_unique<EngineLayers>(g_flags.keys, deltas);
  }
  if (stage != Stage::kL0 && !d->compacted()) d->Compact();
  return *d;
}

RocksLayers& GetRocksLayers(uint32_t deltas, bool compacted) {
  auto& d = g_rocks_layers;
  if (!d || d->history().deltas() != deltas || (!compacted && d->compacted())) {
    d.reset();
    d = std::make_unique<RocksLayers>(g_flags.keys, deltas);
  }
  if (compacted && !d->compacted()) d->Compact();
  return *d;
}

// ---- GetPage benchmarks ------------------------------------------------------

void BM_EngineCacheHit(benchmark::State& state) {
  TempDir dir("neon_bench_hit");
  auto engine = ValueOrDie(Engine::Open(BenchEngineOptions(), dir.Sub("engine")), "open");
  auto tenant = ValueOrDie(
      engine->CreateTenant(TenantShardId::Unsharded(TenantId::Generate()), TenantConfig{}), "tenant");
  auto tl = ValueOrDie(tenant->CreateTimeline(TimelineId::Generate(), 16), "timeline");
  const Key key = Key::RelBlock(kHeapRel, 7);
  const Lsn lsn = kFirstLsn;
  CheckOk(tl->Put(key, lsn, Value::Image(MakePage(7))), "put");
  CheckOk(tl->FinishWrite(lsn), "finish write");
  CheckOk(tl->Flush().status(), "flush");
  CheckOk(tl->GetPage(key, lsn).status(), "first read");  // materializes the page
  const Engine::CacheStats before = engine->GetCacheStats();
  LatencyRecorder lat;
  for (auto _ : state) {
    const int64_t t0 = NowNanos();
    bool ok;
    {
      auto page = tl->GetPage(key, lsn);
      ok = page.ok();
      benchmark::DoNotOptimize(page);
    }
    lat.Add(NowNanos() - t0);
    if (!ok) {
      state.SkipWithError("GetPage failed");
      break;
    }
  }
  const Engine::CacheStats after = engine->GetCacheStats();
  state.SetItemsProcessed(int64_t(state.iterations()));
  state.counters["misses"] = double(after.misses - before.misses);
  lat.Report(state);
}

void BM_EngineLayers(benchmark::State& state, uint32_t deltas, Stage stage) {
  EngineLayers& d = GetEngineLayers(deltas, stage);
  const bool above = stage == Stage::kImage;
  const auto& order = d.order();
  const Engine::CacheStats before = d.engine()->GetCacheStats();
  LatencyRecorder lat;
  size_t i = order.size();
  Lsn lsn;
  for (auto _ : state) {
    if (i == order.size()) {
      i = 0;
      lsn = d.NextReadLsn(above);
    }
    const Key key = LayerHistory::KeyOf(order[i++]);
    const int64_t t0 = NowNanos();
    bool ok;
    {
      auto page = d.timeline()->GetPage(key, lsn);
      ok = page.ok();
      benchmark::DoNotOptimize(page);
    }
    lat.Add(NowNanos() - t0);
    if (!ok) {
      state.SkipWithError("GetPage failed");
      break;
    }
  }
  const Engine::CacheStats after = d.engine()->GetCacheStats();
  const TimelineInfo info = d.timeline()->Info();
  state.SetItemsProcessed(int64_t(state.iterations()));
  state.counters["layers"] = double(info.num_historic_layers);
  state.counters["misses_per_read"] =
      double(after.misses - before.misses) / double(std::max<int64_t>(1, state.iterations()));
  lat.Report(state);
}

void BM_RocksLayers(benchmark::State& state, uint32_t deltas, bool compacted) {
  RocksLayers& d = GetRocksLayers(deltas, compacted);
  const auto& order = d.order();
  std::unique_ptr<rocksdb::Iterator> it(d.db()->NewIterator(rocksdb::ReadOptions()));
  std::vector<LayerValue> versions;
  LatencyRecorder lat;
  size_t i = order.size();
  Lsn lsn;
  for (auto _ : state) {
    if (i == order.size()) {
      i = 0;
      lsn = d.NextReadLsn();
    }
    const Key key = LayerHistory::KeyOf(order[i++]);
    const int64_t t0 = NowNanos();
    bool ok;
    {
      auto page = RocksLayers::Read(it.get(), key, lsn, &versions);
      ok = page.ok();
      benchmark::DoNotOptimize(page);
    }
    lat.Add(NowNanos() - t0);
    if (!ok) {
      state.SkipWithError("RocksDB read failed");
      break;
    }
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
  state.counters["files"] = double(d.NumFiles());
  lat.Report(state);
}

// ---- Ingest and flush -------------------------------------------------------------

constexpr size_t kIngestValueBytes = 100;
constexpr uint32_t kIngestKeys = 65536;     // distinct pages the WAL stream touches
constexpr uint64_t kIngestLsnStep = 128;     // a 100-byte payload's WAL record, aligned
constexpr uint32_t kFlushValues = 1u << 18;  // values per flushed in-memory layer / memtable

// The stream both stores ingest: value n goes to page n % kIngestKeys at its
// own LSN; the Values are prepared up front (as a WAL decoder hands them over).
class IngestStream {
 public:
  IngestStream() {
    for (uint32_t i = 0; i < 64; i++) {
      values_.push_back(Value::Image(MakePage(i).substr(3000, kIngestValueBytes)));
    }
  }
  Key key() const { return Key::RelBlock(kHeapRel, n_ % kIngestKeys); }
  Lsn lsn() const { return Lsn(kFirstLsn.value() + uint64_t(n_ + 1) * kIngestLsnStep); }
  const Value& value() const { return values_[n_ % values_.size()]; }
  void Next() { n_++; }

 private:
  std::vector<Value> values_;
  uint64_t n_ = 0;
};

// An engine whose timelines never roll their open layer by themselves
// (checkpoint_distance 1 TiB): Ingest measures the writer's path into the
// in-memory layer; flushing it is background work, measured by Flush.
class IngestEngine {
 public:
  IngestEngine() : dir_("neon_bench_ingest") {
    engine_ = ValueOrDie(Engine::Open(BenchEngineOptions(), dir_.Sub("engine")), "open");
    TenantConfig c;
    c.checkpoint_distance = 1ull << 40;
    tenant_ = ValueOrDie(
        engine_->CreateTenant(TenantShardId::Unsharded(TenantId::Generate()), c), "tenant");
  }
  std::shared_ptr<Timeline> NewTimeline() {
    return ValueOrDie(tenant_->CreateTimeline(TimelineId::Generate(), 16), "timeline");
  }
  void Delete(const std::shared_ptr<Timeline>& tl) {
    CheckOk(tenant_->DeleteTimeline(tl->id()), "delete timeline");
  }

 private:
  TempDir dir_;
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<Tenant> tenant_;
};

// `batch` puts, then one FinishWrite at the last one's LSN.
absl::Status EngineIngestBatch(Timeline* tl, IngestStream& in, int batch) {
  absl::Status s;
  Lsn last;
  for (int b = 0; b < batch; b++, in.Next()) {
    last = in.lsn();
    s.Update(tl->Put(in.key(), last, in.value()));
  }
  s.Update(tl->FinishWrite(last));
  return s;
}

void BM_EngineIngest(benchmark::State& state, int batch) {
  IngestEngine env;
  auto tl = env.NewTimeline();
  IngestStream in;
  for (auto _ : state) {
    if (!EngineIngestBatch(tl.get(), in, batch).ok()) {
      state.SkipWithError("ingest failed");
      break;
    }
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * batch);
  state.SetBytesProcessed(int64_t(state.iterations()) * batch * int64_t(kIngestValueBytes));
  env.Delete(tl);
}

// RocksDB: one WriteBatch of `batch` values per write, no sync; with
// `wal` false the WAL is off (the engine's durability is the safekeepers').
absl::Status RocksIngestBatch(rocksdb::DB* db, IngestStream& in, int batch, bool wal,
                              rocksdb::WriteBatch* wb, std::string* v) {
  wb->Clear();
  for (int b = 0; b < batch; b++, in.Next()) {
    uint8_t k[kRocksKeySize];
    EncodeRocksKey(in.key(), in.lsn(), k);
    v->clear();
    in.value().AppendSerialized(v);
    wb->Put(rocksdb::Slice(reinterpret_cast<char*>(k), sizeof(k)), *v);
  }
  rocksdb::WriteOptions wo;
  wo.disableWAL = !wal;
  rocksdb::Status s = db->Write(wo, wb);
  return s.ok() ? absl::OkStatus() : absl::InternalError(s.ToString());
}

void BM_RocksIngest(benchmark::State& state, int batch, bool wal) {
  TempDir dir("neon_bench_ingest_rocks");
  std::unique_ptr<rocksdb::DB> db = OpenRocks(dir.Sub("db"));
  IngestStream in;
  rocksdb::WriteBatch wb;
  std::string v;
  for (auto _ : state) {
    if (!RocksIngestBatch(db.get(), in, batch, wal, &wb, &v).ok()) {
      state.SkipWithError("rocksdb write failed");
      break;
    }
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * batch);
  state.SetBytesProcessed(int64_t(state.iterations()) * batch * int64_t(kIngestValueBytes));
  WaitRocksIdle(db.get());
}

// Flush of an in-memory layer of kFlushValues values to an L0 file (synced,
// published in the catalog). Ingest is untimed.
void BM_EngineFlush(benchmark::State& state) {
  IngestEngine env;
  IngestStream in;
  for (auto _ : state) {
    state.PauseTiming();
    auto tl = env.NewTimeline();
    for (uint32_t i = 0; i < kFlushValues; i += 8) CheckOk(EngineIngestBatch(tl.get(), in, 8), "ingest");
    state.ResumeTiming();
    absl::Status s = tl->Flush().status();
    state.PauseTiming();
    if (!s.ok()) {
      state.SkipWithError("flush failed");
      break;
    }
    env.Delete(tl);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * kFlushValues);
  state.SetBytesProcessed(int64_t(state.iterations()) * kFlushValues * int64_t(kIngestValueBytes));
}

// RocksDB: flush of a memtable holding the same kFlushValues values.
void BM_RocksFlush(benchmark::State& state) {
  TempDir dir("neon_bench_flush_rocks");
  std::unique_ptr<rocksdb::DB> db = OpenRocks(dir.Sub("db"));
  IngestStream in;
  rocksdb::WriteBatch wb;
  std::string v;
  for (auto _ : state) {
    state.PauseTiming();
    for (uint32_t i = 0; i < kFlushValues; i += 8) {
      CheckOk(RocksIngestBatch(db.get(), in, 8, false, &wb, &v), "rocksdb ingest");
    }
    state.ResumeTiming();
    rocksdb::Status s = db->Flush(rocksdb::FlushOptions());
    state.PauseTiming();
    if (!s.ok()) {
      state.SkipWithError("rocksdb flush failed");
      break;
    }
    WaitRocksIdle(db.get());  // compactions the flush triggered run untimed
    state.ResumeTiming();
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * kFlushValues);
  state.SetBytesProcessed(int64_t(state.iterations()) * kFlushValues * int64_t(kIngestValueBytes));
}

// ---- Branch creation ---------------------------------------------------------

// One parent timeline, grown (and flushed) to each size in turn. On the POSIX
// file system under /tmp, or (mem_fs) on the in-memory one, which leaves out
// the fsyncs and shows the engine's own cost.
class BranchParent {
 public:
  explicit BranchParent(bool mem_fs) : dir_("neon_bench_branch") {
    EngineOptions o = BenchEngineOptions();
    if (mem_fs) o.fs = NewMemFileSystem();
    engine_ = ValueOrDie(Engine::Open(o, dir_.Sub("engine")), "open");
    tenant_ = ValueOrDie(
        engine_->CreateTenant(TenantShardId::Unsharded(TenantId::Generate()), TenantConfig{}), "tenant");
    parent_ = ValueOrDie(tenant_->CreateTimeline(TimelineId::Generate(), 16), "timeline");
  }

  void GrowTo(uint32_t pages) {
    constexpr uint32_t kPutsPerRecord = 64;
    const Value v = Value::Image(std::string(16, 'p'));
    for (; pages_ < pages; pages_++) {
      lsn_ = lsn_.Plus(kLsnStep);
      CheckOk(parent_->Put(Key::RelBlock(kHeapRel, pages_), lsn_, v), "put");
      if ((pages_ + 1) % kPutsPerRecord == 0 || pages_ + 1 == pages) {
        CheckOk(parent_->FinishWrite(lsn_), "finish write");
      }
    }
    CheckOk(parent_->Flush().status(), "flush");
  }

  Tenant* tenant() const { return tenant_.get(); }
  const TimelineId& parent_id() const { return parent_->id(); }
  Timeline* parent() const { return parent_.get(); }

 private:
  TempDir dir_;
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<Tenant> tenant_;
  std::shared_ptr<Timeline> parent_;
  uint32_t pages_ = 0;
  Lsn lsn_ = kFirstLsn;
};

std::unique_ptr<BranchParent> g_branch_parent[2];  // POSIX, in-memory

void BM_EngineCreateBranch(benchmark::State& state, uint32_t pages, bool mem_fs) {
  auto& slot = g_branch_parent[mem_fs ? 1 : 0];
  if (mem_fs) g_branch_parent[0].reset();  // done with the POSIX parent
  if (!slot) slot = std::make_unique<BranchParent>(mem_fs);
  BranchParent& p = *slot;
  p.GrowTo(pages);
  LatencyRecorder lat;
  TimelineId id = TimelineId::Generate();
  for (auto _ : state) {
    const int64_t t0 = NowNanos();
    auto branch = p.tenant()->CreateBranch(id, p.parent_id(), Lsn::Invalid());
    lat.Add(NowNanos() - t0);
    state.PauseTiming();
    if (!branch.ok()) {
      state.SkipWithError("CreateBranch failed");
      break;
    }
    branch->reset();
    CheckOk(p.tenant()->DeleteTimeline(id), "delete branch");
    id = TimelineId::Generate();
    state.ResumeTiming();
  }
  const TimelineInfo info = p.parent()->Info();
  state.counters["parent_layers"] = double(info.num_historic_layers);
  state.counters["parent_MiB"] = double(info.historic_layer_bytes) / (1 << 20);
  lat.Report(state);
}

// ---- Registration --------------------------------------------------------------

void RegisterAll() {
  benchmark::RegisterBenchmark("GetPage/CacheHit", BM_EngineCacheHit)->Unit(benchmark::kNanosecond);
  const std::vector<uint32_t> deltas = {1, 10, 100};
  for (uint32_t n : deltas) {
    const std::string s = StrCat("/deltas:", n);
    auto reg = [](const std::string& name, auto fn) {
      benchmark::RegisterBenchmark(name.c_str(), fn)->Unit(benchmark::kMicrosecond);
    };
    reg("GetPage/L0/neonstore" + s, [n](benchmark::State& st) { BM_EngineLayers(st, n, Stage::kL0); });
    reg("GetPage/L0/rocksdb" + s, [n](benchmark::State& st) { BM_RocksLayers(st, n, false); });
    reg("GetPage/L1/neonstore" + s, [n](benchmark::State& st) { BM_EngineLayers(st, n, Stage::kL1); });
    reg("GetPage/Image/neonstore" + s, [n](benchmark::State& st) { BM_EngineLayers(st, n, Stage::kImage); });
    reg("GetPage/Compacted/rocksdb" + s, [n](benchmark::State& st) { BM_RocksLayers(st, n, true); });
  }
  for (int batch : {8, 1}) {
    const std::string s = StrCat("/batch:", batch);
    benchmark::RegisterBenchmark(("Ingest/neonstore" + s).c_str(),
                                 [batch](benchmark::State& st) { BM_EngineIngest(st, batch); });
    benchmark::RegisterBenchmark(("Ingest/rocksdb" + s).c_str(),
                                 [batch](benchmark::State& st) { BM_RocksIngest(st, batch, true); });
    benchmark::RegisterBenchmark(("Ingest/rocksdb-nowal" + s).c_str(),
                                 [batch](benchmark::State& st) { BM_RocksIngest(st, batch, false); });
  }
  benchmark::RegisterBenchmark(StrCat("Flush/neonstore/values:", kFlushValues).c_str(), BM_EngineFlush)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark(StrCat("Flush/rocksdb/values:", kFlushValues).c_str(), BM_RocksFlush)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  std::vector<uint32_t> sizes = {1000, 10'000, 100'000, 1'000'000};
  if (g_flags.smoke) sizes = {1000};
  for (bool mem_fs : {false, true}) {
    for (uint32_t pages : sizes) {
      benchmark::RegisterBenchmark(
          StrCat("CreateBranch/", mem_fs ? "memfs" : "posix", "/parent_pages:", pages).c_str(),
          [pages, mem_fs](benchmark::State& st) { BM_EngineCreateBranch(st, pages, mem_fs); })
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
  }
}

// Removes this executable's own flags from argv.
void ParseFlags(int* argc, char** argv) {
  constexpr std::string_view kKeysFlag = "--engine_bench_keys=";
  int out = 1;
  for (int i = 1; i < *argc; i++) {
    std::string_view a = argv[i];
    if (a == "--engine_bench_smoke") {
      g_flags.smoke = true;
      g_flags.keys = 64;
    } else if (a == "--engine_bench_no_deadlock_detection") {
      g_flags.no_deadlock_detection = true;
    } else if (a == "--engine_bench_compression=none") {
      g_flags.compression = LayerCompression::kNone;
    } else if (a == "--engine_bench_compression=lz4") {
      g_flags.compression = LayerCompression::kLz4;
    } else if (a == "--engine_bench_compression=zstd") {
      g_flags.compression = LayerCompression::kZstd;
    } else if (a == "--engine_bench_page=entropy") {
      g_flags.entropy_pages = true;
    } else if (a == "--engine_bench_page=pgbench") {
      g_flags.entropy_pages = false;
    } else if (a.rfind(kKeysFlag, 0) == 0) {
      g_flags.keys = uint32_t(std::max(2, std::atoi(argv[i] + kKeysFlag.size())));
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
}

}  // namespace
}  // namespace neon::bench

int main(int argc, char** argv) {
  neon::bench::ParseFlags(&argc, argv);
  if (neon::bench::g_flags.no_deadlock_detection) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  neon::bench::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // Datasets hold engines and temp directories: close and remove them.
  neon::bench::g_engine_layers.reset();
  neon::bench::g_rocks_layers.reset();
  for (auto& p : neon::bench::g_branch_parent) p.reset();
  return 0;
}
