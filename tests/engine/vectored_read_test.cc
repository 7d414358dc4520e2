// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Timeline::GetRelPages (the vectored read) against a model of what was
// written and against per-block GetRelPage: across the open, frozen and
// on-disk layers (L0, L1, images), branches, historic LSNs, blocks past the
// end, repeated blocks, missing relations, per-block errors and the errors
// of the whole call (read LSNs, waits, GC cutoff).

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "engine_test_util.h"

namespace neon::testing {
namespace {

constexpr RelTag kRel{1663, 5, 16384, 0};
const std::string kZeroPage(kPageSize, '\0');

// What was written to one relation of one timeline: per block its versions
// (images and TestRecord appends), and the relation size over time.
class RelModel {
 public:
  void Image(uint32_t blk, Lsn lsn, std::string page) { blocks_[blk].push_back({lsn, true, std::move(page)}); }
  void Append(uint32_t blk, Lsn lsn, std::string s) { blocks_[blk].push_back({lsn, false, std::move(s)}); }
  void Size(Lsn lsn, uint32_t nblocks) { sizes_[lsn] = nblocks; }
  bool Written(uint32_t blk) const { return blocks_.contains(blk); }

  // A branch at `lsn`: this model's history up to it.
  RelModel BranchAt(Lsn lsn) const {
    RelModel m;
    for (const auto& [blk, versions] : blocks_) {
      for (const Version& v : versions) {
        if (v.lsn <= lsn) m.blocks_[blk].push_back(v);
      }
    }
    for (const auto& [l, n] : sizes_) {
      if (l <= lsn) m.sizes_[l] = n;
    }
    return m;
  }

  // nullopt: the relation does not exist at `lsn`.
  std::optional<uint32_t> SizeAt(Lsn lsn) const {
    auto it = sizes_.upper_bound(lsn);
    if (it == sizes_.begin()) return std::nullopt;
    return std::prev(it)->second;
  }

  // The page GetRelPage must return (the relation exists at `lsn`).
  absl::StatusOr<std::string> Page(uint32_t blk, Lsn lsn) const {
    if (blk >= *SizeAt(lsn)) return kZeroPage;
    auto it = blocks_.find(blk);
    std::string page;
    bool based = false;
    if (it != blocks_.end()) {
      for (const Version& v : it->second) {
        if (v.lsn > lsn) break;
        if (v.image) {
          page = v.data;
          based = true;
        } else {
          page += v.data;
        }
      }
    }
    if (!based) return absl::NotFoundError("never written");
    return page;
  }

 private:
  struct Version {
    Lsn lsn;
    bool image;
    std::string data;
  };
  std::map<uint32_t, std::vector<Version>> blocks_;
  std::map<Lsn, uint32_t> sizes_;
};

class VectoredReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = ValueOrDie(Engine::Open(env_.Options(), "/root"));
    tenant_ = ValueOrDie(engine_->CreateTenant(tid_, SmallConfig()));
  }
  std::shared_ptr<Timeline> NewTimeline() {
    return ValueOrDie(tenant_->CreateTimeline(TimelineId::Generate(), 15));
  }

  static std::string ImagePage(uint32_t blk, Lsn lsn) {
    std::string p = absl::StrFormat("img blk=%u lsn=%s|", blk, lsn.ToString());
    p.resize(1500, char('a' + blk % 26));
    return p;
  }

  // One record at `lsn`: a few blocks get an image or an append, and now
  // and then the relation grows or shrinks. Mirrors everything in `model`.
  void WriteRound(Timeline& tl, RelModel* model, Lsn lsn, std::mt19937* rng, uint32_t max_blocks) {
    std::uniform_int_distribution<uint32_t> blk_dist(0, max_blocks - 1);
    const int n = 1 + int((*rng)() % 4);
    std::vector<uint32_t> done;
    for (int i = 0; i < n; i++) {
      const uint32_t blk = blk_dist(*rng);
      if (std::find(done.begin(), done.end(), blk) != done.end()) continue;  // one value per key and LSN
      done.push_back(blk);
      if (!model->Written(blk) || (*rng)() % 4 == 0) {
        std::string page = ImagePage(blk, lsn);
        NEON_ASSERT_OK(tl.Put(Key::RelBlock(kRel, blk), lsn, Value::Image(page)));
        model->Image(blk, lsn, page);
      } else {
        std::string s = absl::StrFormat("+%s", lsn.ToString());
        NEON_ASSERT_OK(tl.Put(Key::RelBlock(kRel, blk), lsn, TestAppend(s)));
        model->Append(blk, lsn, s);
      }
    }
    if ((*rng)() % 5 == 0) {
      const uint32_t size = 1 + blk_dist(*rng);
      NEON_ASSERT_OK(tl.PutRelSize(kRel, size, lsn));
      model->Size(lsn, size);
    }
    NEON_ASSERT_OK(tl.FinishWrite(lsn));
  }

  // GetRelPages(blknos) at `read` equals the model at `model_lsn`, block by
  // block, and equals per-block GetRelPage (read afterwards).
  void ExpectBatch(Timeline& tl, const RelModel& model, const std::vector<uint32_t>& blknos,
                   Lsn read_lsn) {
    SCOPED_TRACE(absl::StrFormat("read at %s, %d blocks", read_lsn.ToString(), blknos.size()));
    const ReadLsn read{read_lsn, Lsn()};
    std::vector<absl::StatusOr<std::string>> pages;
    NEON_ASSERT_OK(tl.GetRelPages(kRel, blknos, read, &pages));
    ASSERT_EQ(pages.size(), blknos.size());
    for (size_t i = 0; i < blknos.size(); i++) {
      SCOPED_TRACE(absl::StrFormat("block %u", blknos[i]));
      const absl::StatusOr<std::string> want = model.Page(blknos[i], read_lsn);
      const absl::StatusOr<std::string> one = tl.GetRelPage(kRel, blknos[i], read);
      ASSERT_EQ(pages[i].status().code(), want.status().code()) << pages[i].status();
      ASSERT_EQ(one.status().code(), want.status().code()) << one.status();
      if (want.ok()) {
        EXPECT_EQ(*pages[i], *want);
        EXPECT_EQ(*one, *want);
      }
    }
  }

  // Random batches (unsorted, with repeats and blocks past the end) at
  // every `step`-th LSN of [first, last].
  void ExpectBatchesAt(Timeline& tl, const RelModel& model, Lsn first, Lsn last, uint64_t step,
                       uint32_t max_blocks, std::mt19937* rng) {
    for (Lsn lsn = first; lsn <= last; lsn = Lsn(lsn.value() + step)) {
      std::vector<uint32_t> blknos;
      const size_t n = 1 + (*rng)() % 24;
      for (size_t i = 0; i < n; i++) blknos.push_back((*rng)() % (max_blocks + 4));
      ExpectBatch(tl, model, blknos, lsn);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }

  TestEnv env_;
  TenantShardId tid_ = TenantShardId::Unsharded(TenantId::Generate());
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<Tenant> tenant_;
};

constexpr uint64_t kStep = 0x10;
constexpr uint32_t kBlocks = 40;

// The same history read from the open and frozen in-memory layers, from L0
// files, and after compaction to L1 files and image layers; every LSN of it.
TEST_F(VectoredReadTest, EqualsModelAndPerBlockReadsAcrossLayers) {
  auto tl = NewTimeline();
  RelModel model;
  std::mt19937 rng(7);
  NEON_ASSERT_OK(tl->PutRelSize(kRel, 24, Lsn(0x100)));
  NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x100)));
  model.Size(Lsn(0x100), 24);
  Lsn lsn(0x100);
  for (int round = 0; round < 120; round++) {
    lsn = Lsn(lsn.value() + kStep);
    WriteRound(*tl, &model, lsn, &rng, kBlocks);
    if (round % 30 == 29) NEON_ASSERT_OK(tl->Flush().status());
  }
  // In memory: the open layer and frozen ones (the small checkpoint_distance rolls it).
  for (int round = 0; round < 40; round++) {
    lsn = Lsn(lsn.value() + kStep);
    WriteRound(*tl, &model, lsn, &rng, kBlocks);
  }
  ASSERT_GE(tl->Info().num_l0_layers, 3u);
  ExpectBatchesAt(*tl, model, Lsn(0x100), lsn, 3, kBlocks, &rng);
  ASSERT_FALSE(HasFatalFailure());
  NEON_ASSERT_OK(tl->Flush().status());
  ExpectBatchesAt(*tl, model, Lsn(0x101), lsn, 5, kBlocks, &rng);
  ASSERT_FALSE(HasFatalFailure());
  const MaintenanceResult compacted = ValueOrDie(tl->Compact(true));
  EXPECT_GT(compacted.layers_created, 0u);
  ExpectBatchesAt(*tl, model, Lsn(0x102), lsn, 7, kBlocks, &rng);
  ASSERT_FALSE(HasFatalFailure());
  // More history on top of the images, partly in memory.
  for (int round = 0; round < 30; round++) {
    lsn = Lsn(lsn.value() + kStep);
    WriteRound(*tl, &model, lsn, &rng, kBlocks);
    if (round == 15) NEON_ASSERT_OK(tl->Flush().status());
  }
  ExpectBatchesAt(*tl, model, Lsn(0x103), lsn, 11, kBlocks, &rng);
  // Every block at the tip, in one batch.
  std::vector<uint32_t> all;
  for (uint32_t b = 0; b < kBlocks + 2; b++) all.push_back(b);
  ExpectBatch(*tl, model, all, lsn);
}

// A branch reads its own blocks and, in the same batch, its ancestor's below
// the branch point; a branch of the branch goes down two levels.
TEST_F(VectoredReadTest, BranchesFallThroughToAncestors) {
  auto main = NewTimeline();
  RelModel main_model;
  std::mt19937 rng(11);
  NEON_ASSERT_OK(main->PutRelSize(kRel, 30, Lsn(0x100)));
  NEON_ASSERT_OK(main->FinishWrite(Lsn(0x100)));
  main_model.Size(Lsn(0x100), 30);
  Lsn lsn(0x100);
  for (int round = 0; round < 60; round++) {
    lsn = Lsn(lsn.value() + kStep);
    WriteRound(*main, &main_model, lsn, &rng, 30);
    if (round == 30) NEON_ASSERT_OK(main->Flush().status());
  }
  const Lsn branch_lsn = lsn;
  auto br = ValueOrDie(tenant_->CreateBranch(TimelineId::Generate(), main->id(), branch_lsn));
  RelModel br_model = main_model.BranchAt(branch_lsn);
  Lsn br_lsn = branch_lsn;
  for (int round = 0; round < 30; round++) {
    lsn = Lsn(lsn.value() + kStep);
    WriteRound(*main, &main_model, lsn, &rng, 30);
    br_lsn = Lsn(br_lsn.value() + kStep);
    WriteRound(*br, &br_model, br_lsn, &rng, 30);
  }
  NEON_ASSERT_OK(br->Flush().status());
  auto br2 = ValueOrDie(tenant_->CreateBranch(TimelineId::Generate(), br->id(), br_lsn));
  RelModel br2_model = br_model.BranchAt(br_lsn);
  Lsn br2_lsn = br_lsn;
  for (int round = 0; round < 10; round++) {
    br2_lsn = Lsn(br2_lsn.value() + kStep);
    WriteRound(*br2, &br2_model, br2_lsn, &rng, 30);
  }
  ExpectBatchesAt(*main, main_model, Lsn(0x100), lsn, 7, 30, &rng);
  ASSERT_FALSE(HasFatalFailure());
  ExpectBatchesAt(*br, br_model, Lsn(0x100), br_lsn, 5, 30, &rng);
  ASSERT_FALSE(HasFatalFailure());
  ExpectBatchesAt(*br2, br2_model, Lsn(0x100), br2_lsn, 5, 30, &rng);
}

TEST_F(VectoredReadTest, RepeatedUnsortedAndPastTheEndBlocks) {
  auto tl = NewTimeline();
  NEON_ASSERT_OK(tl->PutRelBlock(kRel, 0, Lsn(0x10), TestImage("zero")));
  NEON_ASSERT_OK(tl->PutRelBlock(kRel, 2, Lsn(0x10), TestImage("two")));
  NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x10)));
  NEON_ASSERT_OK(tl->Put(Key::RelBlock(kRel, 2), Lsn(0x20), TestAppend("+")));
  NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x20)));
  const std::vector<uint32_t> blknos = {2, 9, 0, 2, 1, 0xFFFFFFFE, 2};
  std::vector<absl::StatusOr<std::string>> pages;
  NEON_ASSERT_OK(tl->GetRelPages(kRel, blknos, ReadLsn{}, &pages));
  ASSERT_EQ(pages.size(), blknos.size());
  EXPECT_EQ(ValueOrDie(pages[0]), "two+");
  EXPECT_EQ(ValueOrDie(pages[1]), kZeroPage);  // past the end
  EXPECT_EQ(ValueOrDie(pages[2]), "zero");
  EXPECT_EQ(ValueOrDie(pages[3]), "two+");
  EXPECT_EQ(ValueOrDie(pages[4]), kZeroPage);  // the gap PutRelBlock filled
  EXPECT_EQ(ValueOrDie(pages[5]), kZeroPage);
  EXPECT_EQ(ValueOrDie(pages[6]), "two+");
  // At the first LSN.
  NEON_ASSERT_OK(tl->GetRelPages(kRel, blknos, ReadLsn{Lsn(0x10), Lsn()}, &pages));
  EXPECT_EQ(ValueOrDie(pages[0]), "two");
  // No blocks: checks the read and the relation, reads nothing.
  NEON_ASSERT_OK(tl->GetRelPages(kRel, {}, ReadLsn{}, &pages));
  EXPECT_TRUE(pages.empty());
}

// A block with no base image fails on its own; the rest of the batch is read.
TEST_F(VectoredReadTest, PerBlockErrorsStayWithTheirBlock) {
  auto tl = NewTimeline();
  NEON_ASSERT_OK(tl->PutRelSize(kRel, 4, Lsn(0x10)));
  NEON_ASSERT_OK(tl->Put(Key::RelBlock(kRel, 0), Lsn(0x10), TestImage("a")));
  NEON_ASSERT_OK(tl->Put(Key::RelBlock(kRel, 3), Lsn(0x10), TestImage("d")));
  NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x10)));
  // Block 2: only a record, no image under it.
  NEON_ASSERT_OK(tl->Put(Key::RelBlock(kRel, 2), Lsn(0x20), TestAppend("x")));
  NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x20)));
  for (int pass = 0; pass < 2; pass++) {
    SCOPED_TRACE(pass == 0 ? "in memory" : "on disk");
    std::vector<absl::StatusOr<std::string>> pages;
    NEON_ASSERT_OK(tl->GetRelPages(kRel, {0, 1, 2, 3}, ReadLsn{}, &pages));
    ASSERT_EQ(pages.size(), 4u);
    EXPECT_EQ(ValueOrDie(pages[0]), "a");
    EXPECT_TRUE(absl::IsNotFound(pages[1].status())) << pages[1].status();  // never written
    EXPECT_TRUE(absl::IsDataLoss(pages[2].status())) << pages[2].status();  // no base image
    EXPECT_EQ(ValueOrDie(pages[3]), "d");
    EXPECT_EQ(pages[1].status().code(), tl->GetRelPage(kRel, 1, ReadLsn{}).status().code());
    EXPECT_EQ(pages[2].status().code(), tl->GetRelPage(kRel, 2, ReadLsn{}).status().code());
    NEON_ASSERT_OK(tl->Flush().status());
  }
}

// Errors about the read as a whole fail the call and leave `pages` empty,
// with the code GetRelPage gives.
TEST_F(VectoredReadTest, CallErrors) {
  auto tl = NewTimeline();
  for (uint64_t l = 0x10; l <= 0x80; l += 0x10) {
    NEON_ASSERT_OK(tl->PutRelBlock(kRel, 0, Lsn(l), TestImage(absl::StrFormat("v%x", l))));
    NEON_ASSERT_OK(tl->FinishWrite(Lsn(l)));
  }
  std::vector<absl::StatusOr<std::string>> pages = {std::string("stale")};
  auto expect_call_error = [&](const RelTag& rel, ReadLsn read, absl::StatusCode code) {
    absl::Status s = tl->GetRelPages(rel, {0, 1}, read, &pages);
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_TRUE(pages.empty());
    EXPECT_EQ(tl->GetRelPage(rel, 0, read).status().code(), code);
    pages = {std::string("stale")};
  };
  // No such relation (and one that exists only later).
  expect_call_error(RelTag{1663, 5, 999, 0}, ReadLsn{}, absl::StatusCode::kNotFound);
  NEON_ASSERT_OK(tl->PutRelSize(RelTag{1663, 5, 777, 0}, 1, Lsn(0x90)));
  NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x90)));
  expect_call_error(RelTag{1663, 5, 777, 0}, ReadLsn{Lsn(0x50), Lsn()}, absl::StatusCode::kNotFound);
  // Bad read LSNs.
  expect_call_error(kRel, ReadLsn{Lsn(0), Lsn()}, absl::StatusCode::kInvalidArgument);
  expect_call_error(kRel, ReadLsn{Lsn(0x20), Lsn(0x40)}, absl::StatusCode::kInvalidArgument);
  // not_modified_since never ingested: the bounded wait times out.
  expect_call_error(kRel, ReadLsn{Lsn::Max(), Lsn(0x1000)}, absl::StatusCode::kDeadlineExceeded);
  // Below the GC cutoff.
  NEON_ASSERT_OK(tl->Flush().status());
  NEON_ASSERT_OK(tl->Compact(true).status());
  NEON_ASSERT_OK(tl->Gc(0).status());
  ASSERT_GT(tl->Info().applied_gc_cutoff_lsn, Lsn(0x20));
  expect_call_error(kRel, ReadLsn{Lsn(0x20), Lsn()}, absl::StatusCode::kOutOfRange);
  // At the cutoff and above, reads work.
  NEON_ASSERT_OK(tl->GetRelPages(kRel, {0}, ReadLsn{}, &pages));
  ASSERT_EQ(pages.size(), 1u);
  EXPECT_EQ(ValueOrDie(pages[0]), "v80");
}

// A read waiting for not_modified_since returns once the LSN is ingested.
TEST_F(VectoredReadTest, WaitsOnceForNotModifiedSince) {
  // A wait bound far above any scheduling delay: the writer is not timed.
  EngineOptions options = env_.Options();
  options.wait_lsn_timeout_us = 600 * kMicrosPerSecond;
  auto engine = ValueOrDie(Engine::Open(options, "/patient"));
  auto tenant = ValueOrDie(engine->CreateTenant(tid_, SmallConfig()));
  auto tl = ValueOrDie(tenant->CreateTimeline(TimelineId::Generate(), 15));
  NEON_ASSERT_OK(tl->PutRelBlock(kRel, 0, Lsn(0x10), TestImage("a")));
  NEON_ASSERT_OK(tl->FinishWrite(Lsn(0x10)));
  std::thread writer([&] {
    absl::SleepFor(absl::Milliseconds(20));
    NEON_EXPECT_OK(tl->PutRelBlock(kRel, 1, Lsn(0x20), TestImage("b")));
    NEON_EXPECT_OK(tl->FinishWrite(Lsn(0x20)));
  });
  std::vector<absl::StatusOr<std::string>> pages;
  absl::Status s = tl->GetRelPages(kRel, {1, 0}, ReadLsn{Lsn::Max(), Lsn(0x20)}, &pages);
  writer.join();
  NEON_ASSERT_OK(s);
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_EQ(ValueOrDie(pages[0]), "b");
  EXPECT_EQ(ValueOrDie(pages[1]), "a");
}

}  // namespace
}  // namespace neon::testing
