// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// ManualClock: a Clock that moves only when told to (tests, simulation).
// SleepForMicros advances it. Thread-safe.

#ifndef NEON_LIB_BASE_MANUAL_CLOCK_H_
#define NEON_LIB_BASE_MANUAL_CLOCK_H_

#include <atomic>

#include "neon/clock.h"

namespace neon {

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_micros = 1'700'000'000'000'000) : now_(start_micros) {}
  int64_t NowMicros() const override { return now_.load(); }
  int64_t MonotonicMicros() const override { return now_.load(); }
  void SleepForMicros(int64_t micros) override { Advance(micros); }
  void Advance(int64_t micros) { now_.fetch_add(micros); }
  void Set(int64_t micros) { now_.store(micros); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace neon

#endif  // NEON_LIB_BASE_MANUAL_CLOCK_H_
