// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "pageserver/wal_receiver.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "common/log.h"
#include "neon/wal_ingest.h"
#include "safekeeper.grpc.pb.h"
#include "storage_broker.grpc.pb.h"

namespace neon::pageserver {
namespace {

using std::chrono::microseconds;

// How often the manager re-evaluates connections and looks for new timelines.
constexpr int64_t kTickPeriodUs = 100'000;
// Feedback after received WAL at most this often (and on every keepalive).
constexpr int64_t kFeedbackIntervalUs = 200'000;
// Per-safekeeper reconnect backoff (Neon's: 0.1 s, x1.5 per failure, at most 15 s).
constexpr int64_t kBackoffInitialUs = 100'000;
constexpr int64_t kBackoffMaxUs = 15 * kMicrosPerSecond;
// Broker resubscription backoff.
constexpr int64_t kBrokerRetryInitialUs = 100'000;
constexpr int64_t kBrokerRetryMaxUs = 5 * kMicrosPerSecond;
constexpr auto kBrokerCallTimeout = std::chrono::seconds(2);

int64_t NowUs() {
  return std::chrono::duration_cast<microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t WallUs() {
  return std::chrono::duration_cast<microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string RawBytes(const Id128<TenantIdTag>& t) {
  return std::string(reinterpret_cast<const char*>(t.bytes().data()), t.bytes().size());
}
std::string RawBytes(const Id128<TimelineIdTag>& t) {
  return std::string(reinterpret_cast<const char*>(t.bytes().data()), t.bytes().size());
}

// The broker's timeline key: raw tenant id + raw timeline id.
std::string BrokerKey(const TenantId& tenant, const TimelineId& timeline) {
  return RawBytes(tenant) + RawBytes(timeline);
}

std::string ReceiverKey(const TenantShardId& tenant, const TimelineId& timeline) {
  return tenant.ToString() + "/" + timeline.ToString();
}

struct Metrics {
  explicit Metrics(server::MetricsRegistry* m)
      : bytes(m->AddCounter("pageserver_wal_receiver_bytes_total",
                            "WAL bytes received from safekeepers")),
        records(m->AddCounter("pageserver_wal_receiver_records_total", "WAL records ingested")),
        connections(m->AddCounter("pageserver_wal_receiver_connections_total",
                                  "Connections to safekeepers started")),
        failures(m->AddCounter("pageserver_wal_receiver_failures_total",
                               "Connections that ended with an error")),
        switches(m->AddCounter("pageserver_wal_receiver_switches_total",
                               "Connections ended to switch to a better safekeeper")),
        active(m->AddGauge("pageserver_wal_receiver_active_connections",
                           "Open safekeeper connections")),
        discovery(m->AddCounter("pageserver_wal_receiver_discovery_requests_total",
                                "Safekeeper discovery requests published")),
        broker_messages(m->AddCounter("pageserver_broker_messages_total",
                                      "Messages received from the storage broker")) {}
  server::Counter* bytes;
  server::Counter* records;
  server::Counter* connections;
  server::Counter* failures;
  server::Counter* switches;
  server::Gauge* active;
  server::Counter* discovery;
  server::Counter* broker_messages;
};

// One timeline's connection manager and streaming thread.
class TimelineReceiver {
 public:
  TimelineReceiver(std::shared_ptr<Timeline> tl, const WalReceiverOptions* options,
                   Metrics* metrics)
      : tl_(std::move(tl)), options_(options), metrics_(metrics) {
    thread_ = std::thread([this] { Run(); });
  }
  ~TimelineReceiver() { Stop(); }

  const std::shared_ptr<Timeline>& timeline() const { return tl_; }

  void Stop() {
    {
      absl::MutexLock l(&mu_);
      stop_ = true;
      if (conn_ && conn_->ctx != nullptr) conn_->ctx->TryCancel();
      cv_.Signal();
    }
    if (thread_.joinable()) thread_.join();
  }

  void OnCandidate(uint64_t sk, uint64_t commit_lsn, std::string connstr, std::string az,
                   int64_t now) {
    absl::MutexLock l(&mu_);
    Candidate& c = candidates_[sk];
    c.commit_lsn = std::max(c.commit_lsn, commit_lsn);
    if (commit_lsn < c.commit_lsn && now - c.updated_us > options_->lagging_wal_timeout_us) {
      c.commit_lsn = commit_lsn;  // a restarted safekeeper may legitimately report less
    }
    if (!connstr.empty()) c.connstr = std::move(connstr);
    c.az = std::move(az);
    c.updated_us = now;
  }

  // Evaluates the switch rules. Sets *want_discovery when a discovery request is due.
  void Tick(int64_t now, bool* want_discovery) {
    absl::MutexLock l(&mu_);
    for (auto it = candidates_.begin(); it != candidates_.end();) {
      if (now - it->second.updated_us > options_->lagging_wal_timeout_us) {
        candidates_.erase(it++);
      } else {
        ++it;
      }
    }
    if (stop_) return;
    if (!conn_) {
      if (connect_to_) return;
      if (std::optional<uint64_t> best = BestLocked(now, std::nullopt)) {
        connect_to_ = *best;
        cv_.Signal();
      } else if (candidates_.empty() &&
                 (last_discovery_us_ == 0 ||
                  now - last_discovery_us_ >= options_->lagging_wal_timeout_us)) {
        last_discovery_us_ = now;
        *want_discovery = true;
      }
      return;
    }
    if (conn_->ctx == nullptr || conn_->switching) return;  // connecting or already switching
    if (now - conn_->last_msg_us > options_->wal_connect_timeout_us) {
      // Silent: back off from it so another safekeeper (if any) is chosen next.
      FailLocked(conn_->sk, now);
      SwitchLocked(std::nullopt, "no messages for wal_connect_timeout");
      return;
    }
    std::optional<uint64_t> best = BestLocked(now, conn_->sk);
    if (!best) return;
    const Candidate& cand = candidates_[*best];
    uint64_t current = conn_->commit_lsn;
    if (auto it = candidates_.find(conn_->sk); it != candidates_.end()) {
      current = std::max(current, it->second.commit_lsn);
    }
    if (cand.commit_lsn >= current + options_->max_lsn_wal_lag) {
      SwitchLocked(best, "lagging WAL: another safekeeper is max_lsn_wal_lag ahead");
      return;
    }
    const std::string& az = options_->availability_zone;
    if (!az.empty() && cand.az == az && conn_->az != az && cand.commit_lsn >= current) {
      SwitchLocked(best, "a safekeeper in this availability zone is as advanced");
      return;
    }
    if (cand.commit_lsn > current &&
        now - std::max(conn_->last_wal_us, conn_->started_us) > options_->lagging_wal_timeout_us) {
      SwitchLocked(best, "no new WAL for lagging_wal_timeout while another safekeeper has more");
    }
  }

  WalReceiverStatus Status() const {
    absl::MutexLock l(&mu_);
    WalReceiverStatus s;
    s.connected = conn_.has_value() && conn_->ctx != nullptr;
    if (conn_) {
      s.safekeeper_id = conn_->sk;
      s.safekeeper_connstr = conn_->connstr;
      s.last_received_lsn = conn_->received;
      s.safekeeper_commit_lsn = Lsn(conn_->commit_lsn);
    }
    s.candidates = static_cast<int>(candidates_.size());
    s.connections = connections_;
    s.last_error = last_error_;
    return s;
  }

 private:
  struct Candidate {
    uint64_t commit_lsn = 0;
    std::string connstr;
    std::string az;
    int64_t updated_us = 0;
  };
  struct Backoff {
    int64_t until_us = 0;
    int64_t delay_us = 0;
  };
  struct Conn {
    uint64_t sk = 0;
    std::string connstr;
    std::string az;
    int64_t started_us = 0;
    int64_t last_msg_us = 0;
    int64_t last_wal_us = 0;
    uint64_t commit_lsn = 0;
    Lsn received;
    grpc::ClientContext* ctx = nullptr;  // set while the stream is open
    bool switching = false;
  };

  std::optional<uint64_t> BestLocked(int64_t now, std::optional<uint64_t> exclude) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::optional<uint64_t> best;
    for (const auto& [sk, c] : candidates_) {
      if (exclude && sk == *exclude) continue;
      if (c.connstr.empty() || c.commit_lsn == 0) continue;
      if (auto b = backoff_.find(sk); b != backoff_.end() && b->second.until_us > now) continue;
      if (!best) {
        best = sk;
        continue;
      }
      const Candidate& o = candidates_.at(*best);
      const std::string& az = options_->availability_zone;
      if (c.commit_lsn > o.commit_lsn ||
          (c.commit_lsn == o.commit_lsn && !az.empty() && c.az == az && o.az != az)) {
        best = sk;
      }
    }
    return best;
  }

  void FailLocked(uint64_t sk, int64_t attempt_start) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Backoff& b = backoff_[sk];
    b.delay_us = b.delay_us == 0 ? kBackoffInitialUs
                                 : std::min<int64_t>(b.delay_us * 3 / 2, kBackoffMaxUs);
    b.until_us = attempt_start + b.delay_us;
  }

  void SwitchLocked(std::optional<uint64_t> to, const char* reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    server::LogInfo("wal_receiver_switch",
                    {{"tenant_id", tl_->tenant_id().ToString()},
                     {"timeline_id", tl_->id().ToString()},
                     {"from_safekeeper", conn_->sk},
                     {"to_safekeeper", to ? std::to_string(*to) : std::string("best")},
                     {"reason", reason}});
    metrics_->switches->Increment();
    conn_->switching = true;
    connect_to_ = to;
    conn_->ctx->TryCancel();
  }

  void Run() {
    while (true) {
      uint64_t sk = 0;
      std::string connstr;
      int64_t start = 0;
      {
        absl::MutexLock l(&mu_);
        while (!stop_ && !connect_to_) cv_.Wait(&mu_);
        if (stop_) break;
        sk = *connect_to_;
        connect_to_.reset();
        auto it = candidates_.find(sk);
        if (it == candidates_.end() || it->second.connstr.empty()) continue;
        connstr = it->second.connstr;
        start = NowUs();
        conn_ = Conn{};
        conn_->sk = sk;
        conn_->connstr = connstr;
        conn_->az = it->second.az;
        conn_->started_us = start;
        conn_->last_msg_us = start;
        ++connections_;
      }
      metrics_->connections->Increment();
      metrics_->active->Add(1);
      bool delivered = false;
      absl::Status s = StreamFrom(sk, connstr, &delivered);
      metrics_->active->Add(-1);
      {
        absl::MutexLock l(&mu_);
        const bool switching = conn_->switching;
        conn_.reset();
        if (stop_) break;
        if (!switching) {
          // Ended on its own (error, or the safekeeper went away): back off from it.
          if (delivered) backoff_.erase(sk);
          FailLocked(sk, start);
          last_error_ = std::string(s.message());
        }
      }
      if (absl::IsCancelled(s)) {
        server::LogInfo("wal_receiver_disconnected", {{"tenant_id", tl_->tenant_id().ToString()},
                                                      {"timeline_id", tl_->id().ToString()},
                                                      {"safekeeper_id", sk},
                                                      {"reason", "switch or stop"}});
      } else {
        metrics_->failures->Increment();
        server::LogWarn("wal_receiver_disconnected",
                        {{"tenant_id", tl_->tenant_id().ToString()},
                         {"timeline_id", tl_->id().ToString()},
                         {"safekeeper_id", sk},
                         {"error", std::string(s.message())}});
      }
    }
    if (ingester_) {
      if (absl::Status s = ingester_->Commit(); !s.ok()) {
        server::LogWarn("wal_receiver_commit_failed", {{"error", std::string(s.message())}});
      }
    }
  }

  absl::Status SendFeedback(grpc::ClientReaderWriter<safekeeper::StreamWalRequest,
                                                     safekeeper::StreamWalResponse>* stream) {
    const TimelineInfo info = tl_->Info();
    safekeeper::StreamWalRequest req;
    safekeeper::PageserverFeedback* f = req.mutable_feedback();
    f->set_last_received_lsn(ingester_->last_record_end().value());
    f->set_disk_consistent_lsn(info.disk_consistent_lsn.value());
    f->set_remote_consistent_lsn(info.remote_consistent_lsn.value());
    f->set_replytime_us(WallUs());
    f->set_shard_number(tl_->tenant_id().shard.number);
    if (!stream->Write(req)) return absl::UnavailableError("feedback write failed");
    return absl::OkStatus();
  }

  // One connection: streams from the timeline's last_record_lsn until an error, a switch or
  // stop. *delivered tells whether the safekeeper sent anything.
  absl::Status StreamFrom(uint64_t sk, const std::string& connstr, bool* delivered) {
    // A fresh decoder per connection: the previous one may hold part of a record.
    if (ingester_) {
      NEON_RETURN_IF_ERROR(ingester_->Commit());
      ingester_.reset();
    }
    NEON_ASSIGN_OR_RETURN(ingester_, WalIngester::Open(tl_));
    const Lsn start = tl_->Info().last_record_lsn;

    grpc::ClientContext ctx;
    ctx.AddMetadata("neon-tenant-id", tl_->tenant_id().tenant_id.ToString());
    ctx.AddMetadata("neon-timeline-id", tl_->id().ToString());
    if (!options_->auth_token.empty()) {
      ctx.AddMetadata("authorization", "Bearer " + options_->auth_token);
    }
    {
      absl::MutexLock l(&mu_);
      conn_->ctx = &ctx;
      conn_->received = start;
      if (stop_ || conn_->switching) ctx.TryCancel();
    }
    auto detach = [this] {
      absl::MutexLock l(&mu_);
      conn_->ctx = nullptr;
    };
    auto stub = safekeeper::SafekeeperService::NewStub(
        grpc::CreateChannel(connstr, grpc::InsecureChannelCredentials()));
    auto stream = stub->StreamWal(&ctx);
    safekeeper::StreamWalRequest first;
    first.mutable_start()->set_start_lsn(start.value());
    first.mutable_start()->set_reader_node_id(options_->node_id);
    first.mutable_start()->set_shard_number(tl_->tenant_id().shard.number);
    first.mutable_start()->set_shard_count(tl_->tenant_id().shard.count);
    server::LogInfo("wal_receiver_connecting", {{"tenant_id", tl_->tenant_id().ToString()},
                                                {"timeline_id", tl_->id().ToString()},
                                                {"safekeeper_id", sk},
                                                {"safekeeper", connstr},
                                                {"start_lsn", start.ToString()}});
    absl::Status result;
    if (stream->Write(first)) {
      Lsn expected = start;
      int64_t last_feedback = 0;
      safekeeper::StreamWalResponse resp;
      while (stream->Read(&resp)) {
        *delivered = true;
        const int64_t now = NowUs();
        bool keepalive = false;
        uint64_t commit = 0;
        bool got_wal = false;
        if (resp.has_wal()) {
          const safekeeper::WalData& w = resp.wal();
          if (w.start_lsn() != expected.value()) {
            result = absl::DataLossError(StrCat("safekeeper ", sk, " sent WAL at ",
                                                Lsn(w.start_lsn()).ToString(), ", expected ",
                                                expected.ToString()));
            break;
          }
          commit = w.commit_lsn();
          if (!w.data().empty()) {
            const uint64_t records_before = ingester_->stats().records;
            result = ingester_->FeedWal(w.data());
            if (result.ok()) result = ingester_->Commit();
            if (!result.ok()) break;
            expected = Lsn(expected.value() + w.data().size());
            metrics_->bytes->Increment(w.data().size());
            metrics_->records->Increment(ingester_->stats().records - records_before);
            got_wal = true;
          }
        } else if (resp.has_keepalive()) {
          keepalive = true;
          commit = resp.keepalive().commit_lsn();
        } else {
          result = absl::InvalidArgumentError(StrCat("safekeeper ", sk, " sent an empty message"));
          break;
        }
        {
          absl::MutexLock l(&mu_);
          conn_->last_msg_us = now;
          if (got_wal) conn_->last_wal_us = now;
          conn_->commit_lsn = std::max(conn_->commit_lsn, commit);
          conn_->received = expected;
        }
        if (keepalive || now - last_feedback >= kFeedbackIntervalUs) {
          result = SendFeedback(stream.get());
          if (!result.ok()) break;
          last_feedback = now;
        }
      }
    }
    if (!result.ok()) ctx.TryCancel();
    detach();
    const grpc::Status st = stream->Finish();
    if (!result.ok()) return result;
    if (st.error_code() == grpc::StatusCode::CANCELLED) {
      absl::MutexLock l(&mu_);
      if (stop_ || conn_->switching) return absl::CancelledError("cancelled by the receiver");
    }
    if (!st.ok()) {
      return absl::UnavailableError(StrCat("safekeeper ", sk, " (", connstr, "): ",
                                           st.error_message(), " (code ",
                                           static_cast<int>(st.error_code()), ")"));
    }
    return absl::UnavailableError(StrCat("safekeeper ", sk, " ended the stream"));
  }

  const std::shared_ptr<Timeline> tl_;
  const WalReceiverOptions* const options_;
  Metrics* const metrics_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::map<uint64_t, Candidate> candidates_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Backoff> backoff_ ABSL_GUARDED_BY(mu_);
  std::optional<uint64_t> connect_to_ ABSL_GUARDED_BY(mu_);
  std::optional<Conn> conn_ ABSL_GUARDED_BY(mu_);
  int64_t last_discovery_us_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t connections_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_error_ ABSL_GUARDED_BY(mu_);

  // Used by the streaming thread only.
  std::unique_ptr<WalIngester> ingester_;
  std::thread thread_;
};

}  // namespace

class WalReceiverManager::Impl {
 public:
  Impl(Engine* engine, WalReceiverOptions options, server::MetricsRegistry* metrics)
      : engine_(engine), options_(std::move(options)), metrics_(metrics) {
    channel_ = grpc::CreateChannel(options_.broker_endpoint, grpc::InsecureChannelCredentials());
    broker_ = storage_broker::BrokerService::NewStub(channel_);
    broker_thread_ = std::thread([this] { BrokerLoop(); });
    manager_thread_ = std::thread([this] { ManagerLoop(); });
  }

  void Stop() {
    {
      absl::MutexLock l(&mu_);
      if (stopped_) return;
      stopped_ = true;
      if (broker_ctx_ != nullptr) broker_ctx_->TryCancel();
      cv_.SignalAll();
    }
    broker_thread_.join();
    manager_thread_.join();
    std::map<std::string, std::unique_ptr<TimelineReceiver>> receivers;
    {
      absl::MutexLock l(&mu_);
      receivers.swap(receivers_);
      by_broker_key_.clear();
    }
    receivers.clear();  // each stops, commits and joins
  }

  absl::StatusOr<WalReceiverStatus> Status(const TenantShardId& tenant,
                                           const TimelineId& timeline) const {
    absl::MutexLock l(&mu_);
    auto it = receivers_.find(ReceiverKey(tenant, timeline));
    if (it == receivers_.end()) {
      return absl::NotFoundError("no WAL receiver for this timeline");
    }
    return it->second->Status();
  }

 private:
  bool SleepUs(int64_t us) {
    absl::MutexLock l(&mu_);
    cv_.WaitWithTimeout(&mu_, absl::Microseconds(us));
    return !stopped_;
  }

  void AddBrokerMetadata(grpc::ClientContext* ctx) const {
    if (!options_.auth_token.empty()) {
      ctx->AddMetadata("authorization", "Bearer " + options_.auth_token);
    }
  }

  void BrokerLoop() {
    int64_t retry = kBrokerRetryInitialUs;
    while (true) {
      grpc::ClientContext ctx;
      AddBrokerMetadata(&ctx);
      {
        absl::MutexLock l(&mu_);
        if (stopped_) return;
        broker_ctx_ = &ctx;
      }
      storage_broker::SubscribeByFilterRequest req;
      req.add_types()->set_type(storage_broker::SAFEKEEPER_TIMELINE_INFO);
      req.add_types()->set_type(storage_broker::SAFEKEEPER_DISCOVERY_RESPONSE);
      auto reader = broker_->SubscribeByFilter(&ctx, req);
      storage_broker::TypedMessage msg;
      bool any = false;
      while (reader->Read(&msg)) {
        any = true;
        metrics_.broker_messages->Increment();
        Dispatch(msg);
      }
      const grpc::Status st = reader->Finish();
      {
        absl::MutexLock l(&mu_);
        broker_ctx_ = nullptr;
        if (stopped_) return;
      }
      if (any) retry = kBrokerRetryInitialUs;
      server::LogWarn("broker_subscription_ended", {{"broker", options_.broker_endpoint},
                                                    {"error", st.error_message()},
                                                    {"retry_in_ms", retry / 1000}});
      if (!SleepUs(retry)) return;
      retry = std::min(retry * 2, kBrokerRetryMaxUs);
    }
  }

  void Dispatch(const storage_broker::TypedMessage& msg) {
    const storage_broker::TenantTimelineId* id = nullptr;
    uint64_t sk = 0;
    uint64_t commit = 0;
    std::string connstr;
    std::string az;
    if (msg.type() == storage_broker::SAFEKEEPER_TIMELINE_INFO &&
        msg.has_safekeeper_timeline_info()) {
      const auto& i = msg.safekeeper_timeline_info();
      id = &i.tenant_timeline_id();
      sk = i.safekeeper_id();
      commit = i.commit_lsn();
      connstr = i.safekeeper_connstr();
      az = i.availability_zone();
    } else if (msg.type() == storage_broker::SAFEKEEPER_DISCOVERY_RESPONSE &&
               msg.has_safekeeper_discovery_response()) {
      const auto& r = msg.safekeeper_discovery_response();
      id = &r.tenant_timeline_id();
      sk = r.safekeeper_id();
      commit = r.commit_lsn();
      connstr = r.safekeeper_connstr();
      az = r.availability_zone();
    } else {
      return;
    }
    const std::string key = id->tenant_id() + id->timeline_id();
    const int64_t now = NowUs();
    absl::MutexLock l(&mu_);
    auto range = by_broker_key_.equal_range(key);
    for (auto it = range.first; it != range.second; ++it) {
      it->second->OnCandidate(sk, commit, connstr, az, now);
    }
  }

  // Starts receivers for new timelines and stops those whose timeline is gone.
  void Reconcile() {
    std::map<std::string, std::shared_ptr<Timeline>> live;
    for (const TenantShardId& tid : engine_->ListTenants()) {
      absl::StatusOr<std::shared_ptr<Tenant>> t = engine_->GetTenant(tid);
      if (!t.ok()) continue;
      for (const TimelineInfo& info : (*t)->ListTimelines()) {
        absl::StatusOr<std::shared_ptr<Timeline>> tl = (*t)->GetTimeline(info.timeline_id);
        if (tl.ok()) live.emplace(ReceiverKey(tid, info.timeline_id), std::move(*tl));
      }
    }
    std::vector<std::unique_ptr<TimelineReceiver>> gone;
    {
      absl::MutexLock l(&mu_);
      if (stopped_) return;
      for (auto it = receivers_.begin(); it != receivers_.end();) {
        auto found = live.find(it->first);
        // A timeline deleted and re-created under the same id is a new object.
        if (found == live.end() || found->second != it->second->timeline()) {
          server::LogInfo("wal_receiver_stopped",
                          {{"timeline", it->first},
                           {"reason", found == live.end() ? "timeline gone" : "timeline replaced"}});
          RemoveBrokerKeyLocked(it->second.get());
          gone.push_back(std::move(it->second));
          receivers_.erase(it++);
        } else {
          ++it;
        }
      }
      for (auto& [key, tl] : live) {
        if (receivers_.count(key) != 0) continue;
        auto r = std::make_unique<TimelineReceiver>(tl, &options_, &metrics_);
        by_broker_key_.emplace(BrokerKey(tl->tenant_id().tenant_id, tl->id()), r.get());
        server::LogInfo("wal_receiver_started", {{"tenant_id", tl->tenant_id().ToString()},
                                                 {"timeline_id", tl->id().ToString()},
                                                 {"last_record_lsn",
                                                  tl->Info().last_record_lsn.ToString()}});
        receivers_.emplace(key, std::move(r));
      }
    }
    gone.clear();  // stop and join outside the lock
  }

  void RemoveBrokerKeyLocked(TimelineReceiver* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto it = by_broker_key_.begin(); it != by_broker_key_.end();) {
      if (it->second == r) {
        by_broker_key_.erase(it++);
      } else {
        ++it;
      }
    }
  }

  void PublishDiscovery(const TimelineReceiver& r) {
    storage_broker::TypedMessage msg;
    msg.set_type(storage_broker::SAFEKEEPER_DISCOVERY_REQUEST);
    auto* id = msg.mutable_safekeeper_discovery_request()->mutable_tenant_timeline_id();
    id->set_tenant_id(RawBytes(r.timeline()->tenant_id().tenant_id));
    id->set_timeline_id(RawBytes(r.timeline()->id()));
    grpc::ClientContext ctx;
    AddBrokerMetadata(&ctx);
    ctx.set_deadline(std::chrono::system_clock::now() + kBrokerCallTimeout);
    google::protobuf::Empty empty;
    const grpc::Status st = broker_->PublishOne(&ctx, msg, &empty);
    if (st.ok()) {
      metrics_.discovery->Increment();
    } else {
      server::Log(server::LogLevel::kDebug, "discovery_request_failed",
                  {{"error", st.error_message()}});
    }
  }

  void ManagerLoop() {
    while (true) {
      Reconcile();
      std::vector<const TimelineReceiver*> discover;
      {
        absl::MutexLock l(&mu_);
        if (stopped_) return;
        const int64_t now = NowUs();
        for (auto& [key, r] : receivers_) {
          bool want = false;
          r->Tick(now, &want);
          if (want) discover.push_back(r.get());
        }
        // Receivers are only destroyed by this thread (Reconcile) or after it ends (Stop).
      }
      for (const TimelineReceiver* r : discover) PublishDiscovery(*r);
      if (!SleepUs(kTickPeriodUs)) return;
    }
  }

  Engine* const engine_;
  const WalReceiverOptions options_;
  Metrics metrics_;

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<storage_broker::BrokerService::Stub> broker_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* broker_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::map<std::string, std::unique_ptr<TimelineReceiver>> receivers_ ABSL_GUARDED_BY(mu_);
  std::multimap<std::string, TimelineReceiver*> by_broker_key_ ABSL_GUARDED_BY(mu_);

  std::thread broker_thread_;
  std::thread manager_thread_;
};

WalReceiverManager::WalReceiverManager(Engine* engine, WalReceiverOptions options,
                                       server::MetricsRegistry* metrics)
    : impl_(std::make_unique<Impl>(engine, std::move(options), metrics)) {}

WalReceiverManager::~WalReceiverManager() { Stop(); }

void WalReceiverManager::Stop() { impl_->Stop(); }

absl::StatusOr<WalReceiverStatus> WalReceiverManager::Status(const TenantShardId& tenant,
                                                             const TimelineId& timeline) const {
  return impl_->Status(tenant, timeline);
}

}  // namespace neon::pageserver
