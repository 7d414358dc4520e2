// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The engine on object storage, against the local store and a real s3rver:
//  * attach from scratch: ingest, upload, attach on an empty node (no local
//    files), every page reads the same; on-demand download and LRU eviction
//    under a tiny disk budget, re-download when read again;
//  * object storage wins over the local catalog (lost local files are
//    downloaded; local state newer than the uploaded index is dropped);
//  * split brain: generations 1 and 2 attached at once, both ingest and
//    compact; the stale node's deletions are refused, its index never shadows
//    the newer one, a third node sees exactly generation 2's data;
//  * a warm secondary: it downloads what the attached node's heatmap lists,
//    follows new heatmaps (fetching only new layers, dropping replaced ones),
//    survives a restart, and takes over by attaching with no download at all;
//    the old attached node turns secondary and keeps its files.

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "remote/heatmap.h"
#include "remote/index_part.h"
#include "remote/remote_engine_util.h"

namespace neon::testing {
namespace {

struct Node {
  std::shared_ptr<FileSystem> fs = NewMemFileSystem();
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::shared_ptr<ManualExecutor> executor = std::make_shared<ManualExecutor>();
  std::shared_ptr<TestStore> store;
  std::unique_ptr<Engine> engine;

  absl::Status Open(std::shared_ptr<ObjectStore> shared, GenerationValidator validator = nullptr,
                    uint64_t budget = 0) {
    if (!store) store = std::make_shared<TestStore>(std::move(shared));
    EngineOptions o;
    o.fs = fs;
    o.clock = clock;
    o.executor = executor;
    o.background_work = false;
    o.page_cache_bytes = 1 << 20;
    o.wait_lsn_timeout_us = 100'000;
    o.remote.store = store;
    o.remote.validate_generations = std::move(validator);
    o.remote.local_layer_budget_bytes = budget;
    auto e = Engine::Open(o, "/node");
    if (!e.ok()) return e.status();
    engine = *std::move(e);
    return absl::OkStatus();
  }
  std::shared_ptr<Timeline> Tl(const TimelineId& id = TestTimeline()) {
    auto t = ValueOrDie(engine->GetTenant(TestTenant()));
    return ValueOrDie(t->GetTimeline(id));
  }
};

class RemoteEngineTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto s = MakeStore(GetParam());
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *s;
  }
  // Node A: generation 1, a main timeline with four rounds (flushes, one
  // compaction) and a branch at round 1 with a round of its own; uploaded.
  void Populate(Node& a) {
    NEON_ASSERT_OK(a.Open(store_));
    auto t = ValueOrDie(a.engine->CreateTenant(TestTenant(), SmallConfig()));
    EXPECT_EQ(t->generation(), Generation::Of(1));
    auto main = ValueOrDie(t->CreateTimeline(TestTimeline(), 15));
    for (int r = 0; r < 4; r++) {
      NEON_ASSERT_OK(main_.Write(*main, "main", r, &lsn_));
      NEON_ASSERT_OK(main->Flush().status());
      if (r == 1) branch_point_ = lsn_;
      if (r == 2) NEON_ASSERT_OK(main->Compact(true).status());
    }
    auto branch = ValueOrDie(t->CreateBranch(TestBranch(), TestTimeline(), branch_point_));
    Lsn blsn = branch_point_;
    NEON_ASSERT_OK(branch_.Write(*branch, "branch", 9, &blsn));
    NEON_ASSERT_OK(branch->Flush().status());
    NEON_ASSERT_OK(a.engine->FlushRemote());
    EXPECT_EQ(main->Info().remote_consistent_lsn, lsn_);
    EXPECT_EQ(branch->Info().remote_consistent_lsn, blsn);
  }

  std::shared_ptr<ObjectStore> store_;
  Workload main_, branch_;
  Lsn lsn_{0x1000};
  Lsn branch_point_;
};

TEST_P(RemoteEngineTest, AttachFromScratchReadsEveryPage) {
  Node a;
  Populate(a);
  ASSERT_TRUE(main_.Verify(*a.Tl(), Lsn(0), lsn_));
  a.engine.reset();

  Node b;  // an empty node: nothing local
  NEON_ASSERT_OK(b.Open(store_, nullptr, /*budget=*/1));
  auto t = ValueOrDie(b.engine->AttachTenant(TestTenant(), SmallConfig(), Generation::Of(2)));
  ASSERT_EQ(t->ListTimelines().size(), 2u);
  TimelineInfo info = b.Tl()->Info();
  EXPECT_EQ(info.last_record_lsn, lsn_);
  EXPECT_EQ(info.remote_consistent_lsn, lsn_);
  EXPECT_EQ(info.resident_layer_bytes, 0u);
  EXPECT_GT(info.num_historic_layers, 0u);
  EXPECT_TRUE(main_.Verify(*b.Tl(), Lsn(0), lsn_));
  EXPECT_TRUE(branch_.Verify(*b.Tl(TestBranch()), Lsn(0), Lsn::Max()));
  // Reads through the branch fall into the (remote) ancestor.
  EXPECT_EQ(*b.Tl(TestBranch())->GetPage(TestKey(3), branch_point_), Workload::Page("main", 1, 3));
  Engine::RemoteStats s1 = b.engine->GetRemoteStats();
  EXPECT_GT(s1.downloads, 0u);
  EXPECT_GT(s1.evictions, 0u);  // a 1-byte budget evicts every uploaded layer
  // Evicted layers come back when read again.
  EXPECT_TRUE(main_.Verify(*b.Tl(), Lsn(0), lsn_));
  EXPECT_GT(b.engine->GetRemoteStats().downloads, s1.downloads);

  // The new node writes with its own generation only.
  Lsn lsn = lsn_;
  auto tl = b.Tl();
  NEON_ASSERT_OK(main_.Write(*tl, "main", 4, &lsn));
  NEON_ASSERT_OK(tl->Flush().status());
  NEON_ASSERT_OK(b.engine->FlushRemote());
  EXPECT_EQ(tl->Info().remote_consistent_lsn, lsn);
  for (const std::string& key : b.store->written()) EXPECT_TRUE(key.ends_with("-00000002")) << key;
  EXPECT_FALSE(b.store->written().empty());
}

TEST_P(RemoteEngineTest, LostLocalLayersAreDownloaded) {
  Node a;
  Populate(a);
  a.engine.reset();
  // Drop every local layer file: the catalog still lists them.
  std::string dir = "/node/tenants/" + TestTenant().ToString() + "/timelines/" + TestTimeline().ToString();
  for (const std::string& f : ValueOrDie(a.fs->GetChildren(dir))) NEON_ASSERT_OK(a.fs->DeleteFile(dir + "/" + f));
  NEON_ASSERT_OK(a.Open(store_));
  EXPECT_TRUE(main_.Verify(*a.Tl(), Lsn(0), lsn_));
  EXPECT_GT(a.engine->GetRemoteStats().downloads, 0u);
}

TEST_P(RemoteEngineTest, ObjectStorageWinsOverTheLocalCatalog) {
  Node a;
  Populate(a);
  auto tl = a.Tl();
  Lsn uploaded = lsn_;
  NEON_ASSERT_OK(main_.Write(*tl, "main", 5, &lsn_));
  NEON_ASSERT_OK(tl->Flush().status());  // on local disk, never uploaded
  EXPECT_EQ(tl->Info().disk_consistent_lsn, lsn_);
  EXPECT_EQ(tl->Info().remote_consistent_lsn, uploaded);
  tl.reset();
  a.engine.reset();  // the queued upload is lost with the process

  NEON_ASSERT_OK(a.Open(store_));
  TimelineInfo info = a.Tl()->Info();
  EXPECT_EQ(info.disk_consistent_lsn, uploaded);
  EXPECT_EQ(info.last_record_lsn, uploaded);
  EXPECT_TRUE(main_.Verify(*a.Tl(), Lsn(0), uploaded));
  // The WAL above remote_consistent_lsn is sent again.
  Lsn lsn = uploaded;
  NEON_ASSERT_OK(main_.Write(*a.Tl(), "main", 5, &lsn));
  EXPECT_TRUE(main_.Verify(*a.Tl(), lsn, lsn));
}

TEST_P(RemoteEngineTest, SplitBrainNeverLosesTheNewerGenerationsData) {
  Controller controller;
  Node a, b, c;
  NEON_ASSERT_OK(a.Open(store_, controller.Validator()));
  controller.Attach(TestTenant(), Generation::Of(1));
  auto ta = ValueOrDie(a.engine->AttachTenant(TestTenant(), SmallConfig(), Generation::Of(1)));
  auto main_a = ValueOrDie(ta->CreateTimeline(TestTimeline(), 15));
  Workload wa, wb;
  Lsn lsn{0x1000};
  for (int r = 0; r < 3; r++) {
    NEON_ASSERT_OK(wa.Write(*main_a, "shared", r, &lsn));
    NEON_ASSERT_OK(main_a->Flush().status());
  }
  NEON_ASSERT_OK(a.engine->FlushRemote());
  wb = wa;

  // B attaches with generation 2 while A still believes it owns the tenant.
  NEON_ASSERT_OK(b.Open(store_, controller.Validator()));
  controller.Attach(TestTenant(), Generation::Of(2));
  ValueOrDie(b.engine->AttachTenant(TestTenant(), SmallConfig(), Generation::Of(2)));
  auto main_b = b.Tl();
  EXPECT_EQ(main_b->Info().last_record_lsn, lsn);

  // Both ingest (different data: only B's may survive), compact and GC.
  Lsn la = lsn, lb = lsn;
  for (int r = 3; r < 6; r++) {
    NEON_ASSERT_OK(wa.Write(*main_a, "A", r, &la));
    NEON_ASSERT_OK(main_a->Flush().status());
    NEON_ASSERT_OK(wb.Write(*main_b, "B", r, &lb));
    NEON_ASSERT_OK(main_b->Flush().status());
  }
  for (Node* n : {&a, &b}) {
    auto tl = n->Tl();
    NEON_ASSERT_OK(tl->Compact(true).status());
    NEON_ASSERT_OK(tl->Gc(0).status());
    NEON_ASSERT_OK(n->engine->FlushRemote());
  }
  Engine::RemoteStats sa = a.engine->GetRemoteStats(), sb = b.engine->GetRemoteStats();
  EXPECT_GT(sa.deletions_refused, 0u);
  EXPECT_EQ(sa.deletions_done, 0u);
  EXPECT_GT(sb.deletions_done, 0u);
  EXPECT_EQ(sb.deletions_refused, 0u);
  // Each node wrote only objects of its own generation.
  for (const std::string& k : a.store->written()) EXPECT_TRUE(k.ends_with("-00000001")) << k;
  for (const std::string& k : b.store->written()) EXPECT_TRUE(k.ends_with("-00000002")) << k;
  // The stale index exists but never shadows generation 2's.
  EXPECT_TRUE(store_->Head(RemoteIndexKey(TestTenant(), TestTimeline(), Generation::Of(1))).ok());
  auto loaded = DownloadIndexPart(*store_, TestTenant(), TestTimeline(), Generation::Of(3));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->generation, Generation::Of(2));
  EXPECT_EQ(loaded->index.metadata.disk_consistent_lsn, lb);
  for (const auto& [name, m] : loaded->index.layer_metadata) {
    EXPECT_TRUE(store_->Head(RemoteLayerKey(TestTenant(), m.shard, TestTimeline(), name, m.generation)).ok())
        << "layer " << name << m.generation.Suffix() << " referenced by generation 2's index is missing";
  }

  // A fresh node sees exactly B's data.
  NEON_ASSERT_OK(c.Open(store_, controller.Validator()));
  controller.Attach(TestTenant(), Generation::Of(3));
  ValueOrDie(c.engine->AttachTenant(TestTenant(), SmallConfig(), Generation::Of(3)));
  EXPECT_EQ(c.Tl()->Info().last_record_lsn, lb);
  EXPECT_TRUE(wb.Verify(*c.Tl(), c.Tl()->Info().applied_gc_cutoff_lsn, lb));
  for (uint32_t i = 0; i < Workload::kKeys; i++) {
    EXPECT_EQ(*c.Tl()->GetPage(TestKey(i), lb), Workload::Page("B", 5, i));
  }
  // B's later deletions are refused now that C holds the tenant.
  NEON_ASSERT_OK(wb.Write(*main_b, "B", 6, &lb));
  NEON_ASSERT_OK(main_b->Flush().status());
  NEON_ASSERT_OK(main_b->Compact(true).status());
  NEON_ASSERT_OK(main_b->Gc(0).status());
  NEON_ASSERT_OK(b.engine->FlushRemote());
  EXPECT_EQ(b.engine->GetRemoteStats().deletions_done, sb.deletions_done);
}

// Starts a download pass and waits for it to end.
SecondaryProgress DownloadPass(Engine& e) {
  EXPECT_TRUE(e.StartSecondaryDownload(TestTenant()).ok());
  while (true) {
    auto p = e.GetSecondaryProgress(TestTenant());
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok() || !p->in_progress) return p.ok() ? *p : SecondaryProgress{};
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

std::set<std::string> LocalFiles(FileSystem& fs, const TimelineId& tl) {
  std::string dir = "/node/tenants/" + TestTenant().ToString() + "/timelines/" + tl.ToString();
  auto files = fs.GetChildren(dir);
  if (!files.ok()) return {};
  return std::set<std::string>(files->begin(), files->end());
}

TEST_P(RemoteEngineTest, WarmSecondaryFollowsHeatmapsAndTakesOverWithoutDownloads) {
  Node a;
  Populate(a);
  Node b;
  NEON_ASSERT_OK(b.Open(store_));
  NEON_ASSERT_OK(b.engine->ConfigureSecondary(TestTenant(), SmallConfig(), /*warm=*/false));
  EXPECT_TRUE(absl::IsNotFound(b.engine->GetTenant(TestTenant()).status()));
  EXPECT_TRUE(absl::IsAlreadyExists(b.engine->CreateTenant(TestTenant(), SmallConfig()).status()));
  // No heatmap yet: the pass says so and nothing is downloaded.
  SecondaryProgress p = DownloadPass(*b.engine);
  EXPECT_TRUE(absl::IsFailedPrecondition(p.last_error)) << p.last_error;
  EXPECT_NE(p.last_error.message().find("heatmap"), std::string::npos);
  EXPECT_EQ(p.layers_total, 0u);

  NEON_ASSERT_OK(a.engine->UploadHeatmap(TestTenant()));
  auto heatmap = Heatmap::Parse(ValueOrDie(GetString(*store_, RemoteHeatmapKey(TestTenant()))));
  ASSERT_TRUE(heatmap.ok()) << heatmap.status();
  EXPECT_EQ(heatmap->generation, Generation::Of(1));
  ASSERT_EQ(heatmap->timelines.size(), 2u);
  const uint64_t layers = a.Tl()->Info().num_historic_layers + a.Tl(TestBranch())->Info().num_historic_layers;
  const uint64_t bytes = a.Tl()->Info().historic_layer_bytes + a.Tl(TestBranch())->Info().historic_layer_bytes;
  p = DownloadPass(*b.engine);
  NEON_ASSERT_OK(p.last_error);
  EXPECT_EQ(p.layers_total, layers);  // every layer of A is local there and uploaded
  EXPECT_EQ(p.layers_downloaded, layers);
  EXPECT_EQ(p.layers_fetched, layers);
  EXPECT_EQ(p.bytes_total, bytes);
  EXPECT_EQ(p.bytes_downloaded, bytes);
  EXPECT_EQ(p.heatmap_generation, Generation::Of(1));
  EXPECT_EQ(LocalFiles(*b.fs, TestTimeline()), LocalFiles(*a.fs, TestTimeline()));

  // A restart keeps the secondary and its files; the next pass fetches nothing.
  b.engine.reset();
  NEON_ASSERT_OK(b.Open(store_));
  ASSERT_EQ(b.engine->ListSecondaries().size(), 1u);
  EXPECT_FALSE(b.engine->ListSecondaries()[0].warm);
  p = DownloadPass(*b.engine);
  NEON_ASSERT_OK(p.last_error);
  EXPECT_EQ(p.layers_downloaded, layers);
  EXPECT_EQ(p.layers_fetched, 0u);

  // A writes and compacts: the next heatmap has new layers and lacks replaced ones. B fetches
  // only the new ones and drops the replaced ones.
  auto tl = a.Tl();
  for (int r = 4; r < 6; r++) {
    NEON_ASSERT_OK(main_.Write(*tl, "main", r, &lsn_));
    NEON_ASSERT_OK(tl->Flush().status());
  }
  NEON_ASSERT_OK(tl->Compact(true).status());
  NEON_ASSERT_OK(tl->Gc(0).status());
  NEON_ASSERT_OK(a.engine->FlushRemote());
  NEON_ASSERT_OK(a.engine->UploadHeatmap(TestTenant()));
  const std::set<std::string> before = LocalFiles(*b.fs, TestTimeline());
  const std::set<std::string> want = LocalFiles(*a.fs, TestTimeline());
  size_t fresh = 0;
  for (const std::string& f : want) fresh += before.count(f) == 0;
  ASSERT_GT(fresh, 0u);
  p = DownloadPass(*b.engine);
  NEON_ASSERT_OK(p.last_error);
  EXPECT_EQ(p.layers_fetched, fresh);
  EXPECT_EQ(LocalFiles(*b.fs, TestTimeline()), want);

  // Cut-over: B is warm with A's latest heatmap; A turns secondary and B attaches with a
  // newer generation, finding every layer local.
  NEON_ASSERT_OK(main_.Write(*tl, "main", 6, &lsn_));
  NEON_ASSERT_OK(tl->Flush().status());
  NEON_ASSERT_OK(a.engine->FlushRemote());
  NEON_ASSERT_OK(a.engine->UploadHeatmap(TestTenant()));
  p = DownloadPass(*b.engine);
  NEON_ASSERT_OK(p.last_error);
  EXPECT_EQ(p.layers_downloaded, p.layers_total);
  Lsn unflushed = lsn_;
  NEON_ASSERT_OK(main_.Write(*tl, "main", 7, &unflushed));  // ingested, not yet flushed
  tl.reset();
  NEON_ASSERT_OK(a.engine->ConfigureSecondary(TestTenant(), SmallConfig(), /*warm=*/false));
  EXPECT_TRUE(absl::IsNotFound(a.engine->GetTenant(TestTenant()).status()));
  ASSERT_EQ(a.engine->ListSecondaries().size(), 1u);
  EXPECT_FALSE(LocalFiles(*a.fs, TestTimeline()).empty());  // kept as A's cache
  const uint64_t downloads = b.engine->GetRemoteStats().downloads;
  ValueOrDie(b.engine->AttachTenant(TestTenant(), SmallConfig(), Generation::Of(2)));
  EXPECT_TRUE(b.engine->ListSecondaries().empty());
  TimelineInfo info = b.Tl()->Info();
  EXPECT_EQ(info.last_record_lsn, unflushed);  // A flushed and uploaded round 7 on its way out
  // Everything but that last flush (a layer the heatmap did not list yet) is local.
  EXPECT_GT(info.resident_layer_bytes, 0u);
  EXPECT_EQ(info.num_historic_layers,
            LocalFiles(*b.fs, TestTimeline()).size() + 1);
  EXPECT_EQ(b.engine->GetRemoteStats().downloads, downloads);  // none at attach
  EXPECT_TRUE(main_.Verify(*b.Tl(), info.applied_gc_cutoff_lsn, unflushed));  // GC ran above
  EXPECT_TRUE(branch_.Verify(*b.Tl(TestBranch()), Lsn(0), Lsn::Max()));
  EXPECT_EQ(b.engine->GetRemoteStats().downloads, downloads + 1);  // the one new layer

  // Detaching a secondary removes its copy.
  NEON_ASSERT_OK(a.engine->DetachTenant(TestTenant()));
  EXPECT_TRUE(a.engine->ListSecondaries().empty());
  EXPECT_FALSE(a.fs->IsDirectory("/node/tenants/" + TestTenant().ToString()));
  EXPECT_TRUE(absl::IsNotFound(a.engine->GetSecondaryProgress(TestTenant()).status()));
}

TEST_P(RemoteEngineTest, WarmSecondaryRefreshesInTickAndForgetDropsLocalState) {
  Node a;
  Populate(a);
  Node b;
  NEON_ASSERT_OK(b.Open(store_));
  NEON_ASSERT_OK(a.engine->UploadHeatmap(TestTenant()));
  // Warm: a pass starts at once.
  NEON_ASSERT_OK(b.engine->ConfigureSecondary(TestTenant(), SmallConfig(), /*warm=*/true));
  SecondaryProgress p = ValueOrDie(b.engine->GetSecondaryProgress(TestTenant()));
  EXPECT_TRUE(p.in_progress);
  while (p.in_progress) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    p = ValueOrDie(b.engine->GetSecondaryProgress(TestTenant()));
  }
  NEON_ASSERT_OK(p.last_error);
  EXPECT_GT(p.layers_fetched, 0u);
  const int64_t end = p.last_pass_end_us;
  // Tick refreshes once the period (60 s without one in the heatmap) has passed.
  NEON_ASSERT_OK(b.engine->Tick());
  EXPECT_EQ(ValueOrDie(b.engine->GetSecondaryProgress(TestTenant())).last_pass_end_us, end);
  b.clock->Advance(61 * kMicrosPerSecond);
  NEON_ASSERT_OK(b.engine->Tick());
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    p = ValueOrDie(b.engine->GetSecondaryProgress(TestTenant()));
  } while (p.in_progress || p.last_pass_end_us == end);
  NEON_ASSERT_OK(p.last_error);
  EXPECT_EQ(p.layers_fetched, 0u);

  // Forgetting drops local state (attached or secondary) and leaves the remote data.
  NEON_ASSERT_OK(b.engine->ForgetTenant(TestTenant()));
  EXPECT_FALSE(b.fs->IsDirectory("/node/tenants/" + TestTenant().ToString()));
  NEON_ASSERT_OK(a.engine->ForgetTenant(TestTenant()));
  EXPECT_TRUE(absl::IsNotFound(a.engine->ForgetTenant(TestTenant())));
  ValueOrDie(b.engine->AttachTenant(TestTenant(), SmallConfig(), Generation::Of(2)));
  EXPECT_TRUE(main_.Verify(*b.Tl(), Lsn(0), lsn_));

  // A stale attachment (generation 1, elsewhere) does not replace generation 2's heatmap.
  NEON_ASSERT_OK(b.engine->UploadHeatmap(TestTenant()));
  Node c;
  NEON_ASSERT_OK(c.Open(store_));
  ValueOrDie(c.engine->AttachTenant(TestTenant(), SmallConfig(), Generation::Of(1)));
  EXPECT_TRUE(absl::IsFailedPrecondition(c.engine->UploadHeatmap(TestTenant())));
  auto h = Heatmap::Parse(ValueOrDie(GetString(*store_, RemoteHeatmapKey(TestTenant()))));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->generation, Generation::Of(2));
}

TEST_P(RemoteEngineTest, ReattachWithOlderGenerationIsRefused) {
  Node a;
  Populate(a);
  EXPECT_TRUE(absl::IsFailedPrecondition(
      a.engine->AttachTenant(TestTenant(), SmallConfig(), Generation::None()).status()));
  auto t = ValueOrDie(a.engine->AttachTenant(TestTenant(), SmallConfig(), Generation::Of(5)));
  EXPECT_EQ(t->generation(), Generation::Of(5));
  EXPECT_TRUE(main_.Verify(*a.Tl(), Lsn(0), lsn_));
  // `t` outlives the engine here: releasing it afterwards must be safe.
  a.engine.reset();
  NEON_ASSERT_OK(a.Open(store_));  // the generation is remembered
  EXPECT_EQ(ValueOrDie(a.engine->GetTenant(TestTenant()))->generation(), Generation::Of(5));
}

TEST_P(RemoteEngineTest, BackgroundUploadsOnAThreadPool) {
  EngineOptions o;
  o.fs = NewMemFileSystem();
  o.executor = NewThreadPoolExecutor(2);
  o.background_work = true;
  o.remote.store = store_;
  o.remote.max_inflight_uploads = 2;
  auto engine = ValueOrDie(Engine::Open(o, "/node"));
  auto t = ValueOrDie(engine->CreateTenant(TestTenant(), SmallConfig()));
  auto tl = ValueOrDie(t->CreateTimeline(TestTimeline(), 15));
  Lsn lsn{0x1000};
  for (int r = 0; r < 6; r++) {
    NEON_ASSERT_OK(main_.Write(*tl, "bg", r, &lsn));
    NEON_ASSERT_OK(tl->Flush().status());
  }
  auto clock = NewRealClock();
  for (int i = 0; i < 2000 && tl->Info().remote_consistent_lsn < lsn; i++) clock->SleepForMicros(5000);
  EXPECT_EQ(tl->Info().remote_consistent_lsn, lsn);
  NEON_ASSERT_OK(engine->FlushRemote());
  tl.reset();
  t.reset();
  engine.reset();
  // Everything needed is in object storage.
  Node b;
  NEON_ASSERT_OK(b.Open(store_));
  ValueOrDie(b.engine->AttachTenant(TestTenant(), SmallConfig(), Generation::Of(2)));
  EXPECT_TRUE(main_.Verify(*b.Tl(), Lsn(0), lsn));
}

INSTANTIATE_TEST_SUITE_P(Stores, RemoteEngineTest, ::testing::Values(Backend::kLocal, Backend::kS3),
                         BackendName);

}  // namespace
}  // namespace neon::testing
