// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Executors: the thread pool runs every task; ManualExecutor runs tasks only
// when the test asks. Also the ManualClock.

#include "neon/executor.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/manual_clock.h"
#include "base/manual_executor.h"
#include "gtest/gtest.h"

namespace neon {
namespace {

TEST(ThreadPoolExecutorTest, RunsAllTasks) {
  constexpr int kTasks = 1000;
  absl::Mutex mu;
  int done = 0;
  std::vector<int> seen(kTasks, 0);
  auto pool = NewThreadPoolExecutor(4);
  for (int i = 0; i < kTasks; i++) {
    pool->Schedule([&, i] {
      absl::MutexLock l(&mu);
      seen[i]++;
      done++;
    });
  }
  {
    absl::MutexLock l(&mu);
    bool finished = mu.AwaitWithTimeout(
        absl::Condition(+[](int* d) { return *d == kTasks; }, &done), absl::Seconds(60));
    ASSERT_TRUE(finished) << "only " << done << " of " << kTasks << " ran";
  }
  pool.reset();
  for (int i = 0; i < kTasks; i++) EXPECT_EQ(seen[i], 1) << i;
}

TEST(ThreadPoolExecutorTest, RunsTasksConcurrently) {
  // Two tasks that each wait for the other can only finish on two threads.
  auto pool = NewThreadPoolExecutor(2);
  absl::Mutex mu;
  int arrived = 0;
  int finished = 0;
  for (int i = 0; i < 2; i++) {
    pool->Schedule([&] {
      absl::MutexLock l(&mu);
      arrived++;
      mu.AwaitWithTimeout(absl::Condition(+[](int* a) { return *a == 2; }, &arrived),
                          absl::Seconds(60));
      if (arrived == 2) finished++;
    });
  }
  absl::MutexLock l(&mu);
  ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(+[](int* f) { return *f == 2; }, &finished),
                                  absl::Seconds(60)));
}

TEST(ThreadPoolExecutorTest, TasksMayScheduleTasks) {
  auto pool = NewThreadPoolExecutor(2);
  absl::Mutex mu;
  int depth = 0;
  std::function<void()> step = [&] {
    absl::MutexLock l(&mu);
    if (++depth < 50) pool->Schedule(step);
  };
  pool->Schedule(step);
  absl::MutexLock l(&mu);
  ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(+[](int* d) { return *d == 50; }, &depth),
                                  absl::Seconds(60)));
}

TEST(ThreadPoolExecutorTest, DestructionWaitsForRunningTask) {
  std::atomic<bool> started{false}, finished{false};
  {
    auto pool = NewThreadPoolExecutor(1);
    pool->Schedule([&] {
      started = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      finished = true;
    });
    while (!started) std::this_thread::yield();
  }
  EXPECT_TRUE(finished.load());
}

TEST(ManualExecutorTest, RunsOnlyWhenAsked) {
  ManualExecutor ex;
  std::vector<int> order;
  ex.Schedule([&] { order.push_back(1); });
  ex.Schedule([&] { order.push_back(2); });
  ex.Schedule([&] { order.push_back(3); });
  EXPECT_TRUE(order.empty());
  EXPECT_EQ(ex.pending(), 3u);

  EXPECT_TRUE(ex.RunOne());
  EXPECT_EQ(order, (std::vector<int>{1}));
  EXPECT_EQ(ex.pending(), 2u);
  EXPECT_EQ(ex.RunAll(), 2);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_FALSE(ex.RunOne());
  EXPECT_EQ(ex.RunAll(), 0);
}

TEST(ManualExecutorTest, RunAllIncludesTasksScheduledByTasksAndIsBounded) {
  ManualExecutor ex;
  int runs = 0;
  std::function<void()> again = [&] {
    runs++;
    ex.Schedule(again);  // never-ending chain
  };
  ex.Schedule(again);
  EXPECT_EQ(ex.RunAll(10), 10);
  EXPECT_EQ(runs, 10);
  EXPECT_EQ(ex.pending(), 1u);
  ex.Clear();
  EXPECT_EQ(ex.pending(), 0u);
  EXPECT_EQ(ex.RunAll(), 0);
  EXPECT_EQ(runs, 10);
}

TEST(ManualExecutorTest, ScheduleFromOtherThreads) {
  ManualExecutor ex;
  std::atomic<int> runs{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; i++) ex.Schedule([&] { runs++; });
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(runs.load(), 0);
  EXPECT_EQ(ex.RunAll(), 400);
  EXPECT_EQ(runs.load(), 400);
}

TEST(ManualClockTest, MovesOnlyWhenTold) {
  ManualClock clock(1000);
  EXPECT_EQ(clock.NowMicros(), 1000);
  EXPECT_EQ(clock.MonotonicMicros(), 1000);
  clock.Advance(500);
  EXPECT_EQ(clock.NowMicros(), 1500);
  clock.SleepForMicros(250);
  EXPECT_EQ(clock.MonotonicMicros(), 1750);
  clock.Set(42);
  EXPECT_EQ(clock.NowMicros(), 42);
}

TEST(RealClockTest, MonotonicDoesNotGoBackwards) {
  auto clock = NewRealClock();
  int64_t a = clock->MonotonicMicros();
  clock->SleepForMicros(1000);
  int64_t b = clock->MonotonicMicros();
  EXPECT_GE(b - a, 1000);
  EXPECT_GT(clock->NowMicros(), int64_t{1'600'000'000} * 1'000'000);  // after 2020
}

}  // namespace
}  // namespace neon
