// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The thread-pool Executor: the only place in lib/ that starts threads.

#include <deque>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/check.h"
#include "neon/executor.h"

namespace neon {
namespace {

class ThreadPoolExecutor final : public Executor {
 public:
  explicit ThreadPoolExecutor(int threads) {
    NEON_CHECK(threads > 0);
    for (int i = 0; i < threads; i++) workers_.emplace_back([this] { Loop(); });
  }
  ~ThreadPoolExecutor() override {
    {
      absl::MutexLock l(&mu_);
      stopping_ = true;
      queue_.clear();
    }
    for (auto& t : workers_) t.join();
  }
  void Schedule(std::function<void()> task) override {
    absl::MutexLock l(&mu_);
    if (stopping_) return;
    queue_.push_back(std::move(task));
  }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> task;
      {
        absl::MutexLock l(&mu_);
        mu_.Await(absl::Condition(
            +[](ThreadPoolExecutor* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
              return self->stopping_ || !self->queue_.empty();
            },
            this));
        if (stopping_) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_;
};

}  // namespace

std::shared_ptr<Executor> NewThreadPoolExecutor(int threads) {
  return std::make_shared<ThreadPoolExecutor>(threads);
}

}  // namespace neon
