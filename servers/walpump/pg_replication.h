// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// A physical replication client for a stock Postgres 15 on libpq: IDENTIFY_SYSTEM, SHOW,
// CREATE_REPLICATION_SLOT, BASE_BACKUP (PG15 protocol: start result, tablespace result,
// CopyOut of 'n'/'d'/'p' messages, end result) and START_REPLICATION with XLogData,
// keepalives and standby status updates (protocol-replication.html).
//
// Thread safety: one owner thread.

#ifndef NEON_SERVERS_WALPUMP_PG_REPLICATION_H_
#define NEON_SERVERS_WALPUMP_PG_REPLICATION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "neon/types.h"

typedef struct pg_conn PGconn;

namespace neon::walpump {

struct SystemIdentity {
  uint64_t system_id = 0;
  uint32_t timeline = 0;
  Lsn flush_lsn;
};

struct BaseBackupResult {
  Lsn start_lsn;   // the backup's checkpoint redo pointer
  Lsn end_lsn;     // the end of its XLOG_BACKUP_END record
  uint32_t timeline = 0;
  // The main tablespace's archive with the backup's WAL, as the server sends it: without the
  // two zero blocks that end a tar file (the pageserver's import accepts that; it checks
  // that the archive ends at an entry boundary).
  std::string tar;
};

// One message of the replication stream.
struct ReplicationMessage {
  enum Kind { kNone, kWal, kKeepalive } kind = kNone;
  Lsn start;              // kWal: where `data` begins
  Lsn server_end;         // the server's WAL end
  bool reply_requested = false;  // kKeepalive
  std::string data;
};

class PgReplicationConnection {
 public:
  // `conninfo` is a libpq connection string (or URI); replication=true and the application
  // name are added.
  static absl::StatusOr<std::unique_ptr<PgReplicationConnection>> Connect(
      const std::string& conninfo, const std::string& application_name);
  ~PgReplicationConnection();

  int server_version() const;  // PG_VERSION_NUM
  absl::StatusOr<SystemIdentity> IdentifySystem();
  absl::StatusOr<std::string> Show(const std::string& setting);
  // Creates a physical slot that reserves WAL now; OK if it already exists.
  absl::Status CreatePhysicalSlot(const std::string& slot, bool* created);
  // Takes a base backup with WAL. `progress(bytes)` is called as data arrives.
  absl::StatusOr<BaseBackupResult> BaseBackup(const std::string& label,
                                              const std::function<void(uint64_t)>& progress);

  // Streaming. After StartReplication, the socket becomes readable when Receive may have data.
  absl::Status StartReplication(const std::string& slot, Lsn start, uint32_t timeline);
  int socket() const;
  // Next message without blocking: kNone when nothing is buffered. An error when the stream
  // ended or broke.
  absl::StatusOr<ReplicationMessage> Receive();
  // A standby status update; write/flush/apply positions.
  absl::Status SendStatus(Lsn write, Lsn flush, Lsn apply, bool reply_requested);
  // Sends what libpq still buffers (non-blocking mode); true when nothing is left.
  absl::StatusOr<bool> FlushOutput();

 private:
  explicit PgReplicationConnection(PGconn* conn) : conn_(conn) {}
  absl::Status Error(const std::string& what) const;
  PGconn* conn_;
};

}  // namespace neon::walpump

#endif  // NEON_SERVERS_WALPUMP_PG_REPLICATION_H_
