// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// RemoteTimelineClient: the upload queue of one timeline attachment (Neon's
// upload_queue.rs). It keeps two indexes: the *dirty* one (what the timeline
// looks like locally, updated by every ScheduleUpdate) and the *uploaded*
// one (the last index_part.json PUT that succeeded). ScheduleUpdate appends
// operations in order:
//
//   UploadLayer(new layer) ... ──▶ UploadIndex(snapshot of the dirty index)
//                               ──▶ Delete(removed layers' keys, via the DeletionQueue)
//
// Ordering rules (what may run concurrently, at most max_inflight at once):
//   * a layer upload may start at any time, except after a queued Delete of
//     the same key or while an upload of the same layer is queued before it;
//   * an index upload starts only when every operation queued before it has
//     finished (so every layer it references is in object storage), and two
//     index uploads never reorder; an index upload that is directly followed
//     by another one is skipped (coalesced);
//   * a Delete starts only when everything before it has finished (the index
//     that no longer references the layers is uploaded first).
// remote_consistent_lsn is the uploaded index's disk_consistent_lsn: it
// advances only when an index upload succeeds.
//
// Every object is written with this attachment's generation; layers keep the
// generation they were uploaded with (recorded in the index), so objects of
// other generations are never written. Layer sources are opened when the
// upload is scheduled, so a layer deleted locally before its upload runs
// (replaced by compaction) is still uploaded from the open file.
//
// Driver contract: with an executor, scheduling an operation schedules tasks
// that run it; without one (or to wait), Drain() runs everything on the
// caller's thread. A failed operation stays queued in place and is retried by
// the next ScheduleUpdate, Retry() or Drain(); nothing behind an index upload
// passes it.
//
// Thread safety: all methods may be called concurrently.

#ifndef NEON_LIB_REMOTE_REMOTE_TIMELINE_CLIENT_H_
#define NEON_LIB_REMOTE_REMOTE_TIMELINE_CLIENT_H_

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "neon/executor.h"
#include "neon/file_system.h"
#include "neon/object_store.h"
#include "remote/deletion_queue.h"
#include "remote/index_part.h"

namespace neon {

// Bound on operations waiting in one timeline's queue; ScheduleUpdate
// refuses (ResourceExhausted) beyond it, which stops the timeline's writer
// until uploads catch up.
inline constexpr size_t kMaxQueuedRemoteOps = 10'000;

struct RemoteTimelineClientOptions {
  TenantShardId tenant;
  TimelineId timeline;
  Generation generation;   // of this attachment; written on every object
  int max_inflight = 4;    // >= 1
};

// A local layer file to upload.
struct LocalLayer {
  std::string name;
  std::string path;
  uint64_t file_size = 0;
};

class RemoteTimelineClient : public std::enable_shared_from_this<RemoteTimelineClient> {
 public:
  // `uploaded` is the index last loaded from / written to object storage
  // (an empty IndexPart for a new timeline). `executor` and `deletions` may
  // be null (no background tasks; removed layers are then leaked).
  static std::shared_ptr<RemoteTimelineClient> Create(std::shared_ptr<ObjectStore> store,
                                                      FileSystem* fs,
                                                      Executor* executor,
                                                      std::shared_ptr<DeletionQueue> deletions,
                                                      RemoteTimelineClientOptions options,
                                                      IndexPart uploaded);

  // Adds `add` (uploaded first), removes `remove` (by name) from the dirty
  // index, replaces its metadata if given, then queues the index upload and,
  // if anything was removed, the deletion of the removed layers' objects.
  // NotFound if a layer file to add cannot be opened; ResourceExhausted when
  // the queue is full; Cancelled after Shutdown. On error nothing is queued.
  absl::Status ScheduleUpdate(const std::vector<LocalLayer>& add, const std::vector<std::string>& remove,
                              const std::optional<IndexMetadata>& metadata);
  // Runs every queued operation on this thread (waiting for ones running
  // elsewhere) until the queue is empty. Returns the first failure.
  absl::Status Drain();
  // Schedules tasks for ready operations again (after a failure).
  void Retry();
  // Stops scheduling and waits for running operations; later calls fail
  // with Cancelled.
  void Shutdown();

  Lsn remote_consistent_lsn() const;
  IndexPart dirty_index() const;
  IndexPart uploaded_index() const;
  // The object key of a layer in the dirty index (for downloads).
  absl::StatusOr<std::string> LayerKey(const std::string& name) const;
  // True if the layer is in the uploaded index (safe to evict locally).
  bool IsUploaded(const std::string& name) const;
  size_t queued_ops() const;
  absl::Status last_error() const;

  RemoteTimelineClient(std::shared_ptr<ObjectStore> store, FileSystem* fs,
                       Executor* executor, std::shared_ptr<DeletionQueue> deletions,
                       RemoteTimelineClientOptions options, IndexPart uploaded);

 private:
  enum class OpKind { kUploadLayer, kUploadIndex, kDelete };
  struct Op {
    uint64_t id = 0;
    OpKind kind = OpKind::kUploadLayer;
    bool running = false;
    std::string key;                               // layer upload: object key
    std::shared_ptr<RandomAccessFile> file;        // layer upload: source
    uint64_t file_size = 0;
    std::shared_ptr<const IndexPart> index;        // index upload
    std::vector<std::string> delete_keys;          // delete
  };

  std::string KeyOf(const std::string& name, const IndexLayerMetadata& m) const;
  // Claims the first ready op (marks it running), or returns null.
  Op* ClaimLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ReadyLocked(size_t pos) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Execute(const Op& op);
  absl::Status UploadLayer(const Op& op);
  void FinishLocked(uint64_t id, const absl::Status& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs one ready op; false if none was ready.
  bool RunOne(absl::Status* result);
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<ObjectStore> store_;
  FileSystem* const fs_;
  Executor* const executor_;
  const std::shared_ptr<DeletionQueue> deletions_;
  const RemoteTimelineClientOptions options_;

  mutable absl::Mutex mu_;
  absl::CondVar op_done_;
  IndexPart dirty_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const IndexPart> uploaded_ ABSL_GUARDED_BY(mu_);
  Lsn remote_consistent_lsn_ ABSL_GUARDED_BY(mu_);
  std::deque<Op> ops_ ABSL_GUARDED_BY(mu_);
  uint64_t next_op_id_ ABSL_GUARDED_BY(mu_) = 1;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  int tasks_scheduled_ ABSL_GUARDED_BY(mu_) = 0;
  bool stalled_ ABSL_GUARDED_BY(mu_) = false;  // an op failed; wait for Retry/Drain/Schedule
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace neon

#endif  // NEON_LIB_REMOTE_REMOTE_TIMELINE_CLIENT_H_
