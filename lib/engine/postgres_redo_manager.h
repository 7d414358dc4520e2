// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// PostgresRedoPoolImpl and PostgresRedoManager: the implementation of
// neon/postgres_redo.h.
//
// The pool owns every WalRedoProcess, one per tenant shard at most, in
// procs_ (a map tenant -> slot with the process, its requests in flight and
// the time it was last used). A tenant's PostgresRedoManager is a thin handle:
// Apply encodes the request, leases the tenant's process from the pool
// (starting one if needed, ending another tenant's least recently used idle
// process when max_processes are alive, waiting when all are busy), runs the
// request outside the pool lock, and returns the lease. A failed process is
// retired; a retryable failure (not this request's doing) is retried once on
// a new process.
//
// Slot states: absent -> live (in_flight >= 0) -> absent (failed, idle for
// idle_timeout_us, evicted for another tenant, or its manager destroyed).
//
// Thread safety: everything may be called concurrently. mu_ is held only for
// bookkeeping and process start/kill (milliseconds), never across a request.

#ifndef NEON_LIB_ENGINE_POSTGRES_REDO_MANAGER_H_
#define NEON_LIB_ENGINE_POSTGRES_REDO_MANAGER_H_

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "absl/synchronization/mutex.h"
#include "engine/walredo_process.h"
#include "neon/postgres_redo.h"

namespace neon {

// The walredo request for `key` (a relation block): B, P if `base`, one A per
// record, G. InvalidArgument for a record that is not a PostgresRecord, a
// malformed one (shorter than an XLogRecord header, xl_tot_len not its
// length) or a base image that is not 8192 bytes.
absl::StatusOr<std::string> EncodeWalRedoRequest(const Key& key,
                                                 const std::optional<std::string>& base,
                                                 std::span<const RedoRecord> records);
// The ping request (H).
std::string EncodeWalRedoPing();

class PostgresRedoPoolImpl;

class PostgresRedoManager final : public RedoManager {
 public:
  PostgresRedoManager(std::shared_ptr<PostgresRedoPoolImpl> pool, TenantShardId tenant);
  ~PostgresRedoManager() override;  // ends the tenant's process

  absl::StatusOr<std::string> Apply(const Key& key, Lsn lsn, const std::optional<std::string>& base,
                                    std::span<const RedoRecord> records) override;
  // Sends H and checks the answer (8192 zero bytes).
  absl::Status Ping();

  // The pid of the tenant's process, if one is alive (for tests).
  std::optional<pid_t> ProcessId() const;

 private:
  absl::StatusOr<std::string> Run(const std::string& request);

  const std::shared_ptr<PostgresRedoPoolImpl> pool_;
  const TenantShardId tenant_;
};

class PostgresRedoPoolImpl final : public PostgresRedoPool {
 public:
  explicit PostgresRedoPoolImpl(PostgresRedoOptions options);
  ~PostgresRedoPoolImpl() override;

  std::shared_ptr<RedoManager> ForTenant(const TenantShardId& tenant) override;
  size_t EndIdleProcesses() override;
  size_t LiveProcesses() const override;

  const PostgresRedoOptions& options() const { return options_; }
  Clock* clock() const { return options_.clock.get(); }

  // A process of `tenant` reserved for one request (in_flight counted).
  struct Lease {
    std::shared_ptr<WalRedoProcess> process;
  };
  // Unavailable when no process could be had before `deadline_us`, or the
  // process failed to start.
  absl::StatusOr<Lease> Acquire(const TenantShardId& tenant, int64_t deadline_us);
  // Ends the lease; a dead process is removed from its slot.
  void Release(const TenantShardId& tenant, const Lease& lease);
  // Ends the tenant's process (its manager is gone).
  void EndTenant(const TenantShardId& tenant);
  std::optional<pid_t> ProcessId(const TenantShardId& tenant) const;

 private:
  struct Slot {
    std::shared_ptr<WalRedoProcess> process;
    int in_flight = 0;
    int64_t last_used_us = 0;
  };
  size_t EndIdleLocked(int64_t now_us) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the least recently used idle process; false if every one is busy.
  bool EvictOneLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::shared_ptr<WalRedoProcess>> StartLocked(const TenantShardId& tenant)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const PostgresRedoOptions options_;
  mutable absl::Mutex mu_;
  std::map<TenantShardId, Slot> procs_ ABSL_GUARDED_BY(mu_);
  std::map<TenantShardId, std::weak_ptr<PostgresRedoManager>> managers_ ABSL_GUARDED_BY(mu_);
  uint64_t releases_ ABSL_GUARDED_BY(mu_) = 0;  // bumped when a process may have become free
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_POSTGRES_REDO_MANAGER_H_
