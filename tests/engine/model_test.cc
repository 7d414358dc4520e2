// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Model-based randomized test: thousands of random operations (puts, LSN
// advances, branches, flush, compaction, image creation, GC, background
// tasks, engine reopen) over several timelines; every read is checked against
// EngineModel. Seeds: NEON_MODEL_SEEDS (default 25), NEON_MODEL_OPS (default
// 1500). A failure names its seed; rerun one with NEON_MODEL_SEED=<seed>.

#include <cstdlib>
#include <random>

#include "engine_model.h"
#include "engine_test_util.h"

namespace neon::testing {
namespace {

int EnvInt(const char* name, int def) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : def;
}

class ModelHarness {
 public:
  explicit ModelHarness(uint64_t seed) : rng_(seed) {}

  void Run(int ops) {
    Open();
    tenant_id_ = TenantShardId::Unsharded(TenantId::Generate());
    auto tenant = engine_->CreateTenant(tenant_id_, SmallConfig());
    ASSERT_TRUE(tenant.ok()) << tenant.status();
    NewRoot();
    for (int i = 0; i < ops && !::testing::Test::HasFailure(); i++) Step();
    // Final sweep: every key of every timeline at several LSNs.
    for (int tl = 0; tl < int(model_.size()) && !::testing::Test::HasFailure(); tl++) {
      for (uint32_t k = 0; k < kKeys; k++) CheckRead(tl, k, model_.at(tl).last_lsn);
    }
  }

 private:
  static constexpr uint32_t kKeys = 40;

  void Open() {
    env_.executor->Clear();
    auto e = Engine::Open(env_.Options(/*background=*/true), "/work");
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
  }
  std::shared_ptr<Timeline> Tl(int i) {
    auto t = ValueOrDie(engine_->GetTenant(tenant_id_));
    return ValueOrDie(t->GetTimeline(ids_[i]));
  }
  uint64_t Rand(uint64_t n) { return n == 0 ? 0 : rng_() % n; }

  void NewRoot() {
    TimelineId id = TimelineId::Generate();
    auto t = ValueOrDie(engine_->GetTenant(tenant_id_));
    NEON_ASSERT_OK(t->CreateTimeline(id, 15).status());
    ids_.push_back(id);
    model_.AddRoot();
  }

  void Step() {
    uint64_t r = Rand(1000);
    int tl = int(Rand(model_.size()));
    if (r < 450) return Write(tl);
    if (r < 750) return CheckRead(tl, uint32_t(Rand(kKeys)), RandomReadLsn(tl));
    if (r < 790) return Branch(tl);
    if (r < 830) return (void)Tl(tl)->Flush();
    if (r < 860) return Compact(tl);
    if (r < 890) return Gc(tl);
    if (r < 960) return (void)env_.executor->RunAll(100);
    if (r < 975) return Reopen();
    env_.clock->Advance(int64_t(Rand(5)) * kMicrosPerSecond);
  }

  void Write(int tl) {
    auto t = Tl(tl);
    Lsn lsn = model_.at(tl).last_lsn.Plus(8 * (1 + Rand(4)));
    int n = 1 + int(Rand(4));
    for (int i = 0; i < n; i++) {
      uint32_t k = uint32_t(Rand(kKeys));
      Value v = TestImage(std::string(1 + Rand(300), char('a' + Rand(26))));
      if (model_.Exists(tl, TestKey(k), model_.at(tl).last_lsn) && Rand(10) < 7) {
        v = TestAppend(std::string(1, char('A' + Rand(26))));
      }
      NEON_ASSERT_OK(t->Put(TestKey(k), lsn, v));
      model_.Put(tl, TestKey(k), lsn, v);
    }
    NEON_ASSERT_OK(t->FinishWrite(lsn));
    model_.Finish(tl, lsn);
  }

  Lsn Cutoff(int tl) { return Tl(tl)->Info().applied_gc_cutoff_lsn; }

  Lsn RandomReadLsn(int tl) {
    Lsn lo = std::max(Cutoff(tl), Lsn(1));
    Lsn hi = model_.at(tl).last_lsn;
    if (hi < lo) return hi;
    return Lsn(lo.value() + Rand(hi.value() - lo.value() + 1));
  }

  void CheckRead(int tl, uint32_t k, Lsn lsn) {
    if (!lsn.valid() || lsn < Cutoff(tl)) return;
    auto got = Tl(tl)->GetPage(TestKey(k), lsn);
    auto want = model_.Read(tl, TestKey(k), lsn);
    if (!want) {
      EXPECT_TRUE(absl::IsNotFound(got.status()))
          << "tl " << tl << " key " << k << " lsn " << lsn.ToString() << ": " << got.status();
      return;
    }
    ASSERT_TRUE(got.ok()) << "tl " << tl << " key " << k << " lsn " << lsn.ToString() << ": "
                          << got.status();
    EXPECT_EQ(*got, *want) << "tl " << tl << " key " << k << " lsn " << lsn.ToString();
  }

  void Branch(int parent) {
    if (model_.size() >= 6) return;
    Lsn lo = std::max({Cutoff(parent), model_.at(parent).branch_lsn, Lsn(1)});
    Lsn hi = model_.at(parent).last_lsn;
    if (hi < lo) return;
    Lsn at(lo.value() + Rand(hi.value() - lo.value() + 1));
    TimelineId id = TimelineId::Generate();
    auto t = ValueOrDie(engine_->GetTenant(tenant_id_));
    auto b = t->CreateBranch(id, ids_[parent], at);
    ASSERT_TRUE(b.ok()) << "branch at " << at.ToString() << ": " << b.status();
    ids_.push_back(id);
    model_.AddBranch(parent, at);
  }

  void Compact(int tl) {
    auto r = Tl(tl)->Compact(Rand(2) == 0);
    NEON_ASSERT_OK(r.status());
  }

  void Gc(int tl) {
    auto r = Tl(tl)->Gc(uint64_t(Rand(4)) * 64);
    NEON_ASSERT_OK(r.status());
  }

  void Reopen() {
    // Flush everything so nothing is lost (the crash test covers losses).
    for (size_t i = 0; i < model_.size(); i++) NEON_ASSERT_OK(Tl(int(i))->Flush().status());
    engine_.reset();
    Open();
    for (size_t i = 0; i < model_.size(); i++) {
      TimelineInfo info = Tl(int(i))->Info();
      ASSERT_EQ(info.last_record_lsn, model_.at(int(i)).last_lsn) << "timeline " << i;
    }
  }

  std::mt19937_64 rng_;
  TestEnv env_;
  std::unique_ptr<Engine> engine_;
  TenantShardId tenant_id_;
  std::vector<TimelineId> ids_;
  EngineModel model_;
};

TEST(EngineModelTest, RandomOperationsMatchModel) {
  int seeds = EnvInt("NEON_MODEL_SEEDS", 25);
  int ops = EnvInt("NEON_MODEL_OPS", 1500);
  int only = EnvInt("NEON_MODEL_SEED", 0);
  for (int seed = 1; seed <= seeds; seed++) {
    if (only != 0 && seed != only) continue;
    SCOPED_TRACE(::testing::Message() << "seed " << seed << " (rerun: NEON_MODEL_SEED=" << seed << ")");
    ModelHarness h{static_cast<uint64_t>(seed)};
    h.Run(ops);
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace neon::testing
