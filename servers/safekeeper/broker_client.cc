// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "safekeeper/broker_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>

#include "common/log.h"

namespace neon::safekeeper {
namespace {

namespace bpb = ::storage_broker;

template <typename Id>
std::string RawId(const Id& id) {
  return std::string(reinterpret_cast<const char*>(id.bytes().data()), Id::kSize);
}

}  // namespace

bpb::SafekeeperTimelineInfo MakeTimelineInfo(const Timeline& tl, const SafekeeperConfig& config) {
  const TimelineStatus s = tl.Status();
  bpb::SafekeeperTimelineInfo info;
  info.set_safekeeper_id(config.node_id.value());
  info.mutable_tenant_timeline_id()->set_tenant_id(RawId(tl.tenant_id()));
  info.mutable_tenant_timeline_id()->set_timeline_id(RawId(tl.timeline_id()));
  info.set_term(s.state.term.value());
  info.set_last_log_term(s.pos.last_log_term.value());
  info.set_flush_lsn(s.pos.flush_lsn.value());
  info.set_commit_lsn(s.state.commit_lsn.value());
  info.set_backup_lsn(s.state.backup_lsn.value());
  info.set_remote_consistent_lsn(s.state.remote_consistent_lsn.value());
  info.set_peer_horizon_lsn(s.state.peer_horizon_lsn.value());
  info.set_local_start_lsn(s.state.local_start_lsn.value());
  info.set_standby_horizon(0);
  info.set_safekeeper_connstr(config.advertise_pg);
  info.set_http_connstr(config.advertise_http);
  if (config.availability_zone) info.set_availability_zone(*config.availability_zone);
  return info;
}

PeerInfo ToPeerInfo(const bpb::SafekeeperTimelineInfo& info) {
  PeerInfo p;
  p.sk_id = info.safekeeper_id();
  p.term = consensus::Term(info.term());
  p.last_log_term = consensus::Term(info.last_log_term());
  p.flush_lsn = Lsn(info.flush_lsn());
  p.commit_lsn = Lsn(info.commit_lsn());
  p.backup_lsn = Lsn(info.backup_lsn());
  p.remote_consistent_lsn = Lsn(info.remote_consistent_lsn());
  p.peer_horizon_lsn = Lsn(info.peer_horizon_lsn());
  p.local_start_lsn = Lsn(info.local_start_lsn());
  p.pg_connstr = info.safekeeper_connstr();
  p.http_connstr = info.http_connstr();
  if (info.has_availability_zone()) p.availability_zone = info.availability_zone();
  p.heard_at_us = MonotonicMicros();
  return p;
}

BrokerClient::BrokerClient(std::string endpoint, TimelineRegistry* registry,
                           const SafekeeperContext* ctx)
    : endpoint_(std::move(endpoint)), registry_(registry), ctx_(ctx) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, int(kBrokerRetryMinUs / 1000));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, int(kBrokerRetryMaxUs / 1000));
  stub_ = bpb::BrokerService::NewStub(
      grpc::CreateCustomChannel(endpoint_, grpc::InsecureChannelCredentials(), args));
}

BrokerClient::~BrokerClient() { Stop(); }

void BrokerClient::Start() {
  threads_.emplace_back([this] {
    Loop("push", [this](grpc::ClientContext* c, grpc::Status* s) { return PushOnce(c, s); });
  });
  threads_.emplace_back([this] {
    Loop("pull", [this](grpc::ClientContext* c, grpc::Status* s) { return PullOnce(c, s); });
  });
  threads_.emplace_back([this] {
    Loop("discovery",
         [this](grpc::ClientContext* c, grpc::Status* s) { return DiscoverOnce(c, s); });
  });
}

void BrokerClient::Stop() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
    for (grpc::ClientContext* c : calls_) c->TryCancel();
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

bool BrokerClient::Prepare(grpc::ClientContext* ctx) {
  if (!ctx_->config.auth_token.empty()) {
    ctx->AddMetadata("authorization", "Bearer " + ctx_->config.auth_token);
  }
  absl::MutexLock l(&mu_);
  if (stop_) return false;
  calls_.insert(ctx);
  return true;
}

void BrokerClient::Release(grpc::ClientContext* ctx) {
  absl::MutexLock l(&mu_);
  calls_.erase(ctx);
}

bool BrokerClient::Sleep(int64_t us) {
  absl::MutexLock l(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Microseconds(us));
  return !stop_;
}

void BrokerClient::Loop(const char* name, const Once& once) {
  int64_t backoff = kBrokerRetryMinUs;
  int failures = 0;  // in a row: the first one of an outage is a warning, the rest debug
  for (;;) {
    bool progressed = false;
    grpc::Status status;
    {
      grpc::ClientContext ctx;
      if (!Prepare(&ctx)) return;
      progressed = once(&ctx, &status);
      Release(&ctx);
    }
    if (progressed) {
      backoff = kBrokerRetryMinUs;
      failures = 0;
    }
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
      failures++;
      server::Log(failures == 1 ? server::LogLevel::kWarn : server::LogLevel::kDebug,
                  "broker_call_failed",
                  {{"loop", name}, {"endpoint", endpoint_}, {"error", status.error_message()},
                   {"failures", failures}});
    }
    if (!Sleep(backoff)) return;
    backoff = std::min(backoff * 2, kBrokerRetryMaxUs);
  }
}

bool BrokerClient::PushOnce(grpc::ClientContext* ctx, grpc::Status* status) {
  google::protobuf::Empty empty;
  std::unique_ptr<grpc::ClientWriter<bpb::SafekeeperTimelineInfo>> writer =
      stub_->PublishSafekeeperInfo(ctx, &empty);
  bool sent = false;
  bool ok = true;
  while (ok) {
    for (const auto& tl : registry_->All()) {
      if (!tl->IsActive()) continue;
      if (!writer->Write(MakeTimelineInfo(*tl, ctx_->config))) {
        ok = false;
        break;
      }
      sent = true;
      ctx_->metrics->broker_pushes->Increment();
    }
    if (ok && !Sleep(kBrokerPushIntervalUs)) break;
  }
  writer->WritesDone();
  *status = writer->Finish();
  return sent;
}

bool BrokerClient::PullOnce(grpc::ClientContext* ctx, grpc::Status* status) {
  bpb::SubscribeSafekeeperInfoRequest req;
  req.mutable_all();
  std::unique_ptr<grpc::ClientReader<bpb::SafekeeperTimelineInfo>> reader =
      stub_->SubscribeSafekeeperInfo(ctx, req);
  bpb::SafekeeperTimelineInfo info;
  bool got = false;
  while (reader->Read(&info)) {
    got = true;
    absl::StatusOr<TenantId> tenant = TenantId::FromBytes(info.tenant_timeline_id().tenant_id());
    absl::StatusOr<TimelineId> timeline =
        TimelineId::FromBytes(info.tenant_timeline_id().timeline_id());
    if (!tenant.ok() || !timeline.ok()) continue;
    absl::StatusOr<std::shared_ptr<Timeline>> tl = registry_->Get(*tenant, *timeline);
    if (!tl.ok()) continue;
    ctx_->metrics->broker_updates->Increment();
    (*tl)->OnPeerInfo(ToPeerInfo(info));
  }
  *status = reader->Finish();
  return got;
}

bool BrokerClient::DiscoverOnce(grpc::ClientContext* ctx, grpc::Status* status) {
  bpb::SubscribeByFilterRequest req;
  req.add_types()->set_type(bpb::SAFEKEEPER_DISCOVERY_REQUEST);
  std::unique_ptr<grpc::ClientReader<bpb::TypedMessage>> reader =
      stub_->SubscribeByFilter(ctx, req);
  bpb::TypedMessage msg;
  bool got = false;
  while (reader->Read(&msg)) {
    got = true;
    if (msg.type() == bpb::SAFEKEEPER_DISCOVERY_REQUEST && msg.has_safekeeper_discovery_request()) {
      Answer(msg.safekeeper_discovery_request());
    }
  }
  *status = reader->Finish();
  return got;
}

void BrokerClient::Answer(const bpb::SafekeeperDiscoveryRequest& req) {
  absl::StatusOr<TenantId> tenant = TenantId::FromBytes(req.tenant_timeline_id().tenant_id());
  absl::StatusOr<TimelineId> timeline = TimelineId::FromBytes(req.tenant_timeline_id().timeline_id());
  if (!tenant.ok() || !timeline.ok()) return;
  absl::StatusOr<std::shared_ptr<Timeline>> tl = registry_->Get(*tenant, *timeline);
  if (!tl.ok()) return;
  bpb::TypedMessage out;
  out.set_type(bpb::SAFEKEEPER_DISCOVERY_RESPONSE);
  bpb::SafekeeperDiscoveryResponse* r = out.mutable_safekeeper_discovery_response();
  r->set_safekeeper_id(ctx_->config.node_id.value());
  *r->mutable_tenant_timeline_id() = req.tenant_timeline_id();
  r->set_commit_lsn((*tl)->Status().state.commit_lsn.value());
  r->set_safekeeper_connstr(ctx_->config.advertise_pg);
  if (ctx_->config.availability_zone) r->set_availability_zone(*ctx_->config.availability_zone);
  r->set_standby_horizon(0);
  grpc::ClientContext call;
  if (!Prepare(&call)) return;
  call.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  google::protobuf::Empty empty;
  grpc::Status s = stub_->PublishOne(&call, out, &empty);
  Release(&call);
  if (!s.ok()) {
    server::LogWarn("broker_discovery_answer_failed",
                    {{"endpoint", endpoint_}, {"error", s.error_message()}});
  }
}

}  // namespace neon::safekeeper
