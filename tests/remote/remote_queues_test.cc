// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The upload queue (RemoteTimelineClient) and the deletion queue, against a
// recording store over LocalObjectStore: operation order, coalescing, the
// in-flight bound, remote_consistent_lsn, retries after failures, generation
// validation, batches of at most 1000 keys, and persistence across restarts
// (with a crash of the local file system in between).

#include <algorithm>
#include <string>
#include <vector>

#include "base/fault_injection_fs.h"
#include "base/manual_executor.h"
#include "gtest/gtest.h"
#include "remote/deletion_queue.h"
#include "remote/fault_injecting_object_store.h"
#include "remote/remote_timeline_client.h"

namespace neon {
namespace {

#define NEON_RETURN_IF_FAIL()      \
  do {                             \
    absl::Status s_ = MaybeFail(); \
    if (!s_.ok()) return s_;       \
  } while (0)

// Records mutating calls (in order) and can fail them.
class RecordingStore final : public ObjectStore {
 public:
  explicit RecordingStore(std::shared_ptr<ObjectStore> inner) : inner_(std::move(inner)) {}
  absl::Status Put(std::string_view key, ObjectSource& source) override {
    NEON_RETURN_IF_FAIL();
    Record("put " + std::string(key));
    return inner_->Put(key, source);
  }
  absl::StatusOr<ObjectInfo> Get(std::string_view key, const ByteRange& range, const ObjectSink& sink) override {
    return inner_->Get(key, range, sink);
  }
  absl::StatusOr<ObjectInfo> Head(std::string_view key) override { return inner_->Head(key); }
  absl::StatusOr<ListResult> List(const ListRequest& request) override { return inner_->List(request); }
  absl::Status DeleteBatch(std::span<const std::string> keys) override {
    NEON_RETURN_IF_FAIL();
    Record("delete " + std::to_string(keys.size()));
    max_batch = std::max(max_batch, keys.size());
    return inner_->DeleteBatch(keys);
  }
  absl::Status Copy(std::string_view from, std::string_view to) override { return inner_->Copy(from, to); }

  std::vector<std::string> log;
  size_t max_batch = 0;
  int fail_next = 0;

 private:
  absl::Status MaybeFail() {
    if (fail_next <= 0) return absl::OkStatus();
    fail_next--;
    return absl::UnavailableError("injected");
  }
  void Record(std::string s) { log.push_back(std::move(s)); }
  std::shared_ptr<ObjectStore> inner_;
};

TenantShardId Tenant() { return *TenantShardId::Parse("3aa8fcc61f6d357410b7de754b1d9001"); }
TimelineId Timeline() { return *TimelineId::Parse("de200bd42b49cc1814412c7e592dd6e9"); }

class QueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_shared<RecordingStore>(*NewLocalObjectStore(NewMemFileSystem(), "/objects"));
    ASSERT_TRUE(fs_->CreateDirs("/local").ok());
  }
  std::shared_ptr<RemoteTimelineClient> NewClient(Executor* executor, int max_inflight = 4) {
    RemoteTimelineClientOptions o{Tenant(), Timeline(), Generation::Of(7), max_inflight};
    return RemoteTimelineClient::Create(store_, fs_.get(), executor, deletions_, o, IndexPart{});
  }
  LocalLayer Layer(const std::string& name) {
    std::string path = "/local/" + name;
    EXPECT_TRUE(WriteFileAtomic(*fs_, path, "bytes of " + name).ok());
    return LocalLayer{name, path, 9 + name.size()};
  }
  static IndexMetadata Meta(uint64_t lsn) {
    IndexMetadata m;
    m.disk_consistent_lsn = Lsn(lsn);
    return m;
  }
  std::string Key(const std::string& name) {
    return RemoteLayerKey(Tenant(), ShardIndex{}, Timeline(), name, Generation::Of(7));
  }
  std::string IndexKey() { return RemoteIndexKey(Tenant(), Timeline(), Generation::Of(7)); }

  std::shared_ptr<FileSystem> fs_ = NewMemFileSystem();
  std::shared_ptr<RecordingStore> store_;
  std::shared_ptr<DeletionQueue> deletions_;
};

TEST_F(QueueTest, LayersBeforeIndexAndIndexesInOrder) {
  auto c = NewClient(nullptr);
  ASSERT_TRUE(c->ScheduleUpdate({Layer("a"), Layer("b")}, {}, Meta(0x10)).ok());
  EXPECT_EQ(c->remote_consistent_lsn(), Lsn(0));
  ASSERT_TRUE(c->ScheduleUpdate({Layer("c")}, {}, Meta(0x20)).ok());
  ASSERT_TRUE(c->Drain().ok());
  std::vector<std::string> want = {"put " + Key("a"), "put " + Key("b"), "put " + IndexKey(), "put " + Key("c"),
                                   "put " + IndexKey()};
  EXPECT_EQ(store_->log, want);
  EXPECT_EQ(c->remote_consistent_lsn(), Lsn(0x20));
  EXPECT_EQ(c->uploaded_index().layer_metadata.size(), 3u);
  EXPECT_EQ(c->uploaded_index().layer_metadata.at("a").generation, Generation::Of(7));
  auto uploaded = GetString(*store_, IndexKey());
  ASSERT_TRUE(uploaded.ok());
  EXPECT_EQ(IndexPart::Parse(*uploaded)->metadata.disk_consistent_lsn, Lsn(0x20));
}

TEST_F(QueueTest, ConsecutiveIndexUploadsCoalesce) {
  auto c = NewClient(nullptr);
  for (uint64_t lsn = 1; lsn <= 5; lsn++) ASSERT_TRUE(c->ScheduleUpdate({}, {}, Meta(lsn)).ok());
  ASSERT_TRUE(c->Drain().ok());
  EXPECT_EQ(store_->log, std::vector<std::string>{"put " + IndexKey()});
  EXPECT_EQ(c->remote_consistent_lsn(), Lsn(5));
}

TEST_F(QueueTest, FailedUploadStaysQueuedAndLsnWaits) {
  auto c = NewClient(nullptr);
  ASSERT_TRUE(c->ScheduleUpdate({Layer("a")}, {}, Meta(0x10)).ok());
  store_->fail_next = 1;
  EXPECT_TRUE(absl::IsUnavailable(c->Drain()));
  EXPECT_EQ(c->remote_consistent_lsn(), Lsn(0));
  EXPECT_TRUE(store_->log.empty());  // the index did not pass the failed layer
  ASSERT_TRUE(c->Drain().ok());
  EXPECT_EQ(c->remote_consistent_lsn(), Lsn(0x10));
  EXPECT_EQ(store_->log.size(), 2u);
}

TEST_F(QueueTest, LayerDeletedLocallyBeforeUploadIsStillUploaded) {
  auto c = NewClient(nullptr);
  LocalLayer a = Layer("a");
  ASSERT_TRUE(c->ScheduleUpdate({a}, {}, Meta(0x10)).ok());
  ASSERT_TRUE(fs_->DeleteFile(a.path).ok());  // replaced by compaction meanwhile
  ASSERT_TRUE(c->Drain().ok());
  EXPECT_EQ(*GetString(*store_, Key("a")), "bytes of a");
}

TEST_F(QueueTest, InFlightIsBoundedAndIndexWaitsForLayers) {
  ManualExecutor executor;
  auto c = NewClient(&executor, /*max_inflight=*/2);
  ASSERT_TRUE(c->ScheduleUpdate({Layer("a"), Layer("b"), Layer("c"), Layer("d")}, {}, Meta(0x10)).ok());
  EXPECT_EQ(executor.pending(), 2u);  // tasks for at most two operations
  executor.RunAll();
  EXPECT_EQ(c->queued_ops(), 0u);
  ASSERT_EQ(store_->log.size(), 5u);
  EXPECT_EQ(store_->log.back(), "put " + IndexKey());
  EXPECT_EQ(c->remote_consistent_lsn(), Lsn(0x10));
}

TEST_F(QueueTest, RemovedLayersAreDeletedAfterTheIndexThroughTheQueue) {
  deletions_ = *DeletionQueue::Open(fs_, "/deletion", store_, nullptr, nullptr);
  auto c = NewClient(nullptr);
  ASSERT_TRUE(c->ScheduleUpdate({Layer("a"), Layer("b")}, {}, Meta(0x10)).ok());
  ASSERT_TRUE(c->ScheduleUpdate({Layer("c")}, {"a", "b"}, std::nullopt).ok());
  ASSERT_TRUE(c->Drain().ok());
  EXPECT_EQ(deletions_->stats().lists_pending, 1u);
  EXPECT_TRUE(GetString(*store_, Key("a")).ok());  // not before validation
  ASSERT_TRUE(deletions_->Drain().ok());
  EXPECT_TRUE(absl::IsNotFound(GetString(*store_, Key("a")).status()));
  EXPECT_TRUE(absl::IsNotFound(GetString(*store_, Key("b")).status()));
  EXPECT_TRUE(GetString(*store_, Key("c")).ok());
  auto index = IndexPart::Parse(*GetString(*store_, IndexKey()));
  EXPECT_EQ(index->layer_metadata.size(), 1u);
  EXPECT_EQ(index->layer_metadata.count("c"), 1u);
  // The index that dropped a and b was uploaded before the deletion list.
  EXPECT_EQ(store_->log.back(), "delete 2");
}

TEST_F(QueueTest, DeletionQueueBatchesValidatesAndSurvivesRestart) {
  auto fault = std::make_shared<FaultInjectionFileSystem>(fs_);
  std::vector<TenantGeneration> asked;
  GenerationValidator validator = [&](const std::vector<TenantGeneration>& req) {
    asked = req;
    std::vector<bool> out;
    for (const auto& r : req) out.push_back(r.generation == Generation::Of(2));
    return absl::StatusOr<std::vector<bool>>(out);
  };
  std::vector<std::string> keys;
  for (int i = 0; i < 2500; i++) {
    keys.push_back("tenants/t/timelines/x/layer-" + std::to_string(i));
    ASSERT_TRUE(PutString(*store_, keys.back(), "x").ok());
  }
  TenantShardId other = *TenantShardId::Parse("3aa8fcc61f6d357410b7de754b1d9002");
  {
    auto q = *DeletionQueue::Open(fault, "/deletion", store_, validator, nullptr);
    ASSERT_TRUE(q->Enqueue(Tenant(), Generation::Of(2), keys).ok());
    ASSERT_TRUE(q->Enqueue(other, Generation::Of(1), {"tenants/t/timelines/x/stale"}).ok());
  }
  ASSERT_TRUE(fault->SimulateCrash().ok());  // the lists were synced: they survive
  auto q = *DeletionQueue::Open(fault, "/deletion", store_, validator, nullptr);
  EXPECT_EQ(q->stats().lists_pending, 2u);
  store_->log.clear();
  ASSERT_TRUE(q->Drain().ok());
  EXPECT_EQ(asked.size(), 2u);
  EXPECT_EQ(store_->log, (std::vector<std::string>{"delete 1000", "delete 1000", "delete 500"}));
  EXPECT_EQ(store_->max_batch, 1000u);
  EXPECT_EQ(q->stats().keys_deleted, 2500u);
  EXPECT_EQ(q->stats().keys_refused, 1u);
  EXPECT_EQ(q->stats().lists_pending, 0u);
  EXPECT_TRUE(absl::IsNotFound(store_->Head(keys[1234]).status()));
  EXPECT_EQ(*fault->GetChildren("/deletion"), std::vector<std::string>{});
}

TEST_F(QueueTest, DeletionQueueKeepsListsWhenDeletesFailOrValidatorErrs) {
  bool validator_up = false;
  GenerationValidator validator = [&](const std::vector<TenantGeneration>& req) -> absl::StatusOr<std::vector<bool>> {
    if (!validator_up) return absl::UnavailableError("controller down");
    return std::vector<bool>(req.size(), true);
  };
  ASSERT_TRUE(PutString(*store_, "k1", "x").ok());
  auto q = *DeletionQueue::Open(fs_, "/deletion", store_, validator, nullptr);
  ASSERT_TRUE(q->Enqueue(Tenant(), Generation::Of(1), {"k1"}).ok());
  EXPECT_TRUE(absl::IsUnavailable(q->Drain()));
  validator_up = true;
  store_->fail_next = 1;
  EXPECT_TRUE(absl::IsUnavailable(q->Drain()));
  EXPECT_EQ(q->stats().lists_pending, 1u);
  EXPECT_TRUE(GetString(*store_, "k1").ok());
  ASSERT_TRUE(q->Drain().ok());
  EXPECT_TRUE(absl::IsNotFound(GetString(*store_, "k1").status()));
}

TEST_F(QueueTest, DamagedDeletionListIsDataLoss) {
  ASSERT_TRUE(fs_->CreateDirs("/deletion").ok());
  ASSERT_TRUE(WriteFileAtomic(*fs_, "/deletion/0000000000000001-01.list", "{\"version\":1}").ok());
  EXPECT_TRUE(absl::IsDataLoss(DeletionQueue::Open(fs_, "/deletion", store_, nullptr, nullptr).status()));
}

}  // namespace
}  // namespace neon
