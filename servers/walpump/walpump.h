// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// neon_walpump: quorum-durable, branchable storage for an existing, unmodified Postgres 15.
//
// First run (no <state-dir>/state.json): IDENTIFY_SYSTEM, a physical slot that reserves WAL,
// BASE_BACKUP with WAL, the tenant on the pageserver if missing, the backup imported as the
// timeline (PUT .../import_basebackup), the timeline created on every safekeeper at the
// backup's end LSN, state.json written.
//
// Every run: sync-safekeepers (a Proposer in sync mode) gives the agreed end of WAL; a normal
// Proposer is elected exactly there; START_REPLICATION from that LSN on the slot; every
// XLogData payload is proposed to the safekeepers; standby status updates report
// write = received and flush = apply = the quorum commit LSN, so with
// synchronous_standby_names naming the application name, a commit on the source returns only
// once a quorum of safekeepers has it on disk. The slot keeps the source's WAL from the last
// reported flush, so a restart loses nothing. Any failure ends the cycle; it is retried
// after a pause (the safekeepers fence an older proposer by term).
//
// <state-dir>/status.json is rewritten every second: phase (starting, importing, syncing,
// electing, streaming, retrying, failed, stopped), LSNs, the last error.

#ifndef NEON_SERVERS_WALPUMP_WALPUMP_H_
#define NEON_SERVERS_WALPUMP_WALPUMP_H_

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "neon/types.h"

namespace neon::walpump {

struct WalPumpOptions {
  std::string source;            // libpq connection string of the source Postgres
  std::string application_name = "neon_walpump";
  std::string slot = "neon_walpump";
  std::string pageserver;        // host:port of the pageserver's HTTP API
  std::vector<std::string> safekeepers;       // gRPC host:port
  std::vector<std::string> safekeeper_http;   // HTTP host:port, same order
  TenantId tenant_id;
  TimelineId timeline_id;
  std::string state_dir;
  std::string token;  // JWT for the pageserver and the safekeepers; empty = none
};

// Runs until `*stop` is set (then returns OK) or a permanent error. `wake_fd` is an eventfd
// that the stopper writes to after setting `*stop`.
absl::Status RunWalPump(const WalPumpOptions& options, std::atomic<bool>* stop, int wake_fd);

}  // namespace neon::walpump

#endif  // NEON_SERVERS_WALPUMP_WALPUMP_H_
