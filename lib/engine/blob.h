// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Value blobs in the data region of a layer file (doc/format/layer.md).
// The data region is one logical byte stream laid over the payloads of the
// blocks from kDataStartBlock on: stream offset o lives in block
// 1 + o / 8188 at payload position o % 8188. Blobs are written back to back
// and may span blocks:
//
//   blob  = flags u8 | stored_len varint32 | [raw_len varint32] | stored bytes
//   flags = codec in bits 0..3 (0 none, 1 zstd, 2 lz4); bits 4..7 zero
//
// raw_len is present only when the codec is not "none". A value is
// compressed only if it is at least min_compress_bytes long and the
// compressed blob is strictly smaller than the plain one.
//
// Thread safety: a BlobWriter is used by one thread. BlobReader is immutable
// and may be shared; a BlobBlockHint belongs to one thread.

#ifndef NEON_LIB_ENGINE_BLOB_H_
#define NEON_LIB_ENGINE_BLOB_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/block_file.h"
#include "engine/layer_file.h"

namespace neon {

// Largest value (stored or raw) a blob may hold.
inline constexpr size_t kMaxBlobBytes = size_t{256} << 20;
// flags + two varint32.
inline constexpr size_t kMaxBlobHeaderBytes = 1 + 5 + 5;

class BlobWriter {
 public:
  BlobWriter(BlockFileWriter* out, const LayerWriterOptions& opts);
  ~BlobWriter();
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  // Appends `value` as a blob; returns the stream offset of its header.
  // REQUIRES: value.size() <= kMaxBlobBytes.
  absl::StatusOr<uint64_t> Add(std::string_view value);
  // Writes the last, partly filled block.
  absl::Status Finish();

  uint64_t data_length() const { return data_length_; }
  uint64_t raw_value_bytes() const { return raw_value_bytes_; }
  uint64_t compressed_values() const { return compressed_values_; }

 private:
  // Compresses `value` into scratch_ when that pays off; returns the codec.
  Compression MaybeCompress(std::string_view value);
  absl::Status Append(std::string_view bytes);

  BlockFileWriter* const out_;
  const LayerWriterOptions opts_;
  void* zstd_cctx_ = nullptr;  // ZSTD_CCtx, created on first use
  std::string block_;          // payload of the block being filled
  std::string scratch_;        // compressed value
  uint64_t data_length_ = 0;
  uint64_t raw_value_bytes_ = 0;
  uint64_t compressed_values_ = 0;
};

// The last data block a reader touched, reused by the next read of the same
// caller (consecutive versions of a key usually share a block).
struct BlobBlockHint {
  uint32_t blkno = 0;
  PageCache::Entry block;
};

class BlobReader {
 public:
  BlobReader(const BlockFileReader* file, uint64_t data_length)
      : file_(file), data_length_(data_length) {}

  // Replaces *out with the (decompressed) value of the blob at `offset`.
  // DataLoss if the blob is malformed or runs past the data region.
  absl::Status Read(uint64_t offset, std::string* out, BlobBlockHint* hint,
                    bool fill_cache = true) const;

 private:
  absl::StatusOr<const char*> Block(uint32_t blkno, BlobBlockHint* hint, bool fill_cache) const;
  // Copies stream bytes [offset, offset + n) to dst.
  absl::Status Copy(uint64_t offset, size_t n, char* dst, BlobBlockHint* hint,
                    bool fill_cache) const;
  // Replaces *out with stream bytes [offset, offset + n).
  absl::Status Append(uint64_t offset, size_t n, std::string* out, BlobBlockHint* hint,
                      bool fill_cache) const;
  absl::Status Decompress(Compression codec, std::string_view in, uint32_t blkno,
                          std::string* out) const;

  const BlockFileReader* const file_;
  const uint64_t data_length_;
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_BLOB_H_
