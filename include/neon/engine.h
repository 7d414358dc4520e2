// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The page store: an Engine holds tenants, a tenant holds timelines
// (branches), and a timeline maps (Key, Lsn) to versioned values so that any
// page can be read as of any LSN it has ingested (GetPage@LSN).
//
//   auto engine = Engine::Open(options, "/var/lib/neon");
//   auto tenant = (*engine)->CreateTenant(TenantId::Generate(), TenantConfig{});
//   auto main = (*tenant)->CreateTimeline(TimelineId::Generate(), 15);
//   (*main)->Put(key, Lsn(0x100), Value::Image(page));
//   (*main)->FinishWrite(Lsn(0x100));
//   auto branch = (*tenant)->CreateBranch(TimelineId::Generate(), (*main)->id(), Lsn(0x100));
//   auto page = (*branch)->GetPage(key, Lsn(0x100));
//
// Durability: data up to a timeline's disk_consistent_lsn survives a crash;
// newer data lives in the in-memory layer and is re-ingested from the WAL
// source after a restart (Neon's model: the safekeepers hold the WAL).
//
// Thread safety: Engine, Tenant and Timeline are safe for concurrent use. A
// timeline has one writer at a time (Put/FinishWrite from one thread); reads
// may run concurrently with it and with flush, compaction and GC.
// Handles (shared_ptr) stay valid after deletion; calls on a deleted
// timeline fail with NotFound.

#ifndef NEON_INCLUDE_NEON_ENGINE_H_
#define NEON_INCLUDE_NEON_ENGINE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "neon/key.h"
#include "neon/options.h"
#include "neon/types.h"
#include "neon/value.h"

namespace neon {

struct TimelineInfo {
  TenantShardId tenant_id;
  TimelineId timeline_id;
  std::optional<TimelineId> ancestor_timeline_id;
  Lsn ancestor_lsn;
  Lsn last_record_lsn;
  Lsn prev_record_lsn;
  Lsn disk_consistent_lsn;
  Lsn applied_gc_cutoff_lsn;
  Lsn initdb_lsn;
  uint32_t pg_version = 0;
  uint64_t num_l0_layers = 0;
  uint64_t num_historic_layers = 0;  // on-disk layers, L0 included
  uint64_t historic_layer_bytes = 0;
  uint64_t resident_layer_bytes = 0;  // of those, in local files
  // disk_consistent_lsn of the last index_part.json uploaded (0/0 without
  // remote storage): data up to here survives the loss of this node.
  Lsn remote_consistent_lsn;
};

// GetPage@LSN request LSNs (Neon's page_service semantics).
struct ReadLsn {
  // The LSN the reader wants to see; Lsn::Max() means "latest".
  Lsn request_lsn = Lsn::Max();
  // The page has not changed since this LSN: the server may read at any LSN in
  // [not_modified_since, request_lsn]. Invalid (0) means request_lsn.
  Lsn not_modified_since;
};

struct MaintenanceResult {
  uint64_t layers_created = 0;
  uint64_t layers_removed = 0;
  uint64_t bytes_written = 0;
};

class Timeline {
 public:
  virtual ~Timeline() = default;

  virtual const TenantShardId& tenant_id() const = 0;
  virtual const TimelineId& id() const = 0;
  virtual TimelineInfo Info() const = 0;

  // ---- Write path (one writer at a time) ----
  // Stores `value` for `key` at `lsn`. REQUIRES: lsn > last_record_lsn.
  // InvalidArgument if lsn <= last_record_lsn or the timeline is a read-only
  // view; Cancelled after shutdown; after a failed flush to disk the timeline
  // refuses writes (the first error is returned).
  virtual absl::Status Put(const Key& key, Lsn lsn, const Value& value) = 0;
  // Puts a relation block and maintains the relation's size key: writing past
  // the end extends the relation (gap blocks become zero pages).
  virtual absl::Status PutRelBlock(const RelTag& rel, uint32_t blkno, Lsn lsn,
                                   const Value& value) = 0;
  // Sets a relation's size (create = 0, truncate = smaller).
  virtual absl::Status PutRelSize(const RelTag& rel, uint32_t nblocks, Lsn lsn) = 0;
  // Declares every record up to `lsn` ingested: values at <= lsn become
  // readable and waiters on wait_lsn wake. REQUIRES: lsn > last_record_lsn and
  // lsn >= the LSN of every value put so far.
  virtual absl::Status FinishWrite(Lsn lsn) = 0;

  // ---- Read path ----
  // The value of `key` as of `lsn` (versions with lsn' <= lsn), reconstructed.
  // Does not wait: lsn above last_record_lsn reads at last_record_lsn.
  // NotFound if the key has no version at or below lsn; DataLoss on damaged
  // layer files; OutOfRange below the GC cutoff unless an LSN lease covers it.
  virtual absl::StatusOr<std::string> GetPage(const Key& key, Lsn lsn) = 0;
  // GetPage@LSN for a relation block, with Neon's request semantics: waits
  // (bounded) if not_modified_since is above last_record_lsn; returns a zero
  // page for blocks at or past the relation's size.
  // InvalidArgument if request_lsn < not_modified_since or request_lsn == 0;
  // DeadlineExceeded if the wait times out.
  virtual absl::StatusOr<std::string> GetRelPage(const RelTag& rel, uint32_t blkno,
                                                 ReadLsn read) = 0;
  // GetRelPage for several blocks of one relation at one ReadLsn (a vectored
  // read): one wait for not_modified_since, one GC-cutoff check, one relation
  // size lookup, one layer-map snapshot per timeline of the branch chain, and
  // each layer visited once for all the blocks that need it in a step of the
  // search. `blknos` may repeat blocks and come in any order.
  // On OK, `pages` holds one result per entry of `blknos`, in that order:
  // the page (a zero page at or past the relation's size), or the block's
  // own error as GetRelPage would return it (DataLoss, a failed redo, ...).
  // The call itself fails, leaving `pages` empty, on errors that concern
  // every block: InvalidArgument (read LSNs), DeadlineExceeded (the wait),
  // OutOfRange (below the GC cutoff), NotFound (no such relation, or no data
  // yet), or an error reading the relation's size. An empty `blknos` reads
  // nothing but still checks the read LSN and the relation.
  virtual absl::Status GetRelPages(const RelTag& rel, absl::Span<const uint32_t> blknos,
                                   ReadLsn read,
                                   std::vector<absl::StatusOr<std::string>>* pages) = 0;
  // Number of blocks of a relation fork as of the read LSN. NotFound if the
  // relation does not exist (FSM and VM forks report 0 instead).
  virtual absl::StatusOr<uint32_t> GetRelSize(const RelTag& rel, ReadLsn read) = 0;
  // Blocks until last_record_lsn >= lsn. DeadlineExceeded after `timeout_us`.
  virtual absl::Status WaitLsn(Lsn lsn, int64_t timeout_us) = 0;

  // ---- Retention ----
  // Keeps `lsn` readable (and branchable) for the tenant's
  // lsn_lease_length; returns when the lease expires (Clock micros).
  // FailedPrecondition if lsn is already below the GC cutoff.
  virtual absl::StatusOr<int64_t> LeaseLsn(Lsn lsn) = 0;

  // ---- Maintenance, synchronous (also run in the background) ----
  // Freezes the open layer and writes every frozen layer to L0 files.
  virtual absl::StatusOr<MaintenanceResult> Flush() = 0;
  // L0 -> L1 compaction (if force, regardless of compaction_threshold) then
  // image layer creation.
  virtual absl::StatusOr<MaintenanceResult> Compact(bool force) = 0;
  // Garbage-collects layers no read at or above the GC cutoff, branch point
  // or lease can need. `horizon_override` replaces gc_horizon when set.
  virtual absl::StatusOr<MaintenanceResult> Gc(std::optional<uint64_t> horizon_override) = 0;
};

class Tenant {
 public:
  virtual ~Tenant() = default;
  virtual const TenantShardId& id() const = 0;
  virtual TenantConfig config() const = 0;
  // The attachment generation (None for a tenant created without remote
  // storage). Every object this node writes for the tenant carries it.
  virtual Generation generation() const = 0;

  // A new empty root timeline. AlreadyExists if the id is taken.
  virtual absl::StatusOr<std::shared_ptr<Timeline>> CreateTimeline(const TimelineId& id,
                                                                   uint32_t pg_version) = 0;
  // A branch of `ancestor` at `lsn` (invalid = ancestor's last_record_lsn),
  // in O(1): no data is copied. Waits (bounded) for the ancestor to ingest
  // lsn. FailedPrecondition if lsn is below the ancestor's GC cutoff (unless
  // leased) or below the ancestor's own branch point.
  virtual absl::StatusOr<std::shared_ptr<Timeline>> CreateBranch(const TimelineId& id,
                                                                 const TimelineId& ancestor,
                                                                 Lsn lsn) = 0;
  virtual absl::StatusOr<std::shared_ptr<Timeline>> GetTimeline(const TimelineId& id) = 0;
  virtual std::vector<TimelineInfo> ListTimelines() = 0;
  // FailedPrecondition if the timeline has children.
  virtual absl::Status DeleteTimeline(const TimelineId& id) = 0;
};

// A secondary location's state (Neon's SecondaryProgress, plus the last pass's outcome).
struct SecondaryProgress {
  // When the heatmap in use was first seen here (Unix micros; 0: none downloaded yet) and
  // the generation of the attachment that uploaded it.
  int64_t heatmap_mtime_us = 0;
  Generation heatmap_generation;
  uint64_t layers_downloaded = 0, layers_total = 0;  // of the heatmap's layers: local now
  uint64_t bytes_downloaded = 0, bytes_total = 0;
  uint64_t layers_fetched = 0;  // downloaded from object storage by the last pass
  bool in_progress = false;
  int64_t last_pass_start_us = 0;  // Unix micros; 0: no pass started yet
  absl::Status last_error;      // of the last finished pass
  int64_t last_pass_end_us = 0;  // Unix micros; 0: no pass finished yet
};

struct SecondaryInfo {
  TenantShardId id;
  TenantConfig config;
  bool warm = true;
};

class Engine {
 public:
  // Opens (creating if allowed) the work directory `path`, recovering every
  // tenant and timeline to its last durable state: leftovers of interrupted
  // writes are removed. DataLoss if a layer the catalog lists is missing or
  // damaged.
  static absl::StatusOr<std::unique_ptr<Engine>> Open(const EngineOptions& options,
                                                      const std::string& path);
  virtual ~Engine() = default;

  virtual absl::StatusOr<std::shared_ptr<Tenant>> CreateTenant(const TenantShardId& id,
                                                               const TenantConfig& config) = 0;
  // Attaches a tenant with `generation` (issued by the storage controller).
  // With remote storage, the tenant's timelines are loaded from object
  // storage (index_part.json, generation-aware: doc/format/index_part.md);
  // local files are only a cache, missing layers are downloaded on demand,
  // and local state the index does not list is dropped. An attached tenant
  // with an older generation is re-attached; FailedPrecondition for a
  // generation older than the current one. Without remote storage this is
  // CreateTenant with a generation. CreateTenant on an engine with remote
  // storage is AttachTenant with generation 1.
  virtual absl::StatusOr<std::shared_ptr<Tenant>> AttachTenant(const TenantShardId& id,
                                                               const TenantConfig& config,
                                                               Generation generation) = 0;
  virtual absl::StatusOr<std::shared_ptr<Tenant>> GetTenant(const TenantShardId& id) = 0;
  virtual std::vector<TenantShardId> ListTenants() = 0;
  virtual absl::Status DeleteTenant(const TenantShardId& id) = 0;
  // Detaches a tenant and keeps its remote data (location mode Detached): every timeline's
  // ingested data is flushed to layers and uploaded with its index, the tenant is shut down
  // and its local files removed. A later AttachTenant with a newer generation (here or on
  // another node) brings it back from remote storage. FailedPrecondition without remote
  // storage (detaching would lose the tenant: delete it instead); NotFound if not attached.
  // A secondary location is detached by removing its local copy.
  virtual absl::Status DetachTenant(const TenantShardId& id) = 0;

  // ---- Secondary locations (location mode Secondary) ----
  // Makes `id` a secondary location: a local copy of the layers that the attached location
  // lists in its heatmap (tenants/<id>/heatmap-v1.json; format in lib/remote/heatmap.h). It serves
  // no reads and writes nothing remote; a later AttachTenant here finds the layers local
  // and downloads none of them. An attached tenant turns secondary after flushing and
  // uploading everything (its local layers become the cache); an existing secondary only
  // changes `warm`. Warm secondaries refresh in Tick (every heatmap upload period, 60 s
  // if the heatmap gives none). Survives Open. FailedPrecondition without remote storage.
  virtual absl::Status ConfigureSecondary(const TenantShardId& id, const TenantConfig& config,
                                          bool warm) = 0;
  // Starts a download pass on a thread of its own unless one is running: fetch the heatmap,
  // download the layers it lists that are not local, delete local layers and timelines it
  // no longer lists. Progress and the outcome: GetSecondaryProgress. NotFound if `id` is
  // not a secondary here.
  virtual absl::Status StartSecondaryDownload(const TenantShardId& id) = 0;
  virtual absl::StatusOr<SecondaryProgress> GetSecondaryProgress(const TenantShardId& id) = 0;
  virtual std::vector<SecondaryInfo> ListSecondaries() = 0;
  // Uploads the attached tenant's heatmap now (also done by Tick every heatmap_period).
  // NotFound if not attached; FailedPrecondition without remote storage.
  virtual absl::Status UploadHeatmap(const TenantShardId& id) = 0;
  // Drops the local state of `id`, attached or secondary, with no flush and no upload: for a
  // tenant whose generation this node no longer holds (the control plane's re-attach answer
  // omits it). Ingested data not yet uploaded is lost here by design: a newer generation
  // elsewhere owns the tenant. Remote data is untouched. NotFound if neither.
  virtual absl::Status ForgetTenant(const TenantShardId& id) = 0;

  // Runs due background work (rolls by checkpoint_timeout, flush, compaction,
  // GC) for every timeline, synchronously.
  virtual absl::Status Tick() = 0;
  // Runs every queued upload (layers, then indexes) and the deletion queue
  // on the calling thread until both are empty; returns the first error
  // (the failed work stays queued). OK without remote storage.
  virtual absl::Status FlushRemote() = 0;
  // Stops background work and waits for running work. Further calls fail
  // with Cancelled. Called by the destructor.
  virtual void Shutdown() = 0;

  struct CacheStats {
    uint64_t hits = 0, misses = 0, bytes = 0, capacity_bytes = 0;
  };
  virtual CacheStats GetCacheStats() const = 0;

  struct RemoteStats {
    uint64_t resident_layer_bytes = 0;  // local layer files tracked for eviction
    uint64_t downloads = 0;             // on-demand layer downloads
    uint64_t evictions = 0;
    uint64_t deletions_done = 0;        // object keys deleted by the deletion queue
    uint64_t deletions_refused = 0;     // dropped: generation no longer current
    uint64_t deletion_lists_pending = 0;
  };
  virtual RemoteStats GetRemoteStats() const = 0;
};

}  // namespace neon

#endif  // NEON_INCLUDE_NEON_ENGINE_H_
