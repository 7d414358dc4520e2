// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Scenario tests of the Engine API: branching, request-LSN semantics,
// relation sizes, leases, GC cutoffs, deletion rules, reopen.

#include "engine_test_util.h"
#include <thread>

#include "base/coding.h"

namespace neon::testing {
namespace {

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open(TenantConfig config = SmallConfig()) {
    engine_.reset();
    engine_ = ValueOrDie(Engine::Open(env_.Options(), "/root"));
    auto t = engine_->GetTenant(tid_);
    tenant_ = t.ok() ? *t : ValueOrDie(engine_->CreateTenant(tid_, config));
  }
  std::shared_ptr<Timeline> NewTimeline() {
    return ValueOrDie(tenant_->CreateTimeline(TimelineId::Generate(), 15));
  }
  void Write(Timeline& tl, uint32_t key, Lsn lsn, const Value& v) {
    NEON_ASSERT_OK(tl.Put(TestKey(key), lsn, v));
    NEON_ASSERT_OK(tl.FinishWrite(lsn));
  }
  std::string Read(Timeline& tl, uint32_t key, Lsn lsn) {
    auto r = tl.GetPage(TestKey(key), lsn);
    return r.ok() ? *r : std::string("<") + std::string(r.status().message()) + ">";
  }

  TestEnv env_;
  TenantShardId tid_ = TenantShardId::Unsharded(TenantId::Generate());
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<Tenant> tenant_;
};

TEST_F(EngineTest, VersionsReadAtEveryLsn) {
  auto tl = NewTimeline();
  Write(*tl, 1, Lsn(0x10), TestImage("a"));
  Write(*tl, 1, Lsn(0x20), TestAppend("b"));
  Write(*tl, 1, Lsn(0x30), TestAppend("c"));
  EXPECT_EQ(Read(*tl, 1, Lsn(0x10)), "a");
  EXPECT_EQ(Read(*tl, 1, Lsn(0x1F)), "a");
  EXPECT_EQ(Read(*tl, 1, Lsn(0x20)), "ab");
  EXPECT_EQ(Read(*tl, 1, Lsn(0x30)), "abc");
  EXPECT_EQ(Read(*tl, 1, Lsn::Max()), "abc");  // clamped to last_record_lsn
  EXPECT_TRUE(absl::IsNotFound(tl->GetPage(TestKey(1), Lsn(0x8)).status()));
  EXPECT_TRUE(absl::IsNotFound(tl->GetPage(TestKey(2), Lsn(0x30)).status()));
  // The same answers from disk layers, after compaction and image creation.
  NEON_ASSERT_OK(tl->Flush().status());
  NEON_ASSERT_OK(tl->Compact(true).status());
  EXPECT_EQ(Read(*tl, 1, Lsn(0x10)), "a");
  EXPECT_EQ(Read(*tl, 1, Lsn(0x20)), "ab");
  EXPECT_EQ(Read(*tl, 1, Lsn(0x30)), "abc");
  EXPECT_GE(tl->Info().num_historic_layers, 1u);
}

TEST_F(EngineTest, WritesMustMoveForward) {
  auto tl = NewTimeline();
  Write(*tl, 1, Lsn(0x20), TestImage("a"));
  EXPECT_TRUE(absl::IsInvalidArgument(tl->Put(TestKey(1), Lsn(0x20), TestImage("x"))));
  EXPECT_TRUE(absl::IsInvalidArgument(tl->Put(TestKey(1), Lsn(0x18), TestImage("x"))));
  EXPECT_TRUE(absl::IsInvalidArgument(tl->FinishWrite(Lsn(0x20))));
  NEON_ASSERT_OK(tl->Put(TestKey(1), Lsn(0x40), TestImage("y")));
  EXPECT_TRUE(absl::IsInvalidArgument(tl->FinishWrite(Lsn(0x30))));  // below a put value
  NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x40)));
  EXPECT_EQ(Read(*tl, 1, Lsn(0x40)), "y");
  EXPECT_EQ(tl->Info().prev_record_lsn, Lsn(0x20));
}

TEST_F(EngineTest, BranchSeesParentUpToBranchPointOnly) {
  auto main = NewTimeline();
  Write(*main, 1, Lsn(0x10), TestImage("a"));
  Write(*main, 1, Lsn(0x20), TestAppend("b"));
  NEON_ASSERT_OK(main->Flush().status());
  auto br = ValueOrDie(tenant_->CreateBranch(TimelineId::Generate(), main->id(), Lsn(0x20)));
  Write(*main, 1, Lsn(0x30), TestAppend("M"));
  Write(*br, 1, Lsn(0x30), TestAppend("B"));
  Write(*br, 2, Lsn(0x38), TestImage("only-branch"));
  EXPECT_EQ(Read(*main, 1, Lsn(0x30)), "abM");
  EXPECT_EQ(Read(*br, 1, Lsn(0x30)), "abB");
  EXPECT_EQ(Read(*br, 1, Lsn(0x18)), "a");  // below the branch point: parent's history
  EXPECT_TRUE(absl::IsNotFound(main->GetPage(TestKey(2), Lsn(0x38)).status()));
  EXPECT_EQ(br->Info().ancestor_lsn, Lsn(0x20));
  // Branch of a branch.
  auto br2 = ValueOrDie(tenant_->CreateBranch(TimelineId::Generate(), br->id(), Lsn::Invalid()));
  EXPECT_EQ(br2->Info().ancestor_lsn, Lsn(0x38));
  EXPECT_EQ(Read(*br2, 1, Lsn(0x38)), "abB");
  // Below the ancestor's own branch point is refused.
  EXPECT_TRUE(absl::IsFailedPrecondition(
      tenant_->CreateBranch(TimelineId::Generate(), br->id(), Lsn(0x10)).status()));
  // Survives reopen.
  NEON_ASSERT_OK(br->Flush().status());
  NEON_ASSERT_OK(br2->Flush().status());
  NEON_ASSERT_OK(main->Flush().status());
  TimelineId br_id = br->id();
  main.reset();
  br.reset();
  br2.reset();
  Open();
  auto br_again = ValueOrDie(tenant_->GetTimeline(br_id));
  EXPECT_EQ(Read(*br_again, 1, Lsn(0x30)), "abB");
  EXPECT_EQ(Read(*br_again, 1, Lsn(0x18)), "a");
}

TEST_F(EngineTest, DeleteRefusesTimelineWithChildren) {
  auto main = NewTimeline();
  Write(*main, 1, Lsn(0x10), TestImage("a"));
  auto br = ValueOrDie(tenant_->CreateBranch(TimelineId::Generate(), main->id(), Lsn(0x10)));
  EXPECT_TRUE(absl::IsFailedPrecondition(tenant_->DeleteTimeline(main->id())));
  NEON_ASSERT_OK(tenant_->DeleteTimeline(br->id()));
  EXPECT_TRUE(absl::IsNotFound(tenant_->GetTimeline(br->id()).status()));
  NEON_ASSERT_OK(tenant_->DeleteTimeline(main->id()));
  EXPECT_TRUE(tenant_->ListTimelines().empty());
  EXPECT_TRUE(absl::IsNotFound(tenant_->DeleteTimeline(main->id())));
}

TEST_F(EngineTest, RelationPagesAndSizes) {
  auto tl = NewTimeline();
  RelTag rel{1663, 5, 16384, 0};
  std::string page(kPageSize, 'p');
  NEON_ASSERT_OK(tl->PutRelSize(rel, 0, Lsn(0x10)));
  NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x10)));
  NEON_ASSERT_OK(tl->PutRelBlock(rel, 3, Lsn(0x20), Value::Image(page)));
  NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x20)));
  ReadLsn latest;
  EXPECT_EQ(ValueOrDie(tl->GetRelSize(rel, latest)), 4u);
  EXPECT_EQ(ValueOrDie(tl->GetRelSize(rel, ReadLsn{Lsn(0x10), Lsn()})), 0u);
  EXPECT_EQ(ValueOrDie(tl->GetRelPage(rel, 3, latest)), page);
  EXPECT_EQ(ValueOrDie(tl->GetRelPage(rel, 1, latest)), std::string(kPageSize, '\0'));  // gap
  EXPECT_EQ(ValueOrDie(tl->GetRelPage(rel, 9, latest)), std::string(kPageSize, '\0'));  // past end
  // Truncate.
  NEON_ASSERT_OK(tl->PutRelSize(rel, 2, Lsn(0x30)));
  NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x30)));
  EXPECT_EQ(ValueOrDie(tl->GetRelPage(rel, 3, latest)), std::string(kPageSize, '\0'));
  EXPECT_EQ(ValueOrDie(tl->GetRelPage(rel, 3, ReadLsn{Lsn(0x20), Lsn()})), page);
  // Missing relations: main fork is an error, FSM/VM report 0.
  RelTag other{1663, 5, 999, 0};
  EXPECT_TRUE(absl::IsNotFound(tl->GetRelSize(other, latest).status()));
  EXPECT_EQ(ValueOrDie(tl->GetRelSize(RelTag{1663, 5, 999, 2}, latest)), 0u);
}

TEST_F(EngineTest, RequestLsnSemantics) {
  auto tl = NewTimeline();
  RelTag rel{1663, 5, 16384, 0};
  NEON_ASSERT_OK(tl->PutRelBlock(rel, 0, Lsn(0x10), Value::Image(std::string(kPageSize, 'a'))));
  NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x10)));
  EXPECT_TRUE(absl::IsInvalidArgument(tl->GetRelPage(rel, 0, ReadLsn{Lsn(0), Lsn()}).status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(tl->GetRelPage(rel, 0, ReadLsn{Lsn(0x10), Lsn(0x20)}).status()));
  // not_modified_since beyond what is ingested waits, then times out.
  auto r = tl->GetRelPage(rel, 0, ReadLsn{Lsn(0x100), Lsn(0x100)});
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  // request_lsn above last_record_lsn with an old not_modified_since: no wait.
  EXPECT_TRUE(tl->GetRelPage(rel, 0, ReadLsn{Lsn(0x100), Lsn(0x10)}).ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(tl->WaitLsn(Lsn(0x11), 1000)));
  NEON_EXPECT_OK(tl->WaitLsn(Lsn(0x10), 1000));
}

TEST_F(EngineTest, GcCutoffLeasesAndBranchPoints) {
  auto tl = NewTimeline();
  for (uint64_t i = 1; i <= 40; i++) Write(*tl, uint32_t(i % 4), Lsn(i * 0x10), TestImage("v" + std::to_string(i)));
  int64_t lease_until = ValueOrDie(tl->LeaseLsn(Lsn(0x50)));
  EXPECT_GT(lease_until, env_.clock->NowMicros());
  auto br = ValueOrDie(tenant_->CreateBranch(TimelineId::Generate(), tl->id(), Lsn(0x100)));
  NEON_ASSERT_OK(tl->Flush().status());
  NEON_ASSERT_OK(tl->Compact(true).status());
  NEON_ASSERT_OK(tl->Gc(0).status());
  TimelineInfo info = tl->Info();
  EXPECT_EQ(info.applied_gc_cutoff_lsn, Lsn(40 * 0x10));
  // Below the cutoff: refused, except exactly at the leased LSN.
  EXPECT_TRUE(absl::IsOutOfRange(tl->GetPage(TestKey(1), Lsn(0x60)).status()));
  EXPECT_EQ(Read(*tl, 1, Lsn(0x50)), "v5");
  EXPECT_TRUE(absl::IsFailedPrecondition(tl->LeaseLsn(Lsn(0x60)).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(
      tenant_->CreateBranch(TimelineId::Generate(), tl->id(), Lsn(0x60)).status()));
  // The branch still reads its history.
  EXPECT_EQ(Read(*br, 0, Lsn(0x100)), "v16");
  EXPECT_EQ(Read(*tl, 3, Lsn(40 * 0x10)), "v39");
  // After the lease expires and the branch is gone, GC may drop old layers.
  NEON_ASSERT_OK(tenant_->DeleteTimeline(br->id()));
  env_.clock->Advance(SmallConfig().lsn_lease_length_us + 1);
  NEON_ASSERT_OK(tl->Gc(0).status());
  EXPECT_TRUE(absl::IsOutOfRange(tl->GetPage(TestKey(1), Lsn(0x50)).status()));
  EXPECT_EQ(Read(*tl, 3, Lsn(40 * 0x10)), "v39");
}

TEST_F(EngineTest, ReopenKeepsFlushedDataAndDropsTheRest) {
  auto tl = NewTimeline();
  Write(*tl, 1, Lsn(0x10), TestImage("durable"));
  NEON_ASSERT_OK(tl->Flush().status());
  Write(*tl, 1, Lsn(0x20), TestAppend("+volatile"));
  EXPECT_EQ(tl->Info().disk_consistent_lsn, Lsn(0x10));
  TimelineId id = tl->id();
  tl.reset();
  Open();
  tl = ValueOrDie(tenant_->GetTimeline(id));
  EXPECT_EQ(tl->Info().last_record_lsn, Lsn(0x10));
  EXPECT_EQ(Read(*tl, 1, Lsn(0x20)), "durable");
  // Re-ingest after restart continues from disk_consistent_lsn.
  Write(*tl, 1, Lsn(0x20), TestAppend("+again"));
  EXPECT_EQ(Read(*tl, 1, Lsn(0x20)), "durable+again");
}

TEST_F(EngineTest, TenantsAreIndependentAndListed) {
  auto other = TenantShardId::Unsharded(TenantId::Generate());
  auto t2 = ValueOrDie(engine_->CreateTenant(other, TenantConfig{}));
  EXPECT_TRUE(absl::IsAlreadyExists(engine_->CreateTenant(other, TenantConfig{}).status()));
  EXPECT_EQ(engine_->ListTenants().size(), 2u);
  TimelineId same = TimelineId::Generate();
  auto a = ValueOrDie(tenant_->CreateTimeline(same, 15));
  auto b = ValueOrDie(t2->CreateTimeline(same, 15));
  Write(*a, 1, Lsn(0x10), TestImage("tenant-a"));
  Write(*b, 1, Lsn(0x10), TestImage("tenant-b"));
  EXPECT_EQ(Read(*a, 1, Lsn(0x10)), "tenant-a");
  EXPECT_EQ(Read(*b, 1, Lsn(0x10)), "tenant-b");
  NEON_ASSERT_OK(engine_->DeleteTenant(other));
  EXPECT_TRUE(absl::IsNotFound(engine_->GetTenant(other).status()));
  EXPECT_FALSE(env_.base->FileExists("/root/tenants/" + other.ToString()));
  TenantConfig bad;
  bad.compaction_threshold = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(
      engine_->CreateTenant(TenantShardId::Unsharded(TenantId::Generate()), bad).status()));
}

TEST_F(EngineTest, EngineRecordsAreAppliedByTheEngine) {
  auto tl = NewTimeline();
  Key clog = Key::SlruBlock(SlruKind::kClog, 0, 0);
  Write(*tl, 0, Lsn(0x8), TestImage("x"));
  NEON_ASSERT_OK(tl->Put(clog, Lsn(0x10), Value::Image(std::string(kPageSize, '\0'))));
  NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x10)));
  NEON_ASSERT_OK(tl->Put(clog, Lsn(0x20), Value::FromRecord(ClogSetCommitted{{3, 4}, 1234})));
  NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x20)));
  NEON_ASSERT_OK(tl->Put(clog, Lsn(0x30), Value::FromRecord(ClogSetAborted{{5}})));
  NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x30)));
  std::string page = ValueOrDie(tl->GetPage(clog, Lsn(0x30)));
  ASSERT_EQ(page.size(), kPageSize + 8);  // commit timestamp trailer
  // xid 3 -> bits 6-7 of byte 0 = committed (1); xid 4 -> byte 1 bits 0-1;
  // xid 5 -> byte 1 bits 2-3 = aborted (2).
  EXPECT_EQ(uint8_t(page[0]), 0x40);
  EXPECT_EQ(uint8_t(page[1]), 0x01 | 0x08);
  EXPECT_EQ(DecodeFixed64BE(reinterpret_cast<const uint8_t*>(page.data()) + kPageSize), 1234u);
  // A Postgres record with no redo process configured is a clear error.
  Key k = TestKey(7);
  NEON_ASSERT_OK(tl->Put(k, Lsn(0x40), Value::FromRecord(PostgresRecord{true, "rec"})));
  NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x40)));
  EXPECT_TRUE(absl::IsFailedPrecondition(tl->GetPage(k, Lsn(0x40)).status()));
}

TEST_F(EngineTest, BackgroundWorkRunsOnTheExecutor) {
  engine_.reset();
  engine_ = ValueOrDie(Engine::Open(env_.Options(/*background=*/true), "/root"));
  tenant_ = ValueOrDie(engine_->GetTenant(tid_));
  auto tl = NewTimeline();
  std::string big(2000, 'z');
  for (uint64_t i = 1; i <= 200; i++) Write(*tl, uint32_t(i % 50), Lsn(i * 0x10), TestImage(big));
  EXPECT_GT(env_.executor->pending(), 0u);  // flushes were scheduled, not run inline
  env_.executor->RunAll();
  TimelineInfo info = tl->Info();
  EXPECT_GT(info.num_historic_layers, 0u);
  EXPECT_LT(info.num_l0_layers, SmallConfig().compaction_threshold + 1u);
  EXPECT_EQ(Read(*tl, 7, Lsn(200 * 0x10)), big);
  // Tick rolls an old open layer by checkpoint_timeout.
  Write(*tl, 1, Lsn(300 * 0x10), TestImage("late"));
  env_.clock->Advance(SmallConfig().checkpoint_timeout_us + 1);
  NEON_ASSERT_OK(engine_->Tick());
  EXPECT_EQ(tl->Info().disk_consistent_lsn, Lsn(300 * 0x10));
}

// After Shutdown no flush, compaction or GC starts: a background task that
// checked for shutdown just before it began must not go on to write layers
// and commit to the catalog of a shut-down (or deleted) tenant.
TEST_F(EngineTest, NoMaintenanceStartsAfterShutdown) {
  auto tl = NewTimeline();
  Write(*tl, 1, Lsn(0x10), TestImage("a"));
  const TimelineInfo before = tl->Info();
  engine_->Shutdown();
  EXPECT_TRUE(absl::IsCancelled(tl->Flush().status()));
  EXPECT_TRUE(absl::IsCancelled(tl->Compact(true).status()));
  EXPECT_TRUE(absl::IsCancelled(tl->Gc(std::nullopt).status()));
  const TimelineInfo after = tl->Info();
  EXPECT_EQ(after.disk_consistent_lsn, before.disk_consistent_lsn);
  EXPECT_EQ(after.num_historic_layers, 0u);
}

}  // namespace
}  // namespace neon::testing

namespace neon::testing {
namespace {

// Flips one byte of every layer file of a timeline at `offset_in_file`.
void CorruptLayers(FileSystem& fs, const std::string& dir, uint64_t offset_in_file) {
  auto children = ValueOrDie(fs.GetChildren(dir));
  for (const auto& name : children) {
    std::string path = dir + "/" + name;
    std::string data = ValueOrDie(ReadFileToString(fs, path));
    if (offset_in_file >= data.size()) continue;
    data[offset_in_file] ^= 0x20;
    auto f = ValueOrDie(fs.NewWritableFile(path));
    NEON_EXPECT_OK(f->Append(data));
    NEON_EXPECT_OK(f->Close());
  }
}

TEST(EngineCorruptionTest, DamagedLayerIsDataLossNeverAWrongPage) {
  for (uint64_t offset : {uint64_t{8192 + 100}, uint64_t{8192 * 2 - 2}, uint64_t{8192 + 8190}}) {
    TestEnv env;
    auto tid = TenantShardId::Unsharded(TenantId::Generate());
    TimelineId tlid = TimelineId::Generate();
    {
      auto engine = ValueOrDie(Engine::Open(env.Options(), "/c"));
      auto tenant = ValueOrDie(engine->CreateTenant(tid, SmallConfig()));
      auto tl = ValueOrDie(tenant->CreateTimeline(tlid, 15));
      for (uint32_t k = 0; k < 20; k++) {
        NEON_ASSERT_OK(tl->Put(TestKey(k), Lsn(0x10 + k * 8), TestImage(std::string(300, char('a' + k)))));
        NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x10 + k * 8)));
      }
      NEON_ASSERT_OK(tl->Flush().status());
    }
    CorruptLayers(*env.base, "/c/tenants/" + tid.ToString() + "/timelines/" + tlid.ToString(), offset);
    auto engine = ValueOrDie(Engine::Open(env.Options(), "/c"));
    auto tl = ValueOrDie(ValueOrDie(engine->GetTenant(tid))->GetTimeline(tlid));
    int data_loss = 0;
    for (uint32_t k = 0; k < 20; k++) {
      auto page = tl->GetPage(TestKey(k), Lsn(0x200));
      if (page.ok()) {
        EXPECT_EQ(*page, std::string(300, char('a' + k)));  // never a wrong page
      } else {
        EXPECT_TRUE(absl::IsDataLoss(page.status())) << page.status();
        data_loss++;
      }
    }
    EXPECT_GT(data_loss, 0) << "offset " << offset;
  }
}

TEST(EngineCorruptionTest, DamagedSummaryFailsOpenWithDataLoss) {
  TestEnv env;
  auto tid = TenantShardId::Unsharded(TenantId::Generate());
  TimelineId tlid = TimelineId::Generate();
  {
    auto engine = ValueOrDie(Engine::Open(env.Options(), "/c"));
    auto tl = ValueOrDie(ValueOrDie(engine->CreateTenant(tid, SmallConfig()))->CreateTimeline(tlid, 15));
    NEON_ASSERT_OK(tl->Put(TestKey(1), Lsn(0x10), TestImage("x")));
    NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x10)));
    NEON_ASSERT_OK(tl->Flush().status());
  }
  CorruptLayers(*env.base, "/c/tenants/" + tid.ToString() + "/timelines/" + tlid.ToString(), 40);
  auto engine = Engine::Open(env.Options(), "/c");
  EXPECT_TRUE(absl::IsDataLoss(engine.status())) << engine.status();
}

TEST(EngineBranchTest, BranchWaitsForTheBranchPoint) {
  TestEnv env;
  auto engine = ValueOrDie(Engine::Open(env.Options(), "/b"));
  auto tenant = ValueOrDie(engine->CreateTenant(TenantShardId::Unsharded(TenantId::Generate()), SmallConfig()));
  auto tl = ValueOrDie(tenant->CreateTimeline(TimelineId::Generate(), 15));
  NEON_ASSERT_OK(tl->Put(TestKey(1), Lsn(0x10), TestImage("a")));
  NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x10)));
  // Not ingested and nobody writes: the wait times out and nothing is created.
  TimelineId id = TimelineId::Generate();
  EXPECT_TRUE(absl::IsDeadlineExceeded(tenant->CreateBranch(id, tl->id(), Lsn(0x40)).status()));
  EXPECT_TRUE(absl::IsNotFound(tenant->GetTimeline(id).status()));
  // A writer catches up while the branch waits.
  std::thread writer([&] {
    absl::SleepFor(absl::Milliseconds(20));
    EXPECT_TRUE(tl->Put(TestKey(1), Lsn(0x40), TestAppend("b")).ok());
    EXPECT_TRUE(tl->FinishWrite(Lsn(0x40)).ok());
  });
  auto br = tenant->CreateBranch(id, tl->id(), Lsn(0x40));
  writer.join();
  ASSERT_TRUE(br.ok()) << br.status();
  EXPECT_EQ(ValueOrDie((*br)->GetPage(TestKey(1), Lsn(0x40))), "ab");
}

}  // namespace
}  // namespace neon::testing
