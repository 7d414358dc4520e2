// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// StreamWal: one WAL reader (see wal_service.h and streams.h).

#include <algorithm>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "base/str_cat.h"
#include "safekeeper/streams.h"
#include "safekeeper/wal_service.h"

namespace neon::safekeeper {
namespace {

namespace pb = ::safekeeper;

class WalConnection;

class WalStreamReactor final : public WalReactor {
 public:
  explicit WalStreamReactor(std::shared_ptr<WalConnection> conn) : conn_(std::move(conn)) {}
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  pb::StreamWalRequest read_buf;    // owned by the read in flight
  pb::StreamWalResponse write_buf;  // owned by the write in flight

 private:
  std::shared_ptr<WalConnection> conn_;
};

class WalConnection final : public WalWatcher, public std::enable_shared_from_this<WalConnection> {
 public:
  explicit WalConnection(std::shared_ptr<Timeline> timeline) : timeline_(std::move(timeline)) {}

  void Start(WalStreamReactor* reactor) {
    {
      absl::MutexLock l(&mu_);
      reactor_ = reactor;
    }
    Pump();
  }

  void OnReadDone(bool ok) {
    pb::StreamWalRequest req;
    bool started = false;
    {
      absl::MutexLock l(&mu_);
      // The next read starts only after this message is handled (see Pump): a start and the
      // feedback behind it, or two feedbacks, are handled in order.
      if (!ok) reading_ = false;
      started = started_;
      if (!ok) {
        read_closed_ = true;
        RequestFinishLocked(started ? grpc::Status::OK
                                    : grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                                   "the stream ended before StreamWalStart"));
      } else {
        req.Swap(&reactor_->read_buf);
      }
    }
    if (ok) {
      absl::Status s = absl::OkStatus();
      if (!started) {
        s = req.has_start() ? HandleStart(req.start())
                            : absl::InvalidArgumentError("the first message must be start");
      } else if (req.has_feedback()) {
        timeline_->RecordFeedback(reader_id_, ToFeedback(req.feedback()));
      } else {
        s = absl::InvalidArgumentError("after start, only feedback messages are accepted");
      }
      absl::MutexLock l(&mu_);
      reading_ = false;
      if (!s.ok()) RequestFinishLocked(ToGrpc(s));
    }
    Pump();
  }

  void OnWriteDone(bool ok) {
    {
      absl::MutexLock l(&mu_);
      writing_ = false;
      if (!ok) RequestFinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
    }
    Pump();
  }

  void OnCancel() {
    {
      absl::MutexLock l(&mu_);
      RequestFinishLocked(grpc::Status::CANCELLED);
    }
    Pump();
  }

  void OnDone() {
    bool attached = false;
    {
      absl::MutexLock l(&mu_);
      reactor_ = nullptr;
      attached = started_;
    }
    if (attached) timeline_->DetachReader(reader_id_);
    timeline_->ctx().metrics->wal_readers->Add(-1);
  }

  // ---- WalWatcher ----
  void OnProgress() override {
    {
      absl::MutexLock l(&mu_);
      if (pump_scheduled_ || finished_) return;
      pump_scheduled_ = true;
    }
    // Not inline: the caller is the timeline's batch task, and a pump reads WAL.
    timeline_->ctx().executor->Schedule([self = shared_from_this()] {
      {
        absl::MutexLock l(&self->mu_);
        self->pump_scheduled_ = false;
      }
      self->Pump();
    });
  }
  void OnTick(int64_t now_us) override {
    {
      absl::MutexLock l(&mu_);
      if (!started_ || now_us - last_sent_us_ < kKeepaliveIntervalUs) return;
      keepalive_due_ = true;
    }
    Pump();
  }
  void Close(const absl::Status& status) override {
    {
      absl::MutexLock l(&mu_);
      RequestFinishLocked(ToGrpc(status));
    }
    Pump();
  }

 private:
  static consensus::PageserverFeedback ToFeedback(const pb::PageserverFeedback& f) {
    consensus::PageserverFeedback out;
    out.current_timeline_size = f.current_timeline_size();
    out.last_received_lsn = Lsn(f.last_received_lsn());
    out.disk_consistent_lsn = Lsn(f.disk_consistent_lsn());
    out.remote_consistent_lsn = Lsn(f.remote_consistent_lsn());
    out.replytime_us = f.replytime_us();
    out.shard_number = f.shard_number();
    return out;
  }

  absl::Status HandleStart(const pb::StreamWalStart& start) {
    if (start.start_lsn() == 0) return absl::InvalidArgumentError("start_lsn must not be 0/0");
    if (start.shard_count() > 0 && start.shard_number() >= start.shard_count()) {
      return absl::InvalidArgumentError("shard_number must be below shard_count");
    }
    ReaderInfo info;
    info.reader_node_id = start.reader_node_id();
    info.shard_number = start.shard_number();
    info.shard_count = start.shard_count();
    info.include_uncommitted = start.include_uncommitted();
    info.start_lsn = Lsn(start.start_lsn());
    const Positions p = timeline_->positions();
    absl::StatusOr<uint64_t> id = timeline_->AttachReader(shared_from_this(), info);
    if (!id.ok()) return id.status();
    absl::MutexLock l(&mu_);
    reader_id_ = *id;
    if (reactor_ == nullptr) {  // the stream is already done
      timeline_->DetachReader(*id);
      return absl::OkStatus();
    }
    started_ = true;
    next_lsn_ = info.start_lsn;
    include_uncommitted_ = info.include_uncommitted;
    term_ = p.term;
    history_version_ = p.history_version;
    last_sent_us_ = MonotonicMicros();
    return absl::OkStatus();
  }

  void RequestFinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finish_requested_) return;
    finish_requested_ = true;
    final_status_ = std::move(status);
  }

  enum class Op { kRead, kData, kKeepalive, kFinish };

  // Under mu_: the next operation, or false when there is nothing to do.
  bool Decide(Op* op, Lsn* begin, Lsn* end, Positions* pos, grpc::Status* status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finish_requested_) {
      if (writing_) return false;
      finished_ = true;
      *status = final_status_;
      *op = Op::kFinish;
      return true;
    }
    if (!reading_ && !read_closed_) {
      reading_ = true;
      *op = Op::kRead;
      return true;
    }
    if (!started_ || writing_) return false;
    *pos = timeline_->positions();
    if (include_uncommitted_ && (pos->term != term_ || pos->history_version != history_version_)) {
      RequestFinishLocked(grpc::Status(grpc::StatusCode::ABORTED,
                                       StrCat("the term changed from ", term_.value(), " to ",
                                              pos->term.value(), ": uncommitted WAL may differ")));
      return Decide(op, begin, end, pos, status);
    }
    const Lsn limit = include_uncommitted_ ? pos->flush_lsn : pos->commit_lsn;
    if (next_lsn_ < limit) {
      *begin = next_lsn_;
      // A chunk never crosses a segment boundary (readers that write segment files like it).
      const uint64_t seg = pos->wal_seg_size;
      const Lsn segment_end((next_lsn_.value() / seg + 1) * seg);
      *end = std::min({limit, next_lsn_.Plus(kMaxWalChunkBytes), segment_end});
      *op = Op::kData;
    } else if (keepalive_due_) {
      *op = Op::kKeepalive;
    } else {
      return false;
    }
    keepalive_due_ = false;
    writing_ = true;
    return true;
  }

  void Pump() {
    {
      absl::MutexLock l(&mu_);
      if (pumping_) return;  // the running pump re-evaluates under the lock
      pumping_ = true;
    }
    for (;;) {
      Op op;
      Lsn begin, end;
      Positions pos;
      grpc::Status status;
      WalStreamReactor* r = nullptr;
      bool uncommitted = false;
      consensus::Term term;
      {
        absl::MutexLock l(&mu_);
        r = reactor_;
        if (finished_ || r == nullptr || !Decide(&op, &begin, &end, &pos, &status)) {
          pumping_ = false;
          return;
        }
        uncommitted = include_uncommitted_;
        term = term_;
      }
      switch (op) {
        case Op::kRead:
          r->StartRead(&r->read_buf);
          break;
        case Op::kFinish:
          r->Finish(status);
          break;
        case Op::kData: {
          absl::StatusOr<std::string> data = timeline_->ReadWal(begin, end, uncommitted, term);
          if (!data.ok()) {
            absl::MutexLock l(&mu_);
            writing_ = false;
            RequestFinishLocked(ToGrpc(data.status()));
            break;
          }
          pb::WalData* w = r->write_buf.mutable_wal();
          w->set_start_lsn(begin.value());
          w->set_data(std::move(*data));
          w->set_commit_lsn(pos.commit_lsn.value());
          w->set_term(pos.term.value());
          w->set_flush_lsn(pos.flush_lsn.value());
          {
            absl::MutexLock l(&mu_);
            next_lsn_ = end;
            last_sent_us_ = MonotonicMicros();
          }
          timeline_->RecordSent(reader_id_, end);
          timeline_->ctx().metrics->wal_sent_bytes->Increment(end.Minus(begin));
          r->StartWrite(&r->write_buf);
          break;
        }
        case Op::kKeepalive: {
          pb::Keepalive* k = r->write_buf.mutable_keepalive();
          k->set_commit_lsn(pos.commit_lsn.value());
          k->set_flush_lsn(pos.flush_lsn.value());
          k->set_term(pos.term.value());
          k->set_server_time_us(WallMicros());
          {
            absl::MutexLock l(&mu_);
            last_sent_us_ = MonotonicMicros();
          }
          r->StartWrite(&r->write_buf);
          break;
        }
      }
    }
  }

  const std::shared_ptr<Timeline> timeline_;
  absl::Mutex mu_;
  WalStreamReactor* reactor_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t reader_id_ = 0;  // set before started_, then constant
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  Lsn next_lsn_ ABSL_GUARDED_BY(mu_);
  bool include_uncommitted_ ABSL_GUARDED_BY(mu_) = false;
  consensus::Term term_ ABSL_GUARDED_BY(mu_);
  uint64_t history_version_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_sent_us_ ABSL_GUARDED_BY(mu_) = 0;
  bool keepalive_due_ ABSL_GUARDED_BY(mu_) = false;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
  bool pumping_ ABSL_GUARDED_BY(mu_) = false;
  bool pump_scheduled_ ABSL_GUARDED_BY(mu_) = false;
};

void WalStreamReactor::OnReadDone(bool ok) { conn_->OnReadDone(ok); }
void WalStreamReactor::OnWriteDone(bool ok) { conn_->OnWriteDone(ok); }
void WalStreamReactor::OnCancel() { conn_->OnCancel(); }
void WalStreamReactor::OnDone() {
  conn_->OnDone();
  delete this;
}

class RejectedWalStream final : public WalReactor {
 public:
  explicit RejectedWalStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

WalReactor* NewWalStream(std::shared_ptr<Timeline> timeline) {
  timeline->ctx().metrics->wal_readers->Add(1);
  auto conn = std::make_shared<WalConnection>(std::move(timeline));
  auto* reactor = new WalStreamReactor(conn);
  conn->Start(reactor);
  return reactor;
}

WalReactor* RejectWalStream(const grpc::Status& status) { return new RejectedWalStream(status); }

}  // namespace neon::safekeeper
