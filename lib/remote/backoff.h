// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Retries with capped exponential backoff and jitter, bounded by an attempt
// cap and a deadline. Only Unavailable is retried: stores map network errors,
// HTTP 5xx and throttling to it, and everything else (4xx, NotFound, ...) is
// final.
//
//   Retrier retrier(policy, clock, seed);
//   absl::Status s;
//   do { s = Attempt(); } while (retrier.ShouldRetry(s));   // sleeps between
//
// Thread safety: a RetryPolicy is a value; a Retrier serves one operation on
// one thread.

#ifndef NEON_LIB_REMOTE_BACKOFF_H_
#define NEON_LIB_REMOTE_BACKOFF_H_

#include <cstdint>
#include <random>

#include "absl/status/status.h"
#include "neon/clock.h"

namespace neon {

struct RetryPolicy {
  int max_attempts = 8;            // total attempts, >= 1
  int64_t base_backoff_ms = 100;   // the first sleep is at most this
  int64_t max_backoff_ms = 10'000; // cap of one sleep
  int64_t deadline_ms = 120'000;   // from the first attempt; no attempt starts after it
};

// The sleep before retry number `retry` (1 = after the first failure):
// cap = min(max, base * 2^(retry-1)); result in [cap/2, cap] chosen by `random`.
int64_t BackoffMicros(const RetryPolicy& policy, int retry, uint64_t random);

bool IsRetryable(const absl::Status& status);

class Retrier {
 public:
  Retrier(const RetryPolicy& policy, Clock& clock, uint64_t seed);
  // After an attempt: false if `status` is OK, not retryable, or the attempt
  // cap or deadline is reached; otherwise sleeps the backoff and returns true.
  bool ShouldRetry(const absl::Status& status);
  int attempts() const { return attempts_; }

 private:
  const RetryPolicy policy_;
  Clock& clock_;
  std::mt19937_64 rng_;
  const int64_t deadline_micros_;
  int attempts_ = 0;
};

}  // namespace neon

#endif  // NEON_LIB_REMOTE_BACKOFF_H_
