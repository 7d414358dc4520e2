// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// WAL decode and ingest throughput on real pgbench WAL from a Postgres 15
// server started for the run, against pg_waldump --stats on the same WAL in
// the same run (the baseline: Postgres's own reader and decoder).
//
//   build/bench/wal_bench [--wal_bench_smoke] [--benchmark_filter=...]
//
// BM_DecodeWal          WalStreamDecoder over the WAL bytes in memory (one core)
// BM_PgWaldumpStats     pg_waldump --stats over the same segment files
// BM_IngestWal          decode + WalIngester into a fresh timeline (one core;
//                       background work off, so flushes are not included)
// Bytes/s is WAL bytes per second of wall time.

#include <cstring>
#include <optional>

#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "neon/engine.h"
#include "neon/wal.h"
#include "neon/wal_ingest.h"
#include "wal/pg_cluster.h"

namespace neon::bench {
namespace {

bool g_smoke = false;
constexpr size_t kFeedBytes = 1 << 20;

struct WalData {
  std::unique_ptr<testing::PgCluster> pg;
  Lsn start;          // a page boundary just before pgbench's first record
  std::string bytes;  // [start, end)
  Lsn end;
};

WalData& Data() {
  static WalData* d = [] {
    auto* w = new WalData();
    w->pg = ValueOrDie(testing::PgCluster::Start({"wal_level = replica", "wal_keep_size = '4GB'",
                                                  "max_wal_size = '4GB'", "autovacuum = off"}),
                       "start postgres");
    // Start after initdb's WAL (its file-copy CREATE DATABASE would need the
    // template's pages, which only an import provides).
    const std::string lsn_text =
        ValueOrDie(w->pg->Sql("SELECT pg_current_wal_insert_lsn()"), "current LSN");
    const Lsn first = ValueOrDie(Lsn::Parse(lsn_text.substr(0, lsn_text.find('\n'))), "LSN");
    w->start = Lsn(first.value() / kWalBlockSize * kWalBlockSize);
    const std::string scale = g_smoke ? "1" : "10";
    const std::string txns = g_smoke ? "200" : "20000";
    ValueOrDie(w->pg->RunAsServerUser("pgbench -i -q -s " + scale + " -U postgres postgres"),
               "pgbench -i");
    ValueOrDie(w->pg->RunAsServerUser("pgbench -n -c 2 -j 2 -t " + txns + " -U postgres postgres"),
               "pgbench");
    CheckOk(w->pg->Stop("fast"), "stop postgres");
    auto fs = NewPosixFileSystem();
    const Lsn first_seg(w->start.value() / kWalSegmentSize * kWalSegmentSize);
    for (Lsn seg = first_seg;; seg = seg.Plus(kWalSegmentSize)) {
      const std::string path = w->pg->wal_dir() + "/" + WalSegmentFileName(1, seg);
      if (!fs->FileExists(path)) break;
      auto f = ValueOrDie(fs->NewRandomAccessFile(path), "open segment");
      std::string buf(kWalSegmentSize, '\0');
      size_t n = ValueOrDie(f->Read(0, buf.size(), buf.data()), "read segment");
      w->bytes.append(buf.data(), n);
    }
    // Keep only the valid WAL (up to the end of the last record).
    w->bytes.erase(0, w->start.Minus(first_seg));
    WalStreamDecoder d(w->start);
    d.Feed(w->bytes);
    while (true) {
      auto r = d.Poll();
      if (!r.ok() || !r->has_value()) break;
      w->end = (*r)->end_lsn;
    }
    w->bytes.resize(w->end.Minus(w->start));
    std::fprintf(stderr, "wal_bench: %.1f MiB of pgbench WAL\n", w->bytes.size() / 1048576.0);
    return w;
  }();
  return *d;
}

void BM_DecodeWal(benchmark::State& state) {
  const WalData& d = Data();
  uint64_t records = 0;
  for (auto _ : state) {
    // Fed in 1 MiB pieces, as a network stream or a file reader delivers it.
    WalStreamDecoder dec(d.start);
    for (size_t off = 0; off < d.bytes.size(); off += kFeedBytes) {
      dec.Feed(std::string_view(d.bytes).substr(off, kFeedBytes));
      while (true) {
        auto r = dec.Poll();
        if (!r.ok() || !r->has_value()) break;
        records++;
        benchmark::DoNotOptimize(r);
      }
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(d.bytes.size() * state.iterations()));
  state.counters["records/s"] =
      benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeWal)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_PgWaldumpStats(benchmark::State& state) {
  const WalData& d = Data();
  const std::string cmd = testing::PgBinDir() + "/pg_waldump --stats -p " + d.pg->wal_dir() +
                          " -s " + d.start.ToString() + " -e " + d.end.ToString() + " >/dev/null 2>&1";
  for (auto _ : state) {
    if (std::system(cmd.c_str()) != 0) state.SkipWithError("pg_waldump failed");
  }
  state.SetBytesProcessed(static_cast<int64_t>(d.bytes.size() * state.iterations()));
}
BENCHMARK(BM_PgWaldumpStats)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_IngestWal(benchmark::State& state) {
  const WalData& d = Data();
  uint64_t records = 0;
  std::optional<TempDir> dir;
  for (auto _ : state) {
    state.PauseTiming();
    dir.emplace("wal_bench");
    EngineOptions o;
    o.background_work = false;
    auto engine = ValueOrDie(Engine::Open(o, dir->path()), "open engine");
    auto tenant = ValueOrDie(
        engine->CreateTenant(TenantShardId::Unsharded(TenantId::Generate()), TenantConfig{}),
        "tenant");
    auto tl = ValueOrDie(tenant->CreateTimeline(TimelineId::Generate(), 15), "timeline");
    // Start the timeline just below the WAL (as an import would).
    CheckOk(tl->Put(Key::Checkpoint(), d.start, Value::Image(std::string(88, '\0'))), "seed");
    CheckOk(tl->FinishWrite(d.start), "seed");
    auto ing = ValueOrDie(WalIngester::Open(tl), "ingester");
    state.ResumeTiming();
    for (size_t off = 0; off < d.bytes.size(); off += kFeedBytes) {
      CheckOk(ing->FeedWal(std::string_view(d.bytes).substr(off, kFeedBytes)), "ingest");
    }
    CheckOk(ing->Commit(), "commit");
    records += ing->stats().records;
    state.PauseTiming();
    ing.reset();
    tl.reset();
    tenant.reset();
    engine.reset();
    dir.reset();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(d.bytes.size() * state.iterations()));
  state.counters["records/s"] =
      benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_IngestWal)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace
}  // namespace neon::bench

int main(int argc, char** argv) {
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--wal_bench_smoke") == 0) neon::bench::g_smoke = true;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
