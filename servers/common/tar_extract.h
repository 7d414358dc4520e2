// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Unpacks a tar archive (POSIX ustar, GNU long names, pax path records), as Postgres's
// BASE_BACKUP and `tar` write them, into a directory. Used by the pageserver's
// import_basebackup route and by neon_local timeline export.
//
// Accepted entries: regular files ('0' or NUL) and directories ('5'). Refused with
// InvalidArgument, before anything outside `dir` is touched: a header with a bad checksum,
// a truncated archive (cut inside a header or an entry's data; an archive that ends right
// after an entry, without the two zero blocks, is complete: Postgres's server-side
// BASE_BACKUP archives end that way), absolute paths or ".." components, symbolic and hard links (a data
// directory with tablespace links cannot be imported), devices and FIFOs. Files are written
// with mode 0600, directories 0700.
//
// Thread safety: a free function; concurrent calls must use different directories.

#ifndef NEON_SERVERS_COMMON_TAR_EXTRACT_H_
#define NEON_SERVERS_COMMON_TAR_EXTRACT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace neon::server {

struct TarStats {
  uint64_t files = 0;
  uint64_t directories = 0;
  uint64_t bytes = 0;  // file contents
};

// Extracts `tar` under the existing directory `dir`.
absl::Status ExtractTar(std::string_view tar, const std::string& dir, TarStats* stats);

}  // namespace neon::server

#endif  // NEON_SERVERS_COMMON_TAR_EXTRACT_H_
