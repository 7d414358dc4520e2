// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "storage_broker/broker_service.h"

#include <ctime>
#include <memory>
#include <string>

#include "base/str_cat.h"
#include "common/log.h"

namespace neon::broker {
namespace {

// A stream refused before it started: finishes at once with `status`.
template <typename W>
class RejectWriter final : public grpc::ServerWriteReactor<W> {
 public:
  explicit RejectWriter(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

class RejectReader final : public grpc::ServerReadReactor<Info> {
 public:
  explicit RejectReader(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

// What a subscription stream of wire type W writes for a broker message.
inline void ToWire(const Msg& m, Info* out) { *out = m.safekeeper_timeline_info(); }
inline void ToWire(const Msg& m, Msg* out) { *out = m; }

template <typename W>
class SubscribeReactor;

// The subscriber side of one subscription stream, shared by the broker (which offers updates)
// and the reactor (which writes them). At most one write is in flight (writing_); whoever
// sets writing_ calls StartWrite, and Finish is called only with no write in flight, so the
// reactor is alive whenever a write is started.
template <typename W>
class StreamSink final : public Subscriber {
 public:
  StreamSink(Broker* broker, SubscribeReactor<W>* reactor, size_t max_pending)
      : broker_(broker), reactor_(reactor), queue_(max_pending) {}

  void Offer(const std::string& key, const Msg& msg) override;
  void Close() override {
    RequestFinish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "storage broker shutting down"));
  }
  void OnWriteDone(bool ok);
  void RequestFinish(const grpc::Status& status);

 private:
  Broker* const broker_;
  SubscribeReactor<W>* const reactor_;
  absl::Mutex mu_;
  UpdateQueue queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
  W current_;  // the message in flight; touched only by the owner of writing_
};

template <typename W>
class SubscribeReactor final : public grpc::ServerWriteReactor<W> {
 public:
  SubscribeReactor(Broker* broker, size_t max_pending, std::optional<std::string> timeline_key,
                   TypeMask types)
      : broker_(broker), sink_(std::make_shared<StreamSink<W>>(broker, this, max_pending)) {
    broker_->Subscribe(sink_, std::move(timeline_key), types);
  }
  void OnWriteDone(bool ok) override { sink_->OnWriteDone(ok); }
  void OnCancel() override { sink_->RequestFinish(grpc::Status::CANCELLED); }
  void OnDone() override {
    broker_->Unsubscribe(sink_.get());
    delete this;
  }

 private:
  Broker* const broker_;
  std::shared_ptr<StreamSink<W>> sink_;
};

template <typename W>
void StreamSink<W>::Offer(const std::string& key, const Msg& msg) {
  {
    absl::MutexLock l(&mu_);
    if (finish_requested_) return;
    broker_->dropped()->Increment(queue_.Push(key, msg));
    if (writing_) return;
    ToWire(*queue_.Pop(), &current_);
    writing_ = true;
  }
  reactor_->StartWrite(&current_);
}

template <typename W>
void StreamSink<W>::OnWriteDone(bool ok) {
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
      std::optional<Msg> next = queue_.Pop();
      if (!next) return;
      ToWire(*next, &current_);
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

template <typename W>
void StreamSink<W>::RequestFinish(const grpc::Status& status) {
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
    if (absl::Status s = broker_->Publish(WrapInfo(msg_)); !s.ok()) {
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
  if (grpc::Status s = CheckAuth(context); !s.ok()) return new RejectWriter<Info>(s);
  std::optional<std::string> timeline_key;
  switch (request->subscription_key_case()) {
    case storage_broker::SubscribeSafekeeperInfoRequest::kAll:
      break;
    case storage_broker::SubscribeSafekeeperInfoRequest::kTenantTimelineId: {
      std::string key;
      if (absl::Status s = TimelineKey(request->tenant_timeline_id(), &key); !s.ok()) {
        return new RejectWriter<Info>(
            grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(s.message())));
      }
      timeline_key = std::move(key);
      break;
    }
    default:
      return new RejectWriter<Info>(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "missing subscription key"));
  }
  server::Log(server::LogLevel::kDebug, "subscribe",
              {{"peer", context->peer()}, {"all", !timeline_key.has_value()}});
  return new SubscribeReactor<Info>(broker_, max_pending_updates_, std::move(timeline_key),
                                    kInfoOnly);
}

grpc::ServerWriteReactor<Msg>* BrokerServiceImpl::SubscribeByFilter(
    grpc::CallbackServerContext* context, const storage_broker::SubscribeByFilterRequest* request) {
  if (grpc::Status s = CheckAuth(context); !s.ok()) return new RejectWriter<Msg>(s);
  TypeMask types = 0;
  for (const auto& t : request->types()) {
    switch (t.type()) {
      case storage_broker::SAFEKEEPER_TIMELINE_INFO:
      case storage_broker::SAFEKEEPER_DISCOVERY_REQUEST:
      case storage_broker::SAFEKEEPER_DISCOVERY_RESPONSE:
        types |= TypeBit(t.type());
        break;
      default:
        return new RejectWriter<Msg>(grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT, StrCat("unknown message type ", t.type())));
    }
  }
  std::optional<std::string> timeline_key;
  if (request->has_tenant_timeline_id() && request->tenant_timeline_id().enabled()) {
    std::string key;
    if (absl::Status s = TimelineKey(request->tenant_timeline_id().tenant_timeline_id(), &key);
        !s.ok()) {
      return new RejectWriter<Msg>(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(s.message())));
    }
    timeline_key = std::move(key);
  }
  server::Log(server::LogLevel::kDebug, "subscribe_by_filter",
              {{"peer", context->peer()}, {"all", !timeline_key.has_value()}, {"types", types}});
  return new SubscribeReactor<Msg>(broker_, max_pending_updates_, std::move(timeline_key), types);
}

grpc::ServerUnaryReactor* BrokerServiceImpl::PublishOne(grpc::CallbackServerContext* context,
                                                        const Msg* request,
                                                        google::protobuf::Empty* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  grpc::Status status = CheckAuth(context);
  if (status.ok()) {
    if (absl::Status s = broker_->Publish(*request); !s.ok()) {
      status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(s.message()));
    }
  }
  reactor->Finish(status);
  return reactor;
}

grpc::ServerReadReactor<Info>* BrokerServiceImpl::PublishSafekeeperInfo(
    grpc::CallbackServerContext* context, google::protobuf::Empty* response) {
  if (grpc::Status s = CheckAuth(context); !s.ok()) return new RejectReader(s);
  server::Log(server::LogLevel::kDebug, "publish_stream", {{"peer", context->peer()}});
  return new PublishReactor(broker_, context->peer());
}

}  // namespace neon::broker
