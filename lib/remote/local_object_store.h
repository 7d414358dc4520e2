// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// LocalObjectStore: an ObjectStore in a directory, through a FileSystem. The
// embedded default for one machine and the reference the S3 store is tested
// against. Key "a/b/c" is the file <root>/a/b/c.
//
// Publish: the bytes go to a hidden temp file in the key's directory
// (".neon-tmp-*", never listed), which is synced, renamed over the key and the
// directory synced; new directories are synced into their parents. A reader
// therefore sees the old object or the new one, and a crash leaves at most a
// temp file behind (removed by no one; harmless to listings).
//
// Keys: besides ValidateObjectKey's rules, no trailing '/' and no component
// starting with ".neon-tmp-" (InvalidArgument).
//
// Costs: Head and whole-object Get compute the MD5 ETag by reading the file;
// ranged Get and List leave `etag` empty. List walks the directory tree under
// the prefix on every page. Deleting a key leaves its (possibly empty)
// directories in place; they never appear in listings.
//
// Thread safety: all methods may be called concurrently (as the FileSystem's).

#ifndef NEON_LIB_REMOTE_LOCAL_OBJECT_STORE_H_
#define NEON_LIB_REMOTE_LOCAL_OBJECT_STORE_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "neon/file_system.h"
#include "neon/object_store.h"

namespace neon {

class LocalObjectStore final : public ObjectStore {
 public:
  // Use NewLocalObjectStore(), which also creates `root`.
  LocalObjectStore(std::shared_ptr<FileSystem> fs, std::string root);

  absl::Status Put(std::string_view key, ObjectSource& source) override;
  absl::StatusOr<ObjectInfo> Get(std::string_view key, const ByteRange& range,
                                 const ObjectSink& sink) override;
  absl::StatusOr<ObjectInfo> Head(std::string_view key) override;
  absl::StatusOr<ListResult> List(const ListRequest& request) override;
  absl::Status DeleteBatch(std::span<const std::string> keys) override;
  absl::Status Copy(std::string_view from, std::string_view to) override;

 private:
  absl::StatusOr<std::string> PathOf(std::string_view key) const;
  absl::Status EnsureDir(const std::string& dir);
  absl::Status WriteTemp(const std::string& tmp, ObjectSource& source);
  // Keys (relative to root_) of every object under `dir` (a path under
  // root_) whose key starts with `prefix`.
  absl::Status Walk(const std::string& dir, std::string_view prefix, std::vector<std::string>* keys,
                    size_t* visited);

  const std::shared_ptr<FileSystem> fs_;
  const std::string root_;
  const uint64_t tmp_salt_;
  std::atomic<uint64_t> tmp_counter_{0};
};

}  // namespace neon

#endif  // NEON_LIB_REMOTE_LOCAL_OBJECT_STORE_H_
