// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Executor: the seam for background work. The library never starts threads;
// it schedules closures on an Executor it was given. NewThreadPoolExecutor()
// runs them on worker threads; ManualExecutor (lib/base) queues them until a
// test runs them, so background work is deterministic under test.
//
// Thread safety: Schedule may be called from any thread.

#ifndef NEON_INCLUDE_NEON_EXECUTOR_H_
#define NEON_INCLUDE_NEON_EXECUTOR_H_

#include <functional>
#include <memory>

namespace neon {

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs `task` at some later point. Tasks scheduled after shutdown began
  // are dropped (their owner must not depend on them running).
  virtual void Schedule(std::function<void()> task) = 0;
};

// A pool of `threads` workers. Destruction waits for running tasks and drops
// queued ones.
std::shared_ptr<Executor> NewThreadPoolExecutor(int threads);

}  // namespace neon

#endif  // NEON_INCLUDE_NEON_EXECUTOR_H_
