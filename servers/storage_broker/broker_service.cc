// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "storage_broker/broker_service.h"

#include <ctime>
#include <memory>
#include <string>

#include "common/log.h"

namespace neon::broker {
namespace {

// A stream refused before it started: finishes at once with `status`.
class RejectWriter final : public grpc::ServerWriteReactor<Info> {
 public:
  explicit RejectWriter(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

class RejectReader final : public grpc::ServerReadReactor<Info> {
 public:
  explicit RejectReader(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

class SubscribeReactor;

// The subscriber side of one subscription stream, shared by the broker (which offers updates)
// and the reactor (which writes them). At most one write is in flight (writing_); whoever
// sets writing_ calls StartWrite, and Finish is called only with no write in flight, so the
// reactor is alive whenever a write is started.
class StreamSink final : public Subscriber {
 public:
  StreamSink(Broker* broker, SubscribeReactor* reactor, size_t max_pending)
      : broker_(broker), reactor_(reactor), queue_(max_pending) {}

  void Offer(const std::string& key, const Info& info) override;
  void Close() override {
    RequestFinish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "storage broker shutting down"));
  }
  void OnWriteDone(bool ok);
  void RequestFinish(const grpc::Status& status);

 private:
  Broker* const broker_;
  SubscribeReactor* const reactor_;
  absl::Mutex mu_;
  UpdateQueue queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
  Info current_;  // the message in flight; touched only by the owner of writing_
};

class SubscribeReactor final : public grpc::ServerWriteReactor<Info> {
 public:
  SubscribeReactor(Broker* broker, size_t max_pending, std::optional<std::string> timeline_key)
      : broker_(broker), sink_(std::make_shared<StreamSink>(broker, this, max_pending)) {
    broker_->Subscribe(sink_, std::move(timeline_key));
  }
  void OnWriteDone(bool ok) override { sink_->OnWriteDone(ok); }
  void OnCancel() override { sink_->RequestFinish(grpc::Status::CANCELLED); }
  void OnDone() override {
    broker_->Unsubscribe(sink_.get());
    delete this;
  }

 private:
  Broker* const broker_;
  std::shared_ptr<StreamSink> sink_;
};

void StreamSink::Offer(const std::string& key, const Info& info) {
  {
    absl::MutexLock l(&mu_);
    if (finish_requested_) return;
    broker_->dropped()->Increment(queue_.Push(key, info));
    if (writing_) return;
    current_ = *queue_.Pop();
    writing_ = true;
  }
  reactor_->StartWrite(&current_);
}

void StreamSink::OnWriteDone(bool ok) {
  bool write = false;
  grpc::Status status;
  {
    absl::MutexLock l(&mu_);
    writing_ = false;
    if (ok) broker_->delivered()->Increment();
    if (!ok && !finish_requested_) {
      finish_requested_ = true;
      final_status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed");
    }
    if (!finish_requested_) {
      std::optional<Info> next = queue_.Pop();
      if (!next) return;
      current_ = std::move(*next);
      writing_ = true;
      write = true;
    } else {
      if (finished_) return;
      finished_ = true;
      status = final_status_;
    }
  }
  if (write) {
    reactor_->StartWrite(&current_);
  } else {
    reactor_->Finish(status);
  }
}

void StreamSink::RequestFinish(const grpc::Status& status) {
  {
    absl::MutexLock l(&mu_);
    if (finish_requested_) return;
    finish_requested_ = true;
    final_status_ = status;
    if (writing_ || finished_) return;  // OnWriteDone finishes
    finished_ = true;
  }
  reactor_->Finish(status);
}

// One publication stream: reads updates one at a time and publishes each.
class PublishReactor final : public grpc::ServerReadReactor<Info> {
 public:
  PublishReactor(Broker* broker, std::string peer) : broker_(broker), peer_(std::move(peer)) {
    broker_->publishers()->Add(1);
    StartRead(&msg_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {  // the client closed its side (or the call broke)
      Finish(grpc::Status::OK);
      return;
    }
    if (absl::Status s = broker_->Publish(msg_); !s.ok()) {
      server::LogWarn("bad_publish", {{"peer", peer_}, {"error", std::string(s.message())}});
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(s.message())));
      return;
    }
    StartRead(&msg_);
  }
  void OnDone() override {
    broker_->publishers()->Add(-1);
    delete this;
  }

 private:
  Broker* const broker_;
  const std::string peer_;
  Info msg_;
};

}  // namespace

grpc::Status BrokerServiceImpl::CheckAuth(const grpc::CallbackServerContext* context) const {
  if (verifier_ == nullptr) return grpc::Status::OK;
  const auto& md = context->client_metadata();
  auto it = md.find("authorization");
  absl::Status s = absl::UnauthenticatedError("missing 'authorization: Bearer <token>'");
  if (it != md.end()) {
    const std::string header(it->second.data(), it->second.size());
    absl::StatusOr<std::string_view> token = server::BearerToken(header);
    s = token.status();
    if (s.ok()) {
      absl::StatusOr<server::JwtClaims> claims = verifier_->Verify(*token, std::time(nullptr));
      s = claims.ok() ? server::Authorize(*claims, {"safekeeperdata", "pageserverapi", "admin"},
                                          std::nullopt)
                      : claims.status();
    }
  }
  if (s.ok()) return grpc::Status::OK;
  const auto code = s.code() == absl::StatusCode::kPermissionDenied
                        ? grpc::StatusCode::PERMISSION_DENIED
                        : grpc::StatusCode::UNAUTHENTICATED;
  return grpc::Status(code, std::string(s.message()));
}

grpc::ServerWriteReactor<Info>* BrokerServiceImpl::SubscribeSafekeeperInfo(
    grpc::CallbackServerContext* context,
    const storage_broker::SubscribeSafekeeperInfoRequest* request) {
  if (grpc::Status s = CheckAuth(context); !s.ok()) return new RejectWriter(s);
  std::optional<std::string> timeline_key;
  switch (request->subscription_key_case()) {
    case storage_broker::SubscribeSafekeeperInfoRequest::kAll:
      break;
    case storage_broker::SubscribeSafekeeperInfoRequest::kTenantTimelineId: {
      std::string key;
      if (absl::Status s = TimelineKey(request->tenant_timeline_id(), &key); !s.ok()) {
        return new RejectWriter(
            grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(s.message())));
      }
      timeline_key = std::move(key);
      break;
    }
    default:
      return new RejectWriter(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "missing subscription key"));
  }
  server::Log(server::LogLevel::kDebug, "subscribe",
              {{"peer", context->peer()}, {"all", !timeline_key.has_value()}});
  return new SubscribeReactor(broker_, max_pending_updates_, std::move(timeline_key));
}

grpc::ServerReadReactor<Info>* BrokerServiceImpl::PublishSafekeeperInfo(
    grpc::CallbackServerContext* context, google::protobuf::Empty* response) {
  if (grpc::Status s = CheckAuth(context); !s.ok()) return new RejectReader(s);
  server::Log(server::LogLevel::kDebug, "publish_stream", {{"peer", context->peer()}});
  return new PublishReactor(broker_, context->peer());
}

}  // namespace neon::broker
