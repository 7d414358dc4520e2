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

int UpdateQueue::Push(const std::string& key, const Info& info) {
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

std::optional<Info> UpdateQueue::Pop() {
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

void Broker::Subscribe(std::shared_ptr<Subscriber> sub, std::optional<std::string> timeline_key) {
  absl::MutexLock l(&mu_);
  if (timeline_key) {
    by_timeline_[*timeline_key].push_back(Entry{std::move(sub), timeline_key});
  } else {
    all_.push_back(Entry{std::move(sub), std::nullopt});
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

absl::Status Broker::Publish(const Info& info) {
  const auto start = std::chrono::steady_clock::now();
  std::string timeline;
  if (absl::Status s = TimelineKey(info.tenant_timeline_id(), &timeline); !s.ok()) return s;
  std::string key(8, '\0');
  const uint64_t sk = info.safekeeper_id();
  for (int i = 0; i < 8; ++i) key[i] = static_cast<char>(sk >> (56 - 8 * i));
  key += timeline;

  std::vector<std::shared_ptr<Subscriber>> targets;
  {
    absl::ReaderMutexLock l(&mu_);
    targets.reserve(all_.size());
    for (const Entry& e : all_) targets.push_back(e.sub);
    auto it = by_timeline_.find(timeline);
    if (it != by_timeline_.end()) {
      for (const Entry& e : it->second) targets.push_back(e.sub);
    }
  }
  for (const auto& sub : targets) sub->Offer(key, info);
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
