// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "pageserver/page_service.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/status_macros.h"

#include "base/str_cat.h"
#include "common/log.h"
#include "neon/basebackup.h"
#include "neon/key.h"
#include "pageserver/db_size.h"

namespace neon::pageserver {
namespace {

using page_api::GetPageRequest;
using page_api::GetPageResponse;

// Most blocks of an SLRU segment (Postgres SLRU_PAGES_PER_SEGMENT).
constexpr uint32_t kSlruPagesPerSegment = 32;

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

// The checks of a GetPages request that do not need the engine.
absl::Status CheckGetPageRequest(const GetPageRequest& req) {
  if (!req.has_rel()) return absl::InvalidArgumentError("rel is missing");
  if (absl::Status s = CheckRel(req.rel()); !s.ok()) return s;
  if (req.block_number_size() == 0) return absl::InvalidArgumentError("no block_number");
  if (req.block_number_size() > kMaxPagesPerRequest) {
    return absl::InvalidArgumentError(
        StrCat("more than ", kMaxPagesPerRequest, " blocks in one request"));
  }
  return absl::OkStatus();
}

// Whether two (valid) requests may be served by one vectored read.
bool SameRead(const GetPageRequest& a, const GetPageRequest& b) {
  return a.rel().spc_oid() == b.rel().spc_oid() && a.rel().db_oid() == b.rel().db_oid() &&
         a.rel().rel_number() == b.rel().rel_number() &&
         a.rel().fork_number() == b.rel().fork_number() &&
         a.read_lsn().request_lsn() == b.read_lsn().request_lsn() &&
         a.read_lsn().not_modified_since_lsn() == b.read_lsn().not_modified_since_lsn();
}

void SetError(const absl::Status& s, GetPageResponse* resp) {
  resp->clear_page();
  resp->clear_rel();
  resp->set_status_code(ToPageStatus(s));
  resp->set_reason(std::string(s.message()));
}

// One GetPages stream (see page_service.h): reads requests into a bounded window, serves
// them on the worker pool in merged batches, writes the answers in request order.
//
// Every decision about gRPC operations is taken under mu_ (NextActions) and carried out
// after unlocking (Run), so no gRPC call is made with mu_ held. Finish is decided only
// when no read, write or worker task is outstanding, and Run's last step touches nothing
// of the reactor after the last gRPC call: OnDone (which deletes the reactor) cannot
// overlap with any use of it.
class GetPagesReactor final : public grpc::ServerBidiReactor<GetPageRequest, GetPageResponse> {
 public:
  GetPagesReactor(std::shared_ptr<Timeline> tl, Executor* workers, server::Counter* pages,
                  server::Counter* reads)
      : tl_(std::move(tl)), workers_(workers), pages_(pages), reads_(reads) {
    Actions a;
    {
      absl::MutexLock l(&mu_);
      a = NextActions();
    }
    Run(a);
  }
  explicit GetPagesReactor(const grpc::Status& refused) {
    {
      absl::MutexLock l(&mu_);
      finished_ = true;
    }
    Finish(refused);
  }

  void OnReadDone(bool ok) override {
    // Checked before locking: incoming_ is only touched by the read, and WaitLsn locks the
    // timeline.
    const bool quick = ok && ServableInline(incoming_);
    Actions a;
    std::vector<Slot*> batch;
    {
      absl::MutexLock l(&mu_);
      reading_ = false;
      if (!ok) {
        half_closed_ = true;  // the client half-closed (or went away)
      } else if (!broken_) {
        slots_.emplace_back();
        slots_.back().req = std::move(incoming_);
        // A lone request (nothing queued before it, no worker task) is served right here:
        // the hops to a worker and back cost more than its read.
        if (quick && !worker_ && next_unserved_ + 1 == slots_.size()) {
          worker_ = true;
          TakeBatch(&batch);
        }
      }
      incoming_.Clear();
      if (batch.empty()) a = NextActions();
    }
    if (!batch.empty()) {
      Complete(batch);
      return;
    }
    Run(a);
  }
  void OnWriteDone(bool ok) override {
    Actions a;
    {
      absl::MutexLock l(&mu_);
      writing_ = false;
      if (!ok) {
        broken_ = true;
        cancelled_.store(true);
      } else {
        slots_.pop_front();
        next_unserved_--;
      }
      a = NextActions();
    }
    Run(a);
  }
  void OnCancel() override {
    Actions a;
    {
      absl::MutexLock l(&mu_);
      broken_ = true;
      cancelled_.store(true);
      a = NextActions();
    }
    Run(a);
  }
  void OnDone() override { delete this; }

 private:
  // One request and its answer. Lives in slots_ from its read until its answer is written.
  struct Slot {
    GetPageRequest req;
    GetPageResponse resp;
    bool answered = false;
  };
  // What to do after unlocking mu_.
  struct Actions {
    bool read = false;
    const GetPageResponse* write = nullptr;
    bool schedule = false;
    std::optional<grpc::Status> finish;
  };

  Actions NextActions() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Actions a;
    if (finished_) return a;
    if (!broken_) {
      if (!writing_ && !slots_.empty() && slots_.front().answered) {
        writing_ = true;
        a.write = &slots_.front().resp;
      }
      if (!reading_ && !half_closed_ && slots_.size() < kMaxGetPagesInFlight) {
        reading_ = true;
        a.read = true;
      }
      if (!worker_ && next_unserved_ < slots_.size()) {
        worker_ = true;
        a.schedule = true;
      }
    }
    if (!reading_ && !writing_ && !worker_ && (broken_ || (half_closed_ && slots_.empty()))) {
      finished_ = true;
      a.finish = broken_ ? grpc::Status(grpc::StatusCode::CANCELLED, "stream broken")
                         : grpc::Status::OK;
    }
    return a;
  }

  // Carries out `a`. Nothing of the reactor may be used after this returns (unless the
  // caller still holds worker_, which keeps the reactor from finishing).
  void Run(const Actions& a) {
    if (a.finish) {
      Finish(*a.finish);
      return;
    }
    if (a.schedule) workers_->Schedule([this] { Serve(); });
    if (a.write != nullptr) StartWrite(a.write);
    if (a.read) StartRead(&incoming_);
  }

  // A worker task: serves the next batch of queued requests, then re-queues itself if
  // more are waiting (behind other streams' tasks).
  void Serve() {
    std::vector<Slot*> batch;
    {
      absl::MutexLock l(&mu_);
      if (!broken_) TakeBatch(&batch);
    }
    Complete(batch);
  }

  // Answers `batch` (REQUIRES: taken by TakeBatch by the holder of worker_), then gives
  // up worker_ and carries out what follows.
  void Complete(const std::vector<Slot*>& batch) {
    if (!batch.empty()) Answer(batch);
    Actions a;
    {
      absl::MutexLock l(&mu_);
      for (Slot* slot : batch) slot->answered = true;
      worker_ = false;
      a = NextActions();
    }
    Run(a);
  }

  // The next unserved request and the following ones a vectored read can share.
  void TakeBatch(std::vector<Slot*>* batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (next_unserved_ >= slots_.size()) return;
    Slot& first = slots_[next_unserved_++];
    batch->push_back(&first);
    if (!CheckGetPageRequest(first.req).ok()) return;
    size_t blocks = static_cast<size_t>(first.req.block_number_size());
    while (next_unserved_ < slots_.size()) {
      Slot& next = slots_[next_unserved_];
      const size_t more = static_cast<size_t>(next.req.block_number_size());
      if (blocks + more > kMaxMergedBlocks || !CheckGetPageRequest(next.req).ok() ||
          !SameRead(first.req, next.req)) {
        break;
      }
      blocks += more;
      batch->push_back(&next);
      next_unserved_++;
    }
  }

  // Whether `req` may be served on the gRPC thread that read it: one block whose read LSN
  // is already ingested. A read that must wait for WAL, or a large one, goes to the workers
  // so that it cannot hold up gRPC's threads.
  bool ServableInline(const GetPageRequest& req) {
    if (req.block_number_size() != 1 || !CheckGetPageRequest(req).ok()) return false;
    const neon::ReadLsn r = ToReadLsn(req.read_lsn());
    const Lsn wait_for = r.not_modified_since.valid() ? r.not_modified_since : r.request_lsn;
    return wait_for.valid() && tl_->WaitLsn(wait_for, 0).ok();
  }

  // Waits until the read's not_modified_since LSN (request_lsn when that is 0, the
  // engine's rule) is ingested, up to kWaitLsnTimeoutUs, in slices so that a cancelled
  // stream stops waiting. LSNs the engine refuses are left for it to report.
  absl::Status WaitForReadLsn(const neon::ReadLsn& r) {
    const Lsn wait_for = r.not_modified_since.valid() ? r.not_modified_since : r.request_lsn;
    if (!wait_for.valid() || wait_for == Lsn::Max() || r.request_lsn < wait_for) {
      return absl::OkStatus();
    }
    absl::Status s = tl_->WaitLsn(wait_for, 0);
    for (int64_t waited = 0; absl::IsDeadlineExceeded(s) && waited < kWaitLsnTimeoutUs;
         waited += kWaitLsnSliceUs) {
      if (cancelled_.load()) return absl::CancelledError("the GetPages stream was cancelled");
      s = tl_->WaitLsn(wait_for, kWaitLsnSliceUs);
    }
    return s;
  }

  // Fills the responses of `batch` (REQUIRES: taken by TakeBatch; only this worker
  // touches these slots until they are marked answered).
  void Answer(const std::vector<Slot*>& batch) {
    for (Slot* slot : batch) *slot->resp.mutable_request_id() = slot->req.request_id();
    const GetPageRequest& first = batch.front()->req;
    if (absl::Status s = CheckGetPageRequest(first); !s.ok()) {
      SetError(s, &batch.front()->resp);
      return;
    }
    if (absl::Status s = WaitForReadLsn(ToReadLsn(first.read_lsn())); !s.ok()) {
      for (Slot* slot : batch) SetError(s, &slot->resp);
      return;
    }
    std::vector<uint32_t> blknos;
    for (const Slot* slot : batch) {
      blknos.insert(blknos.end(), slot->req.block_number().begin(), slot->req.block_number().end());
    }
    std::vector<absl::StatusOr<std::string>> pages;
    const absl::Status s =
        tl_->GetRelPages(ToRelTag(first.rel()), blknos, ToReadLsn(first.read_lsn()), &pages);
    reads_->Increment();
    size_t at = 0;
    for (Slot* slot : batch) {
      const size_t n = static_cast<size_t>(slot->req.block_number_size());
      if (!s.ok()) {
        SetError(s, &slot->resp);
        continue;
      }
      absl::Status failed;
      for (size_t i = at; i < at + n && failed.ok(); i++) failed = pages[i].status();
      if (!failed.ok()) {
        SetError(failed, &slot->resp);
      } else {
        for (size_t i = at; i < at + n; i++) {
          page_api::Page* p = slot->resp.add_page();
          p->set_block_number(blknos[i]);
          p->set_image(std::move(*pages[i]));
        }
        *slot->resp.mutable_rel() = slot->req.rel();
        slot->resp.set_status_code(page_api::GET_PAGE_STATUS_CODE_OK);
        pages_->Increment(n);
      }
      at += n;
    }
  }

  const std::shared_ptr<Timeline> tl_;
  Executor* const workers_ = nullptr;
  server::Counter* const pages_ = nullptr;
  server::Counter* const reads_ = nullptr;

  absl::Mutex mu_;
  GetPageRequest incoming_;  // the buffer of the read in flight
  std::deque<Slot> slots_ ABSL_GUARDED_BY(mu_);  // oldest first; the front is written next
  size_t next_unserved_ ABSL_GUARDED_BY(mu_) = 0;  // slots_[i] for i < this: taken by a worker
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool worker_ ABSL_GUARDED_BY(mu_) = false;  // a task is queued or running
  bool half_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;  // cancelled or a write failed
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> cancelled_{false};  // broken_, for a worker waiting without mu_
};

}  // namespace

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
                                 server::MetricsRegistry* metrics, int getpages_workers)
    : engine_(engine),
      verifier_(verifier),
      metrics_(metrics),
      pages_(metrics->AddCounter("pageserver_getpage_pages_total",
                                 "Pages returned by GetPages")),
      page_reads_(metrics->AddCounter(
          "pageserver_getpage_reads_total",
          "Vectored engine reads serving GetPages requests (merged requests count once)")),
      getpages_workers_(NewThreadPoolExecutor(
          getpages_workers > 0
              ? getpages_workers
              : std::max(kMinGetPagesWorkers,
                         static_cast<int>(std::thread::hardware_concurrency())))) {}

absl::StatusOr<std::shared_ptr<Timeline>> PageServiceImpl::Resolve(
    const grpc::CallbackServerContext* ctx) const {
  const std::string shard_text = server::CallMetadata(*ctx, "neon-shard-id");
  NEON_RETURN_IF_ERROR(server::AuthorizeCall(verifier_, *ctx, {"pageserverapi", "tenant"},
                                             server::CallMetadata(*ctx, "neon-tenant-id")));
  NEON_ASSIGN_OR_RETURN(server::CallTimeline call, server::ParseCallTimeline(*ctx));
  ShardIndex shard;
  if (!shard_text.empty()) {
    absl::StatusOr<ShardIndex> parsed = ShardIndex::Parse(shard_text);
    if (!parsed.ok()) return absl::InvalidArgumentError("neon-shard-id: expected NNCC in hex");
    shard = *parsed;
    if (shard.count == 1 && shard.number == 0) shard = ShardIndex{};  // one shard = unsharded
  }
  const TenantShardId id{call.tenant, shard};
  absl::StatusOr<std::shared_ptr<Tenant>> t = engine_->GetTenant(id);
  if (!t.ok()) return absl::NotFoundError(StrCat("tenant ", id.ToString(), " not found"));
  absl::StatusOr<std::shared_ptr<Timeline>> tl = (*t)->GetTimeline(call.timeline);
  if (!tl.ok()) {
    return absl::NotFoundError(StrCat("timeline ", call.timeline.ToString(), " not found"));
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
  return new GetPagesReactor(std::move(*tl), getpages_workers_.get(), pages_, page_reads_);
}


// ---- GetBaseBackup ------------------------------------------------------------------
//
// Each stream has a producer thread running WriteBaseBackup; its 1 MiB pieces go through a
// queue of at most kBaseBackupQueuedChunks to the reactor, which has one write in flight. A
// full queue blocks the producer, so a slow client slows the producer instead of growing
// memory. Whoever changes the stream's state calls Pump, which starts the next write or
// finishes the call; the `writing` and `finished` flags make exactly one caller do so, and
// the reactor is never touched after Finish (it deletes itself in OnDone).

using page_api::GetBaseBackupResponseChunk;

// State shared by a stream's producer thread and its reactor.
struct BaseBackupChannel {
  absl::Mutex mu;
  absl::CondVar room;  // signalled when the queue shrinks or the stream is cancelled
  std::deque<std::string> chunks ABSL_GUARDED_BY(mu);
  bool producer_done ABSL_GUARDED_BY(mu) = false;
  absl::Status result ABSL_GUARDED_BY(mu);
  bool cancelled ABSL_GUARDED_BY(mu) = false;
  bool writing ABSL_GUARDED_BY(mu) = false;   // a StartWrite is in flight
  bool finished ABSL_GUARDED_BY(mu) = false;  // Finish was called
  // Set before the producer starts; not used after Finish. `resp` belongs to the write in
  // flight.
  grpc::ServerWriteReactor<GetBaseBackupResponseChunk>* reactor = nullptr;
  GetBaseBackupResponseChunk resp;
};

// The running producers: at most kMaxConcurrentBaseBackups.
class BaseBackupWorkers {
 public:
  // Registers the producer of `ch`; false when the limit is reached or the service stops.
  bool Acquire(BaseBackupChannel* ch);
  // The producer of `ch` is done and uses nothing of the service any more.
  void Release(BaseBackupChannel* ch);
  // Cancels every producer's stream and waits until all of them have returned.
  void StopAndWait();

 private:
  absl::Mutex mu_;
  std::set<BaseBackupChannel*> running_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

namespace {

void CancelChannel(BaseBackupChannel* ch) {
  absl::MutexLock l(&ch->mu);
  ch->cancelled = true;
  ch->room.SignalAll();
}

void Pump(BaseBackupChannel* ch);

class BaseBackupReactor final : public grpc::ServerWriteReactor<GetBaseBackupResponseChunk> {
 public:
  explicit BaseBackupReactor(const grpc::Status& refused) { Finish(refused); }
  explicit BaseBackupReactor(std::shared_ptr<BaseBackupChannel> ch) : ch_(std::move(ch)) {
    ch_->reactor = this;
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock l(&ch_->mu);
      ch_->writing = false;
      if (!ok) {
        ch_->cancelled = true;  // the client is gone
        ch_->room.SignalAll();
      }
    }
    Pump(ch_.get());
  }
  void OnCancel() override {
    if (ch_ == nullptr) return;  // a refusal
    CancelChannel(ch_.get());
    Pump(ch_.get());
  }
  void OnDone() override { delete this; }

 private:
  std::shared_ptr<BaseBackupChannel> ch_;
};

void Pump(BaseBackupChannel* ch) {
  std::optional<grpc::Status> finish;
  grpc::ServerWriteReactor<GetBaseBackupResponseChunk>* reactor;
  {
    absl::MutexLock l(&ch->mu);
    if (ch->writing || ch->finished) return;
    if (ch->cancelled) {
      finish = grpc::Status(grpc::StatusCode::CANCELLED, "basebackup cancelled");
    } else if (!ch->chunks.empty()) {
      ch->resp.set_chunk(std::move(ch->chunks.front()));
      ch->chunks.pop_front();
      ch->writing = true;
      ch->room.SignalAll();
    } else if (ch->producer_done) {
      finish = ToGrpc(ch->result);
    } else {
      return;  // the producer will call again
    }
    if (finish) ch->finished = true;
    reactor = ch->reactor;
  }
  // Outside the lock: gRPC may run a reaction (which locks) before returning.
  if (finish) {
    reactor->Finish(*finish);
  } else {
    reactor->StartWrite(&ch->resp);
  }
}

// Waits (up to kWaitLsnTimeoutUs) for `lsn` to be ingested, in slices so that a cancelled
// stream stops waiting.
absl::Status WaitForBaseBackupLsn(BaseBackupChannel* ch, Timeline* tl, Lsn lsn) {
  constexpr int64_t kSliceUs = kMicrosPerSecond;
  for (int64_t waited = 0; tl->Info().last_record_lsn < lsn; waited += kSliceUs) {
    {
      absl::MutexLock l(&ch->mu);
      if (ch->cancelled) return absl::CancelledError("the basebackup stream was cancelled");
    }
    if (waited >= kWaitLsnTimeoutUs) {
      return absl::DeadlineExceededError(
          StrCat("timed out waiting for LSN ", lsn.ToString(), " to be ingested"));
    }
    absl::Status s = tl->WaitLsn(lsn, kSliceUs);
    if (!s.ok() && !absl::IsDeadlineExceeded(s)) return s;
  }
  return absl::OkStatus();
}

// The producer thread's body.
void ProduceBaseBackup(std::shared_ptr<BaseBackupChannel> ch, std::shared_ptr<Timeline> tl,
                       BaseBackupOptions opts, server::Counter* bytes) {
  const auto t0 = std::chrono::steady_clock::now();
  BaseBackupResult result;
  // Pieces are queued for the reactor; a full queue waits for its writes.
  auto sink = [&](std::string_view piece) -> absl::Status {
    {
      absl::MutexLock l(&ch->mu);
      while (ch->chunks.size() >= kBaseBackupQueuedChunks && !ch->cancelled) ch->room.Wait(&ch->mu);
      if (ch->cancelled) return absl::CancelledError("the basebackup stream was cancelled");
      ch->chunks.emplace_back(piece);
    }
    bytes->Increment(piece.size());
    Pump(ch.get());
    return absl::OkStatus();
  };
  absl::Status s = WaitForBaseBackupLsn(ch.get(), tl.get(), opts.lsn);
  if (s.ok()) s = WriteBaseBackup(tl.get(), opts, sink, &result);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (s.ok()) {
    server::LogInfo("basebackup_done", {{"timeline_id", tl->id().ToString()},
                                        {"lsn", result.lsn.ToString()},
                                        {"start_lsn", result.start_lsn.ToString()},
                                        {"full", opts.full ? "true" : "false"},
                                        {"gzip", opts.gzip ? "true" : "false"},
                                        {"files", result.files},
                                        {"bytes", result.output_bytes},
                                        {"seconds", secs}});
  } else {
    server::LogWarn("basebackup_failed",
                    {{"timeline_id", tl->id().ToString()}, {"error", s.ToString()}});
  }
  {
    absl::MutexLock l(&ch->mu);
    ch->producer_done = true;
    ch->result = s;
  }
  Pump(ch.get());
}

absl::StatusOr<BaseBackupOptions> ToBaseBackupOptions(const page_api::GetBaseBackupRequest& req) {
  BaseBackupOptions o;
  o.lsn = Lsn(req.lsn());
  o.full = req.full();
  o.replica = req.replica();
  switch (req.compression()) {
    case page_api::BASE_BACKUP_COMPRESSION_UNKNOWN:
    case page_api::BASE_BACKUP_COMPRESSION_NONE:
      break;
    case page_api::BASE_BACKUP_COMPRESSION_GZIP:
      o.gzip = true;
      break;
    default:
      return absl::InvalidArgumentError(
          StrCat("unknown basebackup compression ", static_cast<int>(req.compression())));
  }
  o.mtime_unix_seconds = static_cast<int64_t>(std::time(nullptr));
  return o;  // the producer waits for the LSN itself (WaitForBaseBackupLsn)
}

}  // namespace

bool BaseBackupWorkers::Acquire(BaseBackupChannel* ch) {
  absl::MutexLock l(&mu_);
  if (stopping_ || running_.size() >= kMaxConcurrentBaseBackups) return false;
  running_.insert(ch);
  return true;
}

void BaseBackupWorkers::Release(BaseBackupChannel* ch) {
  absl::MutexLock l(&mu_);
  running_.erase(ch);
}

void BaseBackupWorkers::StopAndWait() {
  absl::MutexLock l(&mu_);
  stopping_ = true;
  for (BaseBackupChannel* ch : running_) CancelChannel(ch);
  mu_.Await(absl::Condition(
      +[](std::set<BaseBackupChannel*>* r) { return r->empty(); }, &running_));
}

std::shared_ptr<BaseBackupWorkers> NewBaseBackupWorkers() {
  return std::make_shared<BaseBackupWorkers>();
}

PageServiceImpl::~PageServiceImpl() { basebackups_->StopAndWait(); }

grpc::ServerWriteReactor<GetBaseBackupResponseChunk>* PageServiceImpl::GetBaseBackup(
    grpc::CallbackServerContext* ctx, const page_api::GetBaseBackupRequest* req) {
  auto refuse = [&](const absl::Status& s) {
    metrics_->AddCounter("pageserver_grpc_requests_total", "Page service calls",
                         "method=\"GetBaseBackup\",ok=\"false\"")
        ->Increment();
    return new BaseBackupReactor(ToGrpc(s));
  };
  absl::StatusOr<std::shared_ptr<Timeline>> tl = Resolve(ctx);
  if (!tl.ok()) return refuse(tl.status());
  absl::StatusOr<BaseBackupOptions> opts = ToBaseBackupOptions(*req);
  if (!opts.ok()) return refuse(opts.status());
  auto ch = std::make_shared<BaseBackupChannel>();
  if (!basebackups_->Acquire(ch.get())) {
    return refuse(absl::ResourceExhaustedError(
        StrCat("more than ", kMaxConcurrentBaseBackups, " basebackups in progress")));
  }
  metrics_->AddCounter("pageserver_grpc_requests_total", "Page service calls",
                       "method=\"GetBaseBackup\",ok=\"true\"")
      ->Increment();
  auto* reactor = new BaseBackupReactor(ch);
  server::Counter* bytes = metrics_->AddCounter("pageserver_basebackup_bytes_total",
                                                "Bytes sent by GetBaseBackup streams");
  // The thread holds the workers until it has dropped everything it uses.
  std::thread([ch, tl = std::move(*tl), o = std::move(*opts), bytes,
               workers = basebackups_]() mutable {
    BaseBackupChannel* key = ch.get();
    ProduceBaseBackup(std::move(ch), std::move(tl), o, bytes);
    workers->Release(key);
  }).detach();
  return reactor;
}

}  // namespace neon::pageserver
