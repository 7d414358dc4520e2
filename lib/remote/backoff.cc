// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "remote/backoff.h"

#include <algorithm>

#include "base/check.h"

namespace neon {

int64_t BackoffMicros(const RetryPolicy& policy, int retry, uint64_t random) {
  NEON_CHECK(retry >= 1);
  int64_t cap_ms = std::max<int64_t>(policy.base_backoff_ms, 0);
  for (int i = 1; i < retry && cap_ms < policy.max_backoff_ms; ++i) cap_ms *= 2;
  cap_ms = std::min(cap_ms, policy.max_backoff_ms);
  int64_t cap = cap_ms * 1000;
  int64_t half = cap / 2;
  return half + static_cast<int64_t>(random % static_cast<uint64_t>(cap - half + 1));
}

bool IsRetryable(const absl::Status& status) { return absl::IsUnavailable(status); }

Retrier::Retrier(const RetryPolicy& policy, Clock& clock, uint64_t seed)
    : policy_(policy),
      clock_(clock),
      rng_(seed),
      deadline_micros_(clock.MonotonicMicros() + policy.deadline_ms * 1000) {
  NEON_CHECK(policy_.max_attempts >= 1);
}

bool Retrier::ShouldRetry(const absl::Status& status) {
  ++attempts_;
  if (status.ok() || !IsRetryable(status) || attempts_ >= policy_.max_attempts) return false;
  int64_t sleep = BackoffMicros(policy_, attempts_, rng_());
  if (clock_.MonotonicMicros() + sleep >= deadline_micros_) return false;
  clock_.SleepForMicros(sleep);
  return true;
}

}  // namespace neon
