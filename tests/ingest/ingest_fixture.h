// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// IngestFixture: a real Postgres 15 cluster that was (1) initialized and
// loaded with pgbench -i, (2) shut down cleanly and copied (the base backup,
// taken at a checkpoint), (3) restarted to run tests/wal/workload.sql and
// pgbench, leaving one prepared transaction open, and (4) shut down cleanly.
// Tests import the copy into a timeline, ingest the WAL that follows, and
// compare with the final data directory.

#ifndef NEON_TESTS_INGEST_INGEST_FIXTURE_H_
#define NEON_TESTS_INGEST_INGEST_FIXTURE_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "neon/engine.h"
#include "neon/redo.h"
#include "neon/wal_ingest.h"
#include "wal/pg_cluster.h"

namespace neon::testing {

// (db, relfilenode) -> access method, for every database of `pg` that accepts connections
// ("S" for sequences; relations of mapped catalogs included; db 0 for shared catalogs).
absl::Status CollectAccessMethods(PgCluster& pg,
                                  std::map<std::pair<uint32_t, uint32_t>, std::string>* out);

class IngestFixture : public ::testing::Test {
 public:
  static void SetUpTestSuite();

 protected:
  void SetUp() override;
  void TearDown() override;

  static std::string base_dir();   // the base backup (a copy of the data directory)
  static std::string final_dir();  // the data directory after the clean shutdown
  static std::string wal_dir();    // the final cluster's pg_wal
  static Lsn end_lsn();            // end of the shutdown checkpoint record
  // The access method of a relation file ("" if unknown: template0, or a
  // relation dropped before the shutdown); db 0 for shared catalogs.
  static std::string AccessMethod(uint32_t db, uint32_t relfilenode);

  // An engine in a fresh temporary directory with one tenant and timeline.
  void OpenEngine(std::shared_ptr<RedoManager> redo = nullptr);
  // Imports base_dir() and ingests all WAL up to the end; returns the end.
  Lsn ImportAndIngestAll(WalIngestStats* stats = nullptr);

  std::string engine_dir_;
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<Tenant> tenant_;
  std::shared_ptr<Timeline> timeline_;
};

}  // namespace neon::testing

#endif  // NEON_TESTS_INGEST_INGEST_FIXTURE_H_
