// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Broker: the storage broker's fan-out, independent of the transport.
//
// Publishers hand typed messages (SafekeeperTimelineInfo updates, discovery requests and
// responses) to Publish(); every subscriber whose filter matches (its message types; all
// timelines, or one tenant/timeline) is offered the message. A subscriber keeps an
// UpdateQueue: at most one pending message per (type, safekeeper, timeline) key, the newest,
// and at most a bounded number of keys. So a slow subscriber loses old values (counted as drops) but
// always ends up with the latest one, and a publisher never waits for a subscriber. Nothing is
// kept after delivery and nothing is persisted: a new subscriber sees updates published after
// it subscribed (safekeepers republish every active timeline each second), as in Neon.
//
// Thread safety: Broker's methods may be called from any thread. Publish() holds the broker
// lock (shared) only to collect the matching subscribers; offers are made without it.

#ifndef NEON_SERVERS_STORAGE_BROKER_BROKER_H_
#define NEON_SERVERS_STORAGE_BROKER_BROKER_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "storage_broker.pb.h"

namespace neon::broker {

using Info = storage_broker::SafekeeperTimelineInfo;
using Msg = storage_broker::TypedMessage;

// A set of message types, bit (1 << MessageType).
using TypeMask = uint32_t;
inline constexpr TypeMask TypeBit(storage_broker::MessageType t) { return TypeMask{1} << t; }
inline constexpr TypeMask kInfoOnly = TypeBit(storage_broker::SAFEKEEPER_TIMELINE_INFO);

// A TypedMessage carrying `info`.
Msg WrapInfo(const Info& info);

// Bytes of a tenant id and of a timeline id on the wire.
inline constexpr size_t kIdBytes = 16;
// Default bound on one subscriber's pending keys (Neon's "all" channel holds 16384 messages).
inline constexpr size_t kDefaultMaxPendingUpdates = 16384;

// The 32-byte tenant+timeline key of a TenantTimelineId; InvalidArgument unless both ids are
// kIdBytes long.
absl::Status TimelineKey(const storage_broker::TenantTimelineId& id, std::string* key);

// The newest pending message per key, oldest key first. Not thread-safe.
class UpdateQueue {
 public:
  explicit UpdateQueue(size_t max_keys) : max_keys_(max_keys) {}

  // Queues `info` under `key`. A pending update of the same key is replaced in place (it keeps
  // its position); with max_keys keys pending, the oldest is evicted. Returns the number of
  // updates dropped (0 or 1).
  int Push(const std::string& key, const Msg& msg);
  // The oldest pending update, if any.
  std::optional<Msg> Pop();
  size_t size() const { return order_.size(); }

 private:
  const size_t max_keys_;
  absl::flat_hash_map<std::string, Msg> pending_;
  std::deque<std::string> order_;
};

// Where the broker delivers updates. Offer() is called without broker locks held, possibly
// from several publisher threads at once; it must not block.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  // `key` identifies what `msg` is the newest value of: (type, safekeeper, timeline).
  virtual void Offer(const std::string& key, const Msg& msg) = 0;
  // Ends delivery (the broker is shutting down). Must not call back into the Broker.
  virtual void Close() {}
};

class Broker {
 public:
  explicit Broker(server::MetricsRegistry* metrics);

  // Starts delivering messages of the `types` to `sub`: every timeline when `timeline_key` is
  // empty, else that one.
  void Subscribe(std::shared_ptr<Subscriber> sub, std::optional<std::string> timeline_key,
                 TypeMask types = kInfoOnly);
  // Stops delivering to `sub` (offers already in progress may still complete).
  void Unsubscribe(const Subscriber* sub);
  // Offers `msg` to every matching subscriber. InvalidArgument when its type is unknown, the
  // field its type names is missing, or its tenant_timeline_id is malformed.
  absl::Status Publish(const Msg& msg);
  absl::Status Publish(const Info& info) { return Publish(WrapInfo(info)); }

  // Close()s every subscriber (at shutdown, so open streams end promptly).
  void CloseAll();

  size_t subscriber_count() const;

  // Transport metrics the service updates.
  server::Gauge* publishers() const { return publishers_; }
  server::Counter* delivered() const { return delivered_; }
  server::Counter* dropped() const { return dropped_; }

 private:
  struct Entry {
    std::shared_ptr<Subscriber> sub;
    std::optional<std::string> timeline_key;
    TypeMask types = 0;
  };

  mutable absl::Mutex mu_;
  std::vector<Entry> all_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::vector<Entry>> by_timeline_ ABSL_GUARDED_BY(mu_);

  server::Counter* published_;
  server::Counter* delivered_;
  server::Counter* dropped_;
  server::Gauge* subscribers_;
  server::Gauge* publishers_;
  server::Histogram* fanout_;
  server::Histogram* publish_seconds_;
};

}  // namespace neon::broker

#endif  // NEON_SERVERS_STORAGE_BROKER_BROKER_H_
