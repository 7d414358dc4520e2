// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// walredo_bench: page redo through the neon_walredo process (Postgres's own
// redo routines, one process, pipelined requests) against the engine's
// built-in redo of comparable engine records, in the same run
// (doc/benchmarks.md).
//
//   WalRedo/HeapInsert/N          one request = B, N heap INSERT records (the
//                                 first initializes the page), G
//   WalRedo/HeapInsert/N/threads:T  the same from T threads on one process
//                                 (pipelined)
//   WalRedo/Fpi                   one full-page image (with a hole) per request
//   WalRedo/Ping                  the round trip alone (H)
//   EngineRedo/ClearVm/N          N ClearVisibilityMapFlags on a VM page
//   EngineRedo/TestAppend/N       N TestRecord appends of a 32-byte tuple-sized
//                                 string to an empty page
//
// Counters: records/s and pages/s (rates). Needs -DNEON_PG_DIR (CMake builds
// this only then). Run: build/bench/walredo_bench [--benchmark_filter=...]

#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "engine/postgres_redo_manager.h"
#include "engine/reconstruct.h"
#include "neon/postgres_redo.h"
#include "tests/postgres/pg_record_util.h"

namespace neon::bench {
namespace {

const RelTag kRel{1663, 5, 16384, 0};
const RelTag kVmRel{1663, 5, 16384, 2};

RedoManager& WalRedo() {
  static std::shared_ptr<RedoManager> manager = [] {
    PostgresRedoOptions o;
    o.walredo_path = NEON_WALREDO_PATH;
    auto pool = ValueOrDie(PostgresRedoPool::Create(o), "PostgresRedoPool::Create");
    return pool->ForTenant(TenantShardId::Unsharded(TenantId::Generate()));
  }();
  return *manager;
}

struct Batch {
  std::vector<Record> records;
  std::vector<RedoRecord> redo;
};

// N heap inserts into `blk`, values 1..n, LSNs 0x100, 0x200, ...
std::unique_ptr<Batch> HeapInserts(uint32_t blk, int n) {
  auto b = std::make_unique<Batch>();
  for (int i = 1; i <= n; ++i) {
    b->records.push_back(
        PostgresRecord{i == 1, pgtest::HeapInsertRecord(kRel, blk, uint16_t(i), i, i == 1)});
  }
  for (int i = 0; i < n; ++i) b->redo.push_back({Lsn(0x100 * (i + 1)), &b->records[i]});
  return b;
}

void Report(benchmark::State& state, int64_t records_per_page) {
  state.SetItemsProcessed(state.iterations() * records_per_page);
  state.counters["records/s"] = benchmark::Counter(double(state.iterations() * records_per_page),
                                                   benchmark::Counter::kIsRate);
  state.counters["pages/s"] =
      benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_WalRedoHeapInsert(benchmark::State& state) {
  const int n = int(state.range(0));
  const uint32_t blk = uint32_t(state.thread_index());
  auto batch = HeapInserts(blk, n);
  RedoManager& m = WalRedo();
  for (auto _ : state) {
    auto page =
        m.Apply(Key::RelBlock(kRel, blk), batch->redo.back().lsn, std::nullopt, batch->redo);
    CheckOk(page.status(), "walredo Apply");
    if (pgtest::PageMaxOffset(*page) != n) {
      state.SkipWithError("wrong page");
      break;
    }
  }
  Report(state, n);
}
BENCHMARK(BM_WalRedoHeapInsert)
    ->Name("WalRedo/HeapInsert")
    ->Arg(1)
    ->Arg(10)
    ->Arg(100)
    ->UseRealTime();
BENCHMARK(BM_WalRedoHeapInsert)->Name("WalRedo/HeapInsert")->Arg(10)->Threads(4)->UseRealTime();

void BM_WalRedoFpi(benchmark::State& state) {
  std::string image = pgtest::MakePage(1, 40);
  Record fpi = PostgresRecord{false, pgtest::FpiRecord(kRel, 0, image)};
  RedoRecord r{Lsn(0x1000), &fpi};
  RedoManager& m = WalRedo();
  for (auto _ : state) {
    auto page = m.Apply(Key::RelBlock(kRel, 0), Lsn(0x1000), std::nullopt, {&r, 1});
    CheckOk(page.status(), "walredo Apply");
  }
  Report(state, 1);
}
BENCHMARK(BM_WalRedoFpi)->Name("WalRedo/Fpi")->UseRealTime();

void BM_WalRedoPing(benchmark::State& state) {
  auto& m = static_cast<PostgresRedoManager&>(WalRedo());
  for (auto _ : state) CheckOk(m.Ping(), "ping");
  Report(state, 0);
}
BENCHMARK(BM_WalRedoPing)->Name("WalRedo/Ping")->UseRealTime();

void BM_EngineRedoClearVm(benchmark::State& state) {
  const int n = int(state.range(0));
  std::vector<Record> records;
  for (int i = 0; i < n; ++i) {
    records.emplace_back(std::in_place_type<ClearVisibilityMapFlags>,
                         ClearVisibilityMapFlags{uint32_t(i * 7), std::nullopt, 0x03});
  }
  std::vector<RedoRecord> redo;
  for (int i = 0; i < n; ++i) redo.push_back({Lsn(0x100 * (i + 1)), &records[i]});
  std::optional<std::string> base = std::string(pgtest::kBlockSize, '\xff');
  EngineRedoManager m;
  for (auto _ : state) {
    auto page = m.Apply(Key::RelBlock(kVmRel, 0), redo.back().lsn, base, redo);
    CheckOk(page.status(), "engine Apply");
  }
  Report(state, n);
}
BENCHMARK(BM_EngineRedoClearVm)->Name("EngineRedo/ClearVm")->Arg(1)->Arg(10)->Arg(100);

void BM_EngineRedoTestAppend(benchmark::State& state) {
  const int n = int(state.range(0));
  std::vector<Record> records;
  for (int i = 0; i < n; ++i) {
    records.emplace_back(std::in_place_type<TestRecord>,
                         TestRecord{std::string(32, char('a' + i % 26)), false, i == 0});
  }
  std::vector<RedoRecord> redo;
  for (int i = 0; i < n; ++i) redo.push_back({Lsn(0x100 * (i + 1)), &records[i]});
  EngineRedoManager m;
  for (auto _ : state) {
    auto page = m.Apply(Key::RelBlock(kRel, 0), redo.back().lsn, std::string(), redo);
    CheckOk(page.status(), "engine Apply");
  }
  Report(state, n);
}
BENCHMARK(BM_EngineRedoTestAppend)->Name("EngineRedo/TestAppend")->Arg(1)->Arg(10)->Arg(100);

}  // namespace
}  // namespace neon::bench

BENCHMARK_MAIN();
