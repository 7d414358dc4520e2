// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>

#include "common/log.h"

namespace neon::server {
namespace {

// The shortest text that reads back as `v` ("0.1", not "0.10000000000000001").
std::string FormatDouble(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

bool ValidName(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string WithLabels(const std::string& name, const std::string& labels,
                       const std::string& extra = "") {
  std::string all = labels;
  if (!extra.empty()) all = all.empty() ? extra : all + "," + extra;
  return all.empty() ? name : name + "{" + all + "}";
}

std::vector<double> Sorted(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(Sorted(std::move(bounds))) {
  absl::MutexLock l(&mu_);
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::Observe(double v) {
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  absl::MutexLock l(&mu_);
  counts_[i]++;
  sum_ += v;
  count_++;
}

Histogram::Snapshot Histogram::Take() const {
  Snapshot s;
  s.bounds = bounds_;
  absl::MutexLock l(&mu_);
  uint64_t acc = 0;
  for (uint64_t c : counts_) {
    acc += c;
    s.cumulative.push_back(acc);
  }
  s.sum = sum_;
  s.count = count_;
  return s;
}

std::vector<double> Histogram::LatencyBounds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

MetricsRegistry::Series* MetricsRegistry::Find(const std::string& name, const std::string& labels,
                                               Type type) {
  for (auto& s : series_) {
    if (s->name == name && s->labels == labels) {
      if (s->type != type) {
        LogError("metric_type_conflict", {{"name", name}});
        std::abort();
      }
      return s.get();
    }
  }
  return nullptr;
}

MetricsRegistry::Series* MetricsRegistry::Add(const std::string& name, const std::string& help,
                                              const std::string& labels, Type type) {
  if (!ValidName(name)) {
    LogError("metric_bad_name", {{"name", name}});
    std::abort();
  }
  if (Series* s = Find(name, labels, type)) return s;
  auto s = std::make_unique<Series>();
  s->name = name;
  s->help = help;
  s->labels = labels;
  s->type = type;
  series_.push_back(std::move(s));
  return series_.back().get();
}

Counter* MetricsRegistry::AddCounter(const std::string& name, const std::string& help,
                                     const std::string& labels) {
  absl::MutexLock l(&mu_);
  Series* s = Add(name, help, labels, Type::kCounter);
  if (!s->counter) s->counter = std::make_unique<Counter>();
  return s->counter.get();
}

Gauge* MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                                 const std::string& labels) {
  absl::MutexLock l(&mu_);
  Series* s = Add(name, help, labels, Type::kGauge);
  if (!s->gauge) s->gauge = std::make_unique<Gauge>();
  return s->gauge.get();
}

Histogram* MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                         std::vector<double> bounds, const std::string& labels) {
  absl::MutexLock l(&mu_);
  Series* s = Add(name, help, labels, Type::kHistogram);
  if (!s->histogram) s->histogram = std::make_unique<Histogram>(std::move(bounds));
  return s->histogram.get();
}

std::string MetricsRegistry::Render() const {
  absl::MutexLock l(&mu_);
  // Families in order of first registration; a family's series grouped under one header.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const Series*>> families;
  for (const auto& s : series_) {
    auto& fam = families[s->name];
    if (fam.empty()) order.push_back(s->name);
    fam.push_back(s.get());
  }
  std::string out;
  for (const std::string& name : order) {
    const auto& fam = families[name];
    const Series* first = fam.front();
    static const char* kTypeNames[] = {"counter", "gauge", "histogram"};
    out += "# HELP " + name + " " + first->help + "\n";
    out += "# TYPE " + name + " " + kTypeNames[static_cast<int>(first->type)] + "\n";
    for (const Series* s : fam) {
      switch (s->type) {
        case Type::kCounter:
          out += WithLabels(name, s->labels) + " " + std::to_string(s->counter->value()) + "\n";
          break;
        case Type::kGauge:
          out += WithLabels(name, s->labels) + " " + std::to_string(s->gauge->value()) + "\n";
          break;
        case Type::kHistogram: {
          const Histogram::Snapshot snap = s->histogram->Take();
          for (size_t i = 0; i <= snap.bounds.size(); ++i) {
            const std::string le =
                i < snap.bounds.size() ? FormatDouble(snap.bounds[i]) : std::string("+Inf");
            out += WithLabels(name + "_bucket", s->labels, "le=\"" + le + "\"") + " " +
                   std::to_string(snap.cumulative[i]) + "\n";
          }
          out += WithLabels(name + "_sum", s->labels) + " " + FormatDouble(snap.sum) + "\n";
          out += WithLabels(name + "_count", s->labels) + " " + std::to_string(snap.count) + "\n";
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace neon::server
