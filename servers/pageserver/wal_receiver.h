// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The pageserver's WAL receiver: for every timeline the engine serves, stream committed WAL
// from a safekeeper (safekeeper.SafekeeperService.StreamWal), ingest it (neon/wal_ingest.h)
// and report progress back as feedback.
//
// Which safekeeper: the manager keeps one broker subscription (SubscribeByFilter: timeline
// infos and discovery responses, all timelines) and, per timeline, the latest info of every
// safekeeper heard within lagging_wal_timeout. The choice follows Neon's connection manager
// (reference/neon-safekeeper.md section 8.4), evaluated every kTickPeriod:
//   1. no connection: connect to the candidate with the highest commit LSN (not in backoff);
//   2. nothing (no WAL, no keepalive) from the current safekeeper for wal_connect_timeout:
//      switch;
//   3. a candidate's commit LSN is max_lsn_wal_lag ahead of the current one's: switch;
//   4. a candidate as advanced as the current one is in our availability zone and the
//      current one is not: switch;
//   5. a candidate has more WAL and the current connection brought none for
//      lagging_wal_timeout: switch.
// A failed connection puts that safekeeper in backoff (0.1 s, x1.5 per failure, at most 15 s).
// With no connection and no candidate, a SafekeeperDiscoveryRequest is published at most once
// per lagging_wal_timeout, so safekeepers of an idle timeline announce themselves.
//
// Streaming starts at the timeline's last_record_lsn (after a restart that is the durable
// disk_consistent_lsn, so WAL resumes where the engine's state ends). Each WalData must
// continue the previous one exactly; the ingester makes the records readable after every
// message. Feedback (last received, disk consistent and remote consistent LSNs) goes back
// after received WAL at most every kFeedbackInterval and on every keepalive.
//
// Threads: one broker subscription thread, one manager thread and one streaming thread per
// timeline (timelines are few per node; WAL ingest is the timeline's single writer anyway).
// Timelines are picked up and dropped by polling the engine, so creation, branching, attach
// and deletion need no wiring.
//
// Thread safety: all public methods may be called from any thread.

#ifndef NEON_SERVERS_PAGESERVER_WAL_RECEIVER_H_
#define NEON_SERVERS_PAGESERVER_WAL_RECEIVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "neon/engine.h"

namespace neon::pageserver {

struct WalReceiverOptions {
  // host:port of the storage broker.
  std::string broker_endpoint;
  // This node, reported to safekeepers.
  uint64_t node_id = 1;
  // This node's availability zone ("" = none).
  std::string availability_zone;
  // A JWT sent to the broker and the safekeepers ("" = none).
  std::string auth_token;
  int64_t wal_connect_timeout_us = 10 * kMicrosPerSecond;
  int64_t lagging_wal_timeout_us = 10 * kMicrosPerSecond;
  uint64_t max_lsn_wal_lag = uint64_t{1} << 30;
};

// The receiver's view of one timeline, for the management API.
struct WalReceiverStatus {
  bool connected = false;
  uint64_t safekeeper_id = 0;
  std::string safekeeper_connstr;
  Lsn last_received_lsn;   // end of the WAL received on this connection
  Lsn safekeeper_commit_lsn;
  int candidates = 0;
  uint64_t connections = 0;  // connections made since the timeline was picked up
  std::string last_error;
};

class WalReceiverManager {
 public:
  // `engine` and `metrics` are not owned and outlive the manager. Starts its threads.
  WalReceiverManager(Engine* engine, WalReceiverOptions options, server::MetricsRegistry* metrics);
  // Stops everything (see Stop).
  ~WalReceiverManager();
  WalReceiverManager(const WalReceiverManager&) = delete;
  WalReceiverManager& operator=(const WalReceiverManager&) = delete;

  // Ends every stream, makes what was ingested readable, and joins the threads.
  void Stop();

  // The timeline's receiver state; NotFound if the manager has no receiver for it (yet).
  absl::StatusOr<WalReceiverStatus> Status(const TenantShardId& tenant,
                                           const TimelineId& timeline) const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace neon::pageserver

#endif  // NEON_SERVERS_PAGESERVER_WAL_RECEIVER_H_
