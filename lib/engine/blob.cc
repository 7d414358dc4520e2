// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/blob.h"

#include <lz4.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>

#include "base/check.h"
#include "base/coding.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "engine/layer_summary.h"

namespace neon {
namespace {

constexpr uint8_t kCodecMask = 0x0F;

uint32_t BlockOf(uint64_t offset) {
  return uint32_t(LayerSummary::kDataStartBlock + offset / kBlockPayloadSize);
}

// One decompression context per thread: ZSTD_decompress() would allocate a
// fresh one (~100 KiB) on every call.
ZSTD_DCtx* ThreadDCtx() {
  struct Holder {
    ZSTD_DCtx* ctx = ZSTD_createDCtx();
    ~Holder() { ZSTD_freeDCtx(ctx); }
  };
  thread_local Holder holder;
  return holder.ctx;
}

}  // namespace

// ---- BlobWriter ---------------------------------------------------------------

BlobWriter::BlobWriter(BlockFileWriter* out, const LayerWriterOptions& opts)
    : out_(out), opts_(opts) {
  block_.reserve(kBlockPayloadSize);
}

BlobWriter::~BlobWriter() {
  if (zstd_cctx_ != nullptr) ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(zstd_cctx_));
}

Compression BlobWriter::MaybeCompress(std::string_view value) {
  if (opts_.compression == Compression::kNone || value.size() < opts_.min_compress_bytes) {
    return Compression::kNone;
  }
  if (opts_.compression == Compression::kZstd) {
    if (zstd_cctx_ == nullptr) zstd_cctx_ = ZSTD_createCCtx();
    if (zstd_cctx_ == nullptr) return Compression::kNone;
    scratch_.resize(ZSTD_compressBound(value.size()));
    const size_t n = ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(zstd_cctx_), scratch_.data(),
                                       scratch_.size(), value.data(), value.size(),
                                       opts_.zstd_level);
    if (ZSTD_isError(n)) return Compression::kNone;
    scratch_.resize(n);
  } else if (opts_.compression == Compression::kLz4) {
    if (value.size() > size_t(LZ4_MAX_INPUT_SIZE)) return Compression::kNone;
    scratch_.resize(LZ4_compressBound(int(value.size())));
    const int n = LZ4_compress_default(value.data(), scratch_.data(), int(value.size()),
                                       int(scratch_.size()));
    if (n <= 0) return Compression::kNone;
    scratch_.resize(size_t(n));
  } else {
    return Compression::kNone;
  }
  const size_t plain = VarintLength(value.size()) + value.size();
  const size_t packed = VarintLength(scratch_.size()) + VarintLength(value.size()) + scratch_.size();
  return packed < plain ? opts_.compression : Compression::kNone;
}

absl::StatusOr<uint64_t> BlobWriter::Add(std::string_view value) {
  NEON_CHECK(value.size() <= kMaxBlobBytes);
  const uint64_t offset = data_length_;
  const Compression codec = MaybeCompress(value);
  std::string header;  // at most kMaxBlobHeaderBytes: fits the small-string buffer
  PutU8(&header, uint8_t(codec));
  if (codec == Compression::kNone) {
    PutVarint32(&header, uint32_t(value.size()));
  } else {
    PutVarint32(&header, uint32_t(scratch_.size()));
    PutVarint32(&header, uint32_t(value.size()));
    compressed_values_++;
  }
  NEON_RETURN_IF_ERROR(Append(header));
  NEON_RETURN_IF_ERROR(Append(codec == Compression::kNone ? value : std::string_view(scratch_)));
  raw_value_bytes_ += value.size();
  return offset;
}

absl::Status BlobWriter::Append(std::string_view bytes) {
  while (!bytes.empty()) {
    const size_t take = std::min(kBlockPayloadSize - block_.size(), bytes.size());
    block_.append(bytes.data(), take);
    bytes.remove_prefix(take);
    data_length_ += take;
    if (block_.size() == kBlockPayloadSize) {
      NEON_CHECK(out_->next_blkno() == BlockOf(data_length_ - 1));
      NEON_RETURN_IF_ERROR(out_->AppendBlock(block_));
      block_.clear();
    }
  }
  return absl::OkStatus();
}

absl::Status BlobWriter::Finish() {
  if (block_.empty()) return absl::OkStatus();
  NEON_CHECK(out_->next_blkno() == BlockOf(data_length_ - 1));
  NEON_RETURN_IF_ERROR(out_->AppendBlock(block_));
  block_.clear();
  return absl::OkStatus();
}

// ---- BlobReader ---------------------------------------------------------------

absl::StatusOr<const char*> BlobReader::Block(uint32_t blkno, BlobBlockHint* hint,
                                              bool fill_cache) const {
  if (hint->block == nullptr || hint->blkno != blkno) {
    NEON_ASSIGN_OR_RETURN(hint->block, file_->Read(blkno, fill_cache));
    hint->blkno = blkno;
  }
  return hint->block->data();
}

absl::Status BlobReader::Copy(uint64_t offset, size_t n, char* dst, BlobBlockHint* hint,
                              bool fill_cache) const {
  while (n > 0) {
    const size_t in_block = size_t(offset % kBlockPayloadSize);
    const size_t take = std::min(n, kBlockPayloadSize - in_block);
    NEON_ASSIGN_OR_RETURN(const char* block, Block(BlockOf(offset), hint, fill_cache));
    std::memcpy(dst, block + in_block, take);
    dst += take;
    offset += take;
    n -= take;
  }
  return absl::OkStatus();
}

absl::Status BlobReader::Append(uint64_t offset, size_t n, std::string* out, BlobBlockHint* hint,
                                bool fill_cache) const {
  // append() rather than resize() + copy: no zero-filling of the output.
  out->clear();
  out->reserve(n);
  while (n > 0) {
    const size_t in_block = size_t(offset % kBlockPayloadSize);
    const size_t take = std::min(n, kBlockPayloadSize - in_block);
    NEON_ASSIGN_OR_RETURN(const char* block, Block(BlockOf(offset), hint, fill_cache));
    out->append(block + in_block, take);
    offset += take;
    n -= take;
  }
  return absl::OkStatus();
}

absl::Status BlobReader::Decompress(Compression codec, std::string_view in, uint32_t blkno,
                                    std::string* out) const {
  const size_t raw = out->size();
  if (codec == Compression::kZstd) {
    ZSTD_DCtx* dctx = ThreadDCtx();
    if (dctx == nullptr) return absl::ResourceExhaustedError("ZSTD_createDCtx failed");
    const size_t n = ZSTD_decompressDCtx(dctx, out->data(), raw, in.data(), in.size());
    if (ZSTD_isError(n)) {
      return file_->Corrupt(blkno, StrCat("zstd blob: ", ZSTD_getErrorName(n)));
    }
    if (n != raw) return file_->Corrupt(blkno, "zstd blob: wrong decompressed length");
    return absl::OkStatus();
  }
  const int n = LZ4_decompress_safe(in.data(), out->data(), int(in.size()), int(raw));
  if (n < 0 || size_t(n) != raw) return file_->Corrupt(blkno, "lz4 blob: malformed");
  return absl::OkStatus();
}

absl::Status BlobReader::Read(uint64_t offset, std::string* out, BlobBlockHint* hint,
                              bool fill_cache) const {
  if (offset >= data_length_) {
    return file_->Corrupt(BlockOf(data_length_),
                          StrCat("blob offset ", offset, " is past the data region"));
  }
  char hdr[kMaxBlobHeaderBytes];
  const size_t hdr_avail = size_t(std::min<uint64_t>(sizeof(hdr), data_length_ - offset));
  NEON_RETURN_IF_ERROR(Copy(offset, hdr_avail, hdr, hint, fill_cache));
  std::string_view in(hdr, hdr_avail);
  uint8_t flags = 0;
  uint32_t stored = 0, raw = 0;
  const uint32_t blkno = BlockOf(offset);
  if (!GetU8(&in, &flags) || (flags & ~kCodecMask) != 0 || flags > uint8_t(Compression::kLz4)) {
    return file_->Corrupt(blkno, StrCat("blob at ", offset, " has bad flags"));
  }
  const auto codec = Compression(flags);
  bool ok = GetVarint32(&in, &stored);
  raw = stored;
  if (ok && codec != Compression::kNone) ok = GetVarint32(&in, &raw);
  const uint64_t body = offset + (hdr_avail - in.size());
  if (!ok || stored > kMaxBlobBytes || raw > kMaxBlobBytes || stored > data_length_ - body) {
    return file_->Corrupt(blkno, StrCat("blob at ", offset, " has a bad header"));
  }
  if (codec == Compression::kNone) return Append(body, stored, out, hint, fill_cache);
  PageCache* cache = file_->cache();
  if (cache != nullptr) {
    if (auto hit = cache->LookupBlob(file_->file_id(), offset)) {
      out->assign(*hit);
      return absl::OkStatus();
    }
  }
  const size_t in_block = size_t(body % kBlockPayloadSize);
  std::string spanning;
  std::string_view src;
  if (in_block + stored <= kBlockPayloadSize) {
    NEON_ASSIGN_OR_RETURN(const char* block, Block(BlockOf(body), hint, fill_cache));
    src = std::string_view(block + in_block, stored);
  } else {
    NEON_RETURN_IF_ERROR(Append(body, stored, &spanning, hint, fill_cache));
    src = spanning;
  }
  out->resize(raw);
  NEON_RETURN_IF_ERROR(Decompress(codec, src, BlockOf(body), out));
  if (cache != nullptr && fill_cache) {
    cache->InsertBlob(file_->file_id(), offset, std::make_shared<const std::string>(*out));
  }
  return absl::OkStatus();
}

}  // namespace neon
