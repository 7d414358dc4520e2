// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Durability with object storage: the process is killed between every pair of
// steps of a run that ingests, flushes, uploads layers and indexes, compacts,
// garbage-collects and deletes through the deletion queue. Object writes
// (layer upload, index upload, delete) and local writes (layer files,
// catalog, deletion-queue lists) are counted in one sequence by the
// fault-injecting file system (TestStore turns each object write into a step
// on it), so kill point k stops the process after exactly k steps. Local
// unsynced data is then dropped (FaultInjectionFileSystem::SimulateCrash) and
// the node restarts. After every restart:
//   * the engine opens (object storage wins over the local catalog);
//   * every layer the latest index references exists in object storage;
//   * nothing is lost: the timeline is at or beyond the highest
//     remote_consistent_lsn reported before the kill, and every page at every
//     checkpoint from the GC cutoff up to there reads as written;
//   * the remaining uploads and deletions complete, and the layers of the
//     final index are still all there.

#include <string>

#include "base/status_macros.h"
#include "gtest/gtest.h"
#include "remote/index_part.h"
#include "remote/remote_engine_util.h"

namespace neon::testing {
namespace {

struct KillRun {
  std::shared_ptr<FileSystem> base = NewMemFileSystem();
  std::shared_ptr<FaultInjectionFileSystem> fault = std::make_shared<FaultInjectionFileSystem>(base);
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::shared_ptr<ManualExecutor> executor = std::make_shared<ManualExecutor>();
  std::shared_ptr<TestStore> store;
  std::unique_ptr<Engine> engine;
  Workload work;
  Lsn lsn{0x1000};
  Lsn acked;  // highest remote_consistent_lsn reported before the kill

  absl::Status Open() {
    EngineOptions o;
    o.fs = fault;
    o.clock = clock;
    o.executor = executor;
    o.background_work = false;
    o.page_cache_bytes = 1 << 20;
    o.remote.store = store;
    auto e = Engine::Open(o, "/node");
    if (!e.ok()) return e.status();
    engine = *std::move(e);
    return absl::OkStatus();
  }
  absl::StatusOr<std::shared_ptr<Timeline>> Tl() {
    auto t = engine->GetTenant(TestTenant());
    if (!t.ok()) return t.status();
    return (*t)->GetTimeline(TestTimeline());
  }
  void Observe(Timeline& tl) { acked = std::max(acked, tl.Info().remote_consistent_lsn); }

  // The steps under test; stops at the first failure (the process died).
  absl::Status Steps(Timeline& tl) {
    auto step = [&](absl::Status s) {
      Observe(tl);
      return s;
    };
    for (int r = 1; r <= 2; r++) {
      NEON_RETURN_IF_ERROR(step(work.Write(tl, "w", r, &lsn)));
      NEON_RETURN_IF_ERROR(step(tl.Flush().status()));
      NEON_RETURN_IF_ERROR(step(engine->FlushRemote()));
    }
    NEON_RETURN_IF_ERROR(step(tl.Compact(true).status()));
    NEON_RETURN_IF_ERROR(step(engine->FlushRemote()));
    NEON_RETURN_IF_ERROR(step(work.Write(tl, "w", 3, &lsn)));
    NEON_RETURN_IF_ERROR(step(tl.Flush().status()));
    NEON_RETURN_IF_ERROR(step(tl.Gc(0).status()));
    return step(engine->FlushRemote());
  }
};

::testing::AssertionResult IndexedLayersExist(ObjectStore& store) {
  auto loaded = DownloadIndexPart(store, TestTenant(), TestTimeline(), Generation::Of(1));
  if (!loaded.ok()) return ::testing::AssertionFailure() << "index: " << loaded.status();
  for (const auto& [name, m] : loaded->index.layer_metadata) {
    auto head = store.Head(RemoteLayerKey(TestTenant(), m.shard, TestTimeline(), name, m.generation));
    if (!head.ok()) return ::testing::AssertionFailure() << "layer " << name << " of the index: " << head.status();
  }
  return ::testing::AssertionSuccess();
}

class RemoteDurabilityTest : public ::testing::TestWithParam<Backend> {};

TEST_P(RemoteDurabilityTest, KillBetweenEveryPairOfSteps) {
  // S3 round trips are slower: every third kill point there.
  const int stride = GetParam() == Backend::kLocal ? 1 : 3;
  int kill_at = 0, crashes = 0;
  for (;; kill_at += stride) {
    SCOPED_TRACE("kill after step " + std::to_string(kill_at));
    KillRun run;
    auto shared = MakeStore(GetParam());
    ASSERT_TRUE(shared.ok()) << shared.status();
    run.store = std::make_shared<TestStore>(*shared, run.fault);
    NEON_ASSERT_OK(run.Open());
    auto tenant = ValueOrDie(run.engine->CreateTenant(TestTenant(), SmallConfig()));
    auto tl = ValueOrDie(tenant->CreateTimeline(TestTimeline(), 15));
    NEON_ASSERT_OK(run.work.Write(*tl, "w", 0, &run.lsn));
    NEON_ASSERT_OK(tl->Flush().status());
    NEON_ASSERT_OK(run.engine->FlushRemote());
    run.Observe(*tl);

    run.fault->CrashAfterOps(kill_at);
    absl::Status s = run.Steps(*tl);
    const bool killed = !run.fault->active();
    if (!killed) {
      NEON_ASSERT_OK(s);  // the whole run fitted: no more kill points
    }
    tl.reset();
    tenant.reset();
    run.engine.reset();
    NEON_ASSERT_OK(run.fault->SimulateCrash());

    NEON_ASSERT_OK(run.Open());
    auto reopened = run.Tl();
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    ASSERT_TRUE(IndexedLayersExist(*run.store));
    TimelineInfo info = (*reopened)->Info();
    EXPECT_GE(info.last_record_lsn, run.acked);
    EXPECT_TRUE(run.work.IsCheckpoint(info.last_record_lsn)) << info.last_record_lsn.ToString();
    EXPECT_TRUE(run.work.Verify(**reopened, info.applied_gc_cutoff_lsn, info.last_record_lsn));
    NEON_ASSERT_OK(run.engine->FlushRemote());  // leftover deletions and uploads
    EXPECT_EQ(run.engine->GetRemoteStats().deletion_lists_pending, 0u);
    ASSERT_TRUE(IndexedLayersExist(*run.store));
    EXPECT_TRUE(run.work.Verify(**reopened, info.applied_gc_cutoff_lsn, info.last_record_lsn));
    if (!killed) break;
    crashes++;
  }
  EXPECT_GT(crashes, 20 / stride);
  std::printf("kill points tried: %d (last run completed)\n", crashes + 1);
}

INSTANTIATE_TEST_SUITE_P(Stores, RemoteDurabilityTest, ::testing::Values(Backend::kLocal, Backend::kS3),
                         BackendName);

}  // namespace
}  // namespace neon::testing
