// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "remote/backoff.h"

#include <algorithm>

#include "base/manual_clock.h"
#include "gtest/gtest.h"

namespace neon {
namespace {

TEST(BackoffTest, CappedExponentialWithJitter) {
  RetryPolicy p;
  p.base_backoff_ms = 100;
  p.max_backoff_ms = 1000;
  for (int retry = 1; retry <= 10; ++retry) {
    int64_t cap = std::min<int64_t>(1000, 100LL << (retry - 1)) * 1000;
    EXPECT_EQ(BackoffMicros(p, retry, 0), cap / 2);
    EXPECT_EQ(BackoffMicros(p, retry, cap - cap / 2), cap);
    EXPECT_LE(BackoffMicros(p, retry, ~0ull), cap);
    EXPECT_GE(BackoffMicros(p, retry, ~0ull), cap / 2);
  }
  EXPECT_EQ(BackoffMicros(p, 1000, 0), 500'000);  // no overflow
}

TEST(RetrierTest, StopsAtAttemptCapDeadlineAndFinalErrors) {
  ManualClock clock;
  RetryPolicy p;
  p.max_attempts = 5;
  p.deadline_ms = 3'600'000;
  Retrier r(p, clock, 1);
  int attempts = 0;
  absl::Status s;
  do {
    ++attempts;
    s = absl::UnavailableError("down");
  } while (r.ShouldRetry(s));
  EXPECT_EQ(attempts, 5);
  EXPECT_GE(clock.NowMicros() - ManualClock().NowMicros(), (50 + 100 + 200 + 400) * 1000);

  Retrier final_error(p, clock, 1);
  EXPECT_FALSE(final_error.ShouldRetry(absl::NotFoundError("x")));
  EXPECT_FALSE(final_error.ShouldRetry(absl::PermissionDeniedError("x")));
  EXPECT_FALSE(final_error.ShouldRetry(absl::OkStatus()));

  // The deadline: no sleep may end past it.
  p.max_attempts = 1000;
  p.deadline_ms = 5'000;
  int64_t start = clock.MonotonicMicros();
  Retrier bounded(p, clock, 2);
  attempts = 0;
  do {
    ++attempts;
  } while (bounded.ShouldRetry(absl::UnavailableError("down")));
  EXPECT_LT(clock.MonotonicMicros() - start, 5'000'000);
  EXPECT_LT(attempts, 20);
}

}  // namespace
}  // namespace neon
