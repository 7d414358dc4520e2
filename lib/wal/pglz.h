// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Decompression of Postgres's pglz format (common/pg_lzcompress.c), used by
// full-page images written with wal_compression = pglz.

#ifndef NEON_LIB_WAL_PGLZ_H_
#define NEON_LIB_WAL_PGLZ_H_

#include <cstddef>
#include <string_view>

namespace neon::pg {

// Decompresses `src` into exactly `dest_len` bytes at `dest`. Returns false
// if the input is malformed or does not produce exactly dest_len bytes from
// exactly all of src (Postgres's check_complete).
bool PglzDecompress(std::string_view src, char* dest, size_t dest_len);

}  // namespace neon::pg

#endif  // NEON_LIB_WAL_PGLZ_H_
