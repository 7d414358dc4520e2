// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Prometheus metrics: counters, gauges and histograms in a registry that renders the text
// exposition format (version 0.0.4) served on /metrics.
//
// A metric is one series: a name, help text and an optional fixed label set
// (`{kind="all"}`). Series sharing a name form one family; they must agree on type and help.
// Registration returns a pointer owned by the registry, valid for the registry's lifetime.
//
// Thread safety: every method of every class here may be called from any thread. Updates are
// lock-free atomics (histograms take a short lock); Render() takes the registry lock.

#ifndef NEON_SERVERS_COMMON_METRICS_H_
#define NEON_SERVERS_COMMON_METRICS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace neon::server {

class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t d) { value_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Cumulative buckets with the given upper bounds (ascending), plus +Inf, a sum and a count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);

  void Observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Take() const;

  // 1 ms .. 10 s, a good default for request latencies in seconds.
  static std::vector<double> LatencyBounds();

 private:
  const std::vector<double> bounds_;
  mutable absl::Mutex mu_;
  std::vector<uint64_t> counts_ ABSL_GUARDED_BY(mu_);  // per bucket, not cumulative
  double sum_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // `name` must match [a-zA-Z_:][a-zA-Z0-9_:]*; `labels` is empty or `key="value",...`
  // (without braces). Registering a name and label set twice returns the same metric.
  Counter* AddCounter(const std::string& name, const std::string& help,
                      const std::string& labels = "");
  Gauge* AddGauge(const std::string& name, const std::string& help, const std::string& labels = "");
  Histogram* AddHistogram(const std::string& name, const std::string& help,
                          std::vector<double> bounds, const std::string& labels = "");

  // The Prometheus text format of every metric, families in registration order.
  std::string Render() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Series {
    std::string name, help, labels;
    Type type;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  Series* Find(const std::string& name, const std::string& labels, Type type)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Series* Add(const std::string& name, const std::string& help, const std::string& labels,
              Type type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Series>> series_ ABSL_GUARDED_BY(mu_);
};

}  // namespace neon::server

#endif  // NEON_SERVERS_COMMON_METRICS_H_
