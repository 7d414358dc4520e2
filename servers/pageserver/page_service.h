// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// page_api.PageService (lib/remote/proto/page_service.proto) over the engine, with gRPC's
// callback API: unary calls answer on the calling gRPC thread, each GetPages stream is a
// reactor with one read or one write in flight (no thread per stream).
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
// Not implemented: GetBaseBackup (UNIMPLEMENTED).
//
// Thread safety: the service is called from gRPC's threads; it shares only the engine.

#ifndef NEON_SERVERS_PAGESERVER_PAGE_SERVICE_H_
#define NEON_SERVERS_PAGESERVER_PAGE_SERVICE_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "common/jwt.h"
#include "common/metrics.h"
#include "neon/engine.h"
#include "page_service.grpc.pb.h"

namespace neon::pageserver {

// Pages one GetPageRequest may ask for (256 x 8 KiB stays below gRPC's 4 MiB message limit).
inline constexpr int kMaxPagesPerRequest = 256;
// How long a read waits for not_modified_since to be ingested (Neon's wait_lsn_timeout).
inline constexpr int64_t kWaitLsnTimeoutUs = 300 * kMicrosPerSecond;

class PageServiceImpl final : public page_api::PageService::CallbackService {
 public:
  // `engine`, `verifier` (null = auth off) and `metrics` are not owned and outlive the service.
  PageServiceImpl(Engine* engine, const server::JwtVerifier* verifier,
                  server::MetricsRegistry* metrics);

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

  // The call's timeline, after authentication. Exposed for the stream reactor.
  absl::StatusOr<std::shared_ptr<Timeline>> Resolve(const grpc::CallbackServerContext* ctx) const;

 private:
  grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx, const absl::Status& s,
                                 const char* method);

  Engine* const engine_;
  const server::JwtVerifier* const verifier_;
  server::MetricsRegistry* const metrics_;
  server::Counter* const pages_;
};

// The gRPC status for an engine status (the codes are numbered alike).
grpc::Status ToGrpc(const absl::Status& s);
// The GetPages per-request code for an engine status.
page_api::GetPageStatusCode ToPageStatus(const absl::Status& s);

}  // namespace neon::pageserver

#endif  // NEON_SERVERS_PAGESERVER_PAGE_SERVICE_H_
