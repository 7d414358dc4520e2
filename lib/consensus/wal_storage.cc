// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "consensus/wal_storage.h"

#include <cstdio>
#include <vector>

#include "base/check.h"
#include "base/hex.h"
#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon::consensus {

std::string WalSegmentName(uint64_t segno, uint64_t segment_size, uint32_t pg_timeline) {
  const uint64_t per_xlog_id = (uint64_t{1} << 32) / segment_size;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%08X%08X%08X", pg_timeline, uint32_t(segno / per_xlog_id),
                uint32_t(segno % per_xlog_id));
  return buf;
}

bool ParseWalSegmentName(std::string_view name, uint64_t segment_size, uint64_t* segno,
                         bool* partial) {
  std::string_view suffix(kPartialSuffix);
  *partial = name.size() == 24 + suffix.size() && name.substr(24) == suffix;
  if (name.size() != 24 && !*partial) return false;
  uint64_t tli = 0, hi = 0, lo = 0;
  if (!ParseHexU64(name.substr(0, 8), 8, &tli) || !ParseHexU64(name.substr(8, 8), 8, &hi) ||
      !ParseHexU64(name.substr(16, 8), 8, &lo)) {
    return false;
  }
  const uint64_t per_xlog_id = (uint64_t{1} << 32) / segment_size;
  if (tli != kPgTimeline || lo >= per_xlog_id) return false;
  *segno = hi * per_xlog_id + lo;
  return true;
}

WalStorage::WalStorage(FileSystem* fs, std::string dir, uint64_t seg_size, Lsn local_start)
    : fs_(fs), dir_(std::move(dir)), seg_size_(seg_size), local_start_(local_start) {}

absl::StatusOr<std::unique_ptr<WalStorage>> WalStorage::Open(FileSystem* fs, std::string dir,
                                                             uint64_t segment_size,
                                                             Lsn local_start, Lsn scan_start) {
  NEON_CHECK(segment_size >= 512 && (segment_size & (segment_size - 1)) == 0);
  NEON_CHECK(local_start.valid() && scan_start >= local_start);
  NEON_RETURN_IF_ERROR(fs->CreateDirs(dir));
  std::unique_ptr<WalStorage> w(new WalStorage(fs, std::move(dir), segment_size, local_start));
  NEON_RETURN_IF_ERROR(w->FindEnd(scan_start));
  return w;
}

std::string WalStorage::PathOf(std::string_view name) const { return JoinPath(dir_, name); }

absl::Status WalStorage::Fail(absl::Status s) {
  if (s.ok()) return s;
  if (error_.ok()) error_ = s;
  cur_.reset();
  return s;
}

absl::StatusOr<std::map<uint64_t, WalStorage::SegmentFile>> WalStorage::ListSegments() {
  NEON_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->GetChildren(dir_));
  std::map<uint64_t, SegmentFile> out;
  for (const std::string& name : names) {
    uint64_t segno = 0;
    bool partial = false;
    if (!ParseWalSegmentName(name, seg_size_, &segno, &partial)) continue;
    NEON_ASSIGN_OR_RETURN(uint64_t size, fs_->GetFileSize(PathOf(name)));
    auto it = out.find(segno);
    // Both names at once cannot come from a clean rename; keep the longer.
    if (it != out.end() && it->second.size >= size) continue;
    out[segno] = SegmentFile{name, size, partial};
  }
  return out;
}

absl::Status WalStorage::FindEnd(Lsn scan_start) {
  NEON_ASSIGN_OR_RETURN(auto segs, ListSegments());
  Lsn end = scan_start;
  for (uint64_t s = SegNo(scan_start);; s++) {
    auto it = segs.find(s);
    if (it == segs.end()) break;
    const SegmentFile& f = it->second;
    if (f.size > seg_size_) {
      return absl::DataLossError(StrCat("WAL segment ", PathOf(f.name), " has ", f.size,
                                        " bytes, more than the segment size"));
    }
    Lsn seg_end(s * seg_size_ + f.size);
    if (seg_end < end) break;  // shorter than the scan start: checked below
    end = seg_end;
    if (f.size < seg_size_) break;
  }
  if (end == scan_start && scan_start > local_start_ && Offset(scan_start) != 0) {
    auto it = segs.find(SegNo(scan_start));
    if (it == segs.end() || it->second.size < Offset(scan_start)) {
      return absl::DataLossError(StrCat("WAL in ", dir_, " ends before the persisted commit LSN ",
                                        scan_start.ToString()));
    }
  }
  write_lsn_ = flush_lsn_ = end;
  return absl::OkStatus();
}

absl::Status WalStorage::SyncFile(const std::string& path) {
  NEON_ASSIGN_OR_RETURN(auto f, fs_->NewAppendableFile(path));
  NEON_RETURN_IF_ERROR(f->Sync());
  return f->Close();
}

// Opens the .partial segment `segno` for appending at `offset`, creating it
// (zero-padded below offset when that part precedes local_start) or cutting
// stale bytes beyond offset.
absl::Status WalStorage::OpenSegmentAt(uint64_t segno, uint64_t offset) {
  NEON_CHECK(!cur_);
  std::string full = PathOf(WalSegmentName(segno, seg_size_));
  std::string partial = full + kPartialSuffix;
  if (!fs_->FileExists(partial) && fs_->FileExists(full)) {  // a full name for a short segment
    NEON_RETURN_IF_ERROR(fs_->RenameFile(full, partial));
    dir_dirty_ = true;
  }
  bool exists = fs_->FileExists(partial);
  uint64_t size = 0;
  if (exists) {
    NEON_ASSIGN_OR_RETURN(size, fs_->GetFileSize(partial));
  }
  bool may_pad = Lsn(segno * seg_size_ + offset) <= local_start_;
  if (exists && size >= offset) {
    if (size > offset) {
      NEON_RETURN_IF_ERROR(fs_->Truncate(partial, offset));
      cur_dirty_ = true;
    }
    NEON_ASSIGN_OR_RETURN(cur_, fs_->NewAppendableFile(partial));
  } else if (offset == 0 || may_pad) {
    NEON_ASSIGN_OR_RETURN(cur_, fs_->NewWritableFile(partial));
    NEON_RETURN_IF_ERROR(cur_->Append(std::string(offset, '\0')));
    dir_dirty_ = cur_dirty_ = true;
  } else {
    return absl::DataLossError(StrCat("WAL segment ", partial, " is missing bytes below offset ",
                                      offset));
  }
  NEON_CHECK(cur_->Size() == offset);
  // Pre-size the segment's disk space (its length stays the end of WAL).
  NEON_RETURN_IF_ERROR(cur_->Preallocate(seg_size_));
  cur_segno_ = segno;
  return absl::OkStatus();
}

// The current segment is full: sync it and give it its final name.
absl::Status WalStorage::CompleteSegment() {
  NEON_CHECK(cur_ && cur_->Size() == seg_size_);
  NEON_RETURN_IF_ERROR(cur_->Sync());
  NEON_RETURN_IF_ERROR(cur_->Close());
  cur_.reset();
  cur_dirty_ = false;
  std::string name = WalSegmentName(cur_segno_, seg_size_);
  NEON_RETURN_IF_ERROR(fs_->RenameFile(PathOf(name + kPartialSuffix), PathOf(name)));
  dir_dirty_ = true;
  return absl::OkStatus();
}

absl::Status WalStorage::Write(Lsn begin, std::string_view data) {
  NEON_RETURN_IF_ERROR(error_);
  NEON_CHECK(begin == write_lsn_);
  while (!data.empty()) {
    uint64_t segno = SegNo(write_lsn_), off = Offset(write_lsn_);
    if (!cur_ || cur_segno_ != segno) {
      cur_.reset();
      NEON_RETURN_IF_ERROR(Fail(OpenSegmentAt(segno, off)));
    }
    size_t n = size_t(std::min<uint64_t>(data.size(), seg_size_ - off));
    NEON_RETURN_IF_ERROR(Fail(cur_->Append(data.substr(0, n))));
    cur_dirty_ = true;
    write_lsn_ = write_lsn_.Plus(n);
    data.remove_prefix(n);
    if (off + n == seg_size_) NEON_RETURN_IF_ERROR(Fail(CompleteSegment()));
  }
  return absl::OkStatus();
}

absl::Status WalStorage::Flush() {
  NEON_RETURN_IF_ERROR(error_);
  if (cur_ && cur_dirty_) NEON_RETURN_IF_ERROR(Fail(cur_->Sync()));
  cur_dirty_ = false;
  if (dir_dirty_) NEON_RETURN_IF_ERROR(Fail(fs_->SyncDir(dir_)));
  dir_dirty_ = false;
  flush_lsn_ = write_lsn_;
  return absl::OkStatus();
}

// Cuts segment `segno` to `offset` bytes durably and names it .partial.
absl::Status WalStorage::CutSegment(uint64_t segno, const SegmentFile& file, uint64_t offset) {
  std::string path = PathOf(file.name);
  if (file.size > offset) {
    NEON_RETURN_IF_ERROR(fs_->Truncate(path, offset));
    NEON_RETURN_IF_ERROR(SyncFile(path));
  }
  if (!file.partial) {
    std::string partial = PathOf(WalSegmentName(segno, seg_size_) + kPartialSuffix);
    NEON_RETURN_IF_ERROR(fs_->RenameFile(path, partial));
    NEON_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  }
  return absl::OkStatus();
}

absl::Status WalStorage::Truncate(Lsn end) {
  NEON_RETURN_IF_ERROR(error_);
  NEON_CHECK(end >= local_start_ && end <= write_lsn_);
  NEON_RETURN_IF_ERROR(Flush());  // pending data and directory changes first
  cur_.reset();
  auto segs = ListSegments();
  if (!segs.ok()) return Fail(segs.status());
  uint64_t keep_segno = SegNo(end);
  bool keep_cut = Offset(end) != 0;
  for (auto it = segs->rbegin(); it != segs->rend(); ++it) {
    if (it->first < keep_segno || (it->first == keep_segno && keep_cut)) break;
    NEON_RETURN_IF_ERROR(Fail(fs_->DeleteFile(PathOf(it->second.name))));
    NEON_RETURN_IF_ERROR(Fail(fs_->SyncDir(dir_)));
  }
  auto it = segs->find(keep_segno);
  if (keep_cut && it != segs->end()) {
    NEON_RETURN_IF_ERROR(Fail(CutSegment(keep_segno, it->second, Offset(end))));
  }
  write_lsn_ = flush_lsn_ = end;
  return absl::OkStatus();
}

absl::StatusOr<std::string> WalStorage::Read(Lsn begin, Lsn end) {
  NEON_RETURN_IF_ERROR(error_);
  if (begin > end || end > write_lsn_) {
    return absl::OutOfRangeError(StrCat("WAL read ", begin.ToString(), "..", end.ToString(),
                                        " beyond the end ", write_lsn_.ToString()));
  }
  std::string out;
  out.reserve(end.Minus(begin));
  for (Lsn pos = begin; pos < end;) {
    uint64_t segno = SegNo(pos), off = Offset(pos);
    size_t n = size_t(std::min<uint64_t>(end.Minus(pos), seg_size_ - off));
    std::string name = WalSegmentName(segno, seg_size_);
    std::string path = PathOf(name + kPartialSuffix);
    if (!fs_->FileExists(path)) path = PathOf(name);
    NEON_ASSIGN_OR_RETURN(auto file, fs_->NewRandomAccessFile(path));
    size_t old = out.size();
    out.resize(old + n);
    NEON_ASSIGN_OR_RETURN(size_t got, file->Read(off, n, out.data() + old));
    if (got != n) return absl::DataLossError(StrCat("WAL segment ", path, " is short"));
    pos = pos.Plus(n);
  }
  return out;
}

absl::Status WalStorage::RemoveSegmentsBelow(Lsn horizon) {
  NEON_RETURN_IF_ERROR(error_);
  NEON_CHECK(horizon <= flush_lsn_);
  uint64_t limit = SegNo(horizon);  // segments < limit go
  NEON_ASSIGN_OR_RETURN(auto segs, ListSegments());
  bool removed = false;
  for (const auto& [segno, file] : segs) {
    if (segno >= limit) break;
    NEON_CHECK(!cur_ || segno != cur_segno_);
    NEON_RETURN_IF_ERROR(Fail(fs_->DeleteFile(PathOf(file.name))));
    removed = true;
  }
  if (removed) NEON_RETURN_IF_ERROR(Fail(fs_->SyncDir(dir_)));
  return absl::OkStatus();
}

}  // namespace neon::consensus
