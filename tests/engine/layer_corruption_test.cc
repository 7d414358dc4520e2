// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Byte-mutation tests for the layer format: a flipped bit anywhere must turn
// every read that touches it into DataLoss; no read may return wrong data or
// crash. Also truncation, extension, foreign versions and magic, and blocks
// rewritten with a valid checksum but garbage content (no crash, only
// DataLoss or OK).

#include <random>
#include <set>

#include "base/coding.h"
#include "engine/layer_file.h"
#include "engine/layer_test_util.h"
#include "gtest/gtest.h"

namespace neon {
namespace {

using layer_test::Model;

constexpr Lsn kLo(0x1000);
constexpr Lsn kHi(0x100000);

struct Layer {
  std::string name;
  bool image = false;
  Model model;
  std::string bytes;
  LayerSummary summary;
};

Layer MakeLayer(const std::string& name, bool image, uint32_t keys, size_t max_size) {
  auto fs = NewMemFileSystem();
  Layer l;
  l.name = name;
  l.image = image;
  if (image) {
    std::mt19937_64 rng(keys);
    for (uint32_t k = 0; k < keys; k++) {
      l.model[{layer_test::TestKey(2 * k), kLo}] = {
          layer_test::RandomBytes(rng, rng() % max_size, k % 3 != 0), true};
    }
    layer_test::WriteImage(fs.get(), "/l", layer_test::ImageDesc(KeyRange::All(), kLo), l.model);
  } else {
    l.model = layer_test::RandomDeltaModel(keys, keys, 8, max_size, kLo, kHi, true);
    layer_test::WriteDelta(fs.get(), "/l", layer_test::DeltaDesc(KeyRange::All(), {kLo, kHi}),
                           l.model);
  }
  l.bytes = *ReadFileToString(*fs, "/l");
  l.summary = layer_test::ReadSummary(fs.get(), "/l");
  return l;
}

// Runs every kind of read against `bytes`; each must be right or DataLoss.
// Returns how many reads failed (VerifyAll included).
int ReadEverything(const Layer& l, const std::string& bytes, bool use_cache) {
  auto fs = NewMemFileSystem();
  EXPECT_TRUE(WriteFileAtomic(*fs, "/m", bytes).ok());
  PageCache cache(1 << 20);
  auto r = LayerReader::Open(fs.get(), "/m", use_cache ? &cache : nullptr);
  if (!r.ok()) {
    EXPECT_TRUE(absl::IsDataLoss(r.status())) << r.status();
    EXPECT_NE(r.status().message().find("/m"), std::string_view::npos) << r.status();
    return 1;
  }
  int failures = 0;
  std::set<Key> keys;
  for (const auto& [kl, v] : l.model) keys.insert(kl.first);
  for (const Key& k : keys) {
    const LsnRange range = {Lsn(0), Lsn::Max()};
    std::vector<LayerValue> out;
    auto got = (*r)->Get(k, range, &out);
    if (!got.ok()) {
      EXPECT_TRUE(absl::IsDataLoss(got.status())) << got.status();
      EXPECT_TRUE(out.empty());
      failures++;
      continue;
    }
    auto [want, init] = layer_test::ExpectedGet(l.model, k, range);
    if (l.image) want = {LayerValue{kLo, true, l.model.at({k, kLo}).data}};
    EXPECT_EQ(*got, l.image || init) << k.ToString();
    EXPECT_TRUE(layer_test::SameValues(out, want)) << "wrong data for " << k.ToString();
  }
  auto it = (*r)->NewIterator();
  absl::Status s = it->SeekToFirst();
  auto want = l.model.begin();
  while (s.ok() && it->Valid()) {
    EXPECT_TRUE(want != l.model.end());
    if (want == l.model.end()) break;
    EXPECT_EQ(it->key(), want->first.first);
    EXPECT_EQ(it->lsn(), want->first.second);
    EXPECT_EQ(it->will_init(), want->second.will_init);
    auto v = it->value();
    if (v.ok()) {
      EXPECT_EQ(*v, want->second.data);
    } else {
      s = v.status();
      break;
    }
    ++want;
    s = it->Next();
  }
  if (s.ok()) {
    EXPECT_TRUE(want == l.model.end()) << "iteration ended early without an error";
  } else {
    EXPECT_TRUE(absl::IsDataLoss(s)) << s;
    failures++;
  }
  absl::Status v = (*r)->VerifyAll();
  if (!v.ok()) {
    EXPECT_TRUE(absl::IsDataLoss(v)) << v;
    failures++;
  }
  return failures;
}

// Byte positions of every class of the file, sampled.
std::vector<std::pair<std::string, size_t>> SamplePositions(const Layer& l, std::mt19937_64& rng) {
  const LayerSummary& s = l.summary;
  auto in_block = [&](uint32_t blk, size_t lo, size_t hi) {
    return size_t{blk} * kBlockSize + lo + rng() % (hi - lo);
  };
  auto pick = [&](uint32_t first, uint32_t end) { return first + uint32_t(rng() % (end - first)); };
  const uint32_t leaves_end = s.index_start_block + s.index_leaf_count;
  std::vector<std::pair<std::string, size_t>> out;
  for (int i = 0; i < 6; i++) {
    out.push_back({"summary fields", in_block(0, 0, LayerSummary::kEncodedSize)});
    out.push_back({"summary padding", in_block(0, LayerSummary::kEncodedSize, kBlockPayloadSize)});
    out.push_back({"data", in_block(pick(1, s.index_start_block), 0, kBlockPayloadSize)});
    out.push_back({"leaf", in_block(pick(s.index_start_block, leaves_end), 0, 64)});
    out.push_back({"leaf", in_block(pick(s.index_start_block, leaves_end), 0, kBlockPayloadSize)});
    if (leaves_end < s.num_blocks) {
      out.push_back({"internal", in_block(pick(leaves_end, s.num_blocks), 0, 64)});
      out.push_back({"internal", in_block(pick(leaves_end, s.num_blocks), 0, kBlockPayloadSize)});
    }
    out.push_back({"trailer", in_block(pick(0, s.num_blocks), kBlockPayloadSize, kBlockSize)});
    out.push_back({"last block", in_block(s.num_blocks - 1, 0, kBlockSize)});
  }
  out.push_back({"magic", 0});
  out.push_back({"version", 5});
  out.push_back({"first trailer byte", kBlockPayloadSize});
  out.push_back({"last byte", l.bytes.size() - 1});
  return out;
}

class LayerCorruptionTest : public ::testing::TestWithParam<int> {
 protected:
  // 0: small delta (one data block, one leaf), 1: multi-block delta (2-level
  // index), 2: multi-block image layer.
  Layer Build() const {
    switch (GetParam()) {
      case 0:
        return MakeLayer("small delta", false, 20, 200);
      case 1:
        return MakeLayer("multi-block delta", false, 400, 900);
      default:
        return MakeLayer("multi-block image", true, 700, 3000);
    }
  }
};

TEST_P(LayerCorruptionTest, BitFlipsAreDetectedNeverServed) {
  const Layer l = Build();
  const LayerSummary& s = l.summary;
  if (GetParam() == 0) {
    ASSERT_EQ(s.num_blocks, 3u);
  } else {
    ASSERT_GE(s.index_height, 2) << l.name;
    ASSERT_GT(s.index_start_block, 5u);
  }
  ASSERT_EQ(ReadEverything(l, l.bytes, true), 0);  // the intact file reads fine
  std::mt19937_64 rng(GetParam());
  int positions = 0;
  for (const auto& [what, pos] : SamplePositions(l, rng)) {
    SCOPED_TRACE(l.name + ": " + what + " byte " + std::to_string(pos));
    std::string bytes = l.bytes;
    bytes[pos] ^= char(1 << (rng() % 8));
    const int failures = ReadEverything(l, bytes, positions % 2 == 0);
    EXPECT_GE(failures, 1);  // at least VerifyAll must have noticed
    positions++;
  }
  EXPECT_GT(positions, 40);
}

TEST_P(LayerCorruptionTest, TruncatedOrExtendedFilesAreDataLoss) {
  const Layer l = Build();
  const size_t n = l.bytes.size();
  for (size_t size : {size_t{0}, size_t{1}, size_t{100}, kBlockSize - 1, kBlockSize,
                      kBlockSize + 1, n - kBlockSize, n - 4, n - 1}) {
    if (size >= n) continue;
    SCOPED_TRACE(size);
    EXPECT_EQ(ReadEverything(l, l.bytes.substr(0, size), false), 1);  // Open fails
  }
  EXPECT_EQ(ReadEverything(l, l.bytes + std::string(kBlockSize, '\0'), false), 1);
  EXPECT_EQ(ReadEverything(l, l.bytes + "x", false), 1);
}

// Rewrites bytes of block `blkno` and recomputes its checksum.
void Rewrite(std::string* bytes, uint32_t blkno, size_t off, std::string_view with) {
  char* block = bytes->data() + size_t{blkno} * kBlockSize;
  std::copy(with.begin(), with.end(), block + off);
  EncodeFixed32BE(reinterpret_cast<uint8_t*>(block) + kBlockPayloadSize,
                  BlockChecksum(block, blkno));
}

TEST_P(LayerCorruptionTest, ForeignVersionAndMagic) {
  const Layer l = Build();
  auto fs = NewMemFileSystem();
  std::string v2 = l.bytes;
  Rewrite(&v2, 0, 4, std::string("\x00\x02", 2));
  ASSERT_TRUE(WriteFileAtomic(*fs, "/v2", v2).ok());
  auto r = LayerReader::Open(fs.get(), "/v2", nullptr);
  EXPECT_TRUE(absl::IsDataLoss(r.status()));
  EXPECT_NE(r.status().message().find("unsupported layer format version 2"),
            std::string_view::npos)
      << r.status();
  std::string magic = l.bytes;
  Rewrite(&magic, 0, 0, "ABCD");
  ASSERT_TRUE(WriteFileAtomic(*fs, "/magic", magic).ok());
  r = LayerReader::Open(fs.get(), "/magic", nullptr);
  EXPECT_TRUE(absl::IsDataLoss(r.status()));
  EXPECT_NE(r.status().message().find("bad magic"), std::string_view::npos) << r.status();
  // A delta summary with the image magic (checksum fixed up) is caught too.
  std::string kind = l.bytes;
  Rewrite(&kind, 0, 0, l.image ? "NSLD" : "NSLI");
  EXPECT_EQ(ReadEverything(l, kind, false), 1);
}

TEST_P(LayerCorruptionTest, ValidChecksumGarbageNeverCrashes) {
  const Layer l = Build();
  std::mt19937_64 rng(100 + GetParam());
  std::set<Key> keys;
  for (const auto& [kl, v] : l.model) keys.insert(kl.first);
  for (int t = 0; t < 200; t++) {
    std::string bytes = l.bytes;
    const uint32_t blkno = uint32_t(rng() % l.summary.num_blocks);
    const int n = 1 + int(rng() % 8);
    for (int i = 0; i < n; i++) {
      // Mostly near the start of the block, where the headers are.
      const size_t off = rng() % 2 ? rng() % 64 : rng() % kBlockPayloadSize;
      Rewrite(&bytes, blkno, off, std::string(1, char(rng())));
    }
    auto fs = NewMemFileSystem();
    ASSERT_TRUE(WriteFileAtomic(*fs, "/g", bytes).ok());
    PageCache cache(1 << 20);
    auto r = LayerReader::Open(fs.get(), "/g", &cache);
    if (!r.ok()) {
      EXPECT_TRUE(absl::IsDataLoss(r.status())) << r.status();
      continue;
    }
    for (const Key& k : keys) {
      std::vector<LayerValue> out;
      auto got = (*r)->Get(k, LsnRange{Lsn(0), Lsn::Max()}, &out);
      if (!got.ok()) {
        EXPECT_TRUE(absl::IsDataLoss(got.status())) << got.status();
      }
    }
    auto it = (*r)->NewIterator();
    absl::Status s = it->SeekToFirst();
    for (size_t i = 0; s.ok() && it->Valid() && i < 2 * l.model.size(); i++) {
      auto value = it->value();
      if (!value.ok()) {
        EXPECT_TRUE(absl::IsDataLoss(value.status())) << value.status();
      }
      s = it->Next();
    }
    if (!s.ok()) {
      EXPECT_TRUE(absl::IsDataLoss(s)) << s;
    }
    absl::Status v = (*r)->VerifyAll();
    if (!v.ok()) {
      EXPECT_TRUE(absl::IsDataLoss(v)) << v;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Layers, LayerCorruptionTest, ::testing::Values(0, 1, 2));

}  // namespace
}  // namespace neon
