// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "bench/pagebench/dataset.h"

#include <cstring>
#include <random>

#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon::pagebench {
namespace {

constexpr Lsn kFirstLsn{0x0100'0000};
constexpr uint64_t kLsnStep = 0x40;  // one small WAL record per value
constexpr int kRounds = 4;
constexpr uint32_t kVmHeapBlocksPerPage = 32672;  // heap blocks one VM page covers

void StoreLE16(uint16_t v, char* out) { out[0] = char(v & 0xFF), out[1] = char(v >> 8); }
void StoreLE32(uint32_t v, char* out) {
  for (int i = 0; i < 4; i++, v >>= 8) out[i] = char(v & 0xFF);
}

// A full pgbench_accounts heap page for block `blk`: 61 tuples of 128 bytes.
std::string MakePage(uint32_t blk) {
  std::string p(kPageSize, '\0');
  uint64_t x = uint64_t(blk) * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&x] {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return x;
  };
  constexpr size_t kHeader = 24, kTuple = 128, kTuples = (kPageSize - kHeader) / (kTuple + 4);
  StoreLE16(uint16_t(kHeader + 4 * kTuples), &p[12]);        // pd_lower
  StoreLE16(uint16_t(kPageSize - kTuples * kTuple), &p[14]);  // pd_upper
  StoreLE16(uint16_t(kPageSize), &p[16]);                     // pd_special
  StoreLE16(uint16_t(kPageSize | 4), &p[18]);                 // pd_pagesize_version
  for (size_t i = 0; i < kTuples; i++) {
    const size_t off = kPageSize - (i + 1) * kTuple;
    StoreLE32(uint32_t(off | (1u << 15) | (121u << 17)), &p[kHeader + 4 * i]);  // line pointer
    char* t = &p[off];
    StoreLE32(1000 + blk / 16, t);                                // t_xmin
    StoreLE32(blk, t + 12);                                       // t_ctid.block
    StoreLE16(uint16_t(i + 1), t + 16);                           // t_ctid.offset
    StoreLE16(4, t + 18);                                         // t_infomask2
    StoreLE16(0x0902, t + 20);                                    // t_infomask
    t[22] = 24;                                                   // t_hoff
    StoreLE32(uint32_t(blk * kTuples + i + 1), t + 24);           // aid
    StoreLE32(1 + blk / 1600, t + 28);                            // bid
    StoreLE32(uint32_t(int32_t(next() % 10001) - 5000), t + 32);  // abalance
    t[36] = char((85 << 1) | 1);                                  // filler's varlena header
    std::memset(t + 37, ' ', 84);
  }
  return p;
}

}  // namespace

EngineOptions BenchEngineOptions(size_t cache_bytes) {
  EngineOptions o;
  o.background_work = false;
  o.page_cache_bytes = cache_bytes;
  return o;
}

TenantConfig BenchTenantConfig() {
  TenantConfig c;
  c.compaction_period_us = 24ll * 3600 * kMicrosPerSecond;
  c.compaction_threshold = 1000;
  c.image_creation_threshold = 1000;
  c.gc_period_us = 24ll * 3600 * kMicrosPerSecond;
  c.gc_horizon = uint64_t{1} << 40;
  return c;
}

absl::StatusOr<Dataset> PrepareDataset(const std::string& engine_dir, uint32_t pages) {
  if (pages == 0) return absl::InvalidArgumentError("the dataset needs at least one page");
  NEON_ASSIGN_OR_RETURN(auto engine, Engine::Open(BenchEngineOptions(size_t{64} << 20), engine_dir));
  Dataset d;
  d.tenant = TenantShardId::Unsharded(TenantId::Generate());
  d.timeline = TimelineId::Generate();
  d.pages = pages;
  NEON_ASSIGN_OR_RETURN(auto tenant, engine->CreateTenant(d.tenant, BenchTenantConfig()));
  NEON_ASSIGN_OR_RETURN(auto tl, tenant->CreateTimeline(d.timeline, 15));
  Lsn lsn = kFirstLsn;
  auto put = [&](uint32_t blk, const Value& v) -> absl::Status {
    lsn = Lsn(lsn.value() + kLsnStep);
    NEON_RETURN_IF_ERROR(tl->PutRelBlock(kBenchRel, blk, lsn, v));
    return tl->FinishWrite(lsn);
  };
  for (uint32_t blk = 0; blk < pages; blk++) NEON_RETURN_IF_ERROR(put(blk, Value::Image(MakePage(blk))));
  d.rounds.push_back(lsn);
  std::mt19937 rng(42);
  for (int round = 1; round <= kRounds; round++) {
    for (uint32_t blk = 0; blk < pages; blk++) {
      if (rng() % 4 != 0) continue;
      ClearVisibilityMapFlags r;
      r.new_heap_blkno = blk * kVmHeapBlocksPerPage + uint32_t(rng() % kVmHeapBlocksPerPage);
      r.flags = uint8_t(1 + rng() % 3);
      NEON_RETURN_IF_ERROR(put(blk, Value::FromRecord(r)));
    }
    if (lsn == d.rounds.back()) {  // an empty round (tiny datasets): still a new LSN
      NEON_RETURN_IF_ERROR(put(0, Value::Image(MakePage(0))));
    }
    d.rounds.push_back(lsn);
    if (round == 2) {
      NEON_RETURN_IF_ERROR(tl->Flush().status());
      NEON_RETURN_IF_ERROR(tl->Compact(true).status());
    }
  }
  NEON_RETURN_IF_ERROR(tl->Flush().status());
  const TimelineInfo info = tl->Info();
  if (info.disk_consistent_lsn != lsn) {
    return absl::InternalError(StrCat("dataset flushed to ", info.disk_consistent_lsn.ToString(),
                                      ", written to ", lsn.ToString()));
  }
  d.latest = lsn;
  d.layers = info.num_historic_layers;
  d.layer_bytes = info.historic_layer_bytes;
  engine->Shutdown();
  return d;
}

}  // namespace neon::pagebench
