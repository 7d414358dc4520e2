// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/layer_file.h"

#include <thread>

#include "engine/layer_test_util.h"
#include "gtest/gtest.h"

namespace neon {
namespace {

using layer_test::DeltaDesc;
using layer_test::ExpectedGet;
using layer_test::ImageDesc;
using layer_test::Model;
using layer_test::ModelValue;
using layer_test::ReadSummary;
using layer_test::SameValues;
using layer_test::TestKey;

constexpr Lsn kLo(0x1000);
constexpr Lsn kHi(0x100000);

std::shared_ptr<LayerReader> OpenOrDie(FileSystem* fs, const std::string& path,
                                       PageCache* cache) {
  auto r = LayerReader::Open(fs, path, cache);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : nullptr;
}

// Gets every key of the model (and the gaps between) with several ranges.
void CheckGets(const LayerReader& r, const Model& m, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Key> keys;
  for (const auto& [kl, v] : m) {
    if (keys.empty() || keys.back() != kl.first) keys.push_back(kl.first);
  }
  for (const Key& k : keys) {
    for (int t = 0; t < 3; t++) {
      const Lsn a(kLo.value() + rng() % 2048), b(a.value() + rng() % 2048);
      const LsnRange range = t == 0 ? LsnRange{Lsn(0), Lsn::Max()} : LsnRange{a, b};
      std::vector<LayerValue> out;
      auto got = r.Get(k, range, &out);
      ASSERT_TRUE(got.ok()) << got.status();
      auto [want, want_init] = ExpectedGet(m, k, range);
      ASSERT_EQ(*got, want_init) << k.ToString();
      ASSERT_TRUE(SameValues(out, want)) << k.ToString();
    }
    std::vector<LayerValue> out;
    auto gap = r.Get(k.Next(), LsnRange{Lsn(0), Lsn::Max()}, &out);  // odd keys are absent
    ASSERT_TRUE(gap.ok());
    EXPECT_FALSE(*gap);
    EXPECT_TRUE(out.empty());
  }
}

void CheckIteration(const LayerReader& r, const Model& m) {
  auto it = r.NewIterator();
  ASSERT_TRUE(it->SeekToFirst().ok());
  for (const auto& [kl, v] : m) {
    ASSERT_TRUE(it->Valid());
    ASSERT_EQ(it->key(), kl.first);
    ASSERT_EQ(it->lsn(), kl.second);
    ASSERT_EQ(it->will_init(), v.will_init);
    auto value = it->value();
    ASSERT_TRUE(value.ok()) << value.status();
    ASSERT_EQ(*value, v.data);
    ASSERT_TRUE(it->Next().ok());
  }
  EXPECT_FALSE(it->Valid());
}

class DeltaRoundTrip : public ::testing::TestWithParam<Compression> {};

TEST_P(DeltaRoundTrip, GetsAndIterationMatchTheModel) {
  auto fs = NewMemFileSystem();
  ASSERT_TRUE(fs->CreateDirs("/t").ok());
  Model m = layer_test::RandomDeltaModel(7, 1500, 12, 700, kLo, kHi, /*compressible=*/true);
  LayerWriterOptions opts;
  opts.compression = GetParam();
  const LayerDesc desc = DeltaDesc(KeyRange::All(), LsnRange{kLo, kHi});
  layer_test::WriteDelta(fs.get(), "/t/d", desc, m, opts);
  PageCache cache(8 << 20);
  auto r = OpenOrDie(fs.get(), "/t/d", &cache);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->desc(), desc);
  EXPECT_TRUE(r->desc().is_l0());
  EXPECT_EQ(r->num_entries(), m.size());
  EXPECT_EQ(r->file_size(), *fs->GetFileSize("/t/d"));
  EXPECT_EQ(r->path(), "/t/d");
  CheckGets(*r, m, 1);
  CheckIteration(*r, m);
  EXPECT_TRUE(r->VerifyAll().ok());
  const LayerSummary s = ReadSummary(fs.get(), "/t/d");
  EXPECT_EQ(s.compression, GetParam());
  EXPECT_EQ(s.index_height, 2);
  if (GetParam() == Compression::kNone) {
    EXPECT_EQ(s.compressed_values, 0u);
  } else {
    EXPECT_GT(s.compressed_values, m.size() / 2);
  }
  // Without a cache too.
  auto r2 = OpenOrDie(fs.get(), "/t/d", nullptr);
  CheckGets(*r2, m, 2);
}

INSTANTIATE_TEST_SUITE_P(Codecs, DeltaRoundTrip,
                         ::testing::Values(Compression::kNone, Compression::kZstd,
                                           Compression::kLz4));

TEST(LayerFileTest, GetStopsAtNewestWillInit) {
  auto fs = NewMemFileSystem();
  const Key k = TestKey(10), other = TestKey(11);
  auto rec = [](std::string s, bool init) {
    return Value::FromRecord(TestRecord{std::move(s), init, init}).Serialize();
  };
  Model m;
  m[{TestKey(9), Lsn(15)}] = {rec("before", true), true};
  m[{k, Lsn(10)}] = {Value::Image(std::string(8192, 'i')).Serialize(), true};
  m[{k, Lsn(20)}] = {rec("a", false), false};
  m[{k, Lsn(30)}] = {rec("b", true), true};
  m[{k, Lsn(40)}] = {rec("c", false), false};
  m[{k, Lsn(50)}] = {rec("d", false), false};
  m[{other, Lsn(5)}] = {rec("e", false), false};
  layer_test::WriteDelta(fs.get(), "/d", DeltaDesc(KeyRange::All(), LsnRange{Lsn(1), Lsn(100)}),
                         m);
  auto r = OpenOrDie(fs.get(), "/d", nullptr);
  struct Case {
    LsnRange range;
    std::vector<uint64_t> lsns;
    bool init;
  };
  const Case cases[] = {
      {{Lsn(0), Lsn(100)}, {50, 40, 30}, true}, {{Lsn(0), Lsn(50)}, {40, 30}, true},
      {{Lsn(0), Lsn(31)}, {30}, true},          {{Lsn(0), Lsn(30)}, {20, 10}, true},
      {{Lsn(11), Lsn(30)}, {20}, false},        {{Lsn(31), Lsn(100)}, {50, 40}, false},
      {{Lsn(60), Lsn(100)}, {}, false},         {{Lsn(40), Lsn(40)}, {}, false},
  };
  for (const Case& c : cases) {
    std::vector<LayerValue> out(1);  // Get appends
    auto got = r->Get(k, c.range, &out);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, c.init);
    ASSERT_EQ(out.size(), c.lsns.size() + 1);
    for (size_t i = 0; i < c.lsns.size(); i++) EXPECT_EQ(out[i + 1].lsn, Lsn(c.lsns[i]));
  }
  std::vector<LayerValue> out;
  ASSERT_TRUE(r->Get(k, {Lsn(0), Lsn(100)}, &out).ok());
  EXPECT_EQ(out[2].data, rec("b", true));
  EXPECT_TRUE(*r->Contains(k));
  EXPECT_TRUE(*r->Contains(other));
  EXPECT_FALSE(*r->Contains(TestKey(12)));
  EXPECT_FALSE(*r->Contains(Key::Min()));
}

TEST(LayerFileTest, ImageGetAndAbsence) {
  auto fs = NewMemFileSystem();
  std::mt19937_64 rng(3);
  Model m;
  const Lsn lsn(0x5000);
  for (uint32_t i = 0; i < 700; i++) {
    m[{TestKey(3 * i), lsn}] = {layer_test::RandomBytes(rng, 8192, i % 2 == 0), true};
  }
  const LayerDesc desc = ImageDesc(KeyRange{TestKey(0), TestKey(3000)}, lsn);
  layer_test::WriteImage(fs.get(), "/i", desc, m);
  PageCache cache(4 << 20);
  auto r = OpenOrDie(fs.get(), "/i", &cache);
  EXPECT_EQ(r->desc(), desc);
  EXPECT_EQ(r->desc().image_lsn(), lsn);
  for (uint32_t i = 0; i < 2100; i++) {
    std::vector<LayerValue> out;
    auto got = r->Get(TestKey(i), LsnRange{Lsn(0), lsn.Next()}, &out);
    ASSERT_TRUE(got.ok());
    auto it = m.find({TestKey(i), lsn});
    ASSERT_EQ(*got, it != m.end());
    ASSERT_EQ(*r->Contains(TestKey(i)), it != m.end());
    if (it == m.end()) {
      EXPECT_TRUE(out.empty());
      continue;
    }
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].lsn, lsn);
    EXPECT_TRUE(out[0].will_init);
    EXPECT_TRUE(out[0].raw_image);
    EXPECT_EQ(out[0].data, it->second.data);
  }
  // The range applies: an image above the range is not returned.
  std::vector<LayerValue> out;
  EXPECT_FALSE(*r->Get(TestKey(0), LsnRange{Lsn(0), lsn}, &out));
  EXPECT_FALSE(*r->Get(TestKey(5000), LsnRange{Lsn(0), Lsn::Max()}, &out));  // outside range
  EXPECT_TRUE(out.empty());
  CheckIteration(*r, m);
  EXPECT_TRUE(r->VerifyAll().ok());
  const LayerSummary s = ReadSummary(fs.get(), "/i");
  EXPECT_GT(s.compressed_values, 300u);  // the compressible half
  EXPECT_LT(s.compressed_values, 400u);  // random pages stay raw
}

TEST(LayerFileTest, MultiLevelIndexWithSpill) {
  auto fs = NewMemFileSystem();
  std::mt19937_64 rng(11);
  Model m;
  for (uint32_t k = 0; k < 40000; k++) {
    for (uint64_t v = 0; v < 3; v++) {
      m[{TestKey(2 * k), Lsn(kLo.value() + 10 * v + k % 7)}] =
          layer_test::MakeDeltaValue(rng, v == 0, 8 + rng() % 24, false);
    }
  }
  ASSERT_GT(m.size(), 100000u);
  LayerWriterOptions opts;
  opts.max_buffered_bytes = 1 << 20;
  const LayerDesc desc = DeltaDesc(KeyRange{TestKey(0), TestKey(80000)}, LsnRange{kLo, kHi});
  layer_test::WriteDelta(fs.get(), "/big", desc, m, opts);
  EXPECT_FALSE(fs->FileExists(BlockFileWriter::SpillPath("/big")));
  const LayerSummary s = ReadSummary(fs.get(), "/big");
  EXPECT_EQ(s.index_height, 3);  // 120000 entries > 240 * 240
  EXPECT_GT(s.num_blocks * kBlockSize, 4u * opts.max_buffered_bytes);  // it did spill
  PageCache cache(64 << 20);
  auto r = OpenOrDie(fs.get(), "/big", &cache);
  CheckIteration(*r, m);
  for (uint32_t k = 0; k < 40000; k += 97) {
    std::vector<LayerValue> out;
    const LsnRange range{Lsn(0), Lsn(kLo.value() + 15)};
    auto got = r->Get(TestKey(2 * k), range, &out);
    ASSERT_TRUE(got.ok());
    auto [want, init] = ExpectedGet(m, TestKey(2 * k), range);
    EXPECT_EQ(*got, init);
    EXPECT_TRUE(SameValues(out, want));
  }
  EXPECT_TRUE(r->VerifyAll().ok());

  // A big image layer: 314 * 314 < 100000 keys, so three levels too.
  Model im;
  const Lsn lsn(0x9000);
  for (uint32_t k = 0; k < 100000; k++) im[{TestKey(k), lsn}] = {std::to_string(k), true};
  layer_test::WriteImage(fs.get(), "/bigimg", ImageDesc(KeyRange{TestKey(0), TestKey(100000)}, lsn),
                         im, opts);
  EXPECT_EQ(ReadSummary(fs.get(), "/bigimg").index_height, 3);
  auto ri = OpenOrDie(fs.get(), "/bigimg", &cache);
  CheckIteration(*ri, im);
  for (uint32_t k = 0; k < 100000; k += 331) {
    std::vector<LayerValue> out;
    ASSERT_TRUE(*ri->Get(TestKey(k), LsnRange{lsn, lsn.Next()}, &out));
    EXPECT_EQ(out[0].data, std::to_string(k));
  }
}

TEST(LayerFileTest, IteratorSeek) {
  auto fs = NewMemFileSystem();
  Model m = layer_test::RandomDeltaModel(5, 800, 6, 50, kLo, kHi, false);
  layer_test::WriteDelta(fs.get(), "/d", DeltaDesc(KeyRange::All(), LsnRange{kLo, kHi}), m);
  auto r = OpenOrDie(fs.get(), "/d", nullptr);
  auto it = r->NewIterator();
  std::mt19937_64 rng(9);
  for (int t = 0; t < 500; t++) {
    const Key k = TestKey(uint32_t(rng() % 1700));
    const Lsn lsn(kLo.value() + rng() % 400);
    ASSERT_TRUE(it->Seek(k, lsn).ok());
    auto want = m.lower_bound({k, lsn});
    for (int n = 0; n < 5 && want != m.end(); n++, ++want) {
      ASSERT_TRUE(it->Valid());
      EXPECT_EQ(it->key(), want->first.first);
      EXPECT_EQ(it->lsn(), want->first.second);
      EXPECT_EQ(*it->value(), want->second.data);
      ASSERT_TRUE(it->Next().ok());
    }
    if (want == m.end()) {
      EXPECT_FALSE(it->Valid());
    }
  }
  ASSERT_TRUE(it->Seek(Key::Max(), Lsn(0)).ok());
  EXPECT_FALSE(it->Valid());
  ASSERT_TRUE(it->Seek(Key::Min(), Lsn(0)).ok());
  EXPECT_EQ(it->key(), m.begin()->first.first);

  // Image layers: an entry is (key, image_lsn).
  Model im;
  const Lsn lsn(100);
  for (uint32_t k = 0; k < 10; k++) im[{TestKey(2 * k), lsn}] = {"x", true};
  layer_test::WriteImage(fs.get(), "/i", ImageDesc(KeyRange::All(), lsn), im);
  auto ri = OpenOrDie(fs.get(), "/i", nullptr);
  auto ii = ri->NewIterator();
  ASSERT_TRUE(ii->Seek(TestKey(4), Lsn(0)).ok());
  EXPECT_EQ(ii->key(), TestKey(4));
  EXPECT_EQ(ii->lsn(), lsn);
  EXPECT_TRUE(ii->will_init());
  ASSERT_TRUE(ii->Seek(TestKey(4), Lsn(101)).ok());
  EXPECT_EQ(ii->key(), TestKey(6));
  ASSERT_TRUE(ii->Seek(TestKey(5), Lsn(0)).ok());
  EXPECT_EQ(ii->key(), TestKey(6));
}

TEST(LayerFileTest, CompressionThresholds) {
  auto fs = NewMemFileSystem();
  Model m;
  const std::string zeros(8192, '\0');
  m[{TestKey(0), Lsn(10)}] = {std::string(127, 'z'), true};  // below min_compress_bytes
  m[{TestKey(1), Lsn(10)}] = {std::string(128, 'z'), true};
  m[{TestKey(2), Lsn(10)}] = {zeros, true};
  std::mt19937_64 rng(1);
  m[{TestKey(3), Lsn(10)}] = {layer_test::RandomBytes(rng, 8192, false), true};
  for (Compression c : {Compression::kNone, Compression::kZstd, Compression::kLz4}) {
    LayerWriterOptions opts;
    opts.compression = c;
    layer_test::WriteImage(fs.get(), "/i", ImageDesc(KeyRange::All(), Lsn(10)), m, opts);
    const LayerSummary s = ReadSummary(fs.get(), "/i");
    EXPECT_EQ(s.compressed_values, c == Compression::kNone ? 0u : 2u);
    EXPECT_EQ(s.raw_value_bytes, 127u + 128 + 8192 + 8192);
    EXPECT_EQ(s.num_blocks, c == Compression::kNone ? 5u : 4u);  // summary, data, 1 leaf
    auto r = OpenOrDie(fs.get(), "/i", nullptr);
    CheckIteration(*r, m);
  }
}

TEST(LayerFileTest, EmptyLayers) {
  auto fs = NewMemFileSystem();
  layer_test::WriteDelta(fs.get(), "/d", DeltaDesc(KeyRange::All(), LsnRange{kLo, kHi}), {});
  layer_test::WriteImage(fs.get(), "/i", ImageDesc(KeyRange::All(), kLo), {});
  for (const char* path : {"/d", "/i"}) {
    EXPECT_EQ(*fs->GetFileSize(path), kBlockSize);
    auto r = OpenOrDie(fs.get(), path, nullptr);
    EXPECT_EQ(r->num_entries(), 0u);
    std::vector<LayerValue> out;
    EXPECT_FALSE(*r->Get(TestKey(1), LsnRange{Lsn(0), Lsn::Max()}, &out));
    EXPECT_FALSE(*r->Contains(TestKey(1)));
    auto it = r->NewIterator();
    EXPECT_TRUE(it->SeekToFirst().ok());
    EXPECT_FALSE(it->Valid());
    EXPECT_TRUE(it->Seek(TestKey(1), Lsn(0)).ok());
    EXPECT_FALSE(it->Valid());
    EXPECT_TRUE(r->VerifyAll().ok());
  }
}

TEST(LayerFileTest, WriterRejectsBadInput) {
  auto fs = NewMemFileSystem();
  const LayerDesc desc = DeltaDesc(KeyRange{TestKey(10), TestKey(20)}, LsnRange{Lsn(10), Lsn(20)});
  auto w = *DeltaLayerWriter::Create(fs.get(), "/d", desc, {});
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(w->Put(TestKey(9), Lsn(10), "v", true).code(), kInvalid);   // key below
  EXPECT_EQ(w->Put(TestKey(20), Lsn(10), "v", true).code(), kInvalid);  // key end is exclusive
  EXPECT_EQ(w->Put(TestKey(10), Lsn(9), "v", true).code(), kInvalid);   // lsn below
  EXPECT_EQ(w->Put(TestKey(10), Lsn(20), "v", true).code(), kInvalid);  // lsn end is exclusive
  ASSERT_TRUE(w->Put(TestKey(12), Lsn(15), "v", true).ok());
  EXPECT_EQ(w->Put(TestKey(12), Lsn(15), "v", true).code(), kInvalid);  // duplicate
  EXPECT_EQ(w->Put(TestKey(12), Lsn(14), "v", true).code(), kInvalid);  // lsn goes back
  EXPECT_EQ(w->Put(TestKey(11), Lsn(19), "v", true).code(), kInvalid);  // key goes back
  ASSERT_TRUE(w->Put(TestKey(12), Lsn(16), "w", false).ok());           // still usable
  ASSERT_TRUE(w->Put(TestKey(13), Lsn(10), "x", true).ok());
  EXPECT_EQ(w->num_entries(), 3u);
  EXPECT_GT(w->EstimatedSize(), 0u);
  ASSERT_TRUE(w->Finish().ok());
  EXPECT_EQ(w->Put(TestKey(14), Lsn(10), "v", true).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(w->Finish().ok());

  auto iw = *ImageLayerWriter::Create(fs.get(), "/i", ImageDesc(desc.key_range, Lsn(10)), {});
  ASSERT_TRUE(iw->Put(TestKey(11), "p").ok());
  EXPECT_EQ(iw->Put(TestKey(11), "p").code(), kInvalid);
  EXPECT_EQ(iw->Put(TestKey(21), "p").code(), kInvalid);

  // Bad descriptors.
  LayerDesc bad_image = ImageDesc(desc.key_range, Lsn(10));
  bad_image.lsn_range.end = Lsn(12);
  EXPECT_EQ(ImageLayerWriter::Create(fs.get(), "/x", bad_image, {}).status().code(), kInvalid);
  EXPECT_EQ(DeltaLayerWriter::Create(fs.get(), "/x", bad_image, {}).status().code(), kInvalid);
  LayerDesc empty = desc;
  empty.lsn_range.end = empty.lsn_range.start;
  EXPECT_EQ(DeltaLayerWriter::Create(fs.get(), "/x", empty, {}).status().code(), kInvalid);
  EXPECT_EQ(DeltaLayerWriter::Create(fs.get(), "/no/such/dir/x", desc, {}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(LayerFileTest, ValuesSpanningBlocks) {
  auto fs = NewMemFileSystem();
  std::mt19937_64 rng(4);
  Model m;
  for (uint32_t k = 0; k < 30; k++) {
    m[{TestKey(2 * k), Lsn(10)}] = layer_test::MakeDeltaValue(rng, true, 1 + rng() % 40000, k % 2);
  }
  layer_test::WriteDelta(fs.get(), "/d", DeltaDesc(KeyRange::All(), LsnRange{Lsn(1), Lsn(100)}),
                         m);
  auto r = OpenOrDie(fs.get(), "/d", nullptr);
  CheckIteration(*r, m);
  CheckGets(*r, m, 3);
}

TEST(LayerFileTest, CachedGetsReadNoBlocks) {
  auto fs = NewMemFileSystem();
  Model m = layer_test::RandomDeltaModel(8, 3000, 11, 100, kLo, kHi, false);
  layer_test::WriteDelta(fs.get(), "/d", DeltaDesc(KeyRange::All(), LsnRange{kLo, kHi}), m);
  PageCache cache(64 << 20);
  auto r = OpenOrDie(fs.get(), "/d", &cache);
  std::vector<LayerValue> out;
  ASSERT_TRUE(r->Get(TestKey(2000), LsnRange{Lsn(0), Lsn::Max()}, &out).ok());
  const PageCache::Stats before = cache.GetStats();
  EXPECT_GE(before.misses, 2u);  // root and leaf at least
  out.clear();
  ASSERT_TRUE(r->Get(TestKey(2000), LsnRange{Lsn(0), Lsn::Max()}, &out).ok());
  const PageCache::Stats after = cache.GetStats();
  EXPECT_EQ(after.misses, before.misses);
  EXPECT_GT(after.hits, before.hits);
}

TEST(LayerFileTest, ConcurrentReaders) {
  auto fs = NewMemFileSystem();
  Model m = layer_test::RandomDeltaModel(12, 2000, 8, 300, kLo, kHi, true);
  layer_test::WriteDelta(fs.get(), "/d", DeltaDesc(KeyRange::All(), LsnRange{kLo, kHi}), m);
  PageCache cache(256 << 10);  // small: forces eviction while reading
  auto r = OpenOrDie(fs.get(), "/d", &cache);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] { CheckGets(*r, m, 100 + t); });
  }
  for (auto& t : threads) t.join();
  EXPECT_GT(cache.GetStats().evictions, 0u);
}

TEST(LayerDescTest, FileNames) {
  const Key a(0x00, 1663, 5, 16384, 0, 0);
  const Key b(0x00, 1663, 5, 16384, 0, 0x1000);
  LayerDesc d{{}, {}, KeyRange{a, b}, LsnRange{Lsn(0x16960E8), Lsn(0x1A2B3C4D5E)}, false};
  const std::string delta_name =
      "000000067F00000005000040000000000000-000000067F00000005000040000000001000__"
      "00000000016960E8-0000001A2B3C4D5E";
  EXPECT_EQ(d.FileName(), delta_name);
  EXPECT_EQ(*LayerDesc::ParseFileName(delta_name), d);
  LayerDesc l0{{}, {}, KeyRange::All(), LsnRange{Lsn(1), Lsn(2)}, false};
  EXPECT_EQ(l0.FileName(),
            "000000000000000000000000000000000000-FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF__"
            "0000000000000001-0000000000000002");
  EXPECT_TRUE(LayerDesc::ParseFileName(l0.FileName())->is_l0());
  LayerDesc img{{}, {}, KeyRange{a, b}, LsnRange{Lsn(0x5000), Lsn(0x5001)}, true};
  EXPECT_EQ(img.FileName(),
            "000000067F00000005000040000000000000-000000067F00000005000040000000001000__"
            "0000000000005000");
  EXPECT_EQ(*LayerDesc::ParseFileName(img.FileName()), img);

  const std::string bad[] = {
      "",
      "junk",
      delta_name + "-v1-00000001",                                  // generation suffix
      delta_name.substr(0, 107),                                   // short
      std::string(delta_name).replace(36, 1, "_"),                 // separator
      std::string(delta_name).replace(73, 2, "_-"),                // separator
      std::string(delta_name).replace(91, 1, "+"),                 // separator
      std::string(delta_name).replace(5, 1, "G"),                  // not hex
      std::string(delta_name).replace(80, 1, "x"),                 // lsn not hex
      std::string(delta_name).replace(9, 1, "f"),                  // lower case
      std::string(delta_name).replace(75, 16, "0000001A2B3C4D5F"),  // lsn start > end
      std::string(delta_name).replace(37, 36, delta_name.substr(0, 36)),  // empty key range
      img.FileName().substr(0, 75) + "FFFFFFFFFFFFFFFF",           // image lsn + 1 overflows
  };
  for (const std::string& name : bad) {
    EXPECT_EQ(LayerDesc::ParseFileName(name).status().code(), absl::StatusCode::kInvalidArgument)
        << name;
  }
}

}  // namespace
}  // namespace neon
