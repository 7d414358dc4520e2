// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// MaskPage: Postgres 15's wal_consistency_checking masks, for comparing pages
// rebuilt from WAL with the pages a server wrote.

#ifndef NEON_TESTS_INGEST_PAGE_MASK_H_
#define NEON_TESTS_INGEST_PAGE_MASK_H_

#include <cstdint>
#include <string>

namespace neon::testing {

// `am`: the relation's access method name from pg_am ("heap", "btree",
// "hash", "gin", "gist", "spgist", "brin"), "S" for sequences, anything else
// for a generic page. VM fork pages have only their LSN and checksum masked.
void MaskPage(std::string* page, const std::string& am, uint8_t fork, uint32_t blkno);
// Every bit set in `ours` is set in `theirs` (two masked visibility-map pages): redo may leave
// a bit clear that the server set (page_oracle_test.cc explains when), never the reverse.
bool VmBitsSubset(const std::string& ours, const std::string& theirs);

}  // namespace neon::testing

#endif  // NEON_TESTS_INGEST_PAGE_MASK_H_
