// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// FileSystem: the one seam through which neonstore touches files. The library
// never calls open(2) or std::filesystem directly; it is handed a FileSystem.
// Implementations: NewPosixFileSystem() for real disks, NewMemFileSystem() for
// tests, and FaultInjectionFileSystem (lib/base) which wraps another one and
// can drop everything not yet synced, as a power loss would.
//
// Durability contract (POSIX's): data appended to a WritableFile is durable
// after Sync(); a created, renamed or deleted directory entry is durable after
// SyncDir() of its parent directory. Nothing else is promised.
//
// Thread safety: FileSystem methods may be called concurrently. A
// RandomAccessFile may be read concurrently. A WritableFile is used by one
// thread at a time.
//
// Errors: NotFound for a missing path, AlreadyExists where a path must not
// exist, ResourceExhausted for a full disk, Unavailable/Internal for other I/O
// errors (with the path and errno text in the message).

#ifndef NEON_INCLUDE_NEON_FILE_SYSTEM_H_
#define NEON_INCLUDE_NEON_FILE_SYSTEM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace neon {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends to the end of the file. Not durable until Sync().
  virtual absl::Status Append(std::string_view data) = 0;
  // Makes all appended data durable (fsync/fdatasync). After a failed Sync
  // the file's durable content is unknown: callers must not retry.
  virtual absl::Status Sync() = 0;
  virtual absl::Status Close() = 0;
  // Bytes appended so far (including bytes present when the file was opened).
  virtual uint64_t Size() const = 0;
  // Reserves disk space for the file to grow to `size_bytes` without changing
  // its size (POSIX: fallocate with FALLOC_FL_KEEP_SIZE), so later appends
  // and syncs need not allocate blocks. A no-op where unsupported.
  virtual absl::Status Preallocate(uint64_t size_bytes) { return absl::OkStatus(); }
};

class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to n bytes at offset into scratch; returns the bytes read, fewer
  // only at end of file.
  virtual absl::StatusOr<size_t> Read(uint64_t offset, size_t n, char* scratch) const = 0;
  virtual absl::StatusOr<uint64_t> Size() const = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Creates (or truncates) a file for writing.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  // Opens an existing or new file for appending at its end.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) = 0;
  virtual absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;

  virtual bool FileExists(const std::string& path) = 0;
  // Names (not paths) of the entries of a directory, in no particular order.
  virtual absl::StatusOr<std::vector<std::string>> GetChildren(const std::string& dir) = 0;
  virtual absl::StatusOr<uint64_t> GetFileSize(const std::string& path) = 0;
  virtual absl::Status DeleteFile(const std::string& path) = 0;
  // Creates the directory and any missing parents; OK if it exists.
  virtual absl::Status CreateDirs(const std::string& dir) = 0;
  // Removes an empty directory.
  virtual absl::Status DeleteDir(const std::string& dir) = 0;
  // Atomically replaces `to` with `from`.
  virtual absl::Status RenameFile(const std::string& from, const std::string& to) = 0;
  virtual absl::Status Truncate(const std::string& path, uint64_t size) = 0;
  // Makes creations, renames and deletions inside `dir` durable.
  virtual absl::Status SyncDir(const std::string& dir) = 0;
  virtual bool IsDirectory(const std::string& path) = 0;
};

// The operating system's file system. The returned object is stateless.
std::shared_ptr<FileSystem> NewPosixFileSystem();
// A file system held in memory (every file and directory), for tests.
std::shared_ptr<FileSystem> NewMemFileSystem();

// ---- Helpers built on the interface ----
absl::StatusOr<std::string> ReadFileToString(FileSystem& fs, const std::string& path);
// Writes `data` to `path` durably and atomically: write a temp file, sync it,
// rename over `path`, sync the directory.
absl::Status WriteFileAtomic(FileSystem& fs, const std::string& path, std::string_view data);
// Deletes a directory tree (files and subdirectories).
absl::Status DeleteRecursively(FileSystem& fs, const std::string& path);
std::string JoinPath(std::string_view a, std::string_view b);
std::string DirName(std::string_view path);
std::string BaseName(std::string_view path);

}  // namespace neon

#endif  // NEON_INCLUDE_NEON_FILE_SYSTEM_H_
