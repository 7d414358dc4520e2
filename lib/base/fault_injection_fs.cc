// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "base/fault_injection_fs.h"

#include "base/str_cat.h"
#include "base/check.h"
#include "base/status_macros.h"

namespace neon {
namespace {

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultInjectionFileSystem* fs, uint64_t node, uint64_t epoch,
                    std::unique_ptr<WritableFile> base)
      : fs_(fs), node_(node), epoch_(epoch), base_(std::move(base)) {}
  absl::Status Append(std::string_view data) override {
    NEON_RETURN_IF_ERROR(fs_->OnAppend(node_, epoch_));
    return base_->Append(data);
  }
  absl::Status Sync() override {
    NEON_RETURN_IF_ERROR(fs_->CheckEpoch(epoch_));
    NEON_RETURN_IF_ERROR(base_->Sync());
    return fs_->OnSync(node_, epoch_, base_->Size());
  }
  absl::Status Close() override { return base_->Close(); }
  uint64_t Size() const override { return base_->Size(); }
  absl::Status Preallocate(uint64_t size_bytes) override { return base_->Preallocate(size_bytes); }

 private:
  FaultInjectionFileSystem* fs_;
  uint64_t node_;
  uint64_t epoch_;  // handles from before a SimulateCrash() are dead
  std::unique_ptr<WritableFile> base_;
};

}  // namespace

FaultInjectionFileSystem::FaultInjectionFileSystem(std::shared_ptr<FileSystem> base)
    : base_(std::move(base)) {}

void FaultInjectionFileSystem::CrashAfterOps(int64_t n) {
  absl::MutexLock l(&mu_);
  crash_countdown_ = n;
}

void FaultInjectionFileSystem::SetActive(bool active) {
  absl::MutexLock l(&mu_);
  active_ = active;
  if (active) crash_countdown_ = -1;
}

bool FaultInjectionFileSystem::active() const {
  absl::MutexLock l(&mu_);
  return active_;
}

void FaultInjectionFileSystem::SetErrorRate(uint64_t seed, uint32_t one_in) {
  absl::MutexLock l(&mu_);
  rng_.seed(seed);
  error_one_in_ = one_in;
}

int64_t FaultInjectionFileSystem::mutating_ops() const {
  absl::MutexLock l(&mu_);
  return ops_;
}

absl::Status FaultInjectionFileSystem::BeginMutation(std::string_view op, const std::string& path) {
  if (active_ && crash_countdown_ == 0) active_ = false;
  if (!active_) {
    return absl::UnavailableError(StrCat(op, " ", path, ": file system is down (injected crash)"));
  }
  ops_++;
  if (crash_countdown_ > 0) crash_countdown_--;
  if (error_one_in_ > 0 && rng_() % error_one_in_ == 0) {
    return absl::InternalError(StrCat(op, " ", path, ": injected I/O error"));
  }
  return absl::OkStatus();
}

uint64_t FaultInjectionFileSystem::NodeFor(const std::string& path) {
  auto it = by_path_.find(path);
  if (it != by_path_.end()) return it->second;
  // First time this path is touched: what is there now is durable.
  uint64_t id = next_node_++;
  Node n;
  n.path = path;
  auto size = base_->GetFileSize(path);
  n.synced_size = size.ok() ? *size : 0;
  n.entry_durable = size.ok();
  nodes_[id] = n;
  by_path_[path] = id;
  return id;
}

void FaultInjectionFileSystem::SaveGhost(const std::string& path) {
  if (ghosts_.count(path) || !base_->FileExists(path) || base_->IsDirectory(path)) return;
  auto it = by_path_.find(path);
  uint64_t durable_size = UINT64_MAX;
  if (it != by_path_.end()) {
    const Node& n = nodes_[it->second];
    if (!n.entry_durable) return;  // never durably existed: nothing to restore
    durable_size = n.synced_size;
  }
  auto content = ReadFileToString(*base_, path);
  NEON_CHECK_OK(content.status());
  if (content->size() > durable_size) content->resize(durable_size);
  ghosts_[path] = std::move(*content);
}

absl::StatusOr<std::unique_ptr<WritableFile>> FaultInjectionFileSystem::NewWritableFile(
    const std::string& path) {
  absl::MutexLock l(&mu_);
  NEON_RETURN_IF_ERROR(BeginMutation("create", path));
  bool existed = base_->FileExists(path) && !base_->IsDirectory(path);
  // Before the base call, so an untracked existing file is seen as durable.
  uint64_t id = NodeFor(path);
  NEON_ASSIGN_OR_RETURN(auto f, base_->NewWritableFile(path));
  Node& n = nodes_[id];
  // Truncating an existing file keeps its directory entry (durable or not)
  // and drops its content: after a crash it holds what was synced since. No
  // ghost: a Sync() of the new content must make it durable. A new file's
  // entry is durable only after SyncDir.
  n.synced_size = 0;
  if (!existed) n.entry_durable = false;
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, id, epoch_, std::move(f)));
}

absl::StatusOr<std::unique_ptr<WritableFile>> FaultInjectionFileSystem::NewAppendableFile(
    const std::string& path) {
  absl::MutexLock l(&mu_);
  NEON_RETURN_IF_ERROR(BeginMutation("open-append", path));
  uint64_t id = NodeFor(path);
  NEON_ASSIGN_OR_RETURN(auto f, base_->NewAppendableFile(path));
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, id, epoch_, std::move(f)));
}

absl::StatusOr<std::unique_ptr<RandomAccessFile>> FaultInjectionFileSystem::NewRandomAccessFile(
    const std::string& path) {
  {
    absl::MutexLock l(&mu_);
    if (!active_) return absl::UnavailableError(StrCat("open ", path, ": file system is down"));
  }
  return base_->NewRandomAccessFile(path);
}

absl::StatusOr<std::vector<std::string>> FaultInjectionFileSystem::GetChildren(const std::string& dir) {
  return base_->GetChildren(dir);
}

absl::StatusOr<uint64_t> FaultInjectionFileSystem::GetFileSize(const std::string& path) {
  return base_->GetFileSize(path);
}

absl::Status FaultInjectionFileSystem::CheckEpochLocked(uint64_t epoch) const {
  if (epoch != epoch_) {
    return absl::FailedPreconditionError(
        "file handle opened before a simulated crash is no longer usable");
  }
  return absl::OkStatus();
}

absl::Status FaultInjectionFileSystem::CheckEpoch(uint64_t epoch) const {
  absl::MutexLock l(&mu_);
  return CheckEpochLocked(epoch);
}

absl::Status FaultInjectionFileSystem::OnAppend(uint64_t node, uint64_t epoch) {
  absl::MutexLock l(&mu_);
  NEON_RETURN_IF_ERROR(CheckEpochLocked(epoch));
  auto it = nodes_.find(node);
  return BeginMutation("append", it == nodes_.end() ? "?" : it->second.path);
}

absl::Status FaultInjectionFileSystem::OnSync(uint64_t node, uint64_t epoch, uint64_t size) {
  absl::MutexLock l(&mu_);
  NEON_RETURN_IF_ERROR(CheckEpochLocked(epoch));
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return absl::OkStatus();  // file was deleted meanwhile
  NEON_RETURN_IF_ERROR(BeginMutation("sync", it->second.path));
  it->second.synced_size = size;
  return absl::OkStatus();
}

absl::Status FaultInjectionFileSystem::DeleteFile(const std::string& path) {
  absl::MutexLock l(&mu_);
  NEON_RETURN_IF_ERROR(BeginMutation("delete", path));
  SaveGhost(path);
  NEON_RETURN_IF_ERROR(base_->DeleteFile(path));
  auto it = by_path_.find(path);
  if (it != by_path_.end()) {
    nodes_.erase(it->second);
    by_path_.erase(it);
  }
  return absl::OkStatus();
}

absl::Status FaultInjectionFileSystem::CreateDirs(const std::string& dir) {
  absl::MutexLock l(&mu_);
  NEON_RETURN_IF_ERROR(BeginMutation("mkdir", dir));
  return base_->CreateDirs(dir);
}

absl::Status FaultInjectionFileSystem::DeleteDir(const std::string& dir) {
  absl::MutexLock l(&mu_);
  NEON_RETURN_IF_ERROR(BeginMutation("rmdir", dir));
  return base_->DeleteDir(dir);
}

absl::Status FaultInjectionFileSystem::RenameFile(const std::string& from, const std::string& to) {
  absl::MutexLock l(&mu_);
  NEON_RETURN_IF_ERROR(BeginMutation("rename", from));
  SaveGhost(from);
  SaveGhost(to);
  uint64_t id = NodeFor(from);
  NEON_RETURN_IF_ERROR(base_->RenameFile(from, to));
  auto old = by_path_.find(to);
  if (old != by_path_.end() && old->second != id) {
    nodes_.erase(old->second);
    by_path_.erase(old);
  }
  by_path_.erase(from);
  Node& n = nodes_[id];
  n.path = to;
  n.entry_durable = false;
  by_path_[to] = id;
  return absl::OkStatus();
}

absl::Status FaultInjectionFileSystem::Truncate(const std::string& path, uint64_t size) {
  absl::MutexLock l(&mu_);
  NEON_RETURN_IF_ERROR(BeginMutation("truncate", path));
  uint64_t id = NodeFor(path);
  NEON_RETURN_IF_ERROR(base_->Truncate(path, size));
  Node& n = nodes_[id];
  if (n.synced_size > size) n.synced_size = size;
  return absl::OkStatus();
}

absl::Status FaultInjectionFileSystem::SyncDir(const std::string& dir) {
  absl::MutexLock l(&mu_);
  NEON_RETURN_IF_ERROR(BeginMutation("syncdir", dir));
  NEON_RETURN_IF_ERROR(base_->SyncDir(dir));
  for (auto& [id, n] : nodes_) {
    if (DirName(n.path) == dir) n.entry_durable = true;
  }
  for (auto it = ghosts_.begin(); it != ghosts_.end();) {
    it = DirName(it->first) == dir ? ghosts_.erase(it) : std::next(it);
  }
  return absl::OkStatus();
}

absl::Status FaultInjectionFileSystem::SimulateCrash() {
  absl::MutexLock l(&mu_);
  for (const auto& [id, n] : nodes_) {
    if (!base_->FileExists(n.path)) continue;
    if (!n.entry_durable) {
      NEON_RETURN_IF_ERROR(base_->DeleteFile(n.path));
    } else {
      NEON_ASSIGN_OR_RETURN(uint64_t size, base_->GetFileSize(n.path));
      if (size > n.synced_size) NEON_RETURN_IF_ERROR(base_->Truncate(n.path, n.synced_size));
    }
  }
  for (const auto& [path, content] : ghosts_) {
    NEON_RETURN_IF_ERROR(base_->CreateDirs(DirName(path)));
    NEON_ASSIGN_OR_RETURN(auto f, base_->NewWritableFile(path));
    NEON_RETURN_IF_ERROR(f->Append(content));
    NEON_RETURN_IF_ERROR(f->Close());
  }
  nodes_.clear();
  by_path_.clear();
  ghosts_.clear();
  epoch_++;
  active_ = true;
  crash_countdown_ = -1;
  error_one_in_ = 0;
  return absl::OkStatus();
}

}  // namespace neon
