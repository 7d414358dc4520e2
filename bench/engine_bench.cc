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
// so nothing runs behind the measurement; the datasets are in
// engine_bench_data.h. Extra flags (taken out before the benchmark library's):
//   --engine_bench_smoke                   tiny sizes (the CTest smoke test)
//   --engine_bench_keys=N                  keys of the GetPage datasets (2000)
//   --engine_bench_page=pgbench|entropy    page contents, see MakePage
//   --engine_bench_compression=zstd|lz4|none   EngineOptions::layer_compression
//   --engine_bench_no_deadlock_detection   absl::Mutex deadlock detection off

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/str_cat.h"
#include "bench/bench_util.h"
#include "bench/engine_bench_data.h"
#include "neon/engine.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"

namespace neon::bench {
namespace {

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

// `batch` blocks of the relation at one LSN per iteration: one GetRelPages call
// (vectored) against `batch` GetRelPage calls, on the same blocks and LSNs. Each pass
// over the keys reads at a new LSN, so no read is a materialized-page hit.
void BM_EngineRelPages(benchmark::State& state, uint32_t deltas, Stage stage, uint32_t batch,
                       bool vectored) {
  EngineLayers& d = GetEngineLayers(deltas, stage);
  const bool above = stage == Stage::kImage;
  const auto& order = d.order();
  std::vector<uint32_t> blocks(std::min<size_t>(batch, order.size()));
  std::vector<absl::StatusOr<std::string>> pages;
  LatencyRecorder lat;
  size_t i = order.size();
  Lsn lsn;
  for (auto _ : state) {
    if (i + blocks.size() > order.size()) {
      i = 0;
      lsn = d.NextReadLsn(above);
    }
    for (uint32_t& b : blocks) b = order[i++];
    const ReadLsn read{lsn, Lsn()};
    const int64_t t0 = NowNanos();
    bool ok = true;
    if (vectored) {
      ok = d.timeline()->GetRelPages(kVmRel, blocks, read, &pages).ok();
      for (const auto& p : pages) ok = ok && p.ok();
      benchmark::DoNotOptimize(pages);
    } else {
      for (uint32_t b : blocks) {
        auto page = d.timeline()->GetRelPage(kVmRel, b, read);
        ok = ok && page.ok();
        benchmark::DoNotOptimize(page);
      }
    }
    lat.Add(NowNanos() - t0);
    if (!ok) {
      state.SkipWithError("GetRelPage(s) failed");
      break;
    }
  }
  state.SetItemsProcessed(int64_t(state.iterations() * blocks.size()));
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
    if (n == 10) {
      // Vectored against per-block reads of 32 blocks (latency counters are per batch).
      for (Stage stage : {Stage::kImage, Stage::kL1}) {
        const std::string where = stage == Stage::kImage ? "Image" : "L1";
        for (bool vectored : {true, false}) {
          reg(StrCat("GetRelPages/", where, vectored ? "/vectored" : "/per-block", s, "/batch:32"),
              [n, stage, vectored](benchmark::State& st) {
                BM_EngineRelPages(st, n, stage, 32, vectored);
              });
        }
      }
    }
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
