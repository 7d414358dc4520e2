// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "base/str_cat.h"
#include "base/status_macros.h"
#include "neon/file_system.h"

namespace neon {

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (a.back() == '/') return StrCat(a, b);
  return StrCat(a, "/", b);
}

std::string DirName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return "";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string BaseName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

absl::StatusOr<std::string> ReadFileToString(FileSystem& fs, const std::string& path) {
  NEON_ASSIGN_OR_RETURN(auto file, fs.NewRandomAccessFile(path));
  NEON_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  std::string out(size, '\0');
  uint64_t got = 0;
  while (got < size) {  // reads may come back short; stop at the end of file
    NEON_ASSIGN_OR_RETURN(size_t n, file->Read(got, size - got, out.data() + got));
    if (n == 0) break;
    got += n;
  }
  out.resize(got);
  return out;
}

absl::Status WriteFileAtomic(FileSystem& fs, const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp";
  NEON_ASSIGN_OR_RETURN(auto file, fs.NewWritableFile(tmp));
  NEON_RETURN_IF_ERROR(file->Append(data));
  NEON_RETURN_IF_ERROR(file->Sync());
  NEON_RETURN_IF_ERROR(file->Close());
  NEON_RETURN_IF_ERROR(fs.RenameFile(tmp, path));
  return fs.SyncDir(DirName(path));
}

absl::Status DeleteRecursively(FileSystem& fs, const std::string& path) {
  if (!fs.FileExists(path)) return absl::OkStatus();
  if (!fs.IsDirectory(path)) return fs.DeleteFile(path);
  NEON_ASSIGN_OR_RETURN(auto children, fs.GetChildren(path));
  for (const auto& c : children) NEON_RETURN_IF_ERROR(DeleteRecursively(fs, JoinPath(path, c)));
  return fs.DeleteDir(path);
}

}  // namespace neon
