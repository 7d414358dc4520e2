// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "servers/safekeeper_proposer_util.h"

#include <chrono>

namespace neon::testing {
namespace {

namespace pb = ::safekeeper;
using Clock = std::chrono::steady_clock;

constexpr auto kTickInterval = std::chrono::milliseconds(100);
constexpr size_t kProposeChunk = 64 * 1024;

}  // namespace

char SkWalByte(uint64_t term, uint64_t lsn) {
  uint64_t x = (term * 0x9E3779B97F4A7C15ull) ^ (lsn * 0xC2B2AE3D27D4EB4Full);
  x ^= x >> 29;
  return char(x & 0xff);
}

std::string SkWalBytes(uint64_t term, uint64_t begin, size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i++) out[i] = SkWalByte(term, begin + i);
  return out;
}

GrpcProposer::GrpcProposer(consensus::ProposerOptions options, std::vector<std::string> targets,
                           std::string token)
    : proposer_(std::make_unique<consensus::Proposer>(options)),
      options_(std::move(options)),
      token_(std::move(token)),
      conns_(targets.size()) {
  for (const std::string& t : targets) {
    stubs_.push_back(pb::SafekeeperService::NewStub(
        grpc::CreateChannel(t, grpc::InsecureChannelCredentials())));
  }
}

GrpcProposer::~GrpcProposer() {
  for (int i = 0; i < int(conns_.size()); i++) Close(i, false);
}

void GrpcProposer::SetTarget(int i, const std::string& target) {
  stubs_[i] = pb::SafekeeperService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
}

void GrpcProposer::Poll() {
  std::deque<Event> batch;
  {
    std::lock_guard<std::mutex> l(mu_);
    batch.swap(events_);
  }
  for (Event& e : batch) Handle(std::move(e));
}

void GrpcProposer::Connect(int i) {
  Conn& c = conns_[i];
  if (c.up) return;
  c.ctx = std::make_unique<grpc::ClientContext>();
  c.ctx->AddMetadata("neon-tenant-id", options_.tenant_id.ToString());
  c.ctx->AddMetadata("neon-timeline-id", options_.timeline_id.ToString());
  if (!token_.empty()) c.ctx->AddMetadata("authorization", "Bearer " + token_);
  c.stream = stubs_[i]->ProposerStream(c.ctx.get());
  c.up = true;
  c.ended = false;
  const uint64_t epoch = ++c.epoch;
  Stream* stream = c.stream.get();
  c.reader = std::thread([this, i, epoch, stream] {
    pb::ConsensusFrame f;
    while (stream->Read(&f)) {
      std::lock_guard<std::mutex> l(mu_);
      events_.push_back(Event{i, epoch, f.frame()});
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> l(mu_);
    events_.push_back(Event{i, epoch, std::nullopt});
    cv_.notify_all();
  });
  consensus::ProposerReady ready;
  proposer_->OnConnected(consensus::NodeId(uint64_t(i) + 1), &ready);
  Route(ready);
}

void GrpcProposer::Disconnect(int i) { Close(i, false); }

void GrpcProposer::Close(int i, bool ended_by_server) {
  Conn& c = conns_[i];
  if (!c.up) return;
  c.up = false;
  if (!ended_by_server) c.ctx->TryCancel();
  c.reader.join();
  grpc::Status s = c.stream->Finish();
  closed.emplace_back(i, s);
  c.stream.reset();
  c.ctx.reset();
  proposer_->OnDisconnected(consensus::NodeId(uint64_t(i) + 1));
}

void GrpcProposer::Route(consensus::ProposerReady& ready) {
  for (const consensus::Outgoing& o : ready.messages) {
    const int i = int(o.to.value()) - 1;
    if (i < 0 || i >= int(conns_.size()) || !conns_[i].up) continue;
    pb::ConsensusFrame f;
    f.set_frame(consensus::EncodeProposerMessage(o.msg));
    conns_[i].stream->Write(f);  // a broken stream shows up on the reader side
  }
  ready.messages.clear();
}

void GrpcProposer::Handle(Event e) {
  Conn& c = conns_[e.node];
  if (!c.up || e.epoch != c.epoch) return;  // an earlier connection
  if (!e.frame) {
    Close(e.node, true);
    return;
  }
  absl::StatusOr<consensus::AcceptorMessage> msg = consensus::DecodeAcceptorMessage(*e.frame);
  consensus::ProposerReady ready;
  absl::Status s = msg.ok() ? proposer_->Step(consensus::NodeId(uint64_t(e.node) + 1), *msg, &ready)
                            : msg.status();
  Route(ready);
  if (!s.ok()) {
    step_errors.push_back(std::string(s.message()));
    Close(e.node, false);
  }
}

bool GrpcProposer::RunUntil(const std::function<bool()>& pred, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  auto next_tick = Clock::now() + kTickInterval;
  while (!pred()) {
    const auto now = Clock::now();
    if (now > deadline) return false;
    if (now >= next_tick) {
      consensus::ProposerReady ready;
      proposer_->Tick(&ready);
      Route(ready);
      next_tick = now + kTickInterval;
    }
    std::deque<Event> batch;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_until(l, std::min(next_tick, deadline), [this] { return !events_.empty(); });
      batch.swap(events_);
    }
    for (Event& e : batch) Handle(std::move(e));
  }
  return true;
}

bool GrpcProposer::ProposeBytes(size_t n, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (n > 0) {
    if (Clock::now() > deadline) return false;
    const size_t chunk = std::min(n, kProposeChunk);
    consensus::ProposerReady ready;
    absl::Status s = proposer_->Propose(
        SkWalBytes(proposer_->term().value(), proposer_->available_lsn().value(), chunk), &ready);
    Route(ready);
    if (s.ok()) {
      n -= chunk;
      continue;
    }
    if (!absl::IsResourceExhausted(s)) return false;
    // Back-pressure: let acknowledgements arrive.
    const uint64_t commit = proposer_->commit_lsn().value();
    RunUntil([&] { return proposer_->commit_lsn().value() > commit; }, 1000);
  }
  return true;
}

grpc::Status ReadWal(const std::string& target, const std::string& tenant,
                     const std::string& timeline, uint64_t start_lsn, uint64_t end_lsn,
                     bool include_uncommitted, std::string* wal, int timeout_ms,
                     const std::string& token,
                     const std::optional<pb::PageserverFeedback>& feedback) {
  auto stub = pb::SafekeeperService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  ctx.AddMetadata("neon-tenant-id", tenant);
  ctx.AddMetadata("neon-timeline-id", timeline);
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  auto stream = stub->StreamWal(&ctx);
  pb::StreamWalRequest req;
  req.mutable_start()->set_start_lsn(start_lsn);
  req.mutable_start()->set_reader_node_id(77);
  req.mutable_start()->set_include_uncommitted(include_uncommitted);
  stream->Write(req);
  wal->clear();
  uint64_t next = start_lsn;
  bool sent_feedback = false;
  pb::StreamWalResponse resp;
  while (next < end_lsn && stream->Read(&resp)) {
    if (feedback && !sent_feedback) {
      pb::StreamWalRequest f;
      *f.mutable_feedback() = *feedback;
      stream->Write(f);
      sent_feedback = true;
    }
    if (!resp.has_wal()) continue;
    if (resp.wal().start_lsn() != next) {
      ctx.TryCancel();
      stream->Finish();
      return grpc::Status(grpc::StatusCode::INTERNAL, "WalData not contiguous");
    }
    wal->append(resp.wal().data());
    next += resp.wal().data().size();
  }
  if (next >= end_lsn) {
    if (feedback && !sent_feedback) {
      pb::StreamWalRequest f;
      *f.mutable_feedback() = *feedback;
      stream->Write(f);
    }
    stream->WritesDone();
    return stream->Finish();  // the server ends the stream when the reader closes its side
  }
  return stream->Finish();
}

}  // namespace neon::testing
