// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// A FileSystem held entirely in memory. Open files share their content with
// the directory entry, so (as on POSIX) a deleted or renamed file stays
// readable through handles opened before.

#include <map>
#include <set>

#include "base/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "neon/file_system.h"

namespace neon {
namespace {

struct FileData {
  absl::Mutex mu;
  std::string data ABSL_GUARDED_BY(mu);
};

std::string Normalize(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  return std::string(p);
}

class MemWritableFile final : public WritableFile {
 public:
  explicit MemWritableFile(std::shared_ptr<FileData> f) : f_(std::move(f)) {}
  absl::Status Append(std::string_view data) override {
    absl::MutexLock l(&f_->mu);
    f_->data.append(data);
    return absl::OkStatus();
  }
  absl::Status Sync() override { return absl::OkStatus(); }
  absl::Status Close() override { return absl::OkStatus(); }
  uint64_t Size() const override {
    absl::MutexLock l(&f_->mu);
    return f_->data.size();
  }

 private:
  std::shared_ptr<FileData> f_;
};

class MemRandomAccessFile final : public RandomAccessFile {
 public:
  explicit MemRandomAccessFile(std::shared_ptr<FileData> f) : f_(std::move(f)) {}
  absl::StatusOr<size_t> Read(uint64_t offset, size_t n, char* scratch) const override {
    absl::MutexLock l(&f_->mu);
    if (offset >= f_->data.size()) return size_t{0};
    size_t k = std::min<uint64_t>(n, f_->data.size() - offset);
    std::memcpy(scratch, f_->data.data() + offset, k);
    return k;
  }
  absl::StatusOr<uint64_t> Size() const override {
    absl::MutexLock l(&f_->mu);
    return uint64_t(f_->data.size());
  }

 private:
  std::shared_ptr<FileData> f_;
};

class MemFileSystem final : public FileSystem {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& p) override {
    std::string path = Normalize(p);
    absl::MutexLock l(&mu_);
    if (absl::Status s = CheckParent(path); !s.ok()) return s;
    auto f = std::make_shared<FileData>();
    files_[path] = f;
    return std::unique_ptr<WritableFile>(new MemWritableFile(std::move(f)));
  }
  absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& p) override {
    std::string path = Normalize(p);
    absl::MutexLock l(&mu_);
    if (absl::Status s = CheckParent(path); !s.ok()) return s;
    auto& f = files_[path];
    if (!f) f = std::make_shared<FileData>();
    return std::unique_ptr<WritableFile>(new MemWritableFile(f));
  }
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& p) override {
    absl::MutexLock l(&mu_);
    auto it = files_.find(Normalize(p));
    if (it == files_.end()) return absl::NotFoundError(StrCat("open ", p, ": no such file"));
    return std::unique_ptr<RandomAccessFile>(new MemRandomAccessFile(it->second));
  }
  bool FileExists(const std::string& p) override {
    absl::MutexLock l(&mu_);
    std::string path = Normalize(p);
    return files_.count(path) > 0 || dirs_.count(path) > 0;
  }
  bool IsDirectory(const std::string& p) override {
    absl::MutexLock l(&mu_);
    return dirs_.count(Normalize(p)) > 0;
  }
  absl::StatusOr<std::vector<std::string>> GetChildren(const std::string& d) override {
    absl::MutexLock l(&mu_);
    std::string dir = Normalize(d);
    if (!dirs_.count(dir)) return absl::NotFoundError(StrCat("opendir ", d, ": no such directory"));
    std::string prefix = dir == "/" ? "/" : dir + "/";
    std::vector<std::string> out;
    auto collect = [&](const auto& container) {
      for (auto it = container.lower_bound(prefix); it != container.end(); ++it) {
        const std::string& name = KeyOf(*it);
        if (name.compare(0, prefix.size(), prefix) != 0) break;
        std::string rest = name.substr(prefix.size());
        if (!rest.empty() && rest.find('/') == std::string::npos) out.push_back(rest);
      }
    };
    collect(files_);
    collect(dirs_);
    return out;
  }
  absl::StatusOr<uint64_t> GetFileSize(const std::string& p) override {
    absl::MutexLock l(&mu_);
    auto it = files_.find(Normalize(p));
    if (it == files_.end()) return absl::NotFoundError(StrCat("stat ", p, ": no such file"));
    absl::MutexLock fl(&it->second->mu);
    return uint64_t(it->second->data.size());
  }
  absl::Status DeleteFile(const std::string& p) override {
    absl::MutexLock l(&mu_);
    if (files_.erase(Normalize(p)) == 0) {
      return absl::NotFoundError(StrCat("unlink ", p, ": no such file"));
    }
    return absl::OkStatus();
  }
  absl::Status CreateDirs(const std::string& d) override {
    absl::MutexLock l(&mu_);
    // Collect the missing ancestors first, so a file in the way leaves
    // nothing half-created.
    std::vector<std::string> missing;
    for (std::string dir = Normalize(d); !dir.empty() && !dirs_.count(dir);) {
      if (files_.count(dir)) {
        return absl::AlreadyExistsError(StrCat("mkdir ", d, ": ", dir, " is a file"));
      }
      missing.push_back(dir);
      std::string parent = DirName(dir);
      if (parent == dir) break;
      dir = std::move(parent);
    }
    dirs_.insert(missing.begin(), missing.end());
    return absl::OkStatus();
  }
  absl::Status DeleteDir(const std::string& d) override {
    absl::MutexLock l(&mu_);
    std::string dir = Normalize(d);
    if (!dirs_.count(dir)) return absl::NotFoundError(StrCat("rmdir ", d, ": no such directory"));
    std::string prefix = dir + "/";
    auto f = files_.lower_bound(prefix);
    auto s = dirs_.lower_bound(prefix);
    if ((f != files_.end() && f->first.compare(0, prefix.size(), prefix) == 0) ||
        (s != dirs_.end() && s->compare(0, prefix.size(), prefix) == 0)) {
      return absl::FailedPreconditionError(StrCat("rmdir ", d, ": directory not empty"));
    }
    dirs_.erase(dir);
    return absl::OkStatus();
  }
  absl::Status RenameFile(const std::string& from, const std::string& to) override {
    absl::MutexLock l(&mu_);
    auto it = files_.find(Normalize(from));
    if (it == files_.end()) return absl::NotFoundError(StrCat("rename ", from, ": no such file"));
    std::string dst = Normalize(to);
    if (absl::Status s = CheckParent(dst); !s.ok()) return s;
    auto data = it->second;
    files_.erase(it);
    files_[dst] = std::move(data);
    return absl::OkStatus();
  }
  absl::Status Truncate(const std::string& p, uint64_t size) override {
    absl::MutexLock l(&mu_);
    auto it = files_.find(Normalize(p));
    if (it == files_.end()) return absl::NotFoundError(StrCat("truncate ", p, ": no such file"));
    absl::MutexLock fl(&it->second->mu);
    it->second->data.resize(size, '\0');
    return absl::OkStatus();
  }
  absl::Status SyncDir(const std::string& d) override {
    absl::MutexLock l(&mu_);
    if (!dirs_.count(Normalize(d)) && !Normalize(d).empty()) {
      return absl::NotFoundError(StrCat("sync dir ", d, ": no such directory"));
    }
    return absl::OkStatus();
  }

 private:
  static const std::string& KeyOf(const std::pair<const std::string, std::shared_ptr<FileData>>& e) {
    return e.first;
  }
  static const std::string& KeyOf(const std::string& e) { return e; }

  absl::Status CheckParent(const std::string& path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string parent = DirName(path);
    if (!parent.empty() && !dirs_.count(parent)) {
      return absl::NotFoundError(StrCat("create ", path, ": parent directory missing"));
    }
    if (dirs_.count(path)) return absl::FailedPreconditionError(StrCat(path, " is a directory"));
    return absl::OkStatus();
  }

  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<FileData>> files_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> dirs_ ABSL_GUARDED_BY(mu_) = {"/"};
};

}  // namespace

std::shared_ptr<FileSystem> NewMemFileSystem() { return std::make_shared<MemFileSystem>(); }

}  // namespace neon
