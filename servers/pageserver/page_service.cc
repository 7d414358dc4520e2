// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "pageserver/page_service.h"

#include <algorithm>
#include <ctime>
#include <string>
#include <utility>

#include "base/str_cat.h"
#include "neon/key.h"
#include "pageserver/db_size.h"

namespace neon::pageserver {
namespace {

using page_api::GetPageRequest;
using page_api::GetPageResponse;

// Most blocks of an SLRU segment (Postgres SLRU_PAGES_PER_SEGMENT).
constexpr uint32_t kSlruPagesPerSegment = 32;

std::string Metadata(const grpc::CallbackServerContext* ctx, const char* name) {
  const auto& md = ctx->client_metadata();
  auto it = md.find(name);
  return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

neon::ReadLsn ToReadLsn(const page_api::ReadLsn& r) {
  return neon::ReadLsn{Lsn(r.request_lsn()), Lsn(r.not_modified_since_lsn())};
}

RelTag ToRelTag(const page_api::RelTag& r) {
  return RelTag{r.spc_oid(), r.db_oid(), r.rel_number(), static_cast<uint8_t>(r.fork_number())};
}

absl::Status CheckRel(const page_api::RelTag& r) {
  if (r.fork_number() > 3) return absl::InvalidArgumentError("rel.fork_number must be 0..3");
  return absl::OkStatus();
}

// The LSN a listing or non-relation read happens at (the engine's rules for GetRelPage).
absl::StatusOr<Lsn> EffectiveLsn(Timeline* tl, neon::ReadLsn r) {
  if (!r.request_lsn.valid()) return absl::InvalidArgumentError("read_lsn.request_lsn is 0");
  if (r.not_modified_since.valid() && r.request_lsn < r.not_modified_since) {
    return absl::InvalidArgumentError("read_lsn.request_lsn is below not_modified_since_lsn");
  }
  const Lsn wait_for = r.not_modified_since.valid() ? r.not_modified_since : Lsn(0);
  if (wait_for > tl->Info().last_record_lsn) {
    if (absl::Status s = tl->WaitLsn(wait_for, kWaitLsnTimeoutUs); !s.ok()) return s;
  }
  return std::min(r.request_lsn, tl->Info().last_record_lsn);
}

// One GetPages stream: read a request, answer it, read the next.
class GetPagesReactor final : public grpc::ServerBidiReactor<GetPageRequest, GetPageResponse> {
 public:
  GetPagesReactor(std::shared_ptr<Timeline> tl, server::Counter* pages)
      : tl_(std::move(tl)), pages_(pages) {
    StartRead(&req_);
  }
  explicit GetPagesReactor(const grpc::Status& refused) { Finish(refused); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);  // the client half-closed (or went away)
      return;
    }
    resp_.Clear();
    Answer(req_, &resp_);
    StartWrite(&resp_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
      return;
    }
    StartRead(&req_);
  }
  void OnDone() override { delete this; }

 private:
  void Answer(const GetPageRequest& req, GetPageResponse* resp) {
    *resp->mutable_request_id() = req.request_id();
    absl::Status s = Read(req, resp);
    if (!s.ok()) {
      resp->clear_page();
      resp->clear_rel();
      resp->set_status_code(ToPageStatus(s));
      resp->set_reason(std::string(s.message()));
      return;
    }
    resp->set_status_code(page_api::GET_PAGE_STATUS_CODE_OK);
  }
  absl::Status Read(const GetPageRequest& req, GetPageResponse* resp) {
    if (!req.has_rel()) return absl::InvalidArgumentError("rel is missing");
    if (absl::Status s = CheckRel(req.rel()); !s.ok()) return s;
    if (req.block_number_size() == 0) return absl::InvalidArgumentError("no block_number");
    if (req.block_number_size() > kMaxPagesPerRequest) {
      return absl::InvalidArgumentError(
          StrCat("more than ", kMaxPagesPerRequest, " blocks in one request"));
    }
    const RelTag rel = ToRelTag(req.rel());
    const neon::ReadLsn read = ToReadLsn(req.read_lsn());
    for (uint32_t blkno : req.block_number()) {
      absl::StatusOr<std::string> page = tl_->GetRelPage(rel, blkno, read);
      if (!page.ok()) return page.status();
      page_api::Page* p = resp->add_page();
      p->set_block_number(blkno);
      p->set_image(std::move(*page));
    }
    pages_->Increment(static_cast<uint64_t>(req.block_number_size()));
    *resp->mutable_rel() = req.rel();
    return absl::OkStatus();
  }

  std::shared_ptr<Timeline> tl_;
  server::Counter* pages_ = nullptr;
  GetPageRequest req_;
  GetPageResponse resp_;
};

}  // namespace

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(s.code())),
                      std::string(s.message()));
}

page_api::GetPageStatusCode ToPageStatus(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk:
      return page_api::GET_PAGE_STATUS_CODE_OK;
    case absl::StatusCode::kNotFound:
      return page_api::GET_PAGE_STATUS_CODE_NOT_FOUND;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      return page_api::GET_PAGE_STATUS_CODE_INVALID_REQUEST;
    case absl::StatusCode::kResourceExhausted:
      return page_api::GET_PAGE_STATUS_CODE_SLOW_DOWN;
    default:
      return page_api::GET_PAGE_STATUS_CODE_INTERNAL_ERROR;
  }
}

PageServiceImpl::PageServiceImpl(Engine* engine, const server::JwtVerifier* verifier,
                                 server::MetricsRegistry* metrics)
    : engine_(engine),
      verifier_(verifier),
      metrics_(metrics),
      pages_(metrics->AddCounter("pageserver_getpage_pages_total",
                                 "Pages returned by GetPages")) {}

absl::StatusOr<std::shared_ptr<Timeline>> PageServiceImpl::Resolve(
    const grpc::CallbackServerContext* ctx) const {
  const std::string tenant_text = Metadata(ctx, "neon-tenant-id");
  const std::string timeline_text = Metadata(ctx, "neon-timeline-id");
  const std::string shard_text = Metadata(ctx, "neon-shard-id");
  if (verifier_ != nullptr) {
    const std::string header = Metadata(ctx, "authorization");
    if (header.empty()) {
      return absl::UnauthenticatedError("missing 'authorization: Bearer <token>'");
    }
    absl::StatusOr<std::string_view> token = server::BearerToken(header);
    if (!token.ok()) return token.status();
    absl::StatusOr<server::JwtClaims> claims = verifier_->Verify(*token, std::time(nullptr));
    if (!claims.ok()) return claims.status();
    if (absl::Status s = server::Authorize(*claims, {"pageserverapi", "tenant"}, tenant_text);
        !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<TenantId> tenant = TenantId::Parse(tenant_text);
  if (!tenant.ok()) {
    return absl::InvalidArgumentError("neon-tenant-id: expected 32 hex characters");
  }
  absl::StatusOr<TimelineId> timeline = TimelineId::Parse(timeline_text);
  if (!timeline.ok()) {
    return absl::InvalidArgumentError("neon-timeline-id: expected 32 hex characters");
  }
  ShardIndex shard;
  if (!shard_text.empty()) {
    absl::StatusOr<ShardIndex> parsed = ShardIndex::Parse(shard_text);
    if (!parsed.ok()) return absl::InvalidArgumentError("neon-shard-id: expected NNCC in hex");
    shard = *parsed;
    if (shard.count == 1 && shard.number == 0) shard = ShardIndex{};  // one shard = unsharded
  }
  const TenantShardId id{*tenant, shard};
  absl::StatusOr<std::shared_ptr<Tenant>> t = engine_->GetTenant(id);
  if (!t.ok()) return absl::NotFoundError(StrCat("tenant ", id.ToString(), " not found"));
  absl::StatusOr<std::shared_ptr<Timeline>> tl = (*t)->GetTimeline(*timeline);
  if (!tl.ok()) {
    return absl::NotFoundError(StrCat("timeline ", timeline->ToString(), " not found"));
  }
  return tl;
}

grpc::ServerUnaryReactor* PageServiceImpl::Done(grpc::CallbackServerContext* ctx,
                                                const absl::Status& s, const char* method) {
  metrics_->AddCounter("pageserver_grpc_requests_total", "Page service calls",
                       StrCat("method=\"", method, "\",ok=\"", s.ok() ? "true" : "false", "\""))
      ->Increment();
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpc(s));
  return reactor;
}

grpc::ServerUnaryReactor* PageServiceImpl::GetRelSize(grpc::CallbackServerContext* ctx,
                                                      const page_api::GetRelSizeRequest* req,
                                                      page_api::GetRelSizeResponse* resp) {
  absl::StatusOr<std::shared_ptr<Timeline>> tl = Resolve(ctx);
  if (!tl.ok()) return Done(ctx, tl.status(), "GetRelSize");
  if (absl::Status s = CheckRel(req->rel()); !s.ok()) return Done(ctx, s, "GetRelSize");
  absl::StatusOr<uint32_t> n = (*tl)->GetRelSize(ToRelTag(req->rel()), ToReadLsn(req->read_lsn()));
  if (absl::IsNotFound(n.status()) && req->allow_missing()) {
    resp->set_missing(true);
    return Done(ctx, absl::OkStatus(), "GetRelSize");
  }
  if (n.ok()) resp->set_num_blocks(*n);
  return Done(ctx, n.status(), "GetRelSize");
}

grpc::ServerUnaryReactor* PageServiceImpl::GetDbSize(grpc::CallbackServerContext* ctx,
                                                     const page_api::GetDbSizeRequest* req,
                                                     page_api::GetDbSizeResponse* resp) {
  absl::StatusOr<std::shared_ptr<Timeline>> tl = Resolve(ctx);
  if (!tl.ok()) return Done(ctx, tl.status(), "GetDbSize");
  absl::StatusOr<Lsn> lsn = EffectiveLsn(tl->get(), ToReadLsn(req->read_lsn()));
  if (!lsn.ok()) return Done(ctx, lsn.status(), "GetDbSize");
  // Neon's get_db_size: the database's relations in the default tablespace.
  absl::StatusOr<uint64_t> bytes =
      DatabaseSizeBytes(tl->get(), kDefaultTablespaceOid, req->db_oid(), *lsn);
  if (bytes.ok()) resp->set_num_bytes(*bytes);
  return Done(ctx, bytes.status(), "GetDbSize");
}

grpc::ServerUnaryReactor* PageServiceImpl::GetSlruSegment(
    grpc::CallbackServerContext* ctx, const page_api::GetSlruSegmentRequest* req,
    page_api::GetSlruSegmentResponse* resp) {
  absl::StatusOr<std::shared_ptr<Timeline>> tl = Resolve(ctx);
  if (!tl.ok()) return Done(ctx, tl.status(), "GetSlruSegment");
  if (req->kind() > 2) {
    return Done(ctx, absl::InvalidArgumentError("kind must be 0 (clog), 1 or 2 (multixact)"),
                "GetSlruSegment");
  }
  absl::StatusOr<Lsn> lsn = EffectiveLsn(tl->get(), ToReadLsn(req->read_lsn()));
  if (!lsn.ok()) return Done(ctx, lsn.status(), "GetSlruSegment");
  const auto kind = static_cast<SlruKind>(req->kind());
  absl::StatusOr<std::string> size = (*tl)->GetPage(Key::SlruSegmentSize(kind, req->segno()), *lsn);
  if (!size.ok()) return Done(ctx, size.status(), "GetSlruSegment");
  if (size->size() < 4) return Done(ctx, absl::DataLossError("bad SLRU size"), "GetSlruSegment");
  const uint32_t nblocks = std::min<uint32_t>(
      static_cast<uint8_t>((*size)[0]) | static_cast<uint8_t>((*size)[1]) << 8 |
          static_cast<uint32_t>(static_cast<uint8_t>((*size)[2])) << 16 |
          static_cast<uint32_t>(static_cast<uint8_t>((*size)[3])) << 24,
      kSlruPagesPerSegment);
  std::string segment;
  for (uint32_t blk = 0; blk < nblocks; ++blk) {
    absl::StatusOr<std::string> page = (*tl)->GetPage(Key::SlruBlock(kind, req->segno(), blk), *lsn);
    if (!page.ok()) return Done(ctx, page.status(), "GetSlruSegment");
    segment += *page;
  }
  resp->set_segment(std::move(segment));
  return Done(ctx, absl::OkStatus(), "GetSlruSegment");
}

grpc::ServerUnaryReactor* PageServiceImpl::LeaseLsn(grpc::CallbackServerContext* ctx,
                                                    const page_api::LeaseLsnRequest* req,
                                                    page_api::LeaseLsnResponse* resp) {
  absl::StatusOr<std::shared_ptr<Timeline>> tl = Resolve(ctx);
  if (!tl.ok()) return Done(ctx, tl.status(), "LeaseLsn");
  if (req->lsn() == 0) return Done(ctx, absl::InvalidArgumentError("lsn is 0"), "LeaseLsn");
  absl::StatusOr<int64_t> until = (*tl)->LeaseLsn(Lsn(req->lsn()));
  if (until.ok()) {
    resp->mutable_expires()->set_seconds(*until / kMicrosPerSecond);
    resp->mutable_expires()->set_nanos(static_cast<int32_t>(*until % kMicrosPerSecond) * 1000);
  }
  return Done(ctx, until.status(), "LeaseLsn");
}

grpc::ServerBidiReactor<GetPageRequest, GetPageResponse>* PageServiceImpl::GetPages(
    grpc::CallbackServerContext* ctx) {
  absl::StatusOr<std::shared_ptr<Timeline>> tl = Resolve(ctx);
  if (!tl.ok()) return new GetPagesReactor(ToGrpc(tl.status()));
  return new GetPagesReactor(std::move(*tl), pages_);
}

}  // namespace neon::pageserver
