// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "common/tar_extract.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon::server {
namespace {

constexpr size_t kBlock = 512;

// A NUL-terminated (or full-width) header field.
std::string_view Field(std::string_view hdr, size_t off, size_t len) {
  std::string_view f = hdr.substr(off, len);
  const size_t nul = f.find('\0');
  return nul == std::string_view::npos ? f : f.substr(0, nul);
}

// An octal number field (leading spaces, digits, then NUL/space padding), or the GNU
// base-256 form for large sizes.
bool ParseNumber(std::string_view f, uint64_t* out) {
  if (!f.empty() && (static_cast<uint8_t>(f[0]) & 0x80) != 0) {
    uint64_t v = static_cast<uint8_t>(f[0]) & 0x7f;
    for (size_t i = 1; i < f.size(); ++i) {
      if (v >> 56 != 0) return false;
      v = (v << 8) | static_cast<uint8_t>(f[i]);
    }
    *out = v;
    return true;
  }
  size_t i = 0;
  while (i < f.size() && f[i] == ' ') ++i;
  uint64_t v = 0;
  size_t digits = 0;
  for (; i < f.size() && f[i] >= '0' && f[i] <= '7'; ++i, ++digits) {
    if (v >> 60 != 0) return false;
    v = v * 8 + static_cast<uint64_t>(f[i] - '0');
  }
  for (; i < f.size(); ++i) {
    if (f[i] != '\0' && f[i] != ' ') return false;
  }
  if (digits == 0) return false;
  *out = v;
  return true;
}

bool ChecksumOk(std::string_view hdr) {
  uint64_t stored = 0;
  if (!ParseNumber(hdr.substr(148, 8), &stored)) return false;
  uint64_t sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    sum += (i >= 148 && i < 156) ? uint64_t{' '} : static_cast<uint8_t>(hdr[i]);
  }
  return sum == stored;
}

// A relative path with no empty, "." (except a leading "./") or ".." components, without a
// trailing slash.
absl::Status CleanPath(std::string_view raw, std::string* out) {
  std::string_view p = raw;
  while (p.substr(0, 2) == "./") p.remove_prefix(2);
  while (!p.empty() && p.back() == '/') p.remove_suffix(1);
  if (p.empty() || p == ".") {
    out->clear();
    return absl::OkStatus();
  }
  if (p.front() == '/') return absl::InvalidArgumentError(StrCat("absolute path in tar: ", raw));
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    const std::string_view comp = p.substr(start, end - start);
    if (comp.empty() || comp == "." || comp == "..") {
      return absl::InvalidArgumentError(StrCat("unsafe path in tar: ", raw));
    }
    start = end + 1;
  }
  *out = std::string(p);
  return absl::OkStatus();
}

absl::Status MakeDirs(const std::string& root, const std::string& rel) {
  size_t pos = 0;
  while (true) {
    pos = rel.find('/', pos);
    const std::string path = root + "/" + (pos == std::string::npos ? rel : rel.substr(0, pos));
    if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::UnavailableError(StrCat("mkdir ", path, ": ", std::strerror(errno)));
    }
    if (pos == std::string::npos) return absl::OkStatus();
    ++pos;
  }
}

absl::Status WriteFile(const std::string& path, std::string_view data) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::UnavailableError(StrCat("open ", path, ": ", std::strerror(errno)));
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      close(fd);
      return absl::UnavailableError(StrCat("write ", path, ": ", std::strerror(err)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (close(fd) != 0) {
    return absl::UnavailableError(StrCat("close ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// The "path" record of a pax extended header, if any.
absl::Status PaxPath(std::string_view data, std::string* path) {
  while (!data.empty()) {
    const size_t sp = data.find(' ');
    if (sp == std::string_view::npos) return absl::InvalidArgumentError("bad pax record");
    uint64_t len = 0;
    for (char c : data.substr(0, sp)) {
      if (c < '0' || c > '9' || len > data.size()) {
        return absl::InvalidArgumentError("bad pax record length");
      }
      len = len * 10 + static_cast<uint64_t>(c - '0');
    }
    if (len <= sp + 1 || len > data.size()) return absl::InvalidArgumentError("bad pax record");
    std::string_view rec = data.substr(sp + 1, len - sp - 1);
    if (!rec.empty() && rec.back() == '\n') rec.remove_suffix(1);
    if (rec.substr(0, 5) == "path=") *path = std::string(rec.substr(5));
    data.remove_prefix(len);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ExtractTar(std::string_view tar, const std::string& dir, TarStats* stats) {
  *stats = TarStats{};
  size_t off = 0;
  std::string next_name;  // from a GNU 'L' or pax 'x' entry
  while (true) {
    // Postgres's server-side archives (BASE_BACKUP) end right after the last
    // entry, without tar's two zero blocks (pg_basebackup appends them): an
    // archive that ends exactly at an entry boundary is complete.
    if (off == tar.size() && off > 0 && next_name.empty()) return absl::OkStatus();
    if (off + kBlock > tar.size()) {
      return absl::InvalidArgumentError(StrCat("tar archive truncated at byte ", off));
    }
    const std::string_view hdr = tar.substr(off, kBlock);
    if (hdr.find_first_not_of('\0') == std::string_view::npos) return absl::OkStatus();
    if (!ChecksumOk(hdr)) {
      return absl::InvalidArgumentError(StrCat("tar header at byte ", off, ": bad checksum"));
    }
    uint64_t size = 0;
    if (!ParseNumber(hdr.substr(124, 12), &size)) {
      return absl::InvalidArgumentError(StrCat("tar header at byte ", off, ": bad size"));
    }
    const size_t data_off = off + kBlock;
    const uint64_t padded = (size + kBlock - 1) / kBlock * kBlock;
    if (size > tar.size() || data_off + padded > tar.size()) {
      return absl::InvalidArgumentError(
          StrCat("tar archive truncated in the entry at byte ", off));
    }
    const std::string_view data = tar.substr(data_off, size);
    const char type = hdr[156];
    off = data_off + padded;

    if (type == 'L') {  // GNU long name for the next entry
      next_name = std::string(Field(data, 0, data.size()));
      continue;
    }
    if (type == 'x') {  // pax extended header for the next entry
      NEON_RETURN_IF_ERROR(PaxPath(data, &next_name));
      continue;
    }
    if (type == 'g') continue;  // pax global header: nothing we use
    std::string name;
    if (!next_name.empty()) {
      name = std::move(next_name);
      next_name.clear();
    } else {
      name = std::string(Field(hdr, 0, 100));
      const std::string_view magic = hdr.substr(257, 5);
      const std::string_view prefix = Field(hdr, 345, 155);
      if (magic == "ustar" && !prefix.empty()) name = StrCat(prefix, "/", name);
    }
    std::string rel;
    NEON_RETURN_IF_ERROR(CleanPath(name, &rel));
    switch (type) {
      case '0':
      case '\0':
      case '7': {
        if (rel.empty()) return absl::InvalidArgumentError("tar file entry without a name");
        const size_t slash = rel.rfind('/');
        if (slash != std::string::npos) NEON_RETURN_IF_ERROR(MakeDirs(dir, rel.substr(0, slash)));
        NEON_RETURN_IF_ERROR(WriteFile(dir + "/" + rel, data));
        stats->files++;
        stats->bytes += size;
        break;
      }
      case '5':
        if (!rel.empty()) NEON_RETURN_IF_ERROR(MakeDirs(dir, rel));
        stats->directories++;
        break;
      case '1':
      case '2':
        return absl::InvalidArgumentError(
            StrCat("tar entry ", name, " is a link: links (e.g. tablespaces) are not supported"));
      default:
        return absl::InvalidArgumentError(
            StrCat("tar entry ", name, " has unsupported type '", std::string(1, type), "'"));
    }
  }
}

}  // namespace neon::server
