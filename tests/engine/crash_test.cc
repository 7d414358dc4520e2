// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Crash tests with the fault-injecting file system: the "process" dies after
// a random number of file-system operations during ingest, flush, compaction,
// image creation, GC and catalog commits; then everything not synced is
// dropped (SimulateCrash) and the engine reopens. Checked after every crash:
//   * the engine opens (no leftovers make it fail);
//   * every timeline's disk_consistent_lsn is at least what was acknowledged
//     as durable before the crash;
//   * every read at or below the recovered LSN equals the model (nothing
//     acknowledged is lost, no partial state is visible, nothing is DataLoss).
// Seeds: NEON_CRASH_SEEDS (default 60).

#include <cstdlib>
#include <random>

#include "engine_model.h"
#include "engine_test_util.h"

namespace neon::testing {
namespace {

constexpr uint32_t kKeys = 24;

class CrashHarness {
 public:
  explicit CrashHarness(uint64_t seed) : rng_(seed) {}

  void Run() {
    Open();
    tid_ = TenantShardId::Unsharded(TenantId::Generate());
    ASSERT_TRUE(engine_->CreateTenant(tid_, SmallConfig()).ok());
    AddRoot();
    for (int round = 0; round < 3 && !::testing::Test::HasFailure(); round++) {
      // Unarmed warm-up: some history and a branch.
      for (int i = 0; i < 20; i++) ASSERT_TRUE(Op(/*armed=*/false));
      if (ids_.size() < 3) AddBranch();
      env_.fault->CrashAfterOps(int64_t(rng_() % 600));
      for (int i = 0; i < 400; i++) {
        if (!Op(/*armed=*/true)) break;
      }
      CrashAndRecover();
    }
  }

 private:
  uint64_t Rand(uint64_t n) { return rng_() % n; }

  void Open() {
    auto e = Engine::Open(env_.Options(/*background=*/false), "/crash");
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
  }
  std::shared_ptr<Timeline> Tl(size_t i) {
    return ValueOrDie(ValueOrDie(engine_->GetTenant(tid_))->GetTimeline(ids_[i]));
  }
  void AddRoot() {
    ids_.push_back(TimelineId::Generate());
    ASSERT_TRUE(ValueOrDie(engine_->GetTenant(tid_))->CreateTimeline(ids_.back(), 15).ok());
    model_.AddRoot();
    durable_.push_back(Lsn());
  }
  void AddBranch() {
    size_t parent = Rand(ids_.size());
    Lsn at = model_.at(int(parent)).last_lsn;
    if (!at.valid()) return;
    ASSERT_TRUE(Tl(parent)->Flush().ok());  // the parent's history up to `at` is durable
    durable_[parent] = Tl(parent)->Info().disk_consistent_lsn;
    ids_.push_back(TimelineId::Generate());
    auto b = ValueOrDie(engine_->GetTenant(tid_))->CreateBranch(ids_.back(), ids_[parent], at);
    ASSERT_TRUE(b.ok()) << b.status();
    model_.AddBranch(int(parent), at);
    durable_.push_back(at);
  }

  // One random operation; false once the file system has "died".
  bool Op(bool armed) {
    size_t tl = Rand(ids_.size());
    auto t = Tl(tl);
    uint64_t r = Rand(100);
    absl::Status s;
    if (r < 70) {
      Lsn lsn = model_.at(int(tl)).last_lsn.Plus(8 * (1 + Rand(3)));
      std::vector<std::pair<Key, Value>> batch;
      for (int i = 0, n = 1 + int(Rand(3)); i < n && s.ok(); i++) {
        Key k = TestKey(uint32_t(Rand(kKeys)));
        Value v = TestImage(std::string(1 + Rand(900), char('a' + Rand(26))));
        if (model_.Exists(int(tl), k, model_.at(int(tl)).last_lsn) && Rand(2)) v = TestAppend("+");
        s = t->Put(k, lsn, v);
        if (s.ok()) batch.emplace_back(k, v);
      }
      if (s.ok()) s = t->FinishWrite(lsn);
      // The model holds what was put even if FinishWrite failed: recovery
      // compares only up to what the engine says is durable.
      for (auto& [k, v] : batch) model_.Put(int(tl), k, lsn, v);
      if (s.ok()) model_.Finish(int(tl), lsn);
    } else if (r < 85) {
      s = t->Flush().status();
    } else if (r < 95) {
      s = t->Compact(Rand(2) == 0).status();
    } else {
      s = t->Gc(Rand(3) * 64).status();
    }
    if (!s.ok()) {
      EXPECT_TRUE(armed) << "unexpected failure before the crash: " << s;
      return false;
    }
    if (s.ok()) durable_[tl] = std::max(durable_[tl], t->Info().disk_consistent_lsn);
    return true;
  }

  void CrashAndRecover() {
    engine_.reset();
    NEON_ASSERT_OK(env_.fault->SimulateCrash());
    Open();
    ASSERT_TRUE(engine_ != nullptr);
    for (size_t i = 0; i < ids_.size(); i++) {
      auto t = Tl(i);
      TimelineInfo info = t->Info();
      ASSERT_GE(info.disk_consistent_lsn, durable_[i]) << "timeline " << i << " lost acknowledged data";
      ASSERT_EQ(info.last_record_lsn, info.disk_consistent_lsn);
      model_.TruncateAbove(int(i), info.last_record_lsn);
      durable_[i] = info.disk_consistent_lsn;
      Lsn lo = std::max(info.applied_gc_cutoff_lsn, Lsn(1));
      for (uint32_t k = 0; k < kKeys; k++) {
        for (Lsn lsn : {lo, Lsn((lo.value() + info.last_record_lsn.value()) / 2), info.last_record_lsn}) {
          if (!lsn.valid() || lsn < lo || lsn > info.last_record_lsn) continue;
          auto got = t->GetPage(TestKey(k), lsn);
          auto want = model_.Read(int(i), TestKey(k), lsn);
          if (!want) {
            ASSERT_TRUE(absl::IsNotFound(got.status())) << "tl " << i << " key " << k << " at "
                                                       << lsn.ToString() << ": " << got.status();
          } else {
            ASSERT_TRUE(got.ok()) << "tl " << i << " key " << k << " at " << lsn.ToString() << ": "
                                  << got.status();
            ASSERT_EQ(*got, *want) << "tl " << i << " key " << k << " at " << lsn.ToString();
          }
        }
      }
    }
  }

  std::mt19937_64 rng_;
  TestEnv env_;
  std::unique_ptr<Engine> engine_;
  TenantShardId tid_;
  std::vector<TimelineId> ids_;
  std::vector<Lsn> durable_;
  EngineModel model_;
};

TEST(EngineCrashTest, AcknowledgedDataSurvivesCrashesAnywhere) {
  const char* env = std::getenv("NEON_CRASH_SEEDS");
  int seeds = env ? std::atoi(env) : 60;
  for (int seed = 1; seed <= seeds; seed++) {
    SCOPED_TRACE(::testing::Message() << "crash seed " << seed);
    CrashHarness h{static_cast<uint64_t>(seed)};
    h.Run();
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace neon::testing
