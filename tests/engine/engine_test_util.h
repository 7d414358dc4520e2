// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Helpers for engine tests: an engine on an in-memory (optionally
// fault-injecting) file system with a manual clock and executor.

#ifndef NEON_TESTS_ENGINE_ENGINE_TEST_UTIL_H_
#define NEON_TESTS_ENGINE_ENGINE_TEST_UTIL_H_

#include <memory>
#include <string>

#include "base/fault_injection_fs.h"
#include "base/manual_clock.h"
#include "base/manual_executor.h"
#include "gtest/gtest.h"
#include "neon/engine.h"

namespace neon::testing {

#define NEON_ASSERT_OK(expr)                    \
  do {                                          \
    auto _s = (expr);                           \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s; \
  } while (0)

#define NEON_EXPECT_OK(expr)                    \
  do {                                          \
    auto _s = (expr);                           \
    EXPECT_TRUE(_s.ok()) << #expr << ": " << _s; \
  } while (0)

template <typename T>
T ValueOrDie(absl::StatusOr<T> v) {
  if (!v.ok()) {
    ADD_FAILURE() << "unexpected error: " << v.status();
    std::abort();
  }
  return *std::move(v);
}

// A small config that makes every mechanism fire on tiny data.
inline TenantConfig SmallConfig() {
  TenantConfig c;
  c.checkpoint_distance = 16 * 1024;
  c.compaction_threshold = 3;
  c.compaction_target_size = 32 * 1024;
  c.image_creation_threshold = 2;
  c.gc_horizon = 0;
  c.pitr_interval_us = 0;
  return c;
}

struct TestEnv {
  std::shared_ptr<FileSystem> base = NewMemFileSystem();
  std::shared_ptr<FaultInjectionFileSystem> fault = std::make_shared<FaultInjectionFileSystem>(base);
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::shared_ptr<ManualExecutor> executor = std::make_shared<ManualExecutor>();

  EngineOptions Options(bool background = false) const {
    EngineOptions o;
    o.fs = fault;
    o.clock = clock;
    o.executor = executor;
    o.background_work = background;
    o.page_cache_bytes = 4 << 20;
    o.wait_lsn_timeout_us = 200'000;
    return o;
  }
};

inline Value TestImage(const std::string& s) { return Value::Image(s); }
inline Value TestAppend(const std::string& s) {
  return Value::FromRecord(TestRecord{s, false, false});
}
inline Key TestKey(uint32_t i) { return Key(0x00, 1663, 5, 16384, 0, i); }

}  // namespace neon::testing

#endif  // NEON_TESTS_ENGINE_ENGINE_TEST_UTIL_H_
