// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Reading a Postgres data directory in tests: relation forks and sizes.

#ifndef NEON_TESTS_INGEST_DATADIR_UTIL_H_
#define NEON_TESTS_INGEST_DATADIR_UTIL_H_

#include <map>
#include <set>
#include <string>

#include "neon/types.h"

namespace neon::testing {

struct DatadirRels {
  std::map<RelTag, uint32_t> nblocks;           // every fork file, in blocks
  std::set<std::pair<uint32_t, uint32_t>> unlogged;  // (db, rel) with an init fork
  std::set<std::pair<uint32_t, uint32_t>> dbs;       // (spc, db)
};

DatadirRels ScanDatadir(const std::string& dir);
// Block `blk` of a relation fork file (8192 bytes; empty past the end).
std::string ReadDatadirBlock(const std::string& dir, const RelTag& rel, uint32_t blk);
// Up to `n` bytes of `s` from `from`, as hex.
std::string HexBytes(const std::string& s, size_t from, size_t n);

}  // namespace neon::testing

#endif  // NEON_TESTS_INGEST_DATADIR_UTIL_H_
