// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "safekeeper/context.h"

#include <chrono>

namespace neon::safekeeper {

SafekeeperMetrics::SafekeeperMetrics(server::MetricsRegistry* r)
    : timelines(r->AddGauge("safekeeper_timelines", "Timelines served")),
      proposer_streams(
          r->AddGauge("safekeeper_proposer_streams", "Open ProposerStream connections")),
      wal_readers(r->AddGauge("safekeeper_wal_readers", "Open StreamWal connections")),
      frames_received(r->AddCounter("safekeeper_proposer_messages_total",
                                    "Consensus messages received from proposers")),
      frames_refused(r->AddCounter("safekeeper_proposer_messages_refused_total",
                                   "Consensus messages the acceptor refused")),
      wal_received_bytes(r->AddCounter("safekeeper_proposer_message_bytes_total",
                                       "Bytes of consensus messages received from proposers")),
      wal_sent_bytes(
          r->AddCounter("safekeeper_wal_sent_bytes_total", "WAL bytes sent over StreamWal")),
      flushes(r->AddCounter("safekeeper_flushes_total",
                            "Acceptor flushes (one per batch of proposer messages)")),
      flush_seconds(r->AddHistogram("safekeeper_flush_seconds",
                                    "Time to flush (fsync) a batch of proposer messages",
                                    server::Histogram::LatencyBounds())),
      segments_backed_up(r->AddCounter("safekeeper_backed_up_segments_total",
                                       "WAL segments uploaded to object storage")),
      backup_errors(
          r->AddCounter("safekeeper_backup_errors_total", "Failed WAL segment uploads")),
      segments_removed(r->AddCounter("safekeeper_removed_wal_segments_total",
                                     "Local WAL segments removed below the horizon")),
      recovery_bytes(r->AddCounter("safekeeper_peer_recovery_bytes_total",
                                   "WAL bytes pulled from peer safekeepers")),
      broker_pushes(r->AddCounter("safekeeper_broker_pushed_messages_total",
                                  "Timeline infos published to the broker")),
      broker_updates(r->AddCounter("safekeeper_broker_received_messages_total",
                                   "Peer timeline infos received from the broker")) {}

int64_t MonotonicMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t WallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace neon::safekeeper
