// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Postgres 15 WAL into a timeline (doc/wal-ingest.md).
//
// WalIngester maps every decoded record to timeline updates as Neon's
// pageserver does: one value per referenced block (the page image when the
// record carries a full-page image the redo would restore, else the raw
// record), implicit relation extension, relation create/truncate/drop,
// relmap files, database create (both strategies) and drop, CLOG and
// multixact updates as engine records, commit/abort with subtransactions and
// two-phase state, checkpoint fields, SLRU segments and directories, and the
// visibility-map bit clears that heap records imply. Values take the record's
// end LSN.
//
// Directories (databases, relations per database, SLRU segments, two-phase
// files) are stored as images at their keys; doc/wal-ingest.md gives the
// encoding. Readers such as basebackup list them with the functions below.
//
// ImportDatadir loads a Postgres 15 data directory that was shut down
// cleanly (a base backup taken at a checkpoint) into an empty timeline at the
// checkpoint's LSN: every relation fork, SLRUs, relmaps, pg_control and
// two-phase files. WAL that follows is then ingested from that LSN. It also
// loads an online base backup (pg_basebackup -X fetch, BASE_BACKUP ... WAL):
// the files, copied while the server ran, at the backup's start, then the
// backup's own WAL through its end-of-backup record; the import ends there.
//
// Thread safety: a WalIngester is used by one thread (the timeline's single
// writer). The listing functions are safe from any thread.

#ifndef NEON_INCLUDE_NEON_WAL_INGEST_H_
#define NEON_INCLUDE_NEON_WAL_INGEST_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "neon/engine.h"
#include "neon/file_system.h"
#include "neon/wal.h"

namespace neon {

struct WalIngestStats {
  uint64_t records = 0;
  uint64_t wal_bytes = 0;      // sum of record lengths
  uint64_t values = 0;         // values put into the timeline
  uint64_t page_images = 0;    // of which full-page images
  uint64_t commits = 0;        // FinishWrite calls
};

struct WalIngestOptions {
  // Make the ingested records readable after this many records...
  uint32_t commit_every_records = 100;
  // ... or this many bytes of WAL, whichever comes first.
  uint64_t commit_every_bytes = 8ull << 20;
};

class WalIngester {
 public:
  // Ingests into `timeline` after its last_record_lsn.
  static absl::StatusOr<std::unique_ptr<WalIngester>> Open(std::shared_ptr<Timeline> timeline,
                                                           WalIngestOptions options = {});
  ~WalIngester();

  // Applies one record. Records at or below the timeline's last_record_lsn
  // are skipped (a restarted stream repeats some). InvalidArgument for a
  // record the ingester cannot interpret (user tablespaces); the timeline's
  // own errors pass through.
  absl::Status Ingest(const WalRecord& record);
  // Makes everything ingested so far readable (FinishWrite at the last
  // record's end). Ingest also commits by itself every options' batch.
  absl::Status Commit();

  // Streaming: decodes `bytes` that continue the WAL after what was fed
  // before (the first call starts at the timeline's last_record_lsn) and
  // ingests every complete record. DataLoss on damaged WAL: nothing past the
  // damage is ingested.
  absl::Status FeedWal(std::string_view bytes);

  Lsn last_record_end() const;
  const WalIngestStats& stats() const;

  class Impl;  // internal (lib/engine/wal_ingest_impl.h)

 private:
  explicit WalIngester(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Loads the data directory `dir` (read through `fs`) into the empty timeline
// and returns the LSN it is consistent at. Reports progress through
// `progress` (may be null) every few thousand pages.
//
// Without a backup_label file, `dir` must have been shut down cleanly; the
// data goes in at its checkpoint LSN, which is returned.
//
// With a backup_label (an online base backup of a primary), the data files
// may be torn or newer than the backup's start, and pg_control need not say
// shut down. The WAL in `dir`/pg_wal from the label's START WAL LOCATION to
// the XLOG_BACKUP_END record naming that start is read first (nothing is
// written unless it is all there and undamaged). Then the files go in at the
// start (the start checkpoint's redo pointer, with that checkpoint's values)
// and every record of that WAL is ingested; the first change of each page
// after the start carries a full-page image (Postgres forces them during a
// backup) that replaces the fuzzy copy. Returns the end of the
// end-of-backup record. Reads below that LSN are NOT consistent: a page
// may be newer than the LSN read at, or torn.
//
// Errors: FailedPrecondition if the directory was not shut down cleanly and
// has no backup_label, or the timeline is not empty; InvalidArgument for user
// tablespaces (pg_tblspc entries, a non-empty tablespace_map), a backup taken
// from a standby (BACKUP FROM: standby; it has no end-of-backup record) or a
// malformed backup_label; DataLoss for damaged files (wrong sizes, bad
// pg_control CRC), damaged backup WAL, and a backup whose WAL is incomplete
// ("backup incomplete: WAL from X/Y is missing") or has no end-of-backup
// record. On error the timeline may hold part of the import (nothing, for the
// backup checks above); the caller deletes it.
absl::StatusOr<Lsn> ImportDatadir(FileSystem* fs, const std::string& dir, Timeline* timeline,
                                  void (*progress)(uint64_t pages, void* arg) = nullptr,
                                  void* progress_arg = nullptr);

// The START WAL LOCATION of the online base backup in `dir` (its
// backup_label), nullopt if `dir` has no backup_label. The label is checked
// as ImportDatadir checks it (InvalidArgument for a standby backup, user
// tablespaces or a malformed label).
absl::StatusOr<std::optional<Lsn>> OnlineBackupStartLsn(FileSystem* fs, const std::string& dir);

// ---- Listing the stored directories (as of `lsn`) ---------------------------
// (spc, db) of every database, and whether it has a relmap file.
absl::StatusOr<std::vector<std::pair<uint32_t, uint32_t>>> ListDatabases(Timeline* tl, Lsn lsn);
// Every relation fork of a database.
absl::StatusOr<std::vector<RelTag>> ListRelations(Timeline* tl, uint32_t spc, uint32_t db,
                                                  Lsn lsn);

}  // namespace neon

#endif  // NEON_INCLUDE_NEON_WAL_INGEST_H_
