// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "safekeeper/no_sync_fs.h"

namespace neon::safekeeper {
namespace {

class NoSyncFile final : public WritableFile {
 public:
  explicit NoSyncFile(std::unique_ptr<WritableFile> base) : base_(std::move(base)) {}
  absl::Status Append(std::string_view data) override { return base_->Append(data); }
  absl::Status Sync() override { return absl::OkStatus(); }
  absl::Status Close() override { return base_->Close(); }
  uint64_t Size() const override { return base_->Size(); }
  absl::Status Preallocate(uint64_t size_bytes) override { return base_->Preallocate(size_bytes); }

 private:
  std::unique_ptr<WritableFile> base_;
};

class NoSyncFileSystem final : public FileSystem {
 public:
  explicit NoSyncFileSystem(std::shared_ptr<FileSystem> base) : base_(std::move(base)) {}

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    return Wrap(base_->NewWritableFile(path));
  }
  absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(
      const std::string& path) override {
    return Wrap(base_->NewAppendableFile(path));
  }
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    return base_->NewRandomAccessFile(path);
  }
  bool FileExists(const std::string& path) override { return base_->FileExists(path); }
  absl::StatusOr<std::vector<std::string>> GetChildren(const std::string& dir) override {
    return base_->GetChildren(dir);
  }
  absl::StatusOr<uint64_t> GetFileSize(const std::string& path) override {
    return base_->GetFileSize(path);
  }
  absl::Status DeleteFile(const std::string& path) override { return base_->DeleteFile(path); }
  absl::Status CreateDirs(const std::string& dir) override { return base_->CreateDirs(dir); }
  absl::Status DeleteDir(const std::string& dir) override { return base_->DeleteDir(dir); }
  absl::Status RenameFile(const std::string& from, const std::string& to) override {
    return base_->RenameFile(from, to);
  }
  absl::Status Truncate(const std::string& path, uint64_t size) override {
    return base_->Truncate(path, size);
  }
  absl::Status SyncDir(const std::string&) override { return absl::OkStatus(); }
  bool IsDirectory(const std::string& path) override { return base_->IsDirectory(path); }

 private:
  static absl::StatusOr<std::unique_ptr<WritableFile>> Wrap(
      absl::StatusOr<std::unique_ptr<WritableFile>> f) {
    if (!f.ok()) return f.status();
    return std::unique_ptr<WritableFile>(new NoSyncFile(std::move(*f)));
  }

  std::shared_ptr<FileSystem> base_;
};

}  // namespace

std::shared_ptr<FileSystem> NewNoSyncFileSystem(std::shared_ptr<FileSystem> base) {
  return std::make_shared<NoSyncFileSystem>(std::move(base));
}

}  // namespace neon::safekeeper
