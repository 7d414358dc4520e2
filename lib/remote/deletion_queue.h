// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// DeletionQueue: the node-wide, persistent queue of object keys to delete
// (Neon's deletion_queue.rs, simplified to one stage). Object keys that an
// uploaded index no longer references are handed over with the generation of
// the tenant attachment that unreferenced them:
//
//   Enqueue ──▶ list file <dir>/<seq:016x>-01.list (synced, renamed, dir synced)
//   Drain   ──▶ validate every (tenant, generation) of the pending lists in one
//               validator call ──▶ stale: list dropped, keys NOT deleted
//                               └▶ current: DeleteBatch in batches of at most
//                                  kMaxDeleteBatchKeys keys, then the list file
//                                  is removed
//
// A list is removed only after all its keys are deleted (or it was refused),
// so a crash at any point leaves either the list (its keys are deleted again
// after the restart: deletion is idempotent) or nothing to do. A crash before
// Enqueue returns leaks the keys (garbage, never data loss). Deletions are
// validated every time they are attempted, after a restart too.
//
// Driver contract: Enqueue schedules a Drain on the executor (if one was
// given); Drain may also be called directly. A failed Drain leaves everything
// queued; the next Enqueue or Drain retries.
//
// Thread safety: all methods may be called concurrently; Drains run one at a
// time.

#ifndef NEON_LIB_REMOTE_DELETION_QUEUE_H_
#define NEON_LIB_REMOTE_DELETION_QUEUE_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "neon/executor.h"
#include "neon/file_system.h"
#include "neon/object_store.h"
#include "neon/remote_storage.h"

namespace neon {

// Keys per list file; a larger Enqueue writes several lists.
inline constexpr size_t kMaxDeletionListKeys = 16384;
// Lists handled by one Drain pass (the rest wait for the next pass).
inline constexpr size_t kMaxDeletionListsPerDrain = 1024;

class DeletionQueue : public std::enable_shared_from_this<DeletionQueue> {
 public:
  struct Stats {
    uint64_t keys_deleted = 0;
    uint64_t keys_refused = 0;  // dropped because their generation was stale
    uint64_t lists_pending = 0;
  };

  // Loads the lists left in `dir` (created if missing) by an earlier run.
  // `validator` null: every generation is current. `executor` null: only
  // explicit Drain calls do the work. DataLoss for a damaged list file.
  static absl::StatusOr<std::shared_ptr<DeletionQueue>> Open(std::shared_ptr<FileSystem> fs, std::string dir,
                                                             std::shared_ptr<ObjectStore> store,
                                                             GenerationValidator validator,
                                                             Executor* executor);

  // Durably records `keys` (written by `tenant`'s attachment `generation` or
  // earlier) for deletion; returns once the list is on disk.
  absl::Status Enqueue(const TenantShardId& tenant, Generation generation,
                       const std::vector<std::string>& keys);
  // Validates and deletes everything queued; the first error is returned
  // (what failed stays queued).
  absl::Status Drain();
  Stats stats() const;
  // Stops scheduling background drains and waits for a running one.
  void Shutdown();

  DeletionQueue(std::shared_ptr<FileSystem> fs, std::string dir, std::shared_ptr<ObjectStore> store,
                GenerationValidator validator, Executor* executor);

 private:
  struct List {
    TenantShardId tenant;
    Generation generation;
    std::vector<std::string> keys;
  };
  absl::Status Load();
  std::string ListPath(uint64_t seq) const;
  absl::Status WriteList(uint64_t seq, const List& list);
  void ScheduleDrain();
  absl::Status DrainLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(drain_mu_);
  absl::Status DeleteValidated(const std::vector<std::pair<uint64_t, List>>& lists)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(drain_mu_);
  absl::Status RemoveList(uint64_t seq);

  const std::shared_ptr<FileSystem> fs_;
  const std::string dir_;
  const std::shared_ptr<ObjectStore> store_;
  const GenerationValidator validator_;
  Executor* const executor_;
  std::atomic<bool> drain_scheduled_{false};
  std::atomic<bool> shutdown_{false};

  absl::Mutex drain_mu_;  // one Drain at a time; taken before mu_
  mutable absl::Mutex mu_;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, List> lists_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace neon

#endif  // NEON_LIB_REMOTE_DELETION_QUEUE_H_
