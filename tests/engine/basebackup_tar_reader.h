// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Test helpers for basebackups: an independent ustar reader (checks every
// header's checksum, magic and octal fields, and the end-of-archive marker)
// and gunzip through zlib's inflate.

#ifndef NEON_TESTS_ENGINE_BASEBACKUP_TAR_READER_H_
#define NEON_TESTS_ENGINE_BASEBACKUP_TAR_READER_H_

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace neon::testing {

struct TarEntry {
  std::string name;
  char type = 0;
  uint32_t mode = 0;
  int64_t mtime = 0;
  std::string data;
};

inline bool ParseOctal(std::string_view field, uint64_t* out) {
  // Digits, then NUL or space padding only.
  size_t i = 0;
  uint64_t v = 0;
  while (i < field.size() && field[i] >= '0' && field[i] <= '7')
    v = v * 8 + uint64_t(field[i++] - '0');
  if (i == 0) return false;
  for (; i < field.size(); i++) {
    if (field[i] != '\0' && field[i] != ' ') return false;
  }
  *out = v;
  return true;
}

inline absl::StatusOr<std::vector<TarEntry>> ReadTar(std::string_view tar) {
  std::vector<TarEntry> out;
  size_t pos = 0;
  const std::string zero(512, '\0');
  while (true) {
    if (pos + 512 > tar.size()) return absl::DataLossError("tar ends without two zero blocks");
    std::string_view h = tar.substr(pos, 512);
    if (h == zero) {
      if (pos + 1024 > tar.size() || tar.substr(pos + 512, 512) != zero) {
        return absl::DataLossError("one zero block, not two");
      }
      if (pos + 1024 != tar.size()) return absl::DataLossError("bytes after the end marker");
      return out;
    }
    uint32_t sum = 0;
    for (size_t i = 0; i < 512; i++) sum += (i >= 148 && i < 156) ? ' ' : uint8_t(h[i]);
    uint64_t stored = 0, size = 0, mode = 0, mtime = 0;
    if (!ParseOctal(h.substr(148, 8), &stored) || stored != sum) {
      return absl::DataLossError("bad header checksum at " + std::to_string(pos));
    }
    if (h.substr(257, 6) != std::string_view("ustar\0", 6) || h.substr(263, 2) != "00") {
      return absl::DataLossError("not a ustar header at " + std::to_string(pos));
    }
    if (!ParseOctal(h.substr(124, 12), &size) || !ParseOctal(h.substr(100, 8), &mode) ||
        !ParseOctal(h.substr(136, 12), &mtime)) {
      return absl::DataLossError("bad octal field at " + std::to_string(pos));
    }
    TarEntry e;
    std::string_view name = h.substr(0, 100);
    e.name = std::string(name.substr(0, std::min(name.find('\0'), name.size())));
    e.type = h[156];
    e.mode = uint32_t(mode);
    e.mtime = int64_t(mtime);
    pos += 512;
    if (pos + size > tar.size()) return absl::DataLossError("truncated data of " + e.name);
    e.data = std::string(tar.substr(pos, size));
    pos += (size + 511) / 512 * 512;
    out.push_back(std::move(e));
  }
}

inline absl::StatusOr<std::string> Gunzip(std::string_view gz) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return absl::InternalError("inflateInit2");
  std::string out;
  char buf[1 << 16];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = uInt(gz.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&z);
      return absl::DataLossError("inflate failed: " + std::to_string(rc));
    }
    out.append(buf, sizeof(buf) - z.avail_out);
  }
  const bool trailing = z.avail_in != 0;
  inflateEnd(&z);
  if (trailing) return absl::DataLossError("bytes after the gzip stream");
  return out;
}

}  // namespace neon::testing

#endif  // NEON_TESTS_ENGINE_BASEBACKUP_TAR_READER_H_
