// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// pagebench's data: one relation of `pages` blocks in a new tenant and timeline of an
// engine opened directly on the pageserver's work directory (<workdir>/engine, no remote
// storage), written the way WAL ingest writes it and then closed, so that the pageserver
// binary can serve it.
//
// The relation is the visibility-map fork of relation 16384 (as in engine_bench), so that
// its records are an engine-native kind the engine redoes itself (no walredo process):
//   round 0      an 8 KiB image of every block (a pgbench_accounts-like heap page,
//                zstd-compressible about 10x), one LSN per block;
//   rounds 1..4  a ClearVisibilityMapFlags record on a random quarter of the blocks, one
//                LSN per record.
// Layout: flush + forced compaction after round 2 (L1 deltas and image layers), flush
// after round 4 (L0 deltas on top). A read at the latest LSN needs an image plus 0-2
// records; the end of each round is a historic LSN worth reading at.
//
// Thread safety: the functions are not meant to be called concurrently.

#ifndef NEON_BENCH_PAGEBENCH_DATASET_H_
#define NEON_BENCH_PAGEBENCH_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "neon/engine.h"

namespace neon::pagebench {

inline constexpr RelTag kBenchRel{1663, 5, 16384, uint8_t(ForkNumber::kVisibilityMap)};

struct Dataset {
  TenantShardId tenant;
  TimelineId timeline;
  uint32_t pages = 0;
  Lsn latest;                // last_record_lsn (= disk_consistent_lsn)
  std::vector<Lsn> rounds;   // end LSN of each round, oldest first (the last is `latest`)
  uint64_t layers = 0;
  uint64_t layer_bytes = 0;
};

// The engine options of pagebench's in-process reads: a page cache of `cache_bytes` (the
// pageserver's --page-cache-mb), no remote storage, no background work (nothing writes).
EngineOptions BenchEngineOptions(size_t cache_bytes);

// A tenant config under which the pageserver does no maintenance during a run
// (compaction and GC periods far beyond it, GC horizon above the data).
TenantConfig BenchTenantConfig();

// Writes the dataset into a new engine at `engine_dir` and closes the engine.
absl::StatusOr<Dataset> PrepareDataset(const std::string& engine_dir, uint32_t pages);

}  // namespace neon::pagebench

#endif  // NEON_BENCH_PAGEBENCH_DATASET_H_
