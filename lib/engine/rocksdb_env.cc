// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/rocksdb_env.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "rocksdb/env.h"
#include "rocksdb/options.h"

namespace neon {
namespace {

std::string_view View(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

// neon status -> rocksdb status. `not_found_code` picks how a missing path is
// reported: IOError(PathNotFound) for file operations, NotFound where
// RocksDB's POSIX Env says NotFound (FileExists, GetChildren).
enum class Missing { kPathNotFound, kNotFound };

rocksdb::Status ToRocks(const absl::Status& s, Missing missing = Missing::kPathNotFound) {
  if (s.ok()) return rocksdb::Status::OK();
  std::string msg = s.ToString();
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
      return missing == Missing::kNotFound ? rocksdb::Status::NotFound(msg)
                                           : rocksdb::Status::PathNotFound(msg);
    case absl::StatusCode::kResourceExhausted:
      return rocksdb::Status::NoSpace(msg);
    default:
      return rocksdb::Status::IOError(msg);
  }
}

// ---- Files -------------------------------------------------------------------

class NeonSequentialFile final : public rocksdb::SequentialFile {
 public:
  explicit NeonSequentialFile(std::unique_ptr<RandomAccessFile> f) : f_(std::move(f)) {}

  rocksdb::Status Read(size_t n, rocksdb::Slice* result, char* scratch) override {
    auto got = f_->Read(offset_, n, scratch);
    if (!got.ok()) return ToRocks(got.status());
    offset_ += *got;
    *result = rocksdb::Slice(scratch, *got);
    return rocksdb::Status::OK();
  }
  rocksdb::Status Skip(uint64_t n) override {
    offset_ += n;
    return rocksdb::Status::OK();
  }

 private:
  std::unique_ptr<RandomAccessFile> f_;
  uint64_t offset_ = 0;
};

class NeonRandomAccessFile final : public rocksdb::RandomAccessFile {
 public:
  explicit NeonRandomAccessFile(std::unique_ptr<neon::RandomAccessFile> f) : f_(std::move(f)) {}

  rocksdb::Status Read(uint64_t offset, size_t n, rocksdb::Slice* result,
                       char* scratch) const override {
    auto got = f_->Read(offset, n, scratch);
    if (!got.ok()) return ToRocks(got.status());
    *result = rocksdb::Slice(scratch, *got);
    return rocksdb::Status::OK();
  }

 private:
  std::unique_ptr<neon::RandomAccessFile> f_;
};

class NeonWritableFile final : public rocksdb::WritableFile {
 public:
  explicit NeonWritableFile(std::unique_ptr<neon::WritableFile> f) : f_(std::move(f)) {}
  ~NeonWritableFile() override {
    if (!closed_) (void)f_->Close();
  }

  using rocksdb::WritableFile::Append;
  rocksdb::Status Append(const rocksdb::Slice& data) override {
    return ToRocks(f_->Append(View(data)));
  }
  rocksdb::Status Close() override {
    if (closed_) return rocksdb::Status::OK();
    closed_ = true;
    return ToRocks(f_->Close());
  }
  // Appends go straight to the FileSystem: nothing is buffered here.
  rocksdb::Status Flush() override { return rocksdb::Status::OK(); }
  rocksdb::Status Sync() override { return ToRocks(f_->Sync()); }
  rocksdb::Status Fsync() override { return ToRocks(f_->Sync()); }
  uint64_t GetFileSize() override { return f_->Size(); }

 private:
  std::unique_ptr<neon::WritableFile> f_;
  bool closed_ = false;
};

class NeonDirectory final : public rocksdb::Directory {
 public:
  NeonDirectory(FileSystem* fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}
  rocksdb::Status Fsync() override { return ToRocks(fs_->SyncDir(dir_)); }
  rocksdb::Status Close() override { return rocksdb::Status::OK(); }

 private:
  FileSystem* fs_;
  std::string dir_;
};

class NullLogger final : public rocksdb::Logger {
 public:
  NullLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::HEADER_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
  void Logv(const rocksdb::InfoLogLevel /*level*/, const char* /*format*/,
            va_list /*ap*/) override {}

 protected:
  rocksdb::Status CloseImpl() override { return rocksdb::Status::OK(); }
};

// ---- Locks -------------------------------------------------------------------

// Process-wide: two Envs over the same FileSystem must not both open a DB.
class LockTable {
 public:
  static LockTable& Get() {
    static LockTable* table = new LockTable();  // never destroyed
    return *table;
  }
  bool TryLock(const FileSystem* fs, const std::string& path) {
    absl::MutexLock l(&mu_);
    return held_.insert({fs, path}).second;
  }
  void Unlock(const FileSystem* fs, const std::string& path) {
    absl::MutexLock l(&mu_);
    held_.erase({fs, path});
  }

 private:
  absl::Mutex mu_;
  std::set<std::pair<const FileSystem*, std::string>> held_ ABSL_GUARDED_BY(mu_);
};

class NeonFileLock final : public rocksdb::FileLock {
 public:
  NeonFileLock(const FileSystem* fs, std::string path) : fs(fs), path(std::move(path)) {}
  const FileSystem* fs;
  std::string path;
};

// ---- Env ---------------------------------------------------------------------

class NeonRocksEnv final : public rocksdb::EnvWrapper {
 public:
  explicit NeonRocksEnv(std::shared_ptr<FileSystem> fs)
      : rocksdb::EnvWrapper(rocksdb::Env::Default()), fs_(std::move(fs)) {}

  const char* Name() const override { return "NeonFileSystemEnv"; }

  rocksdb::Status RegisterDbPaths(const std::vector<std::string>&) override {
    return rocksdb::Status::OK();
  }
  rocksdb::Status UnregisterDbPaths(const std::vector<std::string>&) override {
    return rocksdb::Status::OK();
  }

  rocksdb::Status NewSequentialFile(const std::string& f,
                                    std::unique_ptr<rocksdb::SequentialFile>* r,
                                    const rocksdb::EnvOptions&) override {
    auto file = fs_->NewRandomAccessFile(f);
    if (!file.ok()) return ToRocks(file.status());
    *r = std::make_unique<NeonSequentialFile>(std::move(*file));
    return rocksdb::Status::OK();
  }
  rocksdb::Status NewRandomAccessFile(const std::string& f,
                                      std::unique_ptr<rocksdb::RandomAccessFile>* r,
                                      const rocksdb::EnvOptions&) override {
    auto file = fs_->NewRandomAccessFile(f);
    if (!file.ok()) return ToRocks(file.status());
    *r = std::make_unique<NeonRandomAccessFile>(std::move(*file));
    return rocksdb::Status::OK();
  }
  rocksdb::Status NewWritableFile(const std::string& f, std::unique_ptr<rocksdb::WritableFile>* r,
                                  const rocksdb::EnvOptions&) override {
    return Wrap(fs_->NewWritableFile(f), r);
  }
  rocksdb::Status ReopenWritableFile(const std::string& f,
                                     std::unique_ptr<rocksdb::WritableFile>* r,
                                     const rocksdb::EnvOptions&) override {
    return Wrap(fs_->NewAppendableFile(f), r);
  }
  // Recycled WAL files: rename, then start the file over (RocksDB's POSIX Env
  // overwrites in place; truncating is equivalent for a log being reused).
  rocksdb::Status ReuseWritableFile(const std::string& f, const std::string& old_f,
                                    std::unique_ptr<rocksdb::WritableFile>* r,
                                    const rocksdb::EnvOptions&) override {
    absl::Status s = fs_->RenameFile(old_f, f);
    if (!s.ok()) return ToRocks(s);
    return Wrap(fs_->NewWritableFile(f), r);
  }
  rocksdb::Status NewRandomRWFile(const std::string&, std::unique_ptr<rocksdb::RandomRWFile>*,
                                  const rocksdb::EnvOptions&) override {
    return rocksdb::Status::NotSupported("NewRandomRWFile on a neon FileSystem");
  }
  rocksdb::Status NewMemoryMappedFileBuffer(
      const std::string&, std::unique_ptr<rocksdb::MemoryMappedFileBuffer>*) override {
    return rocksdb::Status::NotSupported("mmap on a neon FileSystem");
  }
  rocksdb::Status NewDirectory(const std::string& name,
                               std::unique_ptr<rocksdb::Directory>* r) override {
    if (!fs_->IsDirectory(name)) {
      return rocksdb::Status::PathNotFound(name + ": no such directory");
    }
    *r = std::make_unique<NeonDirectory>(fs_.get(), name);
    return rocksdb::Status::OK();
  }

  rocksdb::Status FileExists(const std::string& f) override {
    return fs_->FileExists(f) ? rocksdb::Status::OK() : rocksdb::Status::NotFound(f);
  }
  rocksdb::Status GetChildren(const std::string& dir, std::vector<std::string>* r) override {
    auto children = fs_->GetChildren(dir);
    if (!children.ok()) return ToRocks(children.status(), Missing::kNotFound);
    *r = std::move(*children);
    return rocksdb::Status::OK();
  }
  rocksdb::Status GetChildrenFileAttributes(
      const std::string& dir, std::vector<rocksdb::Env::FileAttributes>* result) override;
  rocksdb::Status DeleteFile(const std::string& f) override { return ToRocks(fs_->DeleteFile(f)); }
  rocksdb::Status Truncate(const std::string& f, size_t size) override {
    return ToRocks(fs_->Truncate(f, size));
  }
  rocksdb::Status CreateDir(const std::string& d) override {
    if (fs_->FileExists(d)) return rocksdb::Status::IOError(d + ": already exists");
    return ToRocks(fs_->CreateDirs(d));
  }
  rocksdb::Status CreateDirIfMissing(const std::string& d) override {
    return ToRocks(fs_->CreateDirs(d));
  }
  rocksdb::Status DeleteDir(const std::string& d) override { return ToRocks(fs_->DeleteDir(d)); }
  rocksdb::Status GetFileSize(const std::string& f, uint64_t* size) override {
    auto s = fs_->GetFileSize(f);
    if (!s.ok()) return ToRocks(s.status());
    *size = *s;
    return rocksdb::Status::OK();
  }
  rocksdb::Status GetFileModificationTime(const std::string& f, uint64_t* mtime) override {
    if (!fs_->FileExists(f)) return rocksdb::Status::PathNotFound(f);
    *mtime = 0;  // unknown: RocksDB then skips time-based compaction choices
    return rocksdb::Status::OK();
  }
  rocksdb::Status RenameFile(const std::string& from, const std::string& to) override {
    return ToRocks(fs_->RenameFile(from, to));
  }
  rocksdb::Status LinkFile(const std::string&, const std::string&) override {
    return rocksdb::Status::NotSupported("LinkFile on a neon FileSystem");
  }
  rocksdb::Status NumFileLinks(const std::string&, uint64_t*) override {
    return rocksdb::Status::NotSupported("NumFileLinks on a neon FileSystem");
  }
  rocksdb::Status AreFilesSame(const std::string&, const std::string&, bool*) override {
    return rocksdb::Status::NotSupported("AreFilesSame on a neon FileSystem");
  }
  rocksdb::Status LockFile(const std::string& f, rocksdb::FileLock** lock) override;
  rocksdb::Status UnlockFile(rocksdb::FileLock* lock) override;
  rocksdb::Status IsDirectory(const std::string& path, bool* is_dir) override {
    if (!fs_->FileExists(path)) return rocksdb::Status::PathNotFound(path);
    *is_dir = fs_->IsDirectory(path);
    return rocksdb::Status::OK();
  }
  rocksdb::Status GetAbsolutePath(const std::string& path, std::string* out) override {
    *out = path;
    return rocksdb::Status::OK();
  }
  rocksdb::Status NewLogger(const std::string&, std::shared_ptr<rocksdb::Logger>* result) override {
    *result = std::make_shared<NullLogger>();
    return rocksdb::Status::OK();
  }
  rocksdb::Status GetFreeSpace(const std::string&, uint64_t*) override {
    return rocksdb::Status::NotSupported("GetFreeSpace on a neon FileSystem");
  }
  rocksdb::Status GetTestDirectory(std::string*) override {
    return rocksdb::Status::NotSupported("GetTestDirectory on a neon FileSystem");
  }

 private:
  static rocksdb::Status Wrap(absl::StatusOr<std::unique_ptr<neon::WritableFile>> f,
                              std::unique_ptr<rocksdb::WritableFile>* r) {
    if (!f.ok()) return ToRocks(f.status());
    *r = std::make_unique<NeonWritableFile>(std::move(*f));
    return rocksdb::Status::OK();
  }

  std::shared_ptr<FileSystem> fs_;
};

rocksdb::Status NeonRocksEnv::GetChildrenFileAttributes(
    const std::string& dir, std::vector<rocksdb::Env::FileAttributes>* result) {
  auto children = fs_->GetChildren(dir);
  if (!children.ok()) return ToRocks(children.status(), Missing::kNotFound);
  result->clear();
  for (const std::string& name : *children) {
    std::string path = JoinPath(dir, name);
    if (fs_->IsDirectory(path)) continue;
    auto size = fs_->GetFileSize(path);
    if (!size.ok()) {
      if (size.status().code() == absl::StatusCode::kNotFound) continue;  // deleted meanwhile
      return ToRocks(size.status());
    }
    result->push_back(rocksdb::Env::FileAttributes{name, *size});
  }
  return rocksdb::Status::OK();
}

rocksdb::Status NeonRocksEnv::LockFile(const std::string& f, rocksdb::FileLock** lock) {
  *lock = nullptr;
  if (!LockTable::Get().TryLock(fs_.get(), f)) {
    return rocksdb::Status::IOError("lock " + f, "already held by this process");
  }
  // Like RocksDB's POSIX Env, make sure the LOCK file exists.
  auto file = fs_->NewAppendableFile(f);
  absl::Status s = file.ok() ? (*file)->Close() : file.status();
  if (!s.ok()) {
    LockTable::Get().Unlock(fs_.get(), f);
    return ToRocks(s);
  }
  *lock = new NeonFileLock(fs_.get(), f);
  return rocksdb::Status::OK();
}

rocksdb::Status NeonRocksEnv::UnlockFile(rocksdb::FileLock* lock) {
  auto* l = static_cast<NeonFileLock*>(lock);
  LockTable::Get().Unlock(l->fs, l->path);
  delete l;
  return rocksdb::Status::OK();
}

}  // namespace

std::unique_ptr<rocksdb::Env> NewRocksEnv(std::shared_ptr<FileSystem> fs) {
  return std::make_unique<NeonRocksEnv>(std::move(fs));
}

void ConfigureRocksOptionsForNeonFs(rocksdb::Options* options) {
  if (options->info_log == nullptr) options->info_log = std::make_shared<NullLogger>();
  options->wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  options->avoid_flush_during_shutdown = true;
  options->allow_mmap_reads = false;
  options->allow_mmap_writes = false;
  options->use_direct_reads = false;
  options->use_direct_io_for_flush_and_compaction = false;
  options->allow_fallocate = false;
  options->stats_dump_period_sec = 0;
  options->stats_persist_period_sec = 0;
  options->persist_stats_to_disk = false;
  options->dump_malloc_stats = false;
  options->enable_thread_tracking = false;
}

}  // namespace neon
