// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// What every part of the safekeeper shares: its configuration, the file system, the
// executor that runs per-timeline work, the optional object store for WAL backup, and the
// metrics. Built once in main() and immutable afterwards (the pointed-to objects are
// thread-safe), so any thread may read it.

#ifndef NEON_SERVERS_SAFEKEEPER_CONTEXT_H_
#define NEON_SERVERS_SAFEKEEPER_CONTEXT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "common/metrics.h"
#include "neon/consensus.h"
#include "neon/executor.h"
#include "neon/file_system.h"
#include "neon/object_store.h"

namespace neon::safekeeper {

// Bounds and periods (Neon's defaults where it has one).
inline constexpr uint64_t kMaxWalChunkBytes = 128 * 1024;    // one WalData message
inline constexpr int kMaxUnprocessedFramesPerConn = 64;      // proposer frames queued per stream
inline constexpr size_t kMaxQueuedRepliesPerConn = 4096;     // replies a proposer has not read
inline constexpr int kMaxProposerConnsPerTimeline = 16;
inline constexpr int kMaxReadersPerTimeline = 64;
inline constexpr int64_t kKeepaliveIntervalUs = 1'000'000;   // StreamWal keepalive when idle
inline constexpr int64_t kTickIntervalUs = 1'000'000;        // housekeeping period
inline constexpr int64_t kCheckpointIntervalUs = 10'000'000; // persist a moved commit LSN
inline constexpr int64_t kDefaultHeartbeatTimeoutUs = 5'000'000;  // peer "alive" window
inline constexpr uint64_t kDefaultMaxOffloaderLagBytes = 128ull << 20;
inline constexpr int64_t kRecoveryCheckIntervalUs = 2'000'000;
inline constexpr int64_t kRecoveryNoDataTimeoutUs = 30'000'000;
inline constexpr int64_t kBackupRetryMaxUs = 5'000'000;
// Object key prefix of backed-up WAL segments: wal/<tenant>/<timeline>/<segment>
// (doc/format/safekeeper.md).
inline constexpr char kWalBackupPrefix[] = "wal/";

struct SafekeeperConfig {
  consensus::NodeId node_id;
  std::string workdir;
  // Addresses published to the broker and peers (host:port).
  std::string advertise_pg;    // the gRPC WAL service
  std::string advertise_http;  // the HTTP API
  std::optional<std::string> availability_zone;
  bool peer_recovery = true;
  uint64_t max_offloader_lag_bytes = kDefaultMaxOffloaderLagBytes;
  int64_t heartbeat_timeout_us = kDefaultHeartbeatTimeoutUs;
  // A JWT sent on calls to peers and the broker ("" = none).
  std::string auth_token;
};

struct SafekeeperMetrics {
  explicit SafekeeperMetrics(server::MetricsRegistry* r);
  server::Gauge* timelines;
  server::Gauge* proposer_streams;
  server::Gauge* wal_readers;
  server::Counter* frames_received;
  server::Counter* frames_refused;
  server::Counter* wal_received_bytes;
  server::Counter* wal_sent_bytes;
  server::Counter* flushes;
  server::Histogram* flush_seconds;
  server::Counter* segments_backed_up;
  server::Counter* backup_errors;
  server::Counter* segments_removed;
  server::Counter* recovery_bytes;
  server::Counter* broker_pushes;
  server::Counter* broker_updates;
};

struct SafekeeperContext {
  SafekeeperConfig config;
  FileSystem* fs = nullptr;             // timelines' files (a no-sync wrapper with --no-sync)
  Executor* executor = nullptr;         // per-timeline batches and WAL reader pumps
  ObjectStore* store = nullptr;         // WAL backup; null = backup off
  SafekeeperMetrics* metrics = nullptr;
};

// Microseconds on a monotonic clock (timeouts, intervals).
int64_t MonotonicMicros();
// Microseconds since the Unix epoch (keepalives).
int64_t WallMicros();

}  // namespace neon::safekeeper

#endif  // NEON_SERVERS_SAFEKEEPER_CONTEXT_H_
