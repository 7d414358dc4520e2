// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// ProposerStream: one proposer connection (see wal_service.h and streams.h).

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/str_cat.h"
#include "common/log.h"
#include "safekeeper/streams.h"
#include "safekeeper/wal_service.h"

namespace neon::safekeeper {
namespace {

namespace pb = ::safekeeper;
using consensus::ConnId;

class ProposerConnection;

class ProposerStreamReactor final : public ProposerReactor {
 public:
  explicit ProposerStreamReactor(std::shared_ptr<ProposerConnection> conn)
      : conn_(std::move(conn)) {}
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  pb::ConsensusFrame read_buf;   // owned by the read in flight
  pb::ConsensusFrame write_buf;  // owned by the write in flight

 private:
  std::shared_ptr<ProposerConnection> conn_;
};

class ProposerConnection final : public ProposerLink,
                                 public std::enable_shared_from_this<ProposerConnection> {
 public:
  explicit ProposerConnection(std::shared_ptr<Timeline> timeline)
      : timeline_(std::move(timeline)) {}

  // Registers with the timeline and starts reading.
  void Start(ProposerStreamReactor* reactor) {
    {
      absl::MutexLock l(&mu_);
      reactor_ = reactor;
    }
    absl::StatusOr<ConnId> id = timeline_->AttachProposer(shared_from_this());
    {
      absl::MutexLock l(&mu_);
      if (id.ok()) {
        id_ = *id;
        attached_ = true;
      } else {
        RequestFinishLocked(ToGrpc(id.status()), true);
      }
    }
    Pump();
  }

  void OnReadDone(bool ok) {
    std::string frame;
    bool forward = false;
    {
      absl::MutexLock l(&mu_);
      if (!ok) {
        RequestFinishLocked(grpc::Status::OK, false);  // the proposer closed its side
      } else if (!finish_requested_) {
        frame = std::move(*reactor_->read_buf.mutable_frame());
        absl::Status s = greeted_ ? absl::OkStatus() : CheckGreeting(frame);
        if (s.ok()) {
          greeted_ = true;
          unprocessed_++;
          forward = true;
        } else {
          RequestFinishLocked(ToGrpc(s), false);
        }
      }
      // While a frame is being handed to the timeline, no further read may start: a Pump on
      // another thread would start it, its OnReadDone could run on another gRPC thread and
      // hand the next frame over first (appends arrived out of order, as "gaps").
      if (!forward) reading_ = false;
    }
    if (forward) {
      timeline_->Receive(id_, std::move(frame));
      absl::MutexLock l(&mu_);
      reading_ = false;
    }
    Pump();
  }

  void OnWriteDone(bool ok) {
    {
      absl::MutexLock l(&mu_);
      writing_ = false;
      if (!ok) RequestFinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"), true);
    }
    Pump();
  }

  void OnCancel() {
    {
      absl::MutexLock l(&mu_);
      RequestFinishLocked(grpc::Status::CANCELLED, true);
    }
    Pump();
  }

  void OnDone() {
    bool attached = false;
    {
      absl::MutexLock l(&mu_);
      reactor_ = nullptr;
      attached = attached_;
    }
    if (attached) timeline_->DetachProposer(id_);
    timeline_->ctx().metrics->proposer_streams->Add(-1);
  }

  // ---- ProposerLink ----
  void Deliver(std::vector<std::string> frames) override {
    {
      absl::MutexLock l(&mu_);
      if (finished_ || drop_output_) return;
      if (out_.size() + frames.size() > kMaxQueuedRepliesPerConn) {
        RequestFinishLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                         "the proposer does not read its replies"),
                            true);
      } else {
        for (std::string& f : frames) out_.push_back(std::move(f));
      }
    }
    Pump();
  }
  void Processed() override {
    {
      absl::MutexLock l(&mu_);
      unprocessed_--;
    }
    Pump();
  }
  void Close(const absl::Status& status) override {
    {
      absl::MutexLock l(&mu_);
      RequestFinishLocked(ToGrpc(status), false);
    }
    Pump();
  }

 private:
  // The first frame must greet this timeline (the metadata named it).
  absl::Status CheckGreeting(const std::string& frame) const {
    absl::StatusOr<consensus::ProposerMessage> msg = consensus::DecodeProposerMessage(frame);
    if (!msg.ok()) return msg.status();
    const auto* g = std::get_if<consensus::ProposerGreeting>(&*msg);
    if (g == nullptr) {
      return absl::InvalidArgumentError("the first message must be a ProposerGreeting");
    }
    if (g->tenant_id != timeline_->tenant_id() || g->timeline_id != timeline_->timeline_id()) {
      return absl::InvalidArgumentError(
          StrCat("the greeting names timeline ", g->tenant_id.ToString(), "/",
                 g->timeline_id.ToString(), " but the metadata names ",
                 timeline_->tenant_id().ToString(), "/", timeline_->timeline_id().ToString()));
    }
    return absl::OkStatus();
  }

  void RequestFinishLocked(grpc::Status status, bool drop_output)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!finish_requested_) {
      finish_requested_ = true;
      final_status_ = std::move(status);
    }
    if (drop_output) {
      drop_output_ = true;
      out_.clear();
    }
  }

  // Starts the next gRPC operation(s); see streams.h.
  void Pump() {
    {
      absl::MutexLock l(&mu_);
      if (pumping_) return;  // the running pump re-evaluates under the lock
      pumping_ = true;
    }
    for (;;) {
      enum class Op { kRead, kWrite, kFinish } op;
      ProposerStreamReactor* r = nullptr;
      grpc::Status status;
      {
        absl::MutexLock l(&mu_);
        r = reactor_;
        if (finished_ || r == nullptr) {
          pumping_ = false;
          return;
        }
        if (!writing_ && !out_.empty()) {
          r->write_buf.set_frame(std::move(out_.front()));
          out_.pop_front();
          writing_ = true;
          op = Op::kWrite;
        } else if (finish_requested_ && !writing_) {
          finished_ = true;
          status = final_status_;
          op = Op::kFinish;
        } else if (!finish_requested_ && !reading_ &&
                   unprocessed_ < kMaxUnprocessedFramesPerConn) {
          reading_ = true;
          op = Op::kRead;
        } else {
          pumping_ = false;
          return;
        }
      }
      switch (op) {
        case Op::kRead:
          r->StartRead(&r->read_buf);
          break;
        case Op::kWrite:
          r->StartWrite(&r->write_buf);
          break;
        case Op::kFinish:
          r->Finish(status);
          break;
      }
    }
  }

  const std::shared_ptr<Timeline> timeline_;
  absl::Mutex mu_;
  ProposerStreamReactor* reactor_ ABSL_GUARDED_BY(mu_) = nullptr;
  ConnId id_;              // set once in Start, before any frame is read
  bool attached_ ABSL_GUARDED_BY(mu_) = false;
  bool greeted_ ABSL_GUARDED_BY(mu_) = false;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  int unprocessed_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<std::string> out_ ABSL_GUARDED_BY(mu_);
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool drop_output_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
  bool pumping_ ABSL_GUARDED_BY(mu_) = false;
};

void ProposerStreamReactor::OnReadDone(bool ok) { conn_->OnReadDone(ok); }
void ProposerStreamReactor::OnWriteDone(bool ok) { conn_->OnWriteDone(ok); }
void ProposerStreamReactor::OnCancel() { conn_->OnCancel(); }
void ProposerStreamReactor::OnDone() {
  conn_->OnDone();
  delete this;
}

class RejectedProposerStream final : public ProposerReactor {
 public:
  explicit RejectedProposerStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

ProposerReactor* NewProposerStream(std::shared_ptr<Timeline> timeline) {
  timeline->ctx().metrics->proposer_streams->Add(1);
  auto conn = std::make_shared<ProposerConnection>(std::move(timeline));
  auto* reactor = new ProposerStreamReactor(conn);
  conn->Start(reactor);
  return reactor;
}

ProposerReactor* RejectProposerStream(const grpc::Status& status) {
  return new RejectedProposerStream(status);
}

}  // namespace neon::safekeeper
