// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// PostgresRedoPool / PostgresRedoManager against the real neon_walredo:
// redo through Apply, rejected input, a crash mid-request, a timeout, idle
// processes, the process bound across tenants, pipelining from many threads,
// and the engine using a per-tenant manager.

#include "engine/postgres_redo_manager.h"

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "base/manual_executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "neon/engine.h"
#include "neon/postgres_redo.h"
#include "postgres/pg_record_util.h"

namespace neon {
namespace {

using ::testing::HasSubstr;

const RelTag kRel{1663, 5, 16384, 0};

void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

PostgresRedoOptions Defaults() {
  PostgresRedoOptions o;
  o.walredo_path = NEON_WALREDO_PATH;
  o.request_timeout_us = 30 * kMicrosPerSecond;
  return o;
}

std::shared_ptr<PostgresRedoPool> MakePool(PostgresRedoOptions o) {
  auto pool = PostgresRedoPool::Create(std::move(o));
  EXPECT_TRUE(pool.ok()) << pool.status();
  return *pool;
}

TenantShardId NewTenant() { return TenantShardId::Unsharded(TenantId::Generate()); }

// A program that, the first time (no marker file yet), hangs without reading
// stdin; afterwards it is neon_walredo.
std::string HangOnceScript(std::string* marker) {
  static std::atomic<int> n{0};
  std::string dir = ::testing::TempDir();
  std::string tag = std::to_string(getpid()) + "_" + std::to_string(n++);
  std::string script = dir + "/hang_once_" + tag + ".sh";
  *marker = dir + "/hang_once_" + tag + ".marker";
  std::remove(marker->c_str());
  std::ofstream(script) << "#!/bin/sh\nmarker=$1; shift\n"
                           "if [ -e \"$marker\" ]; then exec \"$@\"; fi\n"
                           ": > \"$marker\"\nexec /bin/sleep 1000\n";
  chmod(script.c_str(), 0755);
  return script;
}

// Applies heap inserts of values 1..n into `blk` (the first initializes it).
absl::StatusOr<std::string> InsertTuples(RedoManager& m, uint32_t blk, int n, int base_value = 0) {
  std::vector<Record> records;
  for (int i = 1; i <= n; ++i) {
    records.push_back(PostgresRecord{
        i == 1, pgtest::HeapInsertRecord(kRel, blk, uint16_t(i), base_value + i, i == 1)});
  }
  std::vector<RedoRecord> redo;
  for (int i = 0; i < n; ++i) redo.push_back({Lsn(0x100 * (i + 1)), &records[i]});
  return m.Apply(Key::RelBlock(kRel, blk), Lsn(0x100 * n), std::nullopt, redo);
}

void ExpectTuples(const absl::StatusOr<std::string>& page, int n, int base_value = 0) {
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(pgtest::PageMaxOffset(*page), n);
  for (int i = 1; i <= n; ++i) {
    ASSERT_EQ(pgtest::HeapTupleValue(pgtest::PageItem(*page, uint16_t(i))), base_value + i);
  }
}

TEST(PostgresRedoManagerTest, AppliesPostgresRecords) {
  auto pool = MakePool(Defaults());
  auto m = pool->ForTenant(NewTenant());
  ExpectTuples(InsertTuples(*m, 0, 10), 10);
  // A full-page image over a base page.
  std::string image = pgtest::MakePage(3, 12);
  Record fpi =
      PostgresRecord{false, pgtest::FpiRecord(kRel, 5, image, pgtest::ImageCompression::kLz4)};
  RedoRecord r{Lsn(0x5000), &fpi};
  auto page = m->Apply(Key::RelBlock(kRel, 5), Lsn(0x5000), pgtest::MakePage(9, 1), {&r, 1});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(*page, pgtest::WithLsn(image, 0x5000));
  EXPECT_EQ(pool->LiveProcesses(), 1u);
  EXPECT_TRUE(static_cast<PostgresRedoManager&>(*m).Ping().ok());
  EXPECT_EQ(pool->ForTenant(NewTenant()) == m, false);
}

TEST(PostgresRedoManagerTest, RejectsWhatItCannotApply) {
  auto pool = MakePool(Defaults());
  auto m = pool->ForTenant(NewTenant());
  Record test = TestRecord{"x", false, false};
  RedoRecord r{Lsn(0x10), &test};
  auto page = m->Apply(Key::RelBlock(kRel, 0), Lsn(0x10), std::nullopt, {&r, 1});
  EXPECT_TRUE(absl::IsInvalidArgument(page.status())) << page.status();
  std::string rec = pgtest::HeapInsertRecord(kRel, 0, 1, 1, true);
  rec[0] ^= 4;  // xl_tot_len no longer the record's length
  Record bad = PostgresRecord{true, rec};
  r.record = &bad;
  page = m->Apply(Key::RelBlock(kRel, 0), Lsn(0x10), std::nullopt, {&r, 1});
  EXPECT_TRUE(absl::IsInvalidArgument(page.status())) << page.status();
  page = m->Apply(Key::RelSize(kRel), Lsn(0x10), std::nullopt, {});
  EXPECT_TRUE(absl::IsInvalidArgument(page.status())) << page.status();
  EXPECT_EQ(pool->LiveProcesses(), 0u);  // nothing was sent
  EXPECT_FALSE(PostgresRedoPool::Create(PostgresRedoOptions{.walredo_path = "/nonexistent"}).ok());
}

TEST(PostgresRedoManagerTest, GarbageRecordFailsThenNextWorks) {
  auto pool = MakePool(Defaults());
  auto m = pool->ForTenant(NewTenant());
  ExpectTuples(InsertTuples(*m, 0, 2), 2);
  auto first_pid = static_cast<PostgresRedoManager&>(*m).ProcessId();
  ASSERT_TRUE(first_pid.has_value());
  std::string rec = pgtest::HeapInsertRecord(kRel, 0, 1, 1, true);
  for (size_t i = 24; i < rec.size(); ++i) rec[i] = char(0xA5);  // garbage, length intact
  Record bad = PostgresRecord{true, rec};
  RedoRecord r{Lsn(0x10), &bad};
  auto page = m->Apply(Key::RelBlock(kRel, 0), Lsn(0x10), std::nullopt, {&r, 1});
  ASSERT_FALSE(page.ok());
  EXPECT_TRUE(absl::IsInternal(page.status())) << page.status();
  EXPECT_THAT(std::string(page.status().message()), HasSubstr("checksum"));
  ExpectTuples(InsertTuples(*m, 0, 3), 3);
  EXPECT_NE(static_cast<PostgresRedoManager&>(*m).ProcessId(), first_pid);
}

TEST(PostgresRedoManagerTest, ProcessKilledMidRequestThenNextWorks) {
  std::string marker;
  PostgresRedoOptions o = Defaults();
  o.walredo_path = HangOnceScript(&marker);
  o.extra_args = {marker, NEON_WALREDO_PATH};
  auto pool = MakePool(o);
  auto m = pool->ForTenant(NewTenant());
  auto& pm = static_cast<PostgresRedoManager&>(*m);
  absl::StatusOr<std::string> page;
  std::thread t([&] { page = InsertTuples(*m, 0, 5); });
  std::optional<pid_t> pid;
  for (int i = 0; i < 500 && !(pid = pm.ProcessId()); ++i) SleepMs(10);
  ASSERT_TRUE(pid.has_value());
  SleepMs(200);  // the request is written and waits for its page
  ASSERT_EQ(kill(*pid, SIGKILL), 0);
  t.join();
  ASSERT_FALSE(page.ok());
  EXPECT_THAT(std::string(page.status().message()), HasSubstr("killed by signal 9"));
  ExpectTuples(InsertTuples(*m, 0, 5), 5);
  std::remove(marker.c_str());
}

TEST(PostgresRedoManagerTest, TimeoutThenNextWorks) {
  std::string marker;
  PostgresRedoOptions o = Defaults();
  o.walredo_path = HangOnceScript(&marker);
  o.extra_args = {marker, NEON_WALREDO_PATH};
  o.request_timeout_us = 300'000;
  auto pool = MakePool(o);
  auto m = pool->ForTenant(NewTenant());
  auto start = std::chrono::steady_clock::now();
  auto page = InsertTuples(*m, 0, 3);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(absl::IsDeadlineExceeded(page.status())) << page.status();
  EXPECT_GE(elapsed, std::chrono::milliseconds(290));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  EXPECT_EQ(pool->LiveProcesses(), 0u);  // the hung process was killed
  ExpectTuples(InsertTuples(*m, 0, 3), 3);
  std::remove(marker.c_str());
}

TEST(PostgresRedoManagerTest, IdleProcessesAreEnded) {
  PostgresRedoOptions o = Defaults();
  o.idle_timeout_us = 1'000'000;
  auto pool = MakePool(o);
  auto m = pool->ForTenant(NewTenant());
  ExpectTuples(InsertTuples(*m, 0, 1), 1);
  pid_t pid = *static_cast<PostgresRedoManager&>(*m).ProcessId();
  EXPECT_EQ(pool->EndIdleProcesses(), 0u);  // not idle long enough
  SleepMs(1100);
  EXPECT_EQ(pool->EndIdleProcesses(), 1u);
  EXPECT_EQ(pool->LiveProcesses(), 0u);
  EXPECT_NE(kill(pid, 0), 0);               // gone and reaped
  ExpectTuples(InsertTuples(*m, 0, 2), 2);  // a new process
  EXPECT_NE(*static_cast<PostgresRedoManager&>(*m).ProcessId(), pid);
}

TEST(PostgresRedoManagerTest, IdleProcessEndsItselfWithoutCallers) {
  PostgresRedoOptions o = Defaults();
  o.idle_timeout_us = 100'000;  // the child gives up 1 s later by itself
  auto pool = MakePool(o);
  auto m = pool->ForTenant(NewTenant());
  ExpectTuples(InsertTuples(*m, 0, 1), 1);
  pid_t pid = *static_cast<PostgresRedoManager&>(*m).ProcessId();
  std::string state;
  for (int i = 0; i < 300 && state != "Z"; ++i) {
    SleepMs(20);
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string pid_s, comm;
    stat >> pid_s >> comm >> state;  // a zombie: exited, not yet reaped
  }
  EXPECT_EQ(state, "Z");
  EXPECT_EQ(pool->EndIdleProcesses(), 1u);
  EXPECT_NE(kill(pid, 0), 0);
}

TEST(PostgresRedoManagerTest, ProcessCountBoundAcrossTenants) {
  PostgresRedoOptions o = Defaults();
  o.max_processes = 2;
  auto pool = MakePool(o);
  std::vector<std::shared_ptr<RedoManager>> managers;
  for (int i = 0; i < 6; ++i) managers.push_back(pool->ForTenant(NewTenant()));
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < managers.size(); ++i) {
      ExpectTuples(InsertTuples(*managers[i], uint32_t(i), 3, int(i) * 100), 3, int(i) * 100);
      EXPECT_LE(pool->LiveProcesses(), 2u);
    }
  }
  // Concurrently: six tenants share two processes.
  std::atomic<bool> done{false};
  std::atomic<size_t> max_live{0};
  std::thread sampler([&] {
    while (!done) {
      size_t live = pool->LiveProcesses();
      size_t prev = max_live.load();
      while (live > prev && !max_live.compare_exchange_weak(prev, live)) {
      }
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (size_t i = 0; i < managers.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 10; ++k) {
        auto page = InsertTuples(*managers[i], uint32_t(k), 4, int(i) * 1000 + k * 10);
        if (!page.ok() || pgtest::PageMaxOffset(*page) != 4 ||
            pgtest::HeapTupleValue(pgtest::PageItem(*page, 4)) != int(i) * 1000 + k * 10 + 4) {
          failures++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  sampler.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(max_live.load(), 2u);
  EXPECT_GE(max_live.load(), 1u);
}

TEST(PostgresRedoManagerTest, PipelinedRequestsFromManyThreads) {
  auto pool = MakePool(Defaults());
  auto m = pool->ForTenant(NewTenant());
  ASSERT_TRUE(static_cast<PostgresRedoManager&>(*m).Ping().ok());
  pid_t pid = *static_cast<PostgresRedoManager&>(*m).ProcessId();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 40; ++k) {
        uint32_t blk = uint32_t(t * 100 + k);
        std::string image = pgtest::MakePage(blk, uint16_t(1 + k % 50));
        Record fpi = PostgresRecord{false, pgtest::FpiRecord(kRel, blk, image)};
        RedoRecord r{Lsn(0x1000 + blk), &fpi};
        auto page = m->Apply(Key::RelBlock(kRel, blk), Lsn(0x1000 + blk), std::nullopt, {&r, 1});
        if (!page.ok() || *page != pgtest::WithLsn(image, 0x1000 + blk)) failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*static_cast<PostgresRedoManager&>(*m).ProcessId(), pid);  // one process did all
}

TEST(PostgresRedoManagerTest, OneBadRequestDoesNotFailPipelinedNeighbours) {
  auto pool = MakePool(Defaults());
  auto m = pool->ForTenant(NewTenant());
  std::atomic<int> failures{0}, done_good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 30; ++k) {
        auto page = InsertTuples(*m, uint32_t(t * 100 + k), 20, k);
        if (!page.ok() || pgtest::PageMaxOffset(*page) != 20) {
          ADD_FAILURE() << page.status();
          failures++;
        }
        done_good++;
      }
    });
  }
  while (done_good < 40) std::this_thread::yield();
  std::string rec = pgtest::HeapInsertRecord(kRel, 0, 1, 1, true);
  rec.back() ^= 1;  // bad CRC: kills the process mid-pipeline
  Record bad = PostgresRecord{true, rec};
  RedoRecord r{Lsn(0x10), &bad};
  auto page = m->Apply(Key::RelBlock(kRel, 0), Lsn(0x10), std::nullopt, {&r, 1});
  EXPECT_FALSE(page.ok());
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);  // requests behind the bad one were retried
}

TEST(PostgresRedoManagerTest, ManagerPerTenantAndItsEnd) {
  auto pool = MakePool(Defaults());
  TenantShardId t = NewTenant();
  auto m = pool->ForTenant(t);
  EXPECT_EQ(pool->ForTenant(t), m);
  ExpectTuples(InsertTuples(*m, 0, 1), 1);
  EXPECT_EQ(pool->LiveProcesses(), 1u);
  m.reset();
  EXPECT_EQ(pool->LiveProcesses(), 0u);
}

TEST(PostgresRedoManagerTest, EngineUsesTheTenantsManager) {
  auto pool = MakePool(Defaults());
  EngineOptions options;
  options.fs = NewMemFileSystem();
  options.executor = std::make_shared<ManualExecutor>();
  options.background_work = false;
  options.postgres_redo_factory = pool->Factory();
  auto engine = Engine::Open(options, "/engine");
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto tenant = (*engine)->CreateTenant(NewTenant(), TenantConfig{});
  ASSERT_TRUE(tenant.ok()) << tenant.status();
  auto tl = (*tenant)->CreateTimeline(TimelineId::Generate(), 15);
  ASSERT_TRUE(tl.ok()) << tl.status();
  for (int i = 1; i <= 5; ++i) {
    Value v = Value::FromRecord(
        PostgresRecord{i == 1, pgtest::HeapInsertRecord(kRel, 7, uint16_t(i), i * 3, i == 1)});
    ASSERT_TRUE((*tl)->PutRelBlock(kRel, 7, Lsn(0x1000 * i), v).ok());
    ASSERT_TRUE((*tl)->FinishWrite(Lsn(0x1000 * i)).ok());
  }
  auto page = (*tl)->GetRelPage(kRel, 7, ReadLsn{Lsn(0x3000)});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(pgtest::PageMaxOffset(*page), 3);
  page = (*tl)->GetRelPage(kRel, 7, ReadLsn{Lsn(0x5000)});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(pgtest::PageMaxOffset(*page), 5);
  EXPECT_EQ(pgtest::HeapTupleValue(pgtest::PageItem(*page, 5)), 15);
  EXPECT_EQ(pool->LiveProcesses(), 1u);
}

}  // namespace
}  // namespace neon
