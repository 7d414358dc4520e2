// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "remote/local_object_store.h"

#include <algorithm>
#include <random>
#include <set>

#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "remote/digest.h"

namespace neon {
namespace {

constexpr std::string_view kTempPrefix = ".neon-tmp-";
// Bound on directory entries one listing walks.
constexpr size_t kMaxListWalkEntries = 10'000'000;

bool IsTempName(std::string_view name) { return name.substr(0, kTempPrefix.size()) == kTempPrefix; }

absl::Status CheckRange(std::string_view key, uint64_t size, const ByteRange& range) {
  if (range.length.has_value() && *range.length == 0) {
    return absl::InvalidArgumentError(StrCat("get '", key, "': empty byte range"));
  }
  bool whole = range.offset == 0 && !range.length.has_value();
  if (!whole && range.offset >= size) {
    return absl::OutOfRangeError(
        StrCat("get '", key, "': range starts at ", range.offset, ", object has ", size, " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace

LocalObjectStore::LocalObjectStore(std::shared_ptr<FileSystem> fs, std::string root)
    : fs_(std::move(fs)), root_(std::move(root)), tmp_salt_(std::random_device{}()) {}

absl::StatusOr<std::shared_ptr<ObjectStore>> NewLocalObjectStore(std::shared_ptr<FileSystem> fs,
                                                                 std::string root) {
  if (root.empty()) return absl::InvalidArgumentError("local object store: empty root");
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  NEON_RETURN_IF_ERROR(fs->CreateDirs(root));
  return std::shared_ptr<ObjectStore>(std::make_shared<LocalObjectStore>(std::move(fs), root));
}

absl::StatusOr<std::string> LocalObjectStore::PathOf(std::string_view key) const {
  NEON_RETURN_IF_ERROR(ValidateObjectKey(key));
  if (key.back() == '/') {
    return absl::InvalidArgumentError(StrCat("invalid object key '", key, "': trailing '/'"));
  }
  for (size_t start = 0; start < key.size();) {
    size_t end = std::min(key.find('/', start), key.size());
    if (IsTempName(key.substr(start, end - start))) {
      return absl::InvalidArgumentError(StrCat("invalid object key '", key, "': reserved name"));
    }
    start = end + 1;
  }
  return JoinPath(root_, key);
}

// Creates `dir` (under root_) and makes each new directory entry durable.
absl::Status LocalObjectStore::EnsureDir(const std::string& dir) {
  if (fs_->IsDirectory(dir)) return absl::OkStatus();
  // The highest missing ancestor; anything in the way that is a file is a
  // key that would have to be a directory too.
  std::string top = dir;
  while (true) {
    std::string parent = DirName(top);
    if (fs_->IsDirectory(parent)) break;
    if (fs_->FileExists(parent)) {
      return absl::FailedPreconditionError(
          StrCat("local object store: ", parent, " is an object, so it cannot be a key prefix"));
    }
    top = parent;
  }
  if (fs_->FileExists(top) && !fs_->IsDirectory(top)) {
    return absl::FailedPreconditionError(
        StrCat("local object store: ", top, " is an object, so it cannot be a key prefix"));
  }
  NEON_RETURN_IF_ERROR(fs_->CreateDirs(dir));
  // Sync from the deepest new directory up to the parent of the highest.
  for (std::string d = dir;; d = DirName(d)) {
    NEON_RETURN_IF_ERROR(fs_->SyncDir(DirName(d)));
    if (d == top) break;
  }
  return absl::OkStatus();
}

absl::Status LocalObjectStore::WriteTemp(const std::string& tmp, ObjectSource& source) {
  NEON_ASSIGN_OR_RETURN(auto file, fs_->NewWritableFile(tmp));
  std::string buf(kObjectStreamChunkBytes, '\0');
  absl::Status s;
  while (s.ok()) {
    auto n = source.Read(buf.data(), buf.size());
    if (!n.ok()) {
      s = n.status();
      break;
    }
    if (*n == 0) break;
    s = file->Append(std::string_view(buf.data(), *n));
  }
  if (s.ok()) s = file->Sync();
  absl::Status close = file->Close();
  return s.ok() ? close : s;
}

absl::Status LocalObjectStore::Put(std::string_view key, ObjectSource& source) {
  NEON_ASSIGN_OR_RETURN(std::string path, PathOf(key));
  std::string dir = DirName(path);
  NEON_RETURN_IF_ERROR_CTX(EnsureDir(dir), StrCat("put '", key, "'"));
  if (fs_->IsDirectory(path)) {
    return absl::FailedPreconditionError(
        StrCat("put '", key, "': the key is a prefix of other keys in the local object store"));
  }
  std::string tmp = JoinPath(dir, StrCat(kTempPrefix, tmp_salt_, "-", tmp_counter_.fetch_add(1), "-",
                                         BaseName(path)));
  absl::Status s = WriteTemp(tmp, source);
  if (s.ok()) s = fs_->RenameFile(tmp, path);
  if (!s.ok()) {
    fs_->DeleteFile(tmp).IgnoreError();
    return Annotate(s, StrCat("put '", key, "'"));
  }
  return Annotate(fs_->SyncDir(dir), StrCat("put '", key, "'"));
}

absl::StatusOr<ObjectInfo> LocalObjectStore::Get(std::string_view key, const ByteRange& range,
                                                 const ObjectSink& sink) {
  NEON_ASSIGN_OR_RETURN(std::string path, PathOf(key));
  if (fs_->IsDirectory(path)) return absl::NotFoundError(StrCat("get '", key, "': no such object"));
  auto file = fs_->NewRandomAccessFile(path);
  if (absl::IsNotFound(file.status())) return absl::NotFoundError(StrCat("get '", key, "': no such object"));
  if (!file.ok()) return Annotate(file.status(), StrCat("get '", key, "'"));
  NEON_ASSIGN_OR_RETURN(uint64_t size, (*file)->Size());
  NEON_RETURN_IF_ERROR(CheckRange(key, size, range));
  uint64_t end = size;
  if (range.length.has_value()) end = std::min(size, range.offset + *range.length);
  bool whole = range.offset == 0 && end == size;
  Digest md5(Digest::Kind::kMd5);
  std::string buf(kObjectStreamChunkBytes, '\0');
  for (uint64_t pos = range.offset; pos < end;) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - pos));
    NEON_ASSIGN_OR_RETURN(size_t got, (*file)->Read(pos, want, buf.data()));
    if (got == 0) return absl::DataLossError(StrCat("get '", key, "': object shrank while read"));
    std::string_view chunk(buf.data(), got);
    if (whole) md5.Update(chunk);
    NEON_RETURN_IF_ERROR(sink(chunk));
    pos += got;
  }
  ObjectInfo info{std::string(key), size, whole ? md5.FinishHex() : std::string()};
  return info;
}

absl::StatusOr<ObjectInfo> LocalObjectStore::Head(std::string_view key) {
  return Get(key, ByteRange{}, [](std::string_view) { return absl::OkStatus(); });
}

absl::Status LocalObjectStore::Walk(const std::string& dir, std::string_view prefix,
                                    std::vector<std::string>* keys, size_t* visited) {
  auto children = fs_->GetChildren(dir);
  if (absl::IsNotFound(children.status())) return absl::OkStatus();
  NEON_RETURN_IF_ERROR(children.status());
  for (const std::string& name : *children) {
    if (++*visited > kMaxListWalkEntries) {
      return absl::ResourceExhaustedError(StrCat("list: more than ", kMaxListWalkEntries, " entries"));
    }
    if (IsTempName(name)) continue;
    std::string path = JoinPath(dir, name);
    std::string key = path.substr(root_.size() + 1);
    // Descend only where keys may still start with the prefix.
    std::string_view common = std::string_view(key).substr(0, std::min(key.size(), prefix.size()));
    if (prefix.substr(0, common.size()) != common) continue;
    if (fs_->IsDirectory(path)) {
      NEON_RETURN_IF_ERROR(Walk(path, prefix, keys, visited));
    } else if (key.size() >= prefix.size()) {
      keys->push_back(std::move(key));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ListResult> LocalObjectStore::List(const ListRequest& request) {
  if (request.max_keys < 1 || request.max_keys > kMaxListKeys) {
    return absl::InvalidArgumentError(StrCat("list: max_keys ", request.max_keys, " not in 1..", kMaxListKeys));
  }
  const std::string& prefix = request.prefix;
  if (prefix.size() > kMaxObjectKeyBytes || (!prefix.empty() && prefix.front() == '/')) {
    return absl::InvalidArgumentError(StrCat("list: invalid prefix '", prefix, "'"));
  }
  // Start the walk at the deepest directory the prefix names.
  size_t slash = prefix.rfind('/');
  std::string start_dir = slash == std::string::npos ? root_ : JoinPath(root_, prefix.substr(0, slash));
  if (start_dir.find("/../") != std::string::npos || start_dir.ends_with("/..")) {
    return absl::InvalidArgumentError(StrCat("list: invalid prefix '", prefix, "'"));
  }
  std::vector<std::string> keys;
  size_t visited = 0;
  NEON_RETURN_IF_ERROR(Walk(start_dir, prefix, &keys, &visited));
  std::sort(keys.begin(), keys.end());

  ListResult result;
  const std::string& token = request.continuation_token;
  int emitted = 0;
  std::string last;  // the last entry emitted (key or common prefix)
  for (const std::string& key : keys) {
    std::string_view rest = std::string_view(key).substr(prefix.size());
    size_t d = request.delimiter.empty() ? std::string_view::npos : rest.find(request.delimiter);
    bool is_prefix = d != std::string_view::npos;
    std::string name = is_prefix ? StrCat(prefix, rest.substr(0, d + request.delimiter.size())) : key;
    if (!token.empty() && name <= token) continue;
    if (is_prefix && name == last) continue;
    if (emitted == request.max_keys) {
      result.next_continuation_token = last;
      break;
    }
    ++emitted;
    last = name;
    if (is_prefix) {
      result.common_prefixes.push_back(std::move(name));
    } else {
      auto size = fs_->GetFileSize(JoinPath(root_, key));
      if (absl::IsNotFound(size.status())) continue;  // deleted meanwhile
      NEON_RETURN_IF_ERROR_CTX(size.status(), "list");
      result.objects.push_back(ObjectInfo{key, *size, ""});
    }
  }
  return result;
}

absl::Status LocalObjectStore::DeleteBatch(std::span<const std::string> keys) {
  if (keys.size() > kMaxDeleteBatchKeys) {
    return absl::InvalidArgumentError(StrCat("delete: ", keys.size(), " keys, at most ", kMaxDeleteBatchKeys));
  }
  std::vector<std::string> paths;
  for (const std::string& key : keys) {
    NEON_ASSIGN_OR_RETURN(std::string path, PathOf(key));
    paths.push_back(std::move(path));
  }
  std::set<std::string> dirs;
  for (const std::string& path : paths) {
    if (fs_->IsDirectory(path)) continue;  // a prefix, not an object
    absl::Status s = fs_->DeleteFile(path);
    if (absl::IsNotFound(s)) continue;
    NEON_RETURN_IF_ERROR_CTX(s, "delete");
    dirs.insert(DirName(path));
  }
  for (const std::string& dir : dirs) NEON_RETURN_IF_ERROR_CTX(fs_->SyncDir(dir), "delete");
  return absl::OkStatus();
}

absl::Status LocalObjectStore::Copy(std::string_view from, std::string_view to) {
  NEON_ASSIGN_OR_RETURN(std::string from_path, PathOf(from));
  NEON_RETURN_IF_ERROR(PathOf(to).status());
  if (fs_->IsDirectory(from_path)) return absl::NotFoundError(StrCat("copy '", from, "': no such object"));
  auto source = NewFileSource(*fs_, from_path);
  if (absl::IsNotFound(source.status())) return absl::NotFoundError(StrCat("copy '", from, "': no such object"));
  NEON_RETURN_IF_ERROR(source.status());
  return Put(to, **source);
}

}  // namespace neon
