// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Sizes derived from the stored relation directories: a database's size (Neon's GetDbSize:
// every relation fork's size in blocks x 8192) and a timeline's logical size (all databases).
//
// Thread safety: reads only; safe from any thread.

#ifndef NEON_SERVERS_PAGESERVER_DB_SIZE_H_
#define NEON_SERVERS_PAGESERVER_DB_SIZE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "neon/engine.h"

namespace neon::pageserver {

// Bytes of every relation fork of database `db` in tablespace `spc` as of `lsn`.
absl::StatusOr<uint64_t> DatabaseSizeBytes(Timeline* tl, uint32_t spc, uint32_t db, Lsn lsn);
// The sum over every database as of `lsn`.
absl::StatusOr<uint64_t> LogicalSizeBytes(Timeline* tl, Lsn lsn);

}  // namespace neon::pageserver

#endif  // NEON_SERVERS_PAGESERVER_DB_SIZE_H_
