// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Helpers for the engine-level remote storage tests: object stores (local
// directory on an in-memory file system, or S3 over a real s3rver), a store
// wrapper that logs writes and can be "killed" together with a fault-injecting
// file system, a storage-controller stand-in that validates generations, and
// a page workload with its model.

#ifndef NEON_TESTS_REMOTE_REMOTE_ENGINE_UTIL_H_
#define NEON_TESTS_REMOTE_REMOTE_ENGINE_UTIL_H_

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/fault_injection_fs.h"
#include "engine/engine_test_util.h"
#include "neon/engine.h"
#include "neon/object_store.h"
#include "remote/peer_util.h"

namespace neon::testing {

enum class Backend { kLocal, kS3 };

inline std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kLocal ? "LocalStore" : "S3rver";
}

// A fresh, empty store: a local directory on its own in-memory file system,
// or a unique key prefix on the shared s3rver.
inline absl::StatusOr<std::shared_ptr<ObjectStore>> MakeStore(Backend b) {
  if (b == Backend::kLocal) return NewLocalObjectStore(NewMemFileSystem(), "/bucket");
  auto server = S3rver::Shared();
  if (!server.ok()) return server.status();
  static std::atomic<int> seq{0};
  std::random_device rd;
  std::string prefix = "engine-" + std::to_string(rd()) + "-" + std::to_string(seq.fetch_add(1)) + "/";
  return NewS3ObjectStore((*server)->Options(prefix));
}

// Logs the keys it writes; with a fault-injecting file system, every write
// (Put, DeleteBatch, Copy) is first a mutating step on that file system, so
// FaultInjectionFileSystem::CrashAfterOps counts object writes and local
// writes in one sequence and "kills" both at once.
class TestStore final : public ObjectStore {
 public:
  TestStore(std::shared_ptr<ObjectStore> inner, std::shared_ptr<FaultInjectionFileSystem> fault = nullptr)
      : inner_(std::move(inner)), fault_(std::move(fault)) {}

  absl::Status Put(std::string_view key, ObjectSource& source) override {
    if (absl::Status s = Step(); !s.ok()) return s;
    Log(key);
    return inner_->Put(key, source);
  }
  absl::StatusOr<ObjectInfo> Get(std::string_view key, const ByteRange& range, const ObjectSink& sink) override {
    if (absl::Status s = Alive(); !s.ok()) return s;
    return inner_->Get(key, range, sink);
  }
  absl::StatusOr<ObjectInfo> Head(std::string_view key) override {
    if (absl::Status s = Alive(); !s.ok()) return s;
    return inner_->Head(key);
  }
  absl::StatusOr<ListResult> List(const ListRequest& request) override {
    if (absl::Status s = Alive(); !s.ok()) return s;
    return inner_->List(request);
  }
  absl::Status DeleteBatch(std::span<const std::string> keys) override {
    if (absl::Status s = Step(); !s.ok()) return s;
    return inner_->DeleteBatch(keys);
  }
  absl::Status Copy(std::string_view from, std::string_view to) override {
    if (absl::Status s = Step(); !s.ok()) return s;
    Log(to);
    return inner_->Copy(from, to);
  }

  std::vector<std::string> written() const {
    absl::MutexLock l(&mu_);
    return written_;
  }

 private:
  absl::Status Alive() {
    if (fault_ && !fault_->active()) return absl::UnavailableError("process killed");
    return absl::OkStatus();
  }
  absl::Status Step() {
    if (fault_ == nullptr) return absl::OkStatus();
    absl::Status s = fault_->CreateDirs("/kill-switch");
    if (!s.ok()) return absl::UnavailableError("process killed");
    return absl::OkStatus();
  }
  void Log(std::string_view key) {
    absl::MutexLock l(&mu_);
    written_.emplace_back(key);
  }

  std::shared_ptr<ObjectStore> inner_;
  std::shared_ptr<FaultInjectionFileSystem> fault_;
  mutable absl::Mutex mu_;
  std::vector<std::string> written_ ABSL_GUARDED_BY(mu_);
};

// The storage controller's generation table.
class Controller {
 public:
  void Attach(const TenantShardId& t, Generation g) {
    absl::MutexLock l(&mu_);
    latest_[t] = g;
  }
  GenerationValidator Validator() {
    return [this](const std::vector<TenantGeneration>& req) -> absl::StatusOr<std::vector<bool>> {
      absl::MutexLock l(&mu_);
      std::vector<bool> out;
      for (const TenantGeneration& r : req) {
        auto it = latest_.find(r.tenant);
        out.push_back(it != latest_.end() && it->second == r.generation);
      }
      return out;
    };
  }

 private:
  absl::Mutex mu_;
  std::map<TenantShardId, Generation> latest_ ABSL_GUARDED_BY(mu_);
};

// Rounds of full-keyspace writes: round r sets every key to Page(tag, r, i).
class Workload {
 public:
  static constexpr uint32_t kKeys = 48;

  static std::string Page(const std::string& tag, int round, uint32_t key) {
    std::mt19937_64 rng(std::hash<std::string>{}(tag) ^ (uint64_t(round) << 32) ^ key);
    std::string s = tag + "/r" + std::to_string(round) + "/k" + std::to_string(key) + "/";
    while (s.size() < 600) s.push_back(static_cast<char>('a' + rng() % 8));
    return s;
  }

  // Writes round `round` after `*lsn` and records the checkpoint.
  absl::Status Write(Timeline& tl, const std::string& tag, int round, Lsn* lsn) {
    for (uint32_t i = 0; i < kKeys; i++) {
      *lsn = lsn->Plus(0x20);
      absl::Status s = tl.Put(TestKey(i), *lsn, Value::Image(Page(tag, round, i)));
      if (!s.ok()) return s;
    }
    absl::Status s = tl.FinishWrite(*lsn);
    if (s.ok()) checkpoints_[*lsn] = {tag, round};
    return s;
  }

  // Every page at every checkpoint in [from, to] reads as written.
  ::testing::AssertionResult Verify(Timeline& tl, Lsn from, Lsn to) const {
    int checked = 0;
    for (const auto& [lsn, what] : checkpoints_) {
      if (lsn < from || lsn > to) continue;
      for (uint32_t i = 0; i < kKeys; i++) {
        auto page = tl.GetPage(TestKey(i), lsn);
        if (!page.ok()) {
          return ::testing::AssertionFailure() << "key " << i << " at " << lsn.ToString() << ": " << page.status();
        }
        if (*page != Page(what.first, what.second, i)) {
          return ::testing::AssertionFailure() << "key " << i << " at " << lsn.ToString() << " differs";
        }
      }
      checked++;
    }
    if (checked == 0) return ::testing::AssertionFailure() << "no checkpoint in range";
    return ::testing::AssertionSuccess();
  }

  bool IsCheckpoint(Lsn lsn) const { return checkpoints_.count(lsn) > 0; }
  const std::map<Lsn, std::pair<std::string, int>>& checkpoints() const { return checkpoints_; }

 private:
  std::map<Lsn, std::pair<std::string, int>> checkpoints_;
};

inline TenantShardId TestTenant() { return TenantShardId::Unsharded(*TenantId::Parse("3aa8fcc61f6d357410b7de754b1d9001")); }
inline TimelineId TestTimeline() { return *TimelineId::Parse("de200bd42b49cc1814412c7e592dd6e9"); }
inline TimelineId TestBranch() { return *TimelineId::Parse("e45a7f37d3ee2ff17dc14bf4f4e3f52e"); }

}  // namespace neon::testing

#endif  // NEON_TESTS_REMOTE_REMOTE_ENGINE_UTIL_H_
