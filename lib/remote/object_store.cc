// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Sources and the helpers of include/neon/object_store.h that work over any
// ObjectStore.

#include "neon/object_store.h"

#include <algorithm>
#include <cstring>

#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon {
namespace {

class StringSource final : public ObjectSource {
 public:
  explicit StringSource(std::string_view data) : data_(data) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    size_t take = std::min(n, data_.size() - pos_);
    std::memcpy(buf, data_.data() + pos_, take);
    pos_ += take;
    return take;
  }
  absl::Status Rewind() override {
    pos_ = 0;
    return absl::OkStatus();
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

class ReaderSource final : public ObjectSource {
 public:
  explicit ReaderSource(ObjectReader reader) : reader_(std::move(reader)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    NEON_ASSIGN_OR_RETURN(size_t got, reader_(buf, n));
    NEON_CHECK(got <= n);
    return got;
  }

 private:
  ObjectReader reader_;
};

class FileSource final : public ObjectSource {
 public:
  FileSource(std::unique_ptr<RandomAccessFile> file, std::string path)
      : file_(std::move(file)), path_(std::move(path)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    auto got = file_->Read(offset_, n, buf);
    if (!got.ok()) return Annotate(got.status(), StrCat("reading ", path_));
    offset_ += *got;
    return *got;
  }
  absl::Status Rewind() override {
    offset_ = 0;
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<RandomAccessFile> file_;
  std::string path_;
  uint64_t offset_ = 0;
};

}  // namespace

std::unique_ptr<ObjectSource> NewStringSource(std::string_view data) {
  return std::make_unique<StringSource>(data);
}

std::unique_ptr<ObjectSource> NewReaderSource(ObjectReader reader) {
  return std::make_unique<ReaderSource>(std::move(reader));
}

absl::StatusOr<std::unique_ptr<ObjectSource>> NewFileSource(FileSystem& fs, const std::string& path) {
  NEON_ASSIGN_OR_RETURN(auto file, fs.NewRandomAccessFile(path));
  return std::unique_ptr<ObjectSource>(std::make_unique<FileSource>(std::move(file), path));
}

absl::Status ValidateObjectKey(std::string_view key) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(StrCat("invalid object key '", key, "': ", why));
  };
  if (key.empty()) return bad("empty");
  if (key.size() > kMaxObjectKeyBytes) return bad("too long");
  if (key.front() == '/') return bad("leading '/'");
  for (unsigned char c : key) {
    if (c < 0x20 || c == 0x7f) return bad("control character");
  }
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    std::string_view part = key.substr(start, end - start);
    if (part.empty()) return bad("empty path component");
    if (part == "." || part == "..") return bad("'.' or '..' component");
    start = end + 1;
  }
  return absl::OkStatus();
}

absl::Status PutString(ObjectStore& store, std::string_view key, std::string_view data) {
  StringSource source(data);
  return store.Put(key, source);
}

absl::Status PutFile(ObjectStore& store, std::string_view key, FileSystem& fs, const std::string& path) {
  NEON_ASSIGN_OR_RETURN(auto source, NewFileSource(fs, path));
  return store.Put(key, *source);
}

absl::StatusOr<std::string> GetString(ObjectStore& store, std::string_view key, const ByteRange& range,
                                      uint64_t max_bytes) {
  std::string out;
  auto info = store.Get(key, range, [&](std::string_view chunk) {
    if (out.size() + chunk.size() > max_bytes) {
      return absl::ResourceExhaustedError(StrCat("object '", key, "' exceeds ", max_bytes, " bytes"));
    }
    out.append(chunk);
    return absl::OkStatus();
  });
  if (!info.ok()) return info.status();
  return out;
}

absl::StatusOr<ObjectInfo> GetFile(ObjectStore& store, std::string_view key, FileSystem& fs,
                                   const std::string& path) {
  std::string tmp = JoinPath(DirName(path), StrCat(".", BaseName(path), ".download"));
  NEON_ASSIGN_OR_RETURN(auto file, fs.NewWritableFile(tmp));
  auto info = store.Get(key, ByteRange{}, [&](std::string_view chunk) { return file->Append(chunk); });
  absl::Status s = info.status();
  if (s.ok()) s = file->Sync();
  absl::Status close = file->Close();
  if (s.ok()) s = close;
  if (s.ok()) s = fs.RenameFile(tmp, path);
  if (!s.ok()) {
    fs.DeleteFile(tmp).IgnoreError();
    return Annotate(s, StrCat("downloading '", key, "' to ", path));
  }
  NEON_RETURN_IF_ERROR(fs.SyncDir(DirName(path)));
  return info;
}

absl::StatusOr<ListResult> ListAll(ObjectStore& store, std::string_view prefix, std::string_view delimiter,
                                   int max_pages) {
  ListResult all;
  ListRequest req;
  req.prefix = std::string(prefix);
  req.delimiter = std::string(delimiter);
  for (int page = 0; page < max_pages; ++page) {
    NEON_ASSIGN_OR_RETURN(ListResult r, store.List(req));
    for (auto& o : r.objects) all.objects.push_back(std::move(o));
    for (auto& p : r.common_prefixes) all.common_prefixes.push_back(std::move(p));
    if (r.next_continuation_token.empty()) {
      // Some servers repeat a common prefix on later pages.
      auto& p = all.common_prefixes;
      std::sort(p.begin(), p.end());
      p.erase(std::unique(p.begin(), p.end()), p.end());
      return all;
    }
    if (r.next_continuation_token == req.continuation_token) {
      return absl::InternalError(StrCat("listing '", prefix, "': continuation token did not advance"));
    }
    req.continuation_token = std::move(r.next_continuation_token);
  }
  return absl::ResourceExhaustedError(StrCat("listing '", prefix, "': more than ", max_pages, " pages"));
}

absl::Status DeleteKeys(ObjectStore& store, std::span<const std::string> keys) {
  for (size_t i = 0; i < keys.size(); i += kMaxDeleteBatchKeys) {
    size_t n = std::min(kMaxDeleteBatchKeys, keys.size() - i);
    NEON_RETURN_IF_ERROR(store.DeleteBatch(keys.subspan(i, n)));
  }
  return absl::OkStatus();
}

}  // namespace neon
