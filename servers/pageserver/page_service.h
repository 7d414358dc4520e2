// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// page_api.PageService (lib/remote/proto/page_service.proto) over the engine, with gRPC's
// callback API: unary calls answer on the calling gRPC thread; each GetPages stream is a
// reactor (no thread per stream) whose reads run on the service's GetPages worker pool,
// except a lone single-block request whose read LSN is already ingested: the gRPC thread
// that read it serves it (the hops to a worker and back cost more than such a read).
//
// GetPages: the reactor keeps reading requests while earlier ones are served, up to
// kMaxGetPagesInFlight per stream (then it stops reading until answers are written). One
// worker task per stream at a time serves the requests in arrival order: consecutive
// queued requests for the same relation and the same read_lsn are merged into one
// vectored engine read (Timeline::GetRelPages, at most kMaxMergedBlocks blocks), each
// request keeps its own status code. Answers are written in request order, one write in
// flight. Each worker task serves one batch and re-queues itself behind other streams'
// tasks, so a busy stream cannot hold a worker. The task queue holds at most one task per
// open stream. A read that waits for not_modified_since occupies its worker while it waits
// (up to kWaitLsnTimeoutUs); it checks every kWaitLsnSliceUs whether its stream was
// cancelled, so a client that went away does not hold a worker for the rest of the wait.
// The reactor finishes only when no read, write or worker task is outstanding, so it is
// never deleted while a worker uses it.
//
// Every call names its timeline in the `neon-tenant-id`, `neon-timeline-id` and optional
// `neon-shard-id` metadata (INVALID_ARGUMENT when malformed, NOT_FOUND when unknown) and,
// with a verifier, carries `authorization: Bearer <jwt>` with scope `pageserverapi`, or
// `tenant` for that tenant (UNAUTHENTICATED / PERMISSION_DENIED otherwise).
//
// Read LSNs follow the engine (neon/engine.h ReadLsn): request_lsn 0 or below
// not_modified_since is INVALID_ARGUMENT; not_modified_since above what is ingested waits
// (bounded); below the GC cutoff without a lease is an error. GetPages answers each request
// with a per-request status code (OK, NOT_FOUND, INVALID_REQUEST, INTERNAL_ERROR); only a
// stream-level problem ends the stream.
//
// GetBaseBackup streams WriteBaseBackup (neon/basebackup.h, doc/format/basebackup.md) of
// the timeline at `lsn` (0: the latest; one not yet ingested is waited for, up to
// kWaitLsnTimeoutUs), `full` (every relation file: a stock Postgres starts on it) or not,
// gzip-compressed for BASE_BACKUP_COMPRESSION_GZIP (UNKNOWN and NONE: plain tar; other
// values INVALID_ARGUMENT), in chunks of at most 1 MiB. Each stream has a producer thread
// (at most kMaxConcurrentBaseBackups; more are RESOURCE_EXHAUSTED) that stays at most
// kBaseBackupQueuedChunks chunks ahead of the client, so a stream holds a few MiB whatever
// the database size. A failure after the first chunk ends the stream with the error; the
// chunks sent then lack pg_control. Destroying the service cancels running basebackups and
// waits for their producers.
//
// Thread safety: the service is called from gRPC's threads, runs GetPages reads on its
// worker pool and each GetBaseBackup on a thread of its own; it shares only the engine.

#ifndef NEON_SERVERS_PAGESERVER_PAGE_SERVICE_H_
#define NEON_SERVERS_PAGESERVER_PAGE_SERVICE_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "common/grpc_call.h"
#include "common/jwt.h"
#include "common/metrics.h"
#include "neon/engine.h"
#include "neon/executor.h"
#include "page_service.grpc.pb.h"

namespace neon::pageserver {

// Pages one GetPageRequest may ask for (256 x 8 KiB stays below gRPC's 4 MiB message limit).
inline constexpr int kMaxPagesPerRequest = 256;
// How long a read waits for not_modified_since to be ingested (Neon's wait_lsn_timeout).
inline constexpr int64_t kWaitLsnTimeoutUs = 300 * kMicrosPerSecond;
// A GetPages read waiting for its LSN checks this often whether its stream was cancelled.
inline constexpr int64_t kWaitLsnSliceUs = 100 * 1000;
// GetPages requests one stream may have read but not yet answered.
inline constexpr size_t kMaxGetPagesInFlight = 32;
// Most blocks one merged GetPages read asks the engine for.
inline constexpr size_t kMaxMergedBlocks = 256;
// Fewest GetPages worker threads (reads may block on disk, walredo or LSN waits, so the
// pool is larger than the core count on small machines).
inline constexpr int kMinGetPagesWorkers = 4;
// Basebackups produced at the same time (each has a thread).
inline constexpr size_t kMaxConcurrentBaseBackups = 8;
// 1 MiB basebackup chunks a producer may queue ahead of its stream's writes.
inline constexpr size_t kBaseBackupQueuedChunks = 4;

class BaseBackupWorkers;  // page_service.cc
std::shared_ptr<BaseBackupWorkers> NewBaseBackupWorkers();

class PageServiceImpl final : public page_api::PageService::CallbackService {
 public:
  // `engine`, `verifier` (null = auth off) and `metrics` are not owned and outlive the service.
  // `getpages_workers` threads serve GetPages reads (0: max(kMinGetPagesWorkers, cores)).
  // The service must outlive the gRPC server's calls (destroy it after Server::Wait).
  PageServiceImpl(Engine* engine, const server::JwtVerifier* verifier,
                  server::MetricsRegistry* metrics, int getpages_workers = 0);
  ~PageServiceImpl() override;  // cancels running basebackups and waits for their threads

  grpc::ServerUnaryReactor* GetRelSize(grpc::CallbackServerContext* ctx,
                                       const page_api::GetRelSizeRequest* req,
                                       page_api::GetRelSizeResponse* resp) override;
  grpc::ServerUnaryReactor* GetDbSize(grpc::CallbackServerContext* ctx,
                                      const page_api::GetDbSizeRequest* req,
                                      page_api::GetDbSizeResponse* resp) override;
  grpc::ServerUnaryReactor* GetSlruSegment(grpc::CallbackServerContext* ctx,
                                           const page_api::GetSlruSegmentRequest* req,
                                           page_api::GetSlruSegmentResponse* resp) override;
  grpc::ServerUnaryReactor* LeaseLsn(grpc::CallbackServerContext* ctx,
                                     const page_api::LeaseLsnRequest* req,
                                     page_api::LeaseLsnResponse* resp) override;
  grpc::ServerBidiReactor<page_api::GetPageRequest, page_api::GetPageResponse>* GetPages(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerWriteReactor<page_api::GetBaseBackupResponseChunk>* GetBaseBackup(
      grpc::CallbackServerContext* ctx, const page_api::GetBaseBackupRequest* req) override;

  // The call's timeline, after authentication. Exposed for the stream reactor.
  absl::StatusOr<std::shared_ptr<Timeline>> Resolve(const grpc::CallbackServerContext* ctx) const;

 private:
  grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx, const absl::Status& s,
                                 const char* method);

  Engine* const engine_;
  const server::JwtVerifier* const verifier_;
  server::MetricsRegistry* const metrics_;
  server::Counter* const pages_;
  server::Counter* const page_reads_;
  // GetPages reads run here, never on gRPC's threads.
  const std::shared_ptr<Executor> getpages_workers_;
  // The GetBaseBackup producer threads.
  const std::shared_ptr<BaseBackupWorkers> basebackups_ = NewBaseBackupWorkers();
};

using server::ToGrpc;
// The GetPages per-request code for an engine status.
page_api::GetPageStatusCode ToPageStatus(const absl::Status& s);

}  // namespace neon::pageserver

#endif  // NEON_SERVERS_PAGESERVER_PAGE_SERVICE_H_
