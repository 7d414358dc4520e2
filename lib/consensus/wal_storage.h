// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// WalStorage: an acceptor's WAL on disk, in segment files named as Postgres
// names them (24 hex digits: timeline, high and low part of the segment
// number). The segment being written is "<name>.partial"; when full it is
// synced and renamed to "<name>". The byte at LSN x lives in segment
// x / segment_size at offset x % segment_size; the first segment is padded
// with zeros below the timeline's local start.
//
// Durability: Write() only appends; Flush() syncs the current segment (and
// the directory if segments were created or renamed) and then advances
// flush_lsn(). Truncate() is durable when it returns: it deletes the later
// segments one by one from the top (syncing the directory after each), then
// cuts the segment holding the new end, so a crash at any point leaves a
// prefix of the old WAL. Open() finds the end of WAL again by walking the
// segment chain from the persisted commit LSN: full segments continue the
// chain, the first short or missing one ends it. Garbage beyond the end
// (left by a crash during truncation) is ignored and removed by the next
// Truncate().
//
// The segments are not pre-sized: FileSystem::WritableFile is append-only,
// so the file length is the end of WAL. Any error leaves the object failed:
// every later call returns the first error (a failed fsync is never
// retried); reopen to recover.
//
// Thread safety: not thread-safe; one owner.

#ifndef NEON_LIB_CONSENSUS_WAL_STORAGE_H_
#define NEON_LIB_CONSENSUS_WAL_STORAGE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "neon/file_system.h"
#include "neon/types.h"

namespace neon::consensus {

inline constexpr uint32_t kPgTimeline = 1;
inline constexpr char kPartialSuffix[] = ".partial";

// "000000010000000000000003" for segment 3 of 16 MiB segments.
std::string WalSegmentName(uint64_t segno, uint64_t segment_size, uint32_t pg_timeline = kPgTimeline);
// Parses a segment name with or without ".partial"; false for other files.
bool ParseWalSegmentName(std::string_view name, uint64_t segment_size, uint64_t* segno,
                         bool* partial);

class WalStorage {
 public:
  // Opens the WAL in `dir` (created if missing). `local_start` is where this
  // acceptor's WAL begins; the end is searched from `scan_start` (the
  // persisted commit LSN, >= local_start). DataLoss if WAL below scan_start
  // is missing or a segment is oversized.
  // REQUIRES: segment_size is a power of two >= 512.
  static absl::StatusOr<std::unique_ptr<WalStorage>> Open(FileSystem* fs, std::string dir,
                                                          uint64_t segment_size, Lsn local_start,
                                                          Lsn scan_start);

  Lsn write_lsn() const { return write_lsn_; }  // end of written WAL
  Lsn flush_lsn() const { return flush_lsn_; }  // end of durable WAL
  uint64_t segment_size() const { return seg_size_; }

  // Appends WAL. REQUIRES: begin == write_lsn().
  absl::Status Write(Lsn begin, std::string_view data);
  // Makes everything written durable; then flush_lsn() == write_lsn().
  absl::Status Flush();
  // Durably removes all WAL at and after `end`.
  // REQUIRES: local_start <= end <= write_lsn().
  absl::Status Truncate(Lsn end);
  // Reads [begin, end). OutOfRange beyond write_lsn(), NotFound if a segment
  // was removed.
  absl::StatusOr<std::string> Read(Lsn begin, Lsn end);
  // Deletes every segment that lies wholly below the segment of `horizon`.
  // REQUIRES: horizon <= flush_lsn().
  absl::Status RemoveSegmentsBelow(Lsn horizon);

 private:
  struct SegmentFile {
    std::string name;
    uint64_t size = 0;
    bool partial = false;
  };

  WalStorage(FileSystem* fs, std::string dir, uint64_t seg_size, Lsn local_start);
  absl::StatusOr<std::map<uint64_t, SegmentFile>> ListSegments();
  absl::Status FindEnd(Lsn scan_start);
  absl::Status OpenSegmentAt(uint64_t segno, uint64_t offset);
  absl::Status CompleteSegment();
  absl::Status CutSegment(uint64_t segno, const SegmentFile& file, uint64_t offset);
  absl::Status SyncFile(const std::string& path);
  absl::Status Fail(absl::Status s);
  std::string PathOf(std::string_view name) const;
  uint64_t SegNo(Lsn lsn) const { return lsn.value() / seg_size_; }
  uint64_t Offset(Lsn lsn) const { return lsn.value() % seg_size_; }

  FileSystem* fs_;
  std::string dir_;
  uint64_t seg_size_;
  Lsn local_start_;
  Lsn write_lsn_;
  Lsn flush_lsn_;
  std::unique_ptr<WritableFile> cur_;  // the open .partial segment
  uint64_t cur_segno_ = 0;
  bool cur_dirty_ = false;  // cur_ has unsynced bytes
  bool dir_dirty_ = false;  // directory entries changed since the last SyncDir
  absl::Status error_;      // sticky
};

}  // namespace neon::consensus

#endif  // NEON_LIB_CONSENSUS_WAL_STORAGE_H_
