// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/block_file.h"

#include <algorithm>

#include "base/check.h"
#include "base/coding.h"
#include "base/crc32c.h"
#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon {
namespace {

// Blocks copied (spill -> file) or verified (VerifyAll) per read call.
constexpr size_t kCopyChunkBlocks = 128;

}  // namespace

uint32_t BlockChecksum(const char* payload, uint32_t blkno) {
  uint32_t crc = crc32c::Value(payload, kBlockPayloadSize);
  uint8_t b[4];
  EncodeFixed32BE(b, blkno);
  return crc32c::Mask(crc32c::Extend(crc, b, sizeof(b)));
}

// ---- BlockFileWriter ----------------------------------------------------------

BlockFileWriter::BlockFileWriter(FileSystem* fs, std::string path,
                                 std::unique_ptr<WritableFile> file, size_t max_buffered_bytes)
    : fs_(fs),
      path_(std::move(path)),
      file_(std::move(file)),
      max_buffered_bytes_(std::max(max_buffered_bytes, kBlockSize)) {}

absl::StatusOr<std::unique_ptr<BlockFileWriter>> BlockFileWriter::Create(
    FileSystem* fs, const std::string& path, size_t max_buffered_bytes) {
  NEON_ASSIGN_OR_RETURN(auto file, fs->NewWritableFile(path));
  return std::unique_ptr<BlockFileWriter>(
      new BlockFileWriter(fs, path, std::move(file), max_buffered_bytes));
}

BlockFileWriter::~BlockFileWriter() {
  if (spill_ != nullptr) (void)spill_->Close();
  spill_.reset();
  if (spill_exists_) (void)fs_->DeleteFile(SpillPath(path_));  // best effort
}

absl::Status BlockFileWriter::AppendBlock(std::string_view payload) {
  NEON_CHECK(!finished_);
  NEON_CHECK(payload.size() <= kBlockPayloadSize);
  if (next_blkno_ >= kMaxBlocks) {
    return absl::ResourceExhaustedError(StrCat("layer ", path_, ": more than ", kMaxBlocks,
                                               " blocks"));
  }
  const size_t start = body_.size();
  body_.append(payload);
  body_.resize(start + kBlockPayloadSize, '\0');
  PutFixed32BE(&body_, BlockChecksum(body_.data() + start, next_blkno_));
  next_blkno_++;
  if (body_.size() >= max_buffered_bytes_) return Spill();
  return absl::OkStatus();
}

absl::Status BlockFileWriter::Spill() {
  if (spill_ == nullptr) {
    NEON_ASSIGN_OR_RETURN(spill_, fs_->NewWritableFile(SpillPath(path_)));
    spill_exists_ = true;
  }
  NEON_RETURN_IF_ERROR(spill_->Append(body_));
  spilled_bytes_ += body_.size();
  body_.clear();
  return absl::OkStatus();
}

absl::Status BlockFileWriter::Finish(std::string_view summary) {
  NEON_CHECK(!finished_);
  NEON_CHECK(summary.size() <= kBlockPayloadSize);
  finished_ = true;
  std::string block0(summary);
  block0.resize(kBlockPayloadSize, '\0');
  PutFixed32BE(&block0, BlockChecksum(block0.data(), 0));
  NEON_RETURN_IF_ERROR(file_->Append(block0));
  if (spill_exists_) NEON_RETURN_IF_ERROR(CopySpillToFile());
  NEON_RETURN_IF_ERROR(file_->Append(body_));
  body_.clear();
  body_.shrink_to_fit();
  NEON_RETURN_IF_ERROR(file_->Sync());
  return file_->Close();
}

// Copies the spill file behind block 0, re-verifying every block on the way
// so that a fault in the spill file is not baked into the layer.
absl::Status BlockFileWriter::CopySpillToFile() {
  const std::string spill_path = SpillPath(path_);
  NEON_RETURN_IF_ERROR(spill_->Close());
  spill_.reset();
  NEON_ASSIGN_OR_RETURN(auto in, fs_->NewRandomAccessFile(spill_path));
  std::string buf(kCopyChunkBlocks * kBlockSize, '\0');
  for (uint64_t off = 0; off < spilled_bytes_;) {
    const size_t want = std::min<uint64_t>(buf.size(), spilled_bytes_ - off);
    NEON_ASSIGN_OR_RETURN(size_t got, in->Read(off, want, buf.data()));
    if (got != want) {
      return absl::DataLossError(StrCat("spill file ", spill_path, ": short read at ", off));
    }
    for (size_t b = 0; b < want; b += kBlockSize) {
      const uint32_t blkno = uint32_t(1 + (off + b) / kBlockSize);
      const char* blk = buf.data() + b;
      if (DecodeFixed32BE(reinterpret_cast<const uint8_t*>(blk) + kBlockPayloadSize) !=
          BlockChecksum(blk, blkno)) {
        return absl::DataLossError(
            StrCat("spill file ", spill_path, " block ", blkno, ": checksum mismatch"));
      }
    }
    NEON_RETURN_IF_ERROR(file_->Append(std::string_view(buf.data(), want)));
    off += want;
  }
  in.reset();
  NEON_RETURN_IF_ERROR(fs_->DeleteFile(spill_path));
  spill_exists_ = false;
  return absl::OkStatus();
}

// ---- BlockFileReader ----------------------------------------------------------

BlockFileReader::BlockFileReader(std::unique_ptr<RandomAccessFile> file, std::string path,
                                 uint64_t size, PageCache* cache)
    : file_(std::move(file)),
      path_(std::move(path)),
      file_size_(size),
      num_blocks_(uint32_t(size / kBlockSize)),
      cache_(cache),
      file_id_(PageCache::NewFileId()) {}

absl::StatusOr<std::unique_ptr<BlockFileReader>> BlockFileReader::Open(FileSystem* fs,
                                                                       const std::string& path,
                                                                       PageCache* cache) {
  NEON_ASSIGN_OR_RETURN(auto file, fs->NewRandomAccessFile(path));
  NEON_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  if (size == 0 || size % kBlockSize != 0) {
    return absl::DataLossError(StrCat("layer ", path, ": size ", size,
                                      " is not a positive multiple of ", kBlockSize,
                                      " (truncated?)"));
  }
  if (size / kBlockSize > kMaxBlocks) {
    return absl::DataLossError(StrCat("layer ", path, ": size ", size, " is too large"));
  }
  return std::unique_ptr<BlockFileReader>(
      new BlockFileReader(std::move(file), path, size, cache));
}

absl::Status BlockFileReader::Corrupt(uint32_t blkno, std::string_view what) const {
  return absl::DataLossError(StrCat("layer ", path_, " block ", blkno, ": ", what));
}

absl::Status BlockFileReader::ReadRaw(uint32_t blkno, char* block) const {
  if (blkno >= num_blocks_) {
    return Corrupt(blkno, StrCat("past the end of the file (", num_blocks_, " blocks)"));
  }
  absl::StatusOr<size_t> got = file_->Read(uint64_t{blkno} * kBlockSize, kBlockSize, block);
  if (!got.ok()) return Annotate(got.status(), StrCat("layer ", path_, " block ", blkno));
  if (*got != kBlockSize) return Corrupt(blkno, StrCat("short read (", *got, " bytes)"));
  return absl::OkStatus();
}

absl::Status BlockFileReader::Verify(uint32_t blkno, const char* block) const {
  const uint32_t stored =
      DecodeFixed32BE(reinterpret_cast<const uint8_t*>(block) + kBlockPayloadSize);
  if (stored != BlockChecksum(block, blkno)) return Corrupt(blkno, "checksum mismatch");
  return absl::OkStatus();
}

absl::StatusOr<PageCache::Entry> BlockFileReader::Read(uint32_t blkno, bool fill_cache) const {
  if (cache_ != nullptr) {
    PageCache::Entry hit = cache_->LookupBlock(file_id_, blkno);
    if (hit != nullptr) return hit;
  }
  std::string buf(kBlockSize, '\0');
  NEON_RETURN_IF_ERROR(ReadRaw(blkno, buf.data()));
  NEON_RETURN_IF_ERROR(Verify(blkno, buf.data()));
  buf.resize(kBlockPayloadSize);
  auto entry = std::make_shared<const std::string>(std::move(buf));
  if (cache_ != nullptr && fill_cache) cache_->InsertBlock(file_id_, blkno, entry);
  return entry;
}

absl::Status BlockFileReader::VerifyAll() const {
  std::string buf(kCopyChunkBlocks * kBlockSize, '\0');
  for (uint64_t first = 0; first < num_blocks_; first += kCopyChunkBlocks) {
    const size_t n = std::min<uint64_t>(kCopyChunkBlocks, num_blocks_ - first);
    absl::StatusOr<size_t> got = file_->Read(first * kBlockSize, n * kBlockSize, buf.data());
    if (!got.ok()) return Annotate(got.status(), StrCat("layer ", path_, " block ", first));
    if (*got != n * kBlockSize) return Corrupt(uint32_t(first), "short read");
    for (size_t i = 0; i < n; i++) {
      NEON_RETURN_IF_ERROR(Verify(uint32_t(first + i), buf.data() + i * kBlockSize));
    }
  }
  return absl::OkStatus();
}

}  // namespace neon
