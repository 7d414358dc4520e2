// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Checksummed block files: the bottom layer of the layer file format
// (doc/format/layer.md). A file is a sequence of kBlockSize-byte blocks; each
// block is kBlockPayloadSize bytes of payload followed by a 4-byte trailer:
//
//   trailer = Mask(CRC32C(payload || blkno as u32 big-endian)), big-endian
//
// Including the block number catches a block that is valid but sits at the
// wrong place (misdirected write, copy error).
//
// BlockFileWriter writes block 0 (the summary) last, although it is first in
// the file: the FileSystem seam only appends, so the writer keeps the body
// (blocks 1..n) in memory up to a bound and spills the rest to a side file
// `<path>.spill`, which Finish() copies behind block 0 and deletes.
//
// Thread safety: a BlockFileWriter is used by one thread. A BlockFileReader is
// immutable after Open() and may be used from many threads.

#ifndef NEON_LIB_ENGINE_BLOCK_FILE_H_
#define NEON_LIB_ENGINE_BLOCK_FILE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/page_cache.h"
#include "neon/file_system.h"

namespace neon {

inline constexpr size_t kBlockSize = 8192;
inline constexpr size_t kBlockTrailerSize = 4;
inline constexpr size_t kBlockPayloadSize = kBlockSize - kBlockTrailerSize;
static_assert(kBlockPayloadSize == 8188);
// Most blocks a file may have (u32 block numbers; just under 32 TiB).
inline constexpr uint64_t kMaxBlocks = 0xFFFFFFFF;

// The masked CRC stored in the trailer of block `blkno` with this payload.
uint32_t BlockChecksum(const char* payload, uint32_t blkno);

// Appends blocks 1, 2, ... and finally writes block 0 in Finish().
class BlockFileWriter {
 public:
  // Creates (truncates) `path`. Up to `max_buffered_bytes` of body are kept in
  // memory; beyond that the body goes to `<path>.spill`.
  static absl::StatusOr<std::unique_ptr<BlockFileWriter>> Create(FileSystem* fs,
                                                                 const std::string& path,
                                                                 size_t max_buffered_bytes);
  ~BlockFileWriter();  // deletes a leftover spill file
  BlockFileWriter(const BlockFileWriter&) = delete;
  BlockFileWriter& operator=(const BlockFileWriter&) = delete;

  // The number the next appended block gets (1 for the first).
  uint32_t next_blkno() const { return next_blkno_; }
  // Bytes the file would have if finished now.
  uint64_t size_bytes() const { return uint64_t{next_blkno_} * kBlockSize; }

  // Appends one block. REQUIRES: payload.size() <= kBlockPayloadSize (the
  // rest is zero-filled). ResourceExhausted past kMaxBlocks.
  absl::Status AppendBlock(std::string_view payload);
  // Writes block 0 with `summary` as payload, then the body; syncs and closes.
  absl::Status Finish(std::string_view summary);

  static std::string SpillPath(const std::string& path) { return path + ".spill"; }

 private:
  BlockFileWriter(FileSystem* fs, std::string path, std::unique_ptr<WritableFile> file,
                  size_t max_buffered_bytes);
  absl::Status Spill();
  absl::Status CopySpillToFile();

  FileSystem* const fs_;
  const std::string path_;
  std::unique_ptr<WritableFile> file_;
  const size_t max_buffered_bytes_;
  std::string body_;  // encoded blocks not yet spilled
  std::unique_ptr<WritableFile> spill_;
  bool spill_exists_ = false;  // <path>.spill was created and not yet deleted
  uint64_t spilled_bytes_ = 0;
  uint32_t next_blkno_ = 1;
  bool finished_ = false;
};

// Reads and verifies blocks, caching verified payloads in a PageCache.
class BlockFileReader {
 public:
  // Opens `path`. DataLoss unless the size is a whole number of blocks.
  // `cache` may be null.
  static absl::StatusOr<std::unique_ptr<BlockFileReader>> Open(FileSystem* fs,
                                                               const std::string& path,
                                                               PageCache* cache);

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_size_; }
  uint32_t num_blocks() const { return num_blocks_; }
  uint64_t file_id() const { return file_id_; }
  PageCache* cache() const { return cache_; }

  // The verified payload (kBlockPayloadSize bytes) of block `blkno`, from the
  // cache or from the file. DataLoss on a checksum mismatch or a block past
  // the end. With fill_cache = false a miss is not inserted (scans).
  absl::StatusOr<PageCache::Entry> Read(uint32_t blkno, bool fill_cache = true) const;
  // Reads block `blkno` unverified into `block` (kBlockSize bytes).
  absl::Status ReadRaw(uint32_t blkno, char* block) const;
  // DataLoss unless `block` (kBlockSize bytes) carries a valid trailer.
  absl::Status Verify(uint32_t blkno, const char* block) const;
  // Reads every block from the file (bypassing the cache) and verifies it.
  absl::Status VerifyAll() const;

  // "layer <path> block <n>: <what>" as DataLoss.
  absl::Status Corrupt(uint32_t blkno, std::string_view what) const;

 private:
  BlockFileReader(std::unique_ptr<RandomAccessFile> file, std::string path, uint64_t size,
                  PageCache* cache);

  const std::unique_ptr<RandomAccessFile> file_;
  const std::string path_;
  const uint64_t file_size_;
  const uint32_t num_blocks_;
  PageCache* const cache_;
  const uint64_t file_id_;
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_BLOCK_FILE_H_
