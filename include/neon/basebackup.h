// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Basebackup: a Postgres 15 data directory, as a tar stream, generated from a
// timeline at one LSN (doc/format/basebackup.md; Neon's basebackup.rs).
//
//   BaseBackupOptions o;
//   o.full = true;  // relation files too: stock Postgres starts on it
//   o.gzip = true;
//   absl::Status s = WriteBaseBackup(timeline.get(), o, [&](std::string_view piece) {
//     return SendToClient(piece);  // any error stops the backup and is returned
//   });
//
// The tar holds, in this order: the directories, pg_hba.conf / pg_ident.conf /
// postgresql.auto.conf, the SLRU segments (pg_xact, pg_multixact), PG_VERSION
// and pg_filenode.map per database, relation files (all forks, or only the
// init forks of unlogged relations unless `full`), pg_twophase files,
// neon.signal / zenith.signal, the WAL segment(s) in pg_wal, and
// global/pg_control last, so a truncated tar cannot be started.
//
// Start point. The data is read at L (the requested LSN, or last_record_lsn).
// The backup continues the WAL at S = BaseBackupStartLsn(L): L rounded up to
// a record boundary (8-byte aligned and past a page header). pg_wal holds a
// generated segment with a real XLOG_CHECKPOINT_SHUTDOWN record at S (valid
// page headers, xl_prev, CRC), and pg_control says DB_SHUTDOWNED with its
// checkpoint and redo at S. An unmodified Postgres 15 reads that record,
// needs no recovery, and writes its next record after it. postgresql.conf is
// not in the tar: the caller writes it.
//
// Thread safety: WriteBaseBackup may run on any thread and concurrently with
// other readers and the timeline's writer; it calls `sink` on the calling
// thread only.

#ifndef NEON_INCLUDE_NEON_BASEBACKUP_H_
#define NEON_INCLUDE_NEON_BASEBACKUP_H_

#include <cstdint>
#include <functional>
#include <string_view>

#include "absl/status/status.h"
#include "neon/engine.h"
#include "neon/types.h"

namespace neon {

// The sink receives the stream in consecutive pieces of at most this size.
inline constexpr size_t kBaseBackupMaxPieceBytes = 1u << 20;

struct BaseBackupOptions {
  // The LSN to read at; invalid (0) means the timeline's last_record_lsn.
  Lsn lsn;
  // Every fork of every relation (in 1 GiB segment files), so that a stock
  // Postgres starts on the directory. Otherwise only the init forks of
  // unlogged relations (a compute that reads pages from the page service).
  bool full = false;
  // For a read replica. Neon leaves replication slots out of a replica's
  // backup; this store keeps no slots, so the content is the same.
  bool replica = false;
  // Compress the tar with deflate in gzip framing (a .tar.gz stream).
  bool gzip = false;
  int gzip_level = 1;  // zlib level, 1 (fastest) .. 9
  // Modification time of every tar entry, seconds since the Unix epoch (the
  // library reads no clock; servers pass the current time).
  int64_t mtime_unix_seconds = 0;
  // An LSN above last_record_lsn is waited for this long (DeadlineExceeded
  // when it is not ingested in time); 0 = no wait, OutOfRange at once.
  int64_t wait_lsn_timeout_us = 0;
};

// Receives each piece of the stream, in order. A non-OK status stops the
// backup; WriteBaseBackup returns it.
using BaseBackupSink = std::function<absl::Status(std::string_view piece)>;

struct BaseBackupResult {
  Lsn lsn;                    // L: the LSN the data was read at
  Lsn start_lsn;              // S: the generated checkpoint record's start
  Lsn end_lsn;                // where Postgres writes its first record (after that record)
  Lsn prev_lsn;               // xl_prev of the checkpoint record (invalid: 0 was written)
  uint64_t files = 0;         // regular files in the tar
  uint64_t tar_bytes = 0;     // before compression
  uint64_t output_bytes = 0;  // given to the sink
};

// Writes the basebackup of `tl` to `sink`. The timeline must be a Postgres 15
// timeline holding a control file (imported from a data directory).
// Errors: OutOfRange if the LSN is above last_record_lsn (without a wait),
// below the timeline's branch point, or below the GC cutoff (the engine's
// error, unless a lease covers it); DeadlineExceeded if a wait times out;
// FailedPrecondition if the timeline is not a Postgres 15 one or has no
// control file at the LSN; InvalidArgument for bad options or user
// tablespaces; DataLoss for malformed stored metadata; any error of the sink
// or of a page read is returned as it is, with context. Output already given
// to the sink is then incomplete: pg_control is missing from it.
absl::Status WriteBaseBackup(Timeline* tl, const BaseBackupOptions& opts,
                             const BaseBackupSink& sink, BaseBackupResult* result = nullptr);

// S for a read at `lsn`: aligned up to 8 bytes and moved past the page
// header when it falls on or inside one (24 bytes, 40 on a segment's first
// page). Postgres writes its next record at S + 120 (the 114-byte checkpoint
// record, aligned) plus a page header when the record crosses a page.
Lsn BaseBackupStartLsn(Lsn lsn);

}  // namespace neon

#endif  // NEON_INCLUDE_NEON_BASEBACKUP_H_
