// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// ManualExecutor: queues scheduled tasks until the test runs them, so
// background work happens at chosen, reproducible points. Thread-safe.

#ifndef NEON_LIB_BASE_MANUAL_EXECUTOR_H_
#define NEON_LIB_BASE_MANUAL_EXECUTOR_H_

#include <deque>
#include <functional>

#include "absl/synchronization/mutex.h"
#include "neon/executor.h"

namespace neon {

class ManualExecutor final : public Executor {
 public:
  void Schedule(std::function<void()> task) override {
    absl::MutexLock l(&mu_);
    queue_.push_back(std::move(task));
  }
  // Runs the oldest queued task; false if none.
  bool RunOne() {
    std::function<void()> t;
    {
      absl::MutexLock l(&mu_);
      if (queue_.empty()) return false;
      t = std::move(queue_.front());
      queue_.pop_front();
    }
    t();
    return true;
  }
  // Runs tasks (including ones they schedule) until the queue is empty or
  // `max_tasks` ran. Returns how many ran.
  int RunAll(int max_tasks = 1'000'000) {
    int n = 0;
    while (n < max_tasks && RunOne()) n++;
    return n;
  }
  // Drops every queued task without running it.
  void Clear() {
    absl::MutexLock l(&mu_);
    queue_.clear();
  }
  size_t pending() const {
    absl::MutexLock l(&mu_);
    return queue_.size();
  }

 private:
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
};

}  // namespace neon

#endif  // NEON_LIB_BASE_MANUAL_EXECUTOR_H_
