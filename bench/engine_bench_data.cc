// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "bench/engine_bench_data.h"

#include <chrono>
#include <cstring>
#include <numeric>
#include <random>
#include <thread>

#include "engine/reconstruct.h"
#include "rocksdb/cache.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"

namespace neon::bench {
namespace {

void StoreLE16(uint16_t v, char* out) { out[0] = char(v & 0xFF), out[1] = char(v >> 8); }
void StoreLE32(uint32_t v, char* out) {
  for (int i = 0; i < 4; i++, v >>= 8) out[i] = char(v & 0xFF);
}
void PutBE64(uint8_t* out, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) out[i] = uint8_t(v);
}
uint64_t GetBE64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | uint8_t(in[i]);
  return v;
}

constexpr uint32_t kVmHeapBlocksPerPage = 32672;  // heap blocks covered by one VM page

}  // namespace

EngineBenchFlags g_flags;

EngineOptions BenchEngineOptions() {
  EngineOptions o;
  o.background_work = false;
  o.page_cache_bytes = kCacheBytes;
  o.layer_compression = g_flags.compression;
  return o;
}

std::string MakePage(uint32_t seed) {
  std::string p(kPageSize, '\0');
  uint64_t x = uint64_t(seed) * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&x] {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return x;
  };
  if (g_flags.entropy_pages) {
    constexpr uint16_t kUpper = uint16_t(kPageSize - 5000);
    StoreLE16(64, &p[12]);      // pd_lower
    StoreLE16(kUpper, &p[14]);  // pd_upper: not a new page
    for (size_t i = kUpper; i < kPageSize; i++) p[i] = "abcdefghijklmnop"[next() & 15];
    return p;
  }
  constexpr size_t kHeader = 24, kTuple = 128, kTuples = (kPageSize - kHeader) / (kTuple + 4);
  StoreLE16(uint16_t(kHeader + 4 * kTuples), &p[12]);        // pd_lower
  StoreLE16(uint16_t(kPageSize - kTuples * kTuple), &p[14]);  // pd_upper
  StoreLE16(uint16_t(kPageSize), &p[16]);                     // pd_special
  StoreLE16(uint16_t(kPageSize | 4), &p[18]);                 // pd_pagesize_version
  for (size_t i = 0; i < kTuples; i++) {
    const size_t off = kPageSize - (i + 1) * kTuple;
    StoreLE32(uint32_t(off | (1u << 15) | (121u << 17)), &p[kHeader + 4 * i]);  // line pointer
    char* t = &p[off];
    StoreLE32(1000 + seed / 16, t);                                // t_xmin
    StoreLE32(seed, t + 12);                                       // t_ctid.block
    StoreLE16(uint16_t(i + 1), t + 16);                            // t_ctid.offset
    StoreLE16(4, t + 18);                                          // t_infomask2: 4 attributes
    StoreLE16(0x0902, t + 20);                                     // t_infomask
    t[22] = 24;                                                    // t_hoff
    StoreLE32(uint32_t(seed * kTuples + i + 1), t + 24);           // aid
    StoreLE32(1 + seed / 1600, t + 28);                            // bid
    StoreLE32(uint32_t(int32_t(next() % 10001) - 5000), t + 32);  // abalance
    t[36] = char((85 << 1) | 1);                                   // filler's 1-byte varlena header
    std::memset(t + 37, ' ', 84);
  }
  return p;
}

// ---- RocksDB helpers ---------------------------------------------------------

std::unique_ptr<rocksdb::DB> OpenRocks(const std::string& path) {
  rocksdb::Options o;
  o.create_if_missing = true;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = rocksdb::NewLRUCache(kCacheBytes);
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  rocksdb::DB* db = nullptr;
  CheckRocks(rocksdb::DB::Open(o, path, &db), "open rocksdb");
  return std::unique_ptr<rocksdb::DB>(db);
}

void CheckRocks(const rocksdb::Status& s, std::string_view what) {
  if (!s.ok()) CheckOk(absl::InternalError(s.ToString()), what);
}

void WaitRocksIdle(rocksdb::DB* db) {
  for (;;) {
    uint64_t busy = 0, v = 0;
    for (const char* p : {"rocksdb.num-running-compactions", "rocksdb.compaction-pending",
                          "rocksdb.num-running-flushes", "rocksdb.mem-table-flush-pending"}) {
      if (db->GetIntProperty(p, &v)) busy += v;
    }
    if (busy == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void EncodeRocksKey(const Key& key, Lsn lsn, uint8_t* out) {
  key.EncodeTo(out);
  PutBE64(out + Key::kEncodedSize, lsn.value());
}

// ---- LayerHistory ------------------------------------------------------------

Value LayerHistory::Delta(uint32_t k, uint32_t r) {
  ClearVisibilityMapFlags c;
  c.new_heap_blkno = k * kVmHeapBlocksPerPage + (r * 97) % kVmHeapBlocksPerPage;
  c.flags = 0x03;
  return Value::FromRecord(c);
}

std::string LayerHistory::ExpectedPage(uint32_t k) const {
  std::string page = MakePage(k);
  for (uint32_t r = 0; r < deltas_; r++) {
    Value d = Delta(k, r);
    CheckOk(ApplyEngineRecord(KeyOf(k), DeltaLsn(k, r), d.record(), &page), "expected page");
  }
  return page;
}

std::vector<uint32_t> ReadOrder(uint32_t keys) {
  std::vector<uint32_t> order(keys);
  std::iota(order.begin(), order.end(), 0u);
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  return order;
}

// ---- EngineLayers ------------------------------------------------------------

EngineLayers::EngineLayers(uint32_t keys, uint32_t deltas)
    : history_(keys, deltas), order_(ReadOrder(keys)), dir_("neon_bench_layers") {
  engine_ = ValueOrDie(Engine::Open(BenchEngineOptions(), dir_.Sub("engine")), "open engine");
  auto tenant = ValueOrDie(
      engine_->CreateTenant(TenantShardId::Unsharded(TenantId::Generate()), TenantConfig{}),
      "create tenant");
  tl_ = ValueOrDie(tenant->CreateTimeline(TimelineId::Generate(), 16), "create timeline");
  bool first = true;
  history_.Replay(
      [&](const Key& key, Lsn lsn, const Value& v) {
        // The relation's size, with the first image (so in the same layer), for the
        // GetRelPage(s) benchmarks.
        if (first) CheckOk(tl_->PutRelSize(kVmRel, keys, lsn), "put relation size");
        first = false;
        CheckOk(tl_->Put(key, lsn, v), "put");
        CheckOk(tl_->FinishWrite(lsn), "finish write");
      },
      [&] { CheckOk(tl_->Flush().status(), "flush"); });
  CheckOk(tl_->FinishWrite(history_.end_lsn()), "finish write");
  CheckOk(tl_->Flush().status(), "flush");
  Verify(history_.ReadLsnBelowEnd(kVerifyCycle));
}

void EngineLayers::Compact() {
  CheckOk(tl_->Compact(true).status(), "compact");
  CheckOk(tl_->FinishWrite(history_.end_lsn().Plus(kReadLsnRange)), "finish write");
  compacted_ = true;
  Verify(history_.ReadLsnBelowEnd(kVerifyCycle + 1));
  Verify(history_.end_lsn().Plus(kReadLsnRange - 1));
}

Lsn EngineLayers::NextReadLsn(bool above_image) {
  return above_image ? history_.end_lsn().Plus(1 + (above_cycle_++ % (kReadLsnRange - 2)))
                     : history_.ReadLsnBelowEnd(below_cycle_++);
}

void EngineLayers::Verify(Lsn lsn) {
  for (uint32_t k : {0u, history_.keys() - 1}) {
    std::string page = ValueOrDie(tl_->GetPage(LayerHistory::KeyOf(k), lsn), "verify read");
    if (page != history_.ExpectedPage(k)) CheckOk(absl::InternalError("wrong page"), "verify");
  }
}

// ---- RocksLayers -------------------------------------------------------------

RocksLayers::RocksLayers(uint32_t keys, uint32_t deltas)
    : history_(keys, deltas), order_(ReadOrder(keys)), dir_("neon_bench_rocks") {
  db_ = OpenRocks(dir_.Sub("db"));
  std::string v;
  history_.Replay(
      [&](const Key& key, Lsn lsn, const Value& value) {
        uint8_t k[kRocksKeySize];
        EncodeRocksKey(key, lsn, k);
        v.clear();
        value.AppendSerialized(&v);
        CheckRocks(db_->Put(rocksdb::WriteOptions(),
                            rocksdb::Slice(reinterpret_cast<char*>(k), sizeof(k)), v),
                   "rocksdb put");
      },
      [&] { CheckRocks(db_->Flush(rocksdb::FlushOptions()), "rocksdb flush"); });
  WaitRocksIdle(db_.get());
  Verify();
}

void RocksLayers::Compact() {
  CheckRocks(db_->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr), "compact");
  WaitRocksIdle(db_.get());
  compacted_ = true;
  Verify();
}

absl::StatusOr<std::string> RocksLayers::Read(rocksdb::Iterator* it, const Key& key, Lsn lsn,
                                              std::vector<LayerValue>* versions) {
  uint8_t target[kRocksKeySize];
  EncodeRocksKey(key, lsn, target);
  versions->clear();
  for (it->SeekForPrev(rocksdb::Slice(reinterpret_cast<char*>(target), sizeof(target)));
       it->Valid(); it->Prev()) {
    rocksdb::Slice k = it->key();
    if (k.size() != kRocksKeySize || std::memcmp(k.data(), target, Key::kEncodedSize) != 0) break;
    rocksdb::Slice v = it->value();
    LayerValue& lv = versions->emplace_back();
    lv.lsn = Lsn(GetBE64(k.data() + Key::kEncodedSize));
    lv.data.assign(v.data(), v.size());
    lv.will_init = Value::SerializedWillInit(lv.data);
    if (lv.will_init) break;
  }
  if (!it->status().ok()) return absl::InternalError(it->status().ToString());
  return Reconstruct(key, lsn, *versions, nullptr);
}

size_t RocksLayers::NumFiles() const {
  std::vector<rocksdb::LiveFileMetaData> files;
  db_->GetLiveFilesMetaData(&files);
  return files.size();
}

void RocksLayers::Verify() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  std::vector<LayerValue> versions;
  const Lsn lsn = history_.ReadLsnBelowEnd(kReadLsnRange - 10);
  for (uint32_t k : {0u, history_.keys() - 1}) {
    std::string page =
        ValueOrDie(Read(it.get(), LayerHistory::KeyOf(k), lsn, &versions), "verify read");
    if (page != history_.ExpectedPage(k)) CheckOk(absl::InternalError("wrong page"), "verify");
  }
}

}  // namespace neon::bench
