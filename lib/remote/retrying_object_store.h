// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// RetryingObjectStore: retries another store's Unavailable failures with
// capped exponential backoff and jitter (backoff.h), bounded by attempts and a
// deadline. Put retries only if the source can Rewind (else the first error is
// returned). Get resumes after the bytes already delivered to the sink (a
// ranged request for the rest), so the sink sees every byte exactly once;
// this assumes the object is not replaced meanwhile (true of layer files,
// which are written once). Errors returned by the caller's sink are final.
//
// Thread safety: all methods may be called concurrently.

#ifndef NEON_LIB_REMOTE_RETRYING_OBJECT_STORE_H_
#define NEON_LIB_REMOTE_RETRYING_OBJECT_STORE_H_

#include <atomic>
#include <memory>

#include "neon/clock.h"
#include "neon/object_store.h"
#include "remote/backoff.h"

namespace neon {

class RetryingObjectStore final : public ObjectStore {
 public:
  RetryingObjectStore(std::shared_ptr<ObjectStore> inner, RetryPolicy policy, std::shared_ptr<Clock> clock,
                      uint64_t seed);

  absl::Status Put(std::string_view key, ObjectSource& source) override;
  absl::StatusOr<ObjectInfo> Get(std::string_view key, const ByteRange& range,
                                 const ObjectSink& sink) override;
  absl::StatusOr<ObjectInfo> Head(std::string_view key) override;
  absl::StatusOr<ListResult> List(const ListRequest& request) override;
  absl::Status DeleteBatch(std::span<const std::string> keys) override;
  absl::Status Copy(std::string_view from, std::string_view to) override;

 private:
  Retrier NewRetrier() { return Retrier(policy_, *clock_, seed_ + seq_.fetch_add(1)); }

  const std::shared_ptr<ObjectStore> inner_;
  const RetryPolicy policy_;
  const std::shared_ptr<Clock> clock_;
  const uint64_t seed_;
  std::atomic<uint64_t> seq_{0};
};

}  // namespace neon

#endif  // NEON_LIB_REMOTE_RETRYING_OBJECT_STORE_H_
