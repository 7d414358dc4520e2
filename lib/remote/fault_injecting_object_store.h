// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// FaultInjectingObjectStore: a test double that wraps another ObjectStore and
// fails calls with Unavailable, as a flaky network or an overloaded S3 would:
//  * the first `fail_first_attempts` calls per (operation, key) fail; a batch
//    delete counts against each of its keys, a listing against its prefix;
//  * every call also fails with probability `failure_probability`, drawn
//    from a generator seeded with `seed` (a failing run replays exactly when
//    calls arrive in the same order).
// An injected Put failure may first consume part of the source
// (`consume_source_before_failing`), and an injected Get failure may first
// deliver up to `midstream_bytes` to the sink: callers must rewind / resume.
//
// Thread safety: all methods may be called concurrently.

#ifndef NEON_LIB_REMOTE_FAULT_INJECTING_OBJECT_STORE_H_
#define NEON_LIB_REMOTE_FAULT_INJECTING_OBJECT_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "neon/object_store.h"

namespace neon {

struct ObjectFaultOptions {
  int fail_first_attempts = 0;
  double failure_probability = 0.0;
  uint64_t seed = 1;
  bool consume_source_before_failing = false;
  uint64_t midstream_bytes = 0;  // 0: injected Get failures deliver nothing
};

class FaultInjectingObjectStore final : public ObjectStore {
 public:
  FaultInjectingObjectStore(std::shared_ptr<ObjectStore> inner, ObjectFaultOptions options);

  absl::Status Put(std::string_view key, ObjectSource& source) override;
  absl::StatusOr<ObjectInfo> Get(std::string_view key, const ByteRange& range,
                                 const ObjectSink& sink) override;
  absl::StatusOr<ObjectInfo> Head(std::string_view key) override;
  absl::StatusOr<ListResult> List(const ListRequest& request) override;
  absl::Status DeleteBatch(std::span<const std::string> keys) override;
  absl::Status Copy(std::string_view from, std::string_view to) override;

  // Failures injected so far, and calls seen (including failed ones).
  int64_t injected_failures() const;
  int64_t calls() const;
  // Changes the options for later calls (counters are kept).
  void SetOptions(const ObjectFaultOptions& options);

 private:
  // Whether this call fails; counts the attempt against every key.
  bool ShouldFail(std::string_view op, std::span<const std::string> keys);
  bool ShouldFail(std::string_view op, std::string_view key);

  const std::shared_ptr<ObjectStore> inner_;
  mutable absl::Mutex mu_;
  ObjectFaultOptions options_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> attempts_ ABSL_GUARDED_BY(mu_);
  int64_t injected_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace neon

#endif  // NEON_LIB_REMOTE_FAULT_INJECTING_OBJECT_STORE_H_
