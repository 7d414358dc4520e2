// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/in_memory_layer.h"

#include <algorithm>

#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon {

absl::StatusOr<std::unique_ptr<InMemoryLayer>> InMemoryLayer::Create(FileSystem* fs,
                                                                     const std::string& path,
                                                                     Lsn start_lsn,
                                                                     int64_t now_us) {
  NEON_ASSIGN_OR_RETURN(auto file, fs->NewWritableFile(path));
  NEON_ASSIGN_OR_RETURN(auto reader, fs->NewRandomAccessFile(path));
  return std::unique_ptr<InMemoryLayer>(
      new InMemoryLayer(fs, path, start_lsn, now_us, std::move(file), std::move(reader)));
}

InMemoryLayer::InMemoryLayer(FileSystem* fs, std::string path, Lsn start_lsn, int64_t now_us,
                             std::unique_ptr<WritableFile> file,
                             std::unique_ptr<RandomAccessFile> reader)
    : fs_(fs),
      path_(std::move(path)),
      start_lsn_(start_lsn),
      opened_at_us_(now_us),
      file_(std::move(file)),
      reader_(std::move(reader)) {
  tail_.reserve(kTailBufferBytes);
}

InMemoryLayer::~InMemoryLayer() {
  {
    absl::MutexLock l(&mu_);
    if (file_) (void)file_->Close();  // ephemeral: nothing to make durable
  }
  (void)fs_->DeleteFile(path_);  // best effort; leftovers are removed at startup
}

absl::Status InMemoryLayer::FlushTail() {
  if (tail_.empty()) return absl::OkStatus();
  NEON_RETURN_IF_ERROR(file_->Append(tail_));
  file_bytes_ += tail_.size();
  tail_.clear();
  return absl::OkStatus();
}

absl::Status InMemoryLayer::Put(const Key& key, Lsn lsn, std::string_view value, bool will_init) {
  NEON_CHECK(!frozen());
  NEON_CHECK(lsn >= start_lsn_);
  if (value.size() > UINT32_MAX) return absl::InvalidArgumentError("value larger than 4 GiB");
  absl::MutexLock l(&mu_);
  Versions& versions = index_[key];
  bool replace = false;
  if (!versions.empty() && versions.back().lsn >= lsn) {
    // Versions arrive in LSN order per key (the writer checks lsn > last_record_lsn);
    // a second value at the same LSN replaces the first (one record may set a
    // key twice, e.g. create then extend a relation).
    if (versions.back().lsn != lsn) {
      return absl::InvalidArgumentError(StrCat("key ", key.ToString(), ": value at ",
                                               lsn.ToString(), " older than ",
                                               versions.back().lsn.ToString()));
    }
    replace = true;
  }
  const uint32_t len = uint32_t(value.size());
  uint64_t pos = file_bytes_ + tail_.size();
  if (tail_.size() + len > kTailBufferBytes) {
    NEON_RETURN_IF_ERROR(FlushTail());
    pos = file_bytes_;
  }
  if (len >= kTailBufferBytes) {
    NEON_RETURN_IF_ERROR(file_->Append(value));  // large value: straight to the file
    file_bytes_ += len;
  } else {
    tail_.append(value);
  }
  if (replace) {
    versions.back() = Entry{lsn, pos, len, will_init};
  } else {
    versions.push_back(Entry{lsn, pos, len, will_init});
    entries_.fetch_add(1, std::memory_order_relaxed);
  }
  size_.store(file_bytes_ + tail_.size(), std::memory_order_relaxed);
  if (lsn.value() > max_lsn_.load(std::memory_order_relaxed)) {
    max_lsn_.store(lsn.value(), std::memory_order_relaxed);
  }
  return absl::OkStatus();
}

absl::Status InMemoryLayer::ReadAt(uint64_t pos, uint32_t len, std::string* out) const {
  out->resize(len);
  if (pos >= file_bytes_) {
    NEON_CHECK(pos - file_bytes_ + len <= tail_.size());
    std::memcpy(out->data(), tail_.data() + (pos - file_bytes_), len);
    return absl::OkStatus();
  }
  NEON_ASSIGN_OR_RETURN(size_t n, reader_->Read(pos, len, out->data()));
  if (n != len) {
    return absl::DataLossError(StrCat("ephemeral file ", path_, ": short read at ", pos));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> InMemoryLayer::Get(const Key& key, LsnRange range,
                                        std::vector<LayerValue>* out) const {
  absl::ReaderMutexLock l(&mu_);
  return GetLocked(key, range, out);
}

void InMemoryLayer::GetMany(absl::Span<KeyLookup> lookups) const {
  absl::ReaderMutexLock l(&mu_);
  for (KeyLookup& k : lookups) k.found = GetLocked(k.key, k.range, k.out);
}

absl::StatusOr<bool> InMemoryLayer::GetLocked(const Key& key, LsnRange range,
                                              std::vector<LayerValue>* out) const {
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  const Versions& versions = it->second;
  auto end = std::lower_bound(versions.begin(), versions.end(), range.end,
                              [](const Entry& e, Lsn l) { return e.lsn < l; });
  for (auto v = end; v != versions.begin();) {
    --v;
    if (v->lsn < range.start) break;
    LayerValue lv;
    lv.lsn = v->lsn;
    lv.will_init = v->will_init;
    NEON_RETURN_IF_ERROR(ReadAt(v->pos, v->len, &lv.data));
    out->push_back(std::move(lv));
    if (v->will_init) return true;
  }
  return false;
}

void InMemoryLayer::Freeze(Lsn end_lsn) {
  NEON_CHECK(!frozen());
  NEON_CHECK(end_lsn > start_lsn_);
  NEON_CHECK(end_lsn > max_lsn());
  end_lsn_.store(end_lsn.value(), std::memory_order_release);
}

absl::Status InMemoryLayer::WriteTo(DeltaLayerWriter* writer) const {
  NEON_CHECK(frozen());
  absl::ReaderMutexLock l(&mu_);
  // Values sit in the file in LSN order but are written in key order: read
  // the file once, sequentially, instead of one pread per value (Neon does
  // the same; a layer is at most checkpoint_distance bytes).
  std::string all(file_bytes_, '\0');
  NEON_ASSIGN_OR_RETURN(size_t n, reader_->Read(0, file_bytes_, all.data()));
  if (n != file_bytes_) {
    return absl::DataLossError(StrCat("ephemeral file ", path_, ": short read"));
  }
  all.append(tail_);
  for (const auto& [key, versions] : index_) {
    for (const Entry& e : versions) {
      NEON_CHECK(e.pos + e.len <= all.size());
      NEON_RETURN_IF_ERROR(
          writer->Put(key, e.lsn, std::string_view(all).substr(e.pos, e.len), e.will_init));
    }
  }
  return absl::OkStatus();
}

void InMemoryLayer::ForEachKey(const std::function<void(const Key&)>& fn) const {
  absl::ReaderMutexLock l(&mu_);
  for (const auto& [key, versions] : index_) fn(key);
}

}  // namespace neon
