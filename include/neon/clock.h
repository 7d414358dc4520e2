// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Clock: the time seam. Library code reads time only through a Clock, so tests
// and the simulator can drive it (ManualClock in lib/base).
//
// Thread safety: implementations are safe for concurrent use.

#ifndef NEON_INCLUDE_NEON_CLOCK_H_
#define NEON_INCLUDE_NEON_CLOCK_H_

#include <cstdint>
#include <memory>

namespace neon {

class Clock {
 public:
  virtual ~Clock() = default;
  // Microseconds since the Unix epoch (wall clock).
  virtual int64_t NowMicros() const = 0;
  // Microseconds on a monotonic clock (for durations and deadlines).
  virtual int64_t MonotonicMicros() const = 0;
  virtual void SleepForMicros(int64_t micros) = 0;
};

std::shared_ptr<Clock> NewRealClock();

}  // namespace neon

#endif  // NEON_INCLUDE_NEON_CLOCK_H_
