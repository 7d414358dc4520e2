// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Helpers for layer file tests: a simple in-memory model of a layer's
// content, writers that build a layer from it, and the expected answer of
// LayerReader::Get computed from the model.

#ifndef NEON_TESTS_ENGINE_LAYER_TEST_UTIL_H_
#define NEON_TESTS_ENGINE_LAYER_TEST_UTIL_H_

#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/block_file.h"
#include "engine/layer_file.h"
#include "engine/layer_summary.h"
#include "gtest/gtest.h"
#include "neon/file_system.h"
#include "neon/value.h"

namespace neon::layer_test {

struct ModelValue {
  std::string data;
  bool will_init = false;
};
// (key, lsn) -> value; for image layers lsn is the image lsn.
using Model = std::map<std::pair<Key, Lsn>, ModelValue>;

inline Key TestKey(uint32_t i) { return Key(0x00, 1663, 5, 1000 + i / 100000, 0, i % 100000); }

inline TenantShardId TestTenant() {
  TenantId::Bytes b{};
  for (size_t i = 0; i < b.size(); i++) b[i] = uint8_t(0xA0 + i);
  return TenantShardId{TenantId(b), ShardIndex{1, 4}};
}
inline TimelineId TestTimeline() {
  TimelineId::Bytes b{};
  for (size_t i = 0; i < b.size(); i++) b[i] = uint8_t(0x10 + i);
  return TimelineId(b);
}

inline LayerDesc DeltaDesc(KeyRange keys, LsnRange lsns) {
  return LayerDesc{TestTenant(), TestTimeline(), keys, lsns, false};
}
inline LayerDesc ImageDesc(KeyRange keys, Lsn lsn) {
  return LayerDesc{TestTenant(), TestTimeline(), keys, LsnRange{lsn, lsn.Next()}, true};
}

// A serialized Value: an image (will_init) or a test record.
inline std::string RandomBytes(std::mt19937_64& rng, size_t n, bool compressible) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) {
    s[i] = compressible ? char('a' + (i / 7 + rng() % 2) % 4) : char(rng());
  }
  return s;
}
inline ModelValue MakeDeltaValue(std::mt19937_64& rng, bool will_init, size_t size,
                                 bool compressible) {
  std::string payload = RandomBytes(rng, size, compressible);
  Value v = will_init && rng() % 2 ? Value::Image(std::move(payload))
                                   : Value::FromRecord(TestRecord{std::move(payload), will_init,
                                                                  will_init});
  return ModelValue{v.Serialize(), v.will_init()};
}

// Random delta content: `keys` keys (every `key_stride`-th TestKey), 1..max
// versions each at increasing lsns within [lsn_lo, lsn_hi).
inline Model RandomDeltaModel(uint64_t seed, uint32_t keys, int max_versions, size_t max_size,
                              Lsn lsn_lo, Lsn lsn_hi, bool compressible) {
  std::mt19937_64 rng(seed);
  Model m;
  for (uint32_t k = 0; k < keys; k++) {
    const int n = 1 + int(rng() % max_versions);
    uint64_t lsn = lsn_lo.value() + rng() % 16;
    for (int v = 0; v < n && lsn < lsn_hi.value(); v++) {
      const bool will_init = v == 0 ? rng() % 4 != 0 : rng() % 5 == 0;
      m[{TestKey(2 * k), Lsn(lsn)}] = MakeDeltaValue(rng, will_init, rng() % max_size,
                                                      compressible);
      lsn += 1 + rng() % 64;
    }
  }
  return m;
}

inline void WriteDelta(FileSystem* fs, const std::string& path, const LayerDesc& desc,
                       const Model& m, const LayerWriterOptions& opts = {}) {
  auto w = DeltaLayerWriter::Create(fs, path, desc, opts);
  ASSERT_TRUE(w.ok()) << w.status();
  for (const auto& [kl, v] : m) {
    ASSERT_TRUE((*w)->Put(kl.first, kl.second, v.data, v.will_init).ok());
  }
  auto info = (*w)->Finish();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->num_entries, m.size());
  EXPECT_EQ(info->desc, desc);
}

inline void WriteImage(FileSystem* fs, const std::string& path, const LayerDesc& desc,
                       const Model& m, const LayerWriterOptions& opts = {}) {
  auto w = ImageLayerWriter::Create(fs, path, desc, opts);
  ASSERT_TRUE(w.ok()) << w.status();
  for (const auto& [kl, v] : m) ASSERT_TRUE((*w)->Put(kl.first, v.data).ok());
  auto info = (*w)->Finish();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->num_entries, m.size());
}

// What Get(key, range) must append for a delta layer, and its return value.
inline std::pair<std::vector<LayerValue>, bool> ExpectedGet(const Model& m, const Key& key,
                                                            LsnRange range) {
  std::vector<LayerValue> out;
  if (range.IsEmpty()) return {out, false};
  auto it = m.lower_bound({key, range.start});
  std::vector<LayerValue> asc;
  for (; it != m.end() && it->first.first == key && it->first.second < range.end; ++it) {
    asc.push_back(LayerValue{it->first.second, it->second.will_init, it->second.data});
  }
  for (auto r = asc.rbegin(); r != asc.rend(); ++r) {
    out.push_back(*r);
    if (r->will_init) return {out, true};
  }
  return {out, false};
}

inline bool SameValues(const std::vector<LayerValue>& a, const std::vector<LayerValue>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (a[i].lsn != b[i].lsn || a[i].will_init != b[i].will_init || a[i].data != b[i].data) {
      return false;
    }
  }
  return true;
}

inline LayerSummary ReadSummary(FileSystem* fs, const std::string& path) {
  auto data = ReadFileToString(*fs, path);
  EXPECT_TRUE(data.ok());
  auto s = LayerSummary::Decode(*data, path);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : LayerSummary{};
}

}  // namespace neon::layer_test

#endif  // NEON_TESTS_ENGINE_LAYER_TEST_UTIL_H_
