// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "servers/wal_source_util.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "safekeeper.grpc.pb.h"
#include "storage_broker.grpc.pb.h"

namespace neon::testing {
namespace {

constexpr uint64_t kSegmentSize = 16 << 20;
constexpr uint64_t kMaxChunk = 128 << 10;
constexpr auto kPublishPeriod = std::chrono::milliseconds(100);
constexpr auto kKeepalivePeriod = std::chrono::milliseconds(500);
constexpr auto kPoll = std::chrono::milliseconds(5);

std::string Raw(const Id128<TenantIdTag>& id) {
  return std::string(reinterpret_cast<const char*>(id.bytes().data()), id.bytes().size());
}
std::string Raw(const Id128<TimelineIdTag>& id) {
  return std::string(reinterpret_cast<const char*>(id.bytes().data()), id.bytes().size());
}

// WAL bytes [lsn, lsn + n) from the segment holding lsn (n stays within it).
bool ReadWal(const std::string& dir, uint64_t lsn, size_t n, std::string* out) {
  const uint64_t segno = lsn / kSegmentSize;
  char name[32];
  std::snprintf(name, sizeof(name), "%08X%08X%08X", 1u, static_cast<unsigned>(segno / 256),
                static_cast<unsigned>(segno % 256));
  std::ifstream f(dir + "/" + name, std::ios::binary);
  if (!f) return false;
  f.seekg(static_cast<std::streamoff>(lsn % kSegmentSize));
  out->resize(n);
  f.read(out->data(), static_cast<std::streamsize>(n));
  return static_cast<size_t>(f.gcount()) == n;
}

}  // namespace

class WalSource::Impl final : public safekeeper::SafekeeperService::Service {
 public:
  explicit Impl(Options o) : o_(std::move(o)), publishing_(o_.publishing) {}

  grpc::Status StreamWal(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<safekeeper::StreamWalResponse, safekeeper::StreamWalRequest>*
          stream) override {
    auto md = ctx->client_metadata();
    auto tenant = md.find("neon-tenant-id");
    auto timeline = md.find("neon-timeline-id");
    if (tenant == md.end() || timeline == md.end() ||
        std::string(tenant->second.data(), tenant->second.size()) != o_.tenant.ToString() ||
        std::string(timeline->second.data(), timeline->second.size()) !=
            o_.timeline.ToString()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown timeline");
    }
    safekeeper::StreamWalRequest first;
    if (!stream->Read(&first) || !first.has_start()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "first message must be start");
    }
    streams_++;
    std::atomic<bool> reader_done{false};
    std::thread reader([&] {
      safekeeper::StreamWalRequest req;
      while (stream->Read(&req)) {
        if (!req.has_feedback()) continue;
        std::lock_guard<std::mutex> l(mu_);
        feedback_.last_received = Lsn(req.feedback().last_received_lsn());
        feedback_.disk_consistent = Lsn(req.feedback().disk_consistent_lsn());
        feedback_.remote_consistent = Lsn(req.feedback().remote_consistent_lsn());
        feedback_.messages++;
      }
      reader_done = true;
    });
    uint64_t pos = first.start().start_lsn();
    auto last_sent = std::chrono::steady_clock::now();
    grpc::Status result = grpc::Status::OK;
    while (!ctx->IsCancelled() && !stopping_ && !reader_done) {
      uint64_t commit = 0;
      bool silent = false;
      {
        std::lock_guard<std::mutex> l(mu_);
        commit = o_.commit_lsn.value();
        silent = silent_;
      }
      if (silent) {
        std::this_thread::sleep_for(kPoll);
        continue;
      }
      safekeeper::StreamWalResponse resp;
      if (pos < commit) {
        const uint64_t n = std::min({commit - pos, kMaxChunk, kSegmentSize - pos % kSegmentSize});
        std::string data;
        if (!ReadWal(o_.wal_dir, pos, n, &data)) {
          result = grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "WAL not available");
          break;
        }
        resp.mutable_wal()->set_start_lsn(pos);
        resp.mutable_wal()->set_data(std::move(data));
        resp.mutable_wal()->set_commit_lsn(commit);
        resp.mutable_wal()->set_flush_lsn(commit);
        resp.mutable_wal()->set_term(1);
        pos += n;
      } else if (std::chrono::steady_clock::now() - last_sent >= kKeepalivePeriod) {
        resp.mutable_keepalive()->set_commit_lsn(commit);
        resp.mutable_keepalive()->set_flush_lsn(commit);
        resp.mutable_keepalive()->set_term(1);
      } else {
        std::this_thread::sleep_for(kPoll);
        continue;
      }
      if (!stream->Write(resp)) break;
      last_sent = std::chrono::steady_clock::now();
    }
    ctx->TryCancel();  // ends the reader's Read
    reader.join();
    return result;
  }

  bool StartServer(std::string* error) {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(this);
    server_ = b.BuildAndStart();
    if (server_ == nullptr || port_ == 0) {
      *error = "cannot start the WAL source's gRPC server";
      return false;
    }
    if (!o_.broker_target.empty()) publisher_ = std::thread([this] { PublishLoop(); });
    return true;
  }

  void PublishLoop() {
    auto stub = storage_broker::BrokerService::NewStub(
        grpc::CreateChannel(o_.broker_target, grpc::InsecureChannelCredentials()));
    while (!stopping_) {
      grpc::ClientContext ctx;
      {
        std::lock_guard<std::mutex> l(mu_);
        publish_ctx_ = &ctx;
      }
      google::protobuf::Empty empty;
      auto writer = stub->PublishSafekeeperInfo(&ctx, &empty);
      while (!stopping_) {
        storage_broker::SafekeeperTimelineInfo info;
        bool publishing = false;
        {
          std::lock_guard<std::mutex> l(mu_);
          publishing = publishing_;
          info.set_safekeeper_id(o_.safekeeper_id);
          info.mutable_tenant_timeline_id()->set_tenant_id(Raw(o_.tenant));
          info.mutable_tenant_timeline_id()->set_timeline_id(Raw(o_.timeline));
          info.set_term(1);
          info.set_last_log_term(1);
          info.set_flush_lsn(o_.commit_lsn.value());
          info.set_commit_lsn(o_.commit_lsn.value());
          info.set_remote_consistent_lsn(feedback_.remote_consistent.value());
          info.set_safekeeper_connstr("127.0.0.1:" + std::to_string(port_));
        }
        if (publishing && !writer->Write(info)) break;
        std::this_thread::sleep_for(kPublishPeriod);
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        publish_ctx_ = nullptr;
      }
      ctx.TryCancel();
      writer->Finish();
      if (!stopping_) std::this_thread::sleep_for(kPublishPeriod);
    }
  }

  void Stop() {
    stopping_ = true;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (publish_ctx_ != nullptr) publish_ctx_->TryCancel();
    }
    if (publisher_.joinable()) publisher_.join();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }

  Options o_;
  mutable std::mutex mu_;
  bool silent_ = false;
  bool publishing_;
  Feedback feedback_;
  std::atomic<int> streams_{0};
  std::atomic<bool> stopping_{false};
  grpc::ClientContext* publish_ctx_ = nullptr;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::thread publisher_;
};

std::unique_ptr<WalSource> WalSource::Start(const Options& options, std::string* error) {
  auto impl = std::make_unique<Impl>(options);
  if (!impl->StartServer(error)) return nullptr;
  return std::unique_ptr<WalSource>(new WalSource(std::move(impl)));
}

WalSource::WalSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WalSource::~WalSource() { impl_->Stop(); }

std::string WalSource::target() const { return "127.0.0.1:" + std::to_string(impl_->port_); }

void WalSource::SetCommitLsn(Lsn lsn) {
  std::lock_guard<std::mutex> l(impl_->mu_);
  impl_->o_.commit_lsn = lsn;
}
void WalSource::SetSilent(bool silent) {
  std::lock_guard<std::mutex> l(impl_->mu_);
  impl_->silent_ = silent;
}
void WalSource::SetPublishing(bool publishing) {
  std::lock_guard<std::mutex> l(impl_->mu_);
  impl_->publishing_ = publishing;
}
WalSource::Feedback WalSource::feedback() const {
  std::lock_guard<std::mutex> l(impl_->mu_);
  return impl_->feedback_;
}
int WalSource::streams() const { return impl_->streams_; }

}  // namespace neon::testing
