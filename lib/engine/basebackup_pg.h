// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The Postgres 15 files a basebackup generates rather than copies
// (doc/format/basebackup.md): pg_control for a clean start at S, the WAL
// segment holding an XLOG_CHECKPOINT_SHUTDOWN record at S, and data page
// checksums (storage/checksum_impl.h) for clusters that have them.
//
// Thread safety: pure functions.

#ifndef NEON_LIB_ENGINE_BASEBACKUP_PG_H_
#define NEON_LIB_ENGINE_BASEBACKUP_PG_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "neon/types.h"

namespace neon::pg {

// ControlFileData (catalog/pg_control.h, 15, x86-64) field offsets.
inline constexpr size_t kControlSystemIdOffset = 0;
inline constexpr size_t kControlVersionOffset = 8;
inline constexpr size_t kControlStateOffset = 16;
inline constexpr size_t kControlCheckPointOffset = 32;
inline constexpr size_t kControlCheckPointCopyOffset = 40;
inline constexpr size_t kControlMinRecoveryPointOffset = 136;
inline constexpr size_t kControlMinRecoveryPointTliOffset = 144;
inline constexpr size_t kControlBackupStartPointOffset = 152;
inline constexpr size_t kControlBackupEndPointOffset = 160;
inline constexpr size_t kControlBackupEndRequiredOffset = 168;
inline constexpr size_t kControlDataChecksumVersionOffset = 252;
inline constexpr size_t kControlCrcOffset = 288;
inline constexpr uint32_t kPgControlVersion = 1300;  // PG_CONTROL_VERSION of 15
inline constexpr uint32_t kDbShutdowned = 1;

// CheckPoint (88 bytes) field offsets.
inline constexpr size_t kCheckPointSize = 88;
inline constexpr size_t kCheckPointRedoOffset = 0;
inline constexpr size_t kCheckPointTliOffset = 8;
inline constexpr size_t kCheckPointPrevTliOffset = 12;
inline constexpr size_t kCheckPointOldestActiveXidOffset = 80;

// The generated WAL: timeline 1, a shutdown checkpoint record of
// 24 (XLogRecord) + 2 (XLR_BLOCK_ID_DATA_SHORT, length) + 88 bytes.
inline constexpr uint32_t kBaseBackupTimeline = 1;
inline constexpr uint32_t kCheckpointRecordSize = 24 + 2 + kCheckPointSize;

// The checkpoint as the backup states it: `stored` (the timeline's
// checkpoint at L) with redo = start, timeline 1 (this and previous), and
// oldestActiveXid invalid, as in a shutdown checkpoint. DataLoss unless
// `stored` is 88 bytes.
absl::StatusOr<std::string> StartCheckpoint(std::string_view stored, Lsn start);

// pg_control from the stored file: state DB_SHUTDOWNED, checkPoint = start,
// checkPointCopy = `checkpoint`, no minimum recovery or backup points, CRC32C
// recomputed. DataLoss if `stored` is too short or its version is not 15's.
absl::StatusOr<std::string> GeneratePgControl(std::string_view stored, std::string_view checkpoint,
                                              Lsn start);

// The XLOG_CHECKPOINT_SHUTDOWN record (kCheckpointRecordSize bytes) with
// xl_prev = prev and its CRC32C.
std::string CheckpointRecord(std::string_view checkpoint, Lsn prev);

// One generated WAL segment file: the pages that are not all zeros, keyed by
// their byte offset in the 16 MiB segment.
struct WalSegmentImage {
  std::string file_name;  // "000000010000000000000003"
  std::map<uint32_t, std::string> pages;
};

// The segment(s) that hold `record` at `start` (a valid record start: 8-byte
// aligned, past the page header), with the page header of the segment's
// first page (long, with the system id), the header of the page holding
// `start` (XLP_FIRST_IS_CONTRECORD and xlp_rem_len covering the bytes before
// `start` when there are any), and the continuation page when the record
// crosses a page (a second segment when it crosses a segment). `*end` is the
// record's end, MAXALIGNed: where the next record goes.
std::vector<WalSegmentImage> GenerateStartWal(Lsn start, uint64_t system_id,
                                              std::string_view record, Lsn* end);

// Postgres's pg_checksum_page for block `blkno` of a relation.
uint16_t PageChecksum(std::string_view page, uint32_t blkno);
// Sets pd_checksum of a data page (not of new, all-zero-header pages).
void SetPageChecksum(std::string* page, uint32_t blkno);

}  // namespace neon::pg

#endif  // NEON_LIB_ENGINE_BASEBACKUP_PG_H_
