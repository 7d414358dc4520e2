// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// PostgresRedoPool: applies Postgres WAL records with Postgres's own redo
// routines, in neon_walredo processes (bindings/postgres/walredo; protocol in
// doc/format/walredo-protocol.md).
//
// One process per tenant shard, started on first use and reused; requests to
// it are pipelined (many threads may have requests in flight on one process,
// answered in order). A process that crashes, misbehaves or exceeds the
// request timeout is killed: the request that hit the failure gets its error
// (Internal / Unavailable naming the cause with the process's last stderr
// lines, or DeadlineExceeded), and the next request starts a new process.
// Processes idle for idle_timeout_us are ended; there are never more than
// max_processes processes, all tenants together (the least recently used idle
// process of another tenant is ended to make room; when all are busy a
// request waits, up to its timeout).
//
// Wiring into the engine:
//   auto pool = PostgresRedoPool::Create(opts).value();
//   engine_options.postgres_redo_factory = pool->Factory();
//
// Thread safety: all methods may be called concurrently. The pool outlives
// nothing on its own: managers returned by ForTenant keep it alive; ending
// the last reference ends every process.

#ifndef NEON_INCLUDE_NEON_POSTGRES_REDO_H_
#define NEON_INCLUDE_NEON_POSTGRES_REDO_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "neon/clock.h"
#include "neon/options.h"
#include "neon/redo.h"
#include "neon/types.h"

namespace neon {

struct PostgresRedoOptions {
  // The neon_walredo executable (built by CMake with -DNEON_PG_DIR).
  std::string walredo_path;
  // Arguments put before the pool's own (--tenant-shard-id, --idle-timeout-ms,
  // --disable-seccomp). Tests use them to run wrapper programs.
  std::vector<std::string> extra_args;
  // Run the process under its seccomp allow-list (recommended).
  bool seccomp = true;
  // One request (begin, base page, records, get page) longer than this fails
  // with DeadlineExceeded and its process is killed. Also bounds the wait for
  // a free process when all max_processes are busy.
  int64_t request_timeout_us = 60 * kMicrosPerSecond;
  // A process without requests for this long is ended (by the next request
  // of any tenant, EndIdleProcesses, or by itself one second later).
  int64_t idle_timeout_us = 180 * kMicrosPerSecond;
  // Most processes alive at once, all tenants together. At least 1.
  uint32_t max_processes = 16;
  // Null: the real clock.
  std::shared_ptr<Clock> clock;
};

class PostgresRedoPool : public std::enable_shared_from_this<PostgresRedoPool> {
 public:
  // FailedPrecondition if walredo_path is not an executable file;
  // InvalidArgument for nonsensical options.
  static absl::StatusOr<std::shared_ptr<PostgresRedoPool>> Create(PostgresRedoOptions options);

  virtual ~PostgresRedoPool() = default;

  // The RedoManager of one tenant shard (the same object while it lives).
  // Its Apply accepts only PostgresRecord records (else InvalidArgument) for
  // relation block keys.
  virtual std::shared_ptr<RedoManager> ForTenant(const TenantShardId& tenant) = 0;

  // A factory for EngineOptions::postgres_redo_factory; keeps the pool alive.
  PostgresRedoFactory Factory();

  // Ends every process idle for idle_timeout_us or longer, and reaps those
  // that ended themselves. Returns how many were ended or reaped.
  virtual size_t EndIdleProcesses() = 0;

  // Processes alive now.
  virtual size_t LiveProcesses() const = 0;
};

}  // namespace neon

#endif  // NEON_INCLUDE_NEON_POSTGRES_REDO_H_
