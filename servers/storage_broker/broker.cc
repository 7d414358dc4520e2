// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "storage_broker/broker.h"

#include <algorithm>
#include <chrono>

#include "base/str_cat.h"

namespace neon::broker {

absl::Status TimelineKey(const storage_broker::TenantTimelineId& id, std::string* key) {
  if (id.tenant_id().size() != kIdBytes || id.timeline_id().size() != kIdBytes) {
    return absl::InvalidArgumentError(
        StrCat("tenant_timeline_id needs ", kIdBytes, "-byte tenant_id and timeline_id, got ",
               id.tenant_id().size(), " and ", id.timeline_id().size()));
  }
  *key = id.tenant_id() + id.timeline_id();
  return absl::OkStatus();
}

Msg WrapInfo(const Info& info) {
  Msg m;
  m.set_type(storage_broker::SAFEKEEPER_TIMELINE_INFO);
  *m.mutable_safekeeper_timeline_info() = info;
  return m;
}

int UpdateQueue::Push(const std::string& key, const Msg& info) {
  auto it = pending_.find(key);
  if (it != pending_.end()) {
    it->second = info;
    return 1;
  }
  int dropped = 0;
  if (order_.size() >= max_keys_) {
    pending_.erase(order_.front());
    order_.pop_front();
    dropped = 1;
  }
  pending_.emplace(key, info);
  order_.push_back(key);
  return dropped;
}

std::optional<Msg> UpdateQueue::Pop() {
  if (order_.empty()) return std::nullopt;
  auto node = pending_.extract(order_.front());
  order_.pop_front();
  return std::move(node.mapped());
}

Broker::Broker(server::MetricsRegistry* m) {
  published_ = m->AddCounter("storage_broker_published_messages_total",
                             "Safekeeper timeline updates received from publishers");
  delivered_ =
      m->AddCounter("storage_broker_broadcasted_messages_total", "Updates written to subscribers");
  dropped_ = m->AddCounter("storage_broker_broadcast_drops_total",
                           "Updates a slow subscriber lost to a newer value or to its queue bound");
  subscribers_ = m->AddGauge("storage_broker_active_subscribers", "Open subscription streams");
  publishers_ = m->AddGauge("storage_broker_active_publishers", "Open publication streams");
  fanout_ = m->AddHistogram("storage_broker_publish_fanout", "Subscribers offered each update",
                            {0, 1, 2, 4, 8, 16, 64, 256});
  publish_seconds_ = m->AddHistogram("storage_broker_publish_seconds",
                                     "Time to fan one update out to the subscriber queues",
                                     {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1});
}

void Broker::Subscribe(std::shared_ptr<Subscriber> sub, std::optional<std::string> timeline_key,
                       TypeMask types) {
  absl::MutexLock l(&mu_);
  if (timeline_key) {
    by_timeline_[*timeline_key].push_back(Entry{std::move(sub), timeline_key, types});
  } else {
    all_.push_back(Entry{std::move(sub), std::nullopt, types});
  }
  subscribers_->Add(1);
}

void Broker::Unsubscribe(const Subscriber* sub) {
  absl::MutexLock l(&mu_);
  auto erase_from = [sub](std::vector<Entry>* v) {
    const size_t before = v->size();
    v->erase(
        std::remove_if(v->begin(), v->end(), [sub](const Entry& e) { return e.sub.get() == sub; }),
        v->end());
    return before - v->size();
  };
  size_t removed = erase_from(&all_);
  for (auto it = by_timeline_.begin(); it != by_timeline_.end();) {
    removed += erase_from(&it->second);
    if (it->second.empty()) {
      by_timeline_.erase(it++);
    } else {
      ++it;
    }
  }
  subscribers_->Add(-static_cast<int64_t>(removed));
}

absl::Status Broker::Publish(const Msg& msg) {
  const auto start = std::chrono::steady_clock::now();
  const storage_broker::TenantTimelineId* id = nullptr;
  uint64_t sk = 0;  // discovery requests come from no safekeeper
  switch (msg.type()) {
    case storage_broker::SAFEKEEPER_TIMELINE_INFO:
      if (!msg.has_safekeeper_timeline_info()) {
        return absl::InvalidArgumentError("type SAFEKEEPER_TIMELINE_INFO without that field");
      }
      id = &msg.safekeeper_timeline_info().tenant_timeline_id();
      sk = msg.safekeeper_timeline_info().safekeeper_id();
      break;
    case storage_broker::SAFEKEEPER_DISCOVERY_REQUEST:
      if (!msg.has_safekeeper_discovery_request()) {
        return absl::InvalidArgumentError("type SAFEKEEPER_DISCOVERY_REQUEST without that field");
      }
      id = &msg.safekeeper_discovery_request().tenant_timeline_id();
      break;
    case storage_broker::SAFEKEEPER_DISCOVERY_RESPONSE:
      if (!msg.has_safekeeper_discovery_response()) {
        return absl::InvalidArgumentError("type SAFEKEEPER_DISCOVERY_RESPONSE without that field");
      }
      id = &msg.safekeeper_discovery_response().tenant_timeline_id();
      sk = msg.safekeeper_discovery_response().safekeeper_id();
      break;
    default:
      return absl::InvalidArgumentError(StrCat("unknown message type ", msg.type()));
  }
  std::string timeline;
  if (absl::Status s = TimelineKey(*id, &timeline); !s.ok()) return s;
  std::string key(9, '\0');
  key[0] = static_cast<char>(msg.type());
  for (int i = 0; i < 8; ++i) key[1 + i] = static_cast<char>(sk >> (56 - 8 * i));
  key += timeline;

  const TypeMask bit = TypeBit(msg.type());
  std::vector<std::shared_ptr<Subscriber>> targets;
  {
    absl::ReaderMutexLock l(&mu_);
    targets.reserve(all_.size());
    for (const Entry& e : all_) {
      if (e.types & bit) targets.push_back(e.sub);
    }
    auto it = by_timeline_.find(timeline);
    if (it != by_timeline_.end()) {
      for (const Entry& e : it->second) {
        if (e.types & bit) targets.push_back(e.sub);
      }
    }
  }
  for (const auto& sub : targets) sub->Offer(key, msg);
  published_->Increment();
  fanout_->Observe(static_cast<double>(targets.size()));
  publish_seconds_->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return absl::OkStatus();
}

void Broker::CloseAll() {
  std::vector<std::shared_ptr<Subscriber>> subs;
  {
    absl::ReaderMutexLock l(&mu_);
    for (const Entry& e : all_) subs.push_back(e.sub);
    for (const auto& [k, v] : by_timeline_) {
      for (const Entry& e : v) subs.push_back(e.sub);
    }
  }
  for (const auto& sub : subs) sub->Close();
}

size_t Broker::subscriber_count() const {
  absl::ReaderMutexLock l(&mu_);
  size_t n = all_.size();
  for (const auto& [k, v] : by_timeline_) n += v.size();
  return n;
}

}  // namespace neon::broker
