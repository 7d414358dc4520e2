// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Cut-over to a new pageserver: attach a tenant there and read every page of its timeline,
//   CutOver/cold   the node starts empty: each layer comes from object storage on first use
//   CutOver/warm   the node was a warm secondary: it had downloaded the layers the attached
//                  node's heatmap listed, before the cut-over (that pass is not timed here;
//                  SecondaryWarmup times it)
// on the same s3rver and the same data in the same run, so the figure that matters is the
// ratio warm/cold (doc/benchmarks.md). Each iteration is a fresh node directory and a newer
// generation. Flags: --secondary_bench_smoke (tiny sizes, for CTest).

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "neon/engine.h"
#include "neon/object_store.h"
#include "remote/peer_util.h"

namespace neon::bench {
namespace {

bool g_smoke = false;
constexpr uint32_t kPage = 8192;

TenantShardId Tenant() { return TenantShardId::Unsharded(*TenantId::Parse("5cc8fcc61f6d357410b7de754b1d9004")); }
TimelineId Main() { return *TimelineId::Parse("7e200bd42b49cc1814412c7e592dd6e7"); }
Key PageKey(uint32_t i) { return Key(0x00, 1663, 5, 16384, 0, i); }

std::string Page(uint32_t i) {
  std::string p(kPage, '\0');
  uint64_t x = uint64_t(i) * 0x9E3779B97F4A7C15ull + 1;
  for (size_t o = 0; o + 8 <= p.size(); o += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::memcpy(&p[o], &x, 8);
  }
  return p;
}

struct Dataset {
  std::shared_ptr<ObjectStore> store;
  uint32_t keys = 0;
  Lsn lsn;
  uint64_t layer_bytes = 0;
  uint32_t next_generation = 2;
};

EngineOptions Options(std::shared_ptr<ObjectStore> store) {
  EngineOptions o;
  o.background_work = false;
  o.remote.store = std::move(store);
  return o;
}

// Node A (generation 1) writes `keys` pages in four flushes, uploads everything and its
// heatmap, and goes away.
Dataset& Data() {
  static Dataset* d = [] {
    auto* d = new Dataset;
    static testing::S3rver* server = ValueOrDie(testing::S3rver::Shared(), "starting s3rver");
    d->store = ValueOrDie(NewS3ObjectStore(server->Options("secondary-bench/")), "S3 store");
    d->keys = g_smoke ? 64 : 4096;
    TempDir dir("secondary_bench_a");
    auto engine = ValueOrDie(Engine::Open(Options(d->store), dir.Sub("node")), "open A");
    TenantConfig config;
    auto tenant = ValueOrDie(engine->CreateTenant(Tenant(), config), "create tenant");
    auto tl = ValueOrDie(tenant->CreateTimeline(Main(), 15), "create timeline");
    Lsn lsn(0x0100'0000);
    for (uint32_t i = 0; i < d->keys; i++) {
      lsn = lsn.Plus(0x40);
      CheckOk(tl->Put(PageKey(i), lsn, Value::Image(Page(i))), "put");
      CheckOk(tl->FinishWrite(lsn), "finish write");
      if ((i + 1) % (d->keys / 4) == 0) CheckOk(tl->Flush().status(), "flush");
    }
    CheckOk(engine->FlushRemote(), "upload");
    CheckOk(engine->UploadHeatmap(Tenant()), "heatmap");
    d->lsn = lsn;
    d->layer_bytes = tl->Info().historic_layer_bytes;
    return d;
  }();
  return *d;
}

void WaitForPass(Engine& e) {
  CheckOk(e.StartSecondaryDownload(Tenant()), "start download");
  while (true) {
    SecondaryProgress p = ValueOrDie(e.GetSecondaryProgress(Tenant()), "progress");
    if (!p.in_progress) {
      CheckOk(p.last_error, "download pass");
      return;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void BM_CutOver(benchmark::State& state, bool warm) {
  Dataset& d = Data();
  uint64_t downloads = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto dir = std::make_unique<TempDir>("secondary_bench_b");
    auto engine = ValueOrDie(Engine::Open(Options(d.store), dir->Sub("node")), "open B");
    if (warm) {
      CheckOk(engine->ConfigureSecondary(Tenant(), TenantConfig(), /*warm=*/false), "secondary");
      WaitForPass(*engine);
    }
    state.ResumeTiming();
    auto t = ValueOrDie(engine->AttachTenant(Tenant(), TenantConfig(), Generation::Of(d.next_generation++)),
                        "attach");
    auto tl = ValueOrDie(t->GetTimeline(Main()), "timeline");
    for (uint32_t i = 0; i < d.keys; i++) {
      std::string page = ValueOrDie(tl->GetPage(PageKey(i), d.lsn), "read");
      if (page.size() != kPage) CheckOk(absl::DataLossError("short page"), "read");
    }
    state.PauseTiming();
    downloads += engine->GetRemoteStats().downloads;
    tl.reset();
    t.reset();
    engine.reset();
    dir.reset();
    state.ResumeTiming();
  }
  state.counters["layer_MiB"] = double(d.layer_bytes) / (1 << 20);
  state.counters["downloads_per_cutover"] = double(downloads) / double(state.iterations());
  state.SetItemsProcessed(int64_t(state.iterations()) * d.keys);
}

void BM_SecondaryWarmup(benchmark::State& state) {
  Dataset& d = Data();
  for (auto _ : state) {
    state.PauseTiming();
    auto dir = std::make_unique<TempDir>("secondary_bench_w");
    auto engine = ValueOrDie(Engine::Open(Options(d.store), dir->Sub("node")), "open W");
    CheckOk(engine->ConfigureSecondary(Tenant(), TenantConfig(), /*warm=*/false), "secondary");
    state.ResumeTiming();
    WaitForPass(*engine);
    state.PauseTiming();
    engine.reset();
    dir.reset();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(d.layer_bytes));
}

void Register() {
  const int iters = g_smoke ? 1 : 5;
  benchmark::RegisterBenchmark("CutOver/cold", [](benchmark::State& s) { BM_CutOver(s, false); })
      ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(iters);
  benchmark::RegisterBenchmark("CutOver/warm", [](benchmark::State& s) { BM_CutOver(s, true); })
      ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(iters);
  benchmark::RegisterBenchmark("SecondaryWarmup", BM_SecondaryWarmup)
      ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(iters);
}

}  // namespace
}  // namespace neon::bench

int main(int argc, char** argv) {
  int out = 1;
  for (int i = 1; i < argc; i++) {
    if (std::string_view(argv[i]) == "--secondary_bench_smoke") {
      neon::bench::g_smoke = true;
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  benchmark::Initialize(&argc, argv);
  neon::bench::Register();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
