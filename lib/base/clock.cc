// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include <chrono>
#include <thread>

#include "neon/clock.h"

namespace neon {
namespace {

class RealClock final : public Clock {
 public:
  int64_t NowMicros() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t MonotonicMicros() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void SleepForMicros(int64_t micros) override {
    std::this_thread::sleep_for(std::chrono::microseconds(micros));
  }
};

}  // namespace

std::shared_ptr<Clock> NewRealClock() { return std::make_shared<RealClock>(); }

}  // namespace neon
