// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "walpump/safekeeper_set.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "base/str_cat.h"
#include "common/log.h"

namespace neon::walpump {
namespace {

namespace pb = ::safekeeper;
constexpr auto kTickInterval = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::milliseconds(5000);

}  // namespace

SafekeeperSet::SafekeeperSet(std::vector<SafekeeperTarget> targets, std::string token,
                             int wake_fd)
    : targets_(std::move(targets)), token_(std::move(token)), wake_fd_(wake_fd) {
  for (const SafekeeperTarget& t : targets_) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    stubs_.push_back(pb::SafekeeperService::NewStub(
        grpc::CreateCustomChannel(t.grpc_target, grpc::InsecureChannelCredentials(), args)));
    conns_.push_back(std::make_unique<Conn>());
  }
}

SafekeeperSet::~SafekeeperSet() { Stop(); }

void SafekeeperSet::Wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
}

void SafekeeperSet::Start(consensus::ProposerOptions options) {
  Stop();
  options_ = std::move(options);
  proposer_ = std::make_unique<consensus::Proposer>(options_);
  next_tick_ = Clock::now() + kTickInterval;
  for (int i = 0; i < int(conns_.size()); i++) {
    conns_[i]->backoff = std::chrono::milliseconds(200);
    Connect(i);
  }
}

void SafekeeperSet::Stop() {
  for (int i = 0; i < int(conns_.size()); i++) Close(i, false);
  proposer_.reset();
  std::lock_guard<std::mutex> l(mu_);
  events_.clear();
}

int SafekeeperSet::connected() const {
  int n = 0;
  for (const auto& c : conns_) n += c->up ? 1 : 0;
  return n;
}

std::string SafekeeperSet::last_errors() const {
  std::string out;
  for (size_t i = 0; i < conns_.size(); i++) {
    if (conns_[i]->up || conns_[i]->last_error.empty()) continue;
    if (!out.empty()) out += "; ";
    out += StrCat("safekeeper ", targets_[i].id.value(), ": ", conns_[i]->last_error);
  }
  return out;
}

void SafekeeperSet::Connect(int i) {
  Conn& c = *conns_[i];
  if (c.up || proposer_ == nullptr) return;
  c.ctx = std::make_unique<grpc::ClientContext>();
  c.ctx->AddMetadata("neon-tenant-id", options_.tenant_id.ToString());
  c.ctx->AddMetadata("neon-timeline-id", options_.timeline_id.ToString());
  if (!token_.empty()) c.ctx->AddMetadata("authorization", "Bearer " + token_);
  c.stream = stubs_[i]->ProposerStream(c.ctx.get());
  c.up = true;
  c.closing = false;
  c.out.clear();
  const uint64_t epoch = ++c.epoch;
  Stream* stream = c.stream.get();
  c.reader = std::thread([this, i, epoch, stream] {
    pb::ConsensusFrame f;
    while (stream->Read(&f)) {
      {
        std::lock_guard<std::mutex> l(mu_);
        events_.push_back(Event{i, epoch, f.frame()});
      }
      Wake();
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      events_.push_back(Event{i, epoch, std::nullopt});
    }
    Wake();
  });
  c.writer = std::thread([&c, stream] {
    while (true) {
      std::string frame;
      {
        std::unique_lock<std::mutex> l(c.mu);
        c.cv.wait(l, [&] { return c.closing || !c.out.empty(); });
        if (c.closing) return;
        frame = std::move(c.out.front());
        c.out.pop_front();
      }
      pb::ConsensusFrame f;
      f.set_frame(std::move(frame));
      if (!stream->Write(f)) return;  // the reader sees the end
    }
  });
  consensus::ProposerReady ready;
  proposer_->OnConnected(targets_[i].id, &ready);
  Route(ready);
}

void SafekeeperSet::Close(int i, bool ended_by_server) {
  Conn& c = *conns_[i];
  if (!c.up) return;
  c.up = false;
  {
    std::lock_guard<std::mutex> l(c.mu);
    c.closing = true;
  }
  c.cv.notify_all();
  if (!ended_by_server) c.ctx->TryCancel();
  c.writer.join();
  c.ctx->TryCancel();  // a stream the server ended may still have a pending write side
  c.reader.join();
  grpc::Status s = c.stream->Finish();
  if (ended_by_server) {
    c.last_error = s.ok() ? "the safekeeper closed the stream"
                          : StrCat(s.error_message(), " (code ", int(s.error_code()), ")");
    server::LogWarn("safekeeper_disconnected", {{"safekeeper_id", targets_[i].id.value()},
                                                {"target", targets_[i].grpc_target},
                                                {"error", c.last_error}});
  }
  c.stream.reset();
  c.ctx.reset();
  c.retry_at = Clock::now() + c.backoff;
  c.backoff = std::min(kMaxBackoff, c.backoff * 2);
  if (proposer_ != nullptr) proposer_->OnDisconnected(targets_[i].id);
}

void SafekeeperSet::Route(consensus::ProposerReady& ready) {
  for (consensus::Outgoing& o : ready.messages) {
    for (size_t i = 0; i < targets_.size(); i++) {
      if (targets_[i].id != o.to) continue;
      Conn& c = *conns_[i];
      if (!c.up) break;
      std::string frame = consensus::EncodeProposerMessage(o.msg);
      {
        std::lock_guard<std::mutex> l(c.mu);
        c.out.push_back(std::move(frame));
      }
      c.cv.notify_one();
      break;
    }
  }
  ready.messages.clear();
}

void SafekeeperSet::Handle(Event e) {
  Conn& c = *conns_[e.node];
  if (!c.up || e.epoch != c.epoch) return;  // an earlier connection
  if (!e.frame) {
    Close(e.node, true);
    return;
  }
  absl::StatusOr<consensus::AcceptorMessage> msg = consensus::DecodeAcceptorMessage(*e.frame);
  consensus::ProposerReady ready;
  absl::Status s = msg.ok() ? proposer_->Step(targets_[e.node].id, *msg, &ready) : msg.status();
  Route(ready);
  if (!s.ok()) {
    c.last_error = std::string(s.message());
    server::LogWarn("safekeeper_protocol_error", {{"safekeeper_id", targets_[e.node].id.value()},
                                                  {"error", c.last_error}});
    Close(e.node, false);
  } else {
    c.backoff = std::chrono::milliseconds(200);
  }
}

void SafekeeperSet::Poll() {
  if (proposer_ == nullptr) return;
  std::deque<Event> batch;
  {
    std::lock_guard<std::mutex> l(mu_);
    batch.swap(events_);
  }
  for (Event& e : batch) Handle(std::move(e));
  const auto now = Clock::now();
  for (int i = 0; i < int(conns_.size()); i++) {
    if (!conns_[i]->up && now >= conns_[i]->retry_at) Connect(i);
  }
  if (now >= next_tick_) {
    consensus::ProposerReady ready;
    proposer_->Tick(&ready);
    Route(ready);
    next_tick_ = now + kTickInterval;
  }
}

absl::Status SafekeeperSet::Propose(std::string_view wal) {
  consensus::ProposerReady ready;
  absl::Status s = proposer_->Propose(wal, &ready);
  Route(ready);
  return s;
}

}  // namespace neon::walpump
