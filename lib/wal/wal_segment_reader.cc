// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include <algorithm>
#include <cstdio>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "neon/wal.h"

namespace neon {
namespace {

constexpr uint64_t kSegmentsPerXLogId = 0x100000000ull / kWalSegmentSize;  // 256
constexpr size_t kReadChunkBytes = 1 << 20;

}  // namespace

std::string WalSegmentFileName(uint32_t timeline, Lsn lsn) {
  const uint64_t segno = lsn.value() / kWalSegmentSize;
  char name[25];
  std::snprintf(name, sizeof(name), "%08X%08X%08X", timeline,
                static_cast<uint32_t>(segno / kSegmentsPerXLogId),
                static_cast<uint32_t>(segno % kSegmentsPerXLogId));
  return name;
}

absl::StatusOr<Lsn> WalSegmentStart(std::string_view name) {
  if (name.size() != 24) return absl::InvalidArgumentError(StrCat("not a WAL segment name: ", name));
  uint64_t parts[3] = {0, 0, 0};
  for (int i = 0; i < 24; i++) {
    const char c = name[i];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return absl::InvalidArgumentError(StrCat("not a WAL segment name: ", name));
    }
    parts[i / 8] = parts[i / 8] * 16 + d;
  }
  if (parts[2] >= kSegmentsPerXLogId) {
    return absl::InvalidArgumentError(StrCat("WAL segment number out of range: ", name));
  }
  return Lsn((parts[1] * kSegmentsPerXLogId + parts[2]) * kWalSegmentSize);
}

WalSegmentReader::WalSegmentReader(std::shared_ptr<FileSystem> fs, std::string dir, Lsn start,
                                   uint32_t timeline)
    : fs_(std::move(fs)),
      dir_(std::move(dir)),
      timeline_(timeline),
      next_segment_(start.value() - start.SegmentOffset(kWalSegmentSize)),
      decoder_(start) {}

WalSegmentReader::~WalSegmentReader() = default;

// Opens the next segment (positioned at the start LSN's offset for the
// first one). A missing segment is a clean end; a short one is damage.
absl::Status WalSegmentReader::OpenNextSegment(bool* found) {
  segment_path_ = StrCat(dir_, "/", WalSegmentFileName(timeline_, next_segment_));
  *found = false;
  if (!fs_->FileExists(segment_path_)) return absl::OkStatus();
  NEON_ASSIGN_OR_RETURN(segment_, fs_->NewRandomAccessFile(segment_path_));
  NEON_ASSIGN_OR_RETURN(uint64_t size, segment_->Size());
  if (size != kWalSegmentSize) {
    return absl::DataLossError(StrCat("WAL segment ", segment_path_, " is ", size,
                                      " bytes, expected ", kWalSegmentSize, " (truncated at ",
                                      next_segment_.Plus(size).ToString(), ")"));
  }
  segment_offset_ = 0;
  if (decoder_.position() > next_segment_) segment_offset_ = decoder_.position().Minus(next_segment_);
  next_segment_ = next_segment_.Plus(kWalSegmentSize);
  *found = true;
  return absl::OkStatus();
}

absl::Status WalSegmentReader::FeedChunk() {
  chunk_.resize(kReadChunkBytes);
  const size_t want = std::min<uint64_t>(kReadChunkBytes, kWalSegmentSize - segment_offset_);
  NEON_ASSIGN_OR_RETURN(size_t n, segment_->Read(segment_offset_, want, chunk_.data()));
  if (n == 0) return absl::DataLossError(StrCat("short read in ", segment_path_));
  decoder_.Feed(std::string_view(chunk_.data(), n));
  segment_offset_ += n;
  if (segment_offset_ == kWalSegmentSize) segment_.reset();
  return absl::OkStatus();
}

absl::StatusOr<std::optional<WalRecord>> WalSegmentReader::Next() {
  while (!exhausted_) {
    absl::StatusOr<std::optional<WalRecord>> r = decoder_.Poll();
    if (!r.ok()) {
      if (decoder_.stop_reason() == WalStop::kZeroLength) {
        exhausted_ = true;
        return std::nullopt;
      }
      return r.status();
    }
    if (r->has_value()) return r;
    if (segment_ == nullptr) {
      bool found = false;
      NEON_RETURN_IF_ERROR(OpenNextSegment(&found));
      if (!found) {
        exhausted_ = true;
        break;
      }
    }
    NEON_RETURN_IF_ERROR(FeedChunk());
  }
  return std::nullopt;
}

}  // namespace neon
