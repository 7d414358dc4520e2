// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Postgres 15 write-ahead log: reading and decoding.
//
// WalStreamDecoder turns a byte stream of WAL (as Postgres writes it to
// pg_wal, or as a safekeeper streams it) into decoded records. The stream may
// start at any record boundary or page boundary; bytes arrive in pieces of any
// size (Feed) and complete records come out (Poll). The decoder checks every
// page header (magic, page address, system id, segment and block size), the
// continuation of records across pages and segments, the prev-link and the
// CRC32C of every record; the first violation stops it with a DataLoss status
// that names the LSN, and it yields nothing past that point.
//
// WalSegmentReader reads a directory of 16 MiB segment files
// (000000010000000000000001, ...) through a FileSystem, starting at an LSN.
//
// Record layout (doc/format/wal.md): an XLogRecord header, block references
// (fork, flags, relation, block, full-page image with hole and pglz/lz4/zstd
// compression), main data, replication origin and top-level xid.
//
// Thread safety: a decoder or reader is used by one thread at a time;
// WalRecord is a plain value.

#ifndef NEON_INCLUDE_NEON_WAL_H_
#define NEON_INCLUDE_NEON_WAL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "neon/file_system.h"
#include "neon/types.h"

namespace neon {

inline constexpr uint32_t kWalBlockSize = 8192;                // XLOG_BLCKSZ
inline constexpr uint64_t kWalSegmentSize = 16ull << 20;       // wal_segment_size
inline constexpr uint32_t kPgPageSize = 8192;                  // BLCKSZ
inline constexpr uint32_t kXLogRecordHeaderSize = 24;          // SizeOfXLogRecord
inline constexpr uint32_t kMaxWalRecordBytes = 1020u << 20;    // XLogRecordMaxSize

// One block reference of a record (XLogRecordBlockHeader and what follows).
struct WalBlockRef {
  uint8_t id = 0;              // 0..32
  uint8_t fork_flags = 0;      // fork number | BKPBLOCK_* flags
  RelTag rel;                  // spc, db, rel and fork
  uint32_t blkno = 0;
  // Full-page image, as stored (possibly compressed, without its hole).
  bool has_image = false;
  bool apply_image = false;    // BKPIMAGE_APPLY: redo restores the image
  uint8_t bimg_info = 0;
  uint16_t bimg_len = 0;
  uint16_t hole_offset = 0;
  uint16_t hole_length = 0;
  uint32_t image_offset = 0;   // into WalRecord::bytes
  // Per-block data.
  bool has_data = false;
  uint16_t data_len = 0;
  uint32_t data_offset = 0;    // into WalRecord::bytes

  bool will_init() const { return (fork_flags & 0x40) != 0; }
};

// A decoded XLogRecord. `bytes` holds the whole record (header included);
// offsets in the block references and main data point into it.
struct WalRecord {
  Lsn lsn;          // start of the record
  Lsn end_lsn;      // end of the record, MAXALIGNed (the next record's start
                    // unless a page header intervenes); values take this LSN
  uint32_t tot_len = 0;
  uint32_t xid = 0;
  Lsn prev;
  uint8_t info = 0;
  uint8_t rmid = 0;
  uint32_t crc = 0;
  std::string bytes;
  absl::InlinedVector<WalBlockRef, 2> blocks;  // in block id order
  uint32_t main_data_offset = 0;
  uint32_t main_data_len = 0;
  std::optional<uint16_t> origin;
  std::optional<uint32_t> toplevel_xid;

  std::string_view main_data() const {
    return std::string_view(bytes).substr(main_data_offset, main_data_len);
  }
  std::string_view block_data(const WalBlockRef& b) const {
    return std::string_view(bytes).substr(b.data_offset, b.data_len);
  }
  const WalBlockRef* block(uint8_t id) const;
  // Bytes of full-page images in the record (pg_waldump's "FPI size").
  uint32_t fpi_len() const;
  // The 8192-byte page of a block's full-page image: decompressed (pglz, lz4
  // or zstd) with its hole filled with zeros. DataLoss if it does not
  // decompress to exactly one page.
  absl::StatusOr<std::string> RestoreImage(const WalBlockRef& b) const;
};

// Decodes one complete record (header included). `lsn` is its start.
// DataLoss on any inconsistency (lengths, block ids, image header).
absl::StatusOr<WalRecord> DecodeWalRecord(Lsn lsn, std::string bytes);

// Why a decoder stopped. Postgres treats all of these as "end of valid WAL"
// during recovery; kZeroLength is what a cleanly ended pg_wal looks like.
enum class WalStop {
  kNone,
  kZeroLength,     // xl_tot_len == 0: zeroed tail
  kBadRecord,      // bad length, rmgr, prev-link or block headers
  kBadChecksum,    // record CRC32C mismatch
  kBadPageHeader,  // magic, page address, flags, sysid, sizes
};

class WalStreamDecoder {
 public:
  // `start` must be a record start or a page boundary (a record continued
  // from the previous page is then skipped). `expected_prev`, when valid, is
  // checked against the first record's xl_prev.
  explicit WalStreamDecoder(Lsn start, Lsn expected_prev = Lsn::Invalid());
  ~WalStreamDecoder();
  WalStreamDecoder(const WalStreamDecoder&) = delete;
  WalStreamDecoder& operator=(const WalStreamDecoder&) = delete;

  // Appends the bytes that follow everything fed so far.
  void Feed(std::string_view bytes);
  // The next complete record, or nullopt when more bytes are needed.
  // DataLoss (naming the LSN) on damage; after an error every call returns it.
  absl::StatusOr<std::optional<WalRecord>> Poll();

  // LSN of the next byte to be consumed; after a record, its end_lsn or the
  // following segment start after an XLOG_SWITCH.
  Lsn position() const;
  // End of the last record returned (MAXALIGNed); Invalid before the first.
  Lsn last_record_end() const;
  Lsn last_record_start() const;
  WalStop stop_reason() const;
  // Bytes buffered and not yet consumed.
  size_t buffered_bytes() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- Text in pg_waldump's format -------------------------------------------
// "XLOG", "Heap", ...; "custom128" for custom resource managers.
std::string WalRmgrName(uint8_t rmid);
// The record type ("INSERT+INIT", "COMMIT", ...), or "UNKNOWN (%x)".
std::string WalRecordType(uint8_t rmid, uint8_t info);
// A brief description of the main data (may be empty; briefer than
// Postgres's rm_desc for most records).
std::string WalRecordDescription(const WalRecord& r);
// One line as pg_waldump prints it, without the newline:
// "rmgr: Heap        len (rec/tot):     59/    59, tx:        735, lsn: ..."
std::string WalRecordLine(const WalRecord& r);

// "000000010000000000000003": timeline 1, the segment holding `lsn`.
std::string WalSegmentFileName(uint32_t timeline, Lsn lsn);
// The start LSN of a segment file name; InvalidArgument if malformed.
absl::StatusOr<Lsn> WalSegmentStart(std::string_view file_name);

// Reads records from a directory of segment files (timeline 1 unless given),
// starting at `start`. Next returns nullopt at a clean end: a missing next
// segment or a zeroed tail. Damage is DataLoss naming the LSN.
class WalSegmentReader {
 public:
  WalSegmentReader(std::shared_ptr<FileSystem> fs, std::string dir, Lsn start,
                   uint32_t timeline = 1);
  ~WalSegmentReader();
  absl::StatusOr<std::optional<WalRecord>> Next();
  const WalStreamDecoder& decoder() const { return decoder_; }

 private:
  absl::Status OpenNextSegment(bool* found);
  absl::Status FeedChunk();

  std::shared_ptr<FileSystem> fs_;
  std::string dir_;
  uint32_t timeline_;
  Lsn next_segment_;
  WalStreamDecoder decoder_;
  std::unique_ptr<RandomAccessFile> segment_;  // being fed, 1 MiB at a time
  std::string segment_path_;
  uint64_t segment_offset_ = 0;
  std::string chunk_;
  bool exhausted_ = false;
};

}  // namespace neon

#endif  // NEON_INCLUDE_NEON_WAL_H_
