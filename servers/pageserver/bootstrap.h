// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Bootstrap of a root timeline, as Neon does it: run Postgres's initdb into a scratch
// directory, import the resulting (cleanly shut down) data directory into the new timeline at
// its checkpoint LSN, flush it to layer files and delete the scratch directory.
//
// Postgres refuses to run as root: when the server's effective uid is 0, initdb runs through
// `runuser -u postgres --` and the scratch directory is handed to the `postgres` account.
//
// Thread safety: Bootstrap may run concurrently for different timelines (each call has its own
// scratch directory). It blocks for the duration of initdb (a few seconds).

#ifndef NEON_SERVERS_PAGESERVER_BOOTSTRAP_H_
#define NEON_SERVERS_PAGESERVER_BOOTSTRAP_H_

#include <string>

#include "absl/status/statusor.h"
#include "neon/engine.h"

namespace neon::pageserver {

struct BootstrapOptions {
  // Postgres 15's initdb.
  std::string initdb_path = "/usr/lib/postgresql/15/bin/initdb";
  // Where scratch directories are made (must be reachable by the postgres account).
  std::string scratch_root = "/tmp";
  // The superuser initdb creates (Neon's computes connect as cloud_admin).
  std::string superuser = "cloud_admin";
};

// Runs initdb and imports its output into `timeline` (empty). The timeline's
// last_record_lsn afterwards (the checkpoint LSN). FailedPrecondition when initdb is
// missing or fails (with its output), the import's errors otherwise.
absl::StatusOr<Lsn> BootstrapTimeline(const BootstrapOptions& options, Timeline* timeline);

}  // namespace neon::pageserver

#endif  // NEON_SERVERS_PAGESERVER_BOOTSTRAP_H_
