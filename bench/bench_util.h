// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Helpers shared by the Google Benchmark executables under bench/: fail-fast
// status checks for setup code, a scratch directory under /tmp, and a
// latency recorder that reports p50/p99/p99.9 as benchmark counters.
//
// Thread safety: none of these are meant to be shared between threads.

#ifndef NEON_BENCH_BENCH_UTIL_H_
#define NEON_BENCH_BENCH_UTIL_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "neon/file_system.h"

namespace neon::bench {

// Setup code is not what is measured: any error there ends the run.
inline void CheckOk(const absl::Status& s, std::string_view what) {
  if (s.ok()) return;
  std::fprintf(stderr, "FATAL: %.*s: %s\n", int(what.size()), what.data(), s.ToString().c_str());
  std::abort();
}

template <typename T>
T ValueOrDie(absl::StatusOr<T> v, std::string_view what) {
  CheckOk(v.status(), what);
  return *std::move(v);
}

// A fresh directory /tmp/<prefix>.XXXXXX, deleted (recursively) on destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix) {
    std::string tmpl = "/tmp/" + std::string(prefix) + ".XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    path_ = tmpl;
  }
  ~TempDir() {
    auto fs = NewPosixFileSystem();
    absl::Status s = DeleteRecursively(*fs, path_);
    if (!s.ok()) std::fprintf(stderr, "warning: removing %s: %s\n", path_.c_str(), s.ToString().c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(std::string_view name) const { return JoinPath(path_, name); }

 private:
  std::string path_;
};

inline int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Per-operation latencies of one benchmark run. Each sample costs two
// steady_clock reads (~20 ns each with the TSC clocksource), which are
// included in the benchmark's own time per iteration as well.
class LatencyRecorder {
 public:
  static constexpr size_t kMaxSamples = size_t{1} << 22;

  void Add(int64_t nanos) {
    if (samples_.size() < kMaxSamples) samples_.push_back(nanos);
  }
  // Sets the p50_us, p99_us and p999_us counters of `state`.
  void Report(benchmark::State& state) {
    if (samples_.empty()) return;
    state.counters["p50_us"] = Percentile(0.50) / 1000.0;
    state.counters["p99_us"] = Percentile(0.99) / 1000.0;
    state.counters["p999_us"] = Percentile(0.999) / 1000.0;
  }

 private:
  double Percentile(double q) {
    size_t i = std::min(samples_.size() - 1, size_t(q * double(samples_.size())));
    std::nth_element(samples_.begin(), samples_.begin() + long(i), samples_.end());
    return double(samples_[i]);
  }

  std::vector<int64_t> samples_;
};

}  // namespace neon::bench

#endif  // NEON_BENCH_BENCH_UTIL_H_
