// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// FaultInjectionFileSystem: wraps another FileSystem and models what a power
// loss keeps. It tracks, per file, how many bytes were synced and whether its
// directory entry was made durable (SyncDir of the parent after create or
// rename), and remembers the durable content of entries removed or replaced
// since the last SyncDir. SimulateCrash() then rewinds the wrapped file
// system to exactly that durable state:
//   * files created or renamed into place without a later SyncDir vanish;
//   * other files are truncated to their last synced size (a file reopened
//     with NewWritableFile, which truncates it, keeps only what was synced
//     after the reopen);
//   * files deleted or replaced (renamed over) without a later SyncDir come
//     back with their durable content.
// Files are assumed append-only (true of everything neonstore writes).
// Directories themselves are never removed by a crash. WritableFiles opened
// before SimulateCrash() fail every later Append/Sync with FailedPrecondition.
//
// It also injects failures: CrashAfterOps(n) lets n more mutating calls
// through and then fails every call with Unavailable ("the process died"),
// and SetErrorRate() fails a random share of calls (seeded, reproducible).
//
// Thread safety: safe for concurrent use, like any FileSystem.

#ifndef NEON_LIB_BASE_FAULT_INJECTION_FS_H_
#define NEON_LIB_BASE_FAULT_INJECTION_FS_H_

#include <map>
#include <memory>
#include <random>
#include <string>

#include "absl/synchronization/mutex.h"
#include "neon/file_system.h"

namespace neon {

class FaultInjectionFileSystem final : public FileSystem {
 public:
  explicit FaultInjectionFileSystem(std::shared_ptr<FileSystem> base);

  // ---- Fault controls ----
  // Rewinds the base file system to its durable state, then reactivates
  // (clearing any CrashAfterOps countdown and error rate).
  absl::Status SimulateCrash();
  // Allows `n` more mutating operations, then fails everything (inactive).
  void CrashAfterOps(int64_t n);
  // Fails everything (false) or nothing (true) from now on.
  void SetActive(bool active);
  bool active() const;
  // Fails a random 1-in-`one_in` share of mutating calls (0 = never).
  void SetErrorRate(uint64_t seed, uint32_t one_in);
  // Mutating operations seen so far (for choosing crash points).
  int64_t mutating_ops() const;

  // ---- FileSystem ----
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override;
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override;
  bool FileExists(const std::string& path) override { return base_->FileExists(path); }
  absl::StatusOr<std::vector<std::string>> GetChildren(const std::string& dir) override;
  absl::StatusOr<uint64_t> GetFileSize(const std::string& path) override;
  absl::Status DeleteFile(const std::string& path) override;
  absl::Status CreateDirs(const std::string& dir) override;
  absl::Status DeleteDir(const std::string& dir) override;
  absl::Status RenameFile(const std::string& from, const std::string& to) override;
  absl::Status Truncate(const std::string& path, uint64_t size) override;
  absl::Status SyncDir(const std::string& dir) override;
  bool IsDirectory(const std::string& path) override { return base_->IsDirectory(path); }

  // Used by the writable-file wrapper. `epoch` is the crash epoch the file
  // was opened in: handles opened before SimulateCrash() fail with
  // FailedPrecondition (the process that held them is gone).
  absl::Status CheckEpoch(uint64_t epoch) const;
  absl::Status OnAppend(uint64_t node, uint64_t epoch);
  absl::Status OnSync(uint64_t node, uint64_t epoch, uint64_t size);

 private:
  struct Node {
    std::string path;
    uint64_t synced_size = 0;
    bool entry_durable = false;
  };

  // Fails if inactive, counts the op, applies the crash countdown and the
  // random error rate.
  absl::Status BeginMutation(std::string_view op, const std::string& path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Remembers the durable content of `path` before it is removed/replaced.
  void SaveGhost(const std::string& path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t NodeFor(const std::string& path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckEpochLocked(uint64_t epoch) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::shared_ptr<FileSystem> base_;
  mutable absl::Mutex mu_;
  bool active_ ABSL_GUARDED_BY(mu_) = true;
  int64_t crash_countdown_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t ops_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t error_one_in_ ABSL_GUARDED_BY(mu_) = 0;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  uint64_t next_node_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;  // SimulateCrash() count
  std::map<uint64_t, Node> nodes_ ABSL_GUARDED_BY(mu_);             // tracked files
  std::map<std::string, uint64_t> by_path_ ABSL_GUARDED_BY(mu_);    // path -> node
  std::map<std::string, std::string> ghosts_ ABSL_GUARDED_BY(mu_);  // durable content to restore
};

}  // namespace neon

#endif  // NEON_LIB_BASE_FAULT_INJECTION_FS_H_
