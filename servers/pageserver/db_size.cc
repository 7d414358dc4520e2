// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "pageserver/db_size.h"

#include <vector>

#include "neon/wal_ingest.h"

namespace neon::pageserver {

absl::StatusOr<uint64_t> DatabaseSizeBytes(Timeline* tl, uint32_t spc, uint32_t db, Lsn lsn) {
  absl::StatusOr<std::vector<RelTag>> rels = ListRelations(tl, spc, db, lsn);
  if (!rels.ok()) return rels.status();
  uint64_t blocks = 0;
  const ReadLsn read{lsn, Lsn::Invalid()};
  for (const RelTag& rel : *rels) {
    absl::StatusOr<uint32_t> n = tl->GetRelSize(rel, read);
    if (n.ok()) {
      blocks += *n;
    } else if (!absl::IsNotFound(n.status())) {
      return n.status();
    }
  }
  return blocks * kPageSize;
}

absl::StatusOr<uint64_t> LogicalSizeBytes(Timeline* tl, Lsn lsn) {
  absl::StatusOr<std::vector<std::pair<uint32_t, uint32_t>>> dbs = ListDatabases(tl, lsn);
  if (!dbs.ok()) return dbs.status();
  uint64_t total = 0;
  for (const auto& [spc, db] : *dbs) {
    absl::StatusOr<uint64_t> n = DatabaseSizeBytes(tl, spc, db, lsn);
    if (!n.ok()) return n.status();
    total += *n;
  }
  return total;
}

}  // namespace neon::pageserver
