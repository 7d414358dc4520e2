// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// WalFixture: one real Postgres 15 cluster per test binary that has run
// tests/wal/workload.sql and was shut down cleanly, so its pg_wal is stable.
// Tests read its WAL and data directory; none may modify them.

#ifndef NEON_TESTS_WAL_WAL_FIXTURE_H_
#define NEON_TESTS_WAL_WAL_FIXTURE_H_

#include <gtest/gtest.h>

#include <string>

#include "neon/types.h"
#include "wal/pg_cluster.h"

namespace neon::testing {

class WalFixture : public ::testing::Test {
 public:
  static void SetUpTestSuite();
  static void TearDownTestSuite();

 protected:
  void SetUp() override;

  static std::string wal_dir();
  static std::string data_dir();
  static Lsn first_segment_start() { return Lsn(16ull << 20); }
  // pg_waldump [args] over the whole WAL from the first segment (stdout;
  // its end-of-WAL complaint on stderr is ignored). Cached per args.
  static std::string PgWaldump(const std::string& args);
  // "-p <pg_wal> -s <first segment start>": all of the WAL.
  static std::string WaldumpRange();
};

}  // namespace neon::testing

#endif  // NEON_TESTS_WAL_WAL_FIXTURE_H_
