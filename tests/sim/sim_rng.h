// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// SimRng: a small deterministic PRNG (splitmix64) with its own range
// helpers, so a seed replays identically with any standard library.

#ifndef NEON_TESTS_SIM_SIM_RNG_H_
#define NEON_TESTS_SIM_SIM_RNG_H_

#include <cstdint>

namespace neon::sim {

class SimRng {
 public:
  explicit SimRng(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n); n > 0.
  uint64_t Below(uint64_t n) { return Next() % n; }
  // Uniform in [lo, hi].
  int64_t Range(int64_t lo, int64_t hi) { return lo + int64_t(Below(uint64_t(hi - lo) + 1)); }
  bool Chance(double p) { return p > 0 && double(Next() >> 11) * 0x1.0p-53 < p; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * double(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

}  // namespace neon::sim

#endif  // NEON_TESTS_SIM_SIM_RNG_H_
