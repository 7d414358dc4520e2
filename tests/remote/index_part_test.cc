// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// index_part.json: JSON reader/writer, round trips, Neon's own output,
// byte mutations (rejected as DataLoss or parsed, never a crash), the
// remote key layout and generation-aware loading.

#include <string>

#include "gtest/gtest.h"
#include "neon/file_system.h"
#include "neon/object_store.h"
#include "remote/heatmap.h"
#include "remote/index_part.h"
#include "remote/json.h"

namespace neon {
namespace {

TenantShardId Tenant() { return *TenantShardId::Parse("3aa8fcc61f6d357410b7de754b1d9001"); }
TimelineId Timeline() { return *TimelineId::Parse("de200bd42b49cc1814412c7e592dd6e9"); }

const char* kL0 =
    "000000000000000000000000000000000000-FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF__0000000001696070-"
    "00000000016960E9";

IndexPart Sample() {
  IndexPart p;
  p.layer_metadata[kL0] = IndexLayerMetadata{25600000, Generation::Of(1), ShardIndex{}};
  p.layer_metadata["000000067F00000001000004DF0000000006-000000067F00000001000004DF0000000008__00000000016960E8"] =
      IndexLayerMetadata{8192, Generation::Of(0x2a), ShardIndex{1, 4}};
  p.metadata.disk_consistent_lsn = Lsn(0x16960E8);
  p.metadata.prev_record_lsn = Lsn(0x1696070);
  p.metadata.ancestor_timeline = *TimelineId::Parse("e45a7f37d3ee2ff17dc14bf4f4e3f52e");
  p.metadata.ancestor_lsn = Lsn(0x1000);
  p.metadata.latest_gc_cutoff_lsn = Lsn(0x1696070);
  p.metadata.initdb_lsn = Lsn(0x1696070);
  p.metadata.pg_version = 15;
  return p;
}

TEST(JsonTest, ParsesAndRejects) {
  auto v = ParseJson(R"( {"a": [1, 2.5e3, "x\u00e9\ud83d\ude00", true, false, null], "b": {}} )");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_NE(v->Find("a"), nullptr);
  EXPECT_EQ(v->Find("a")->items().size(), 6u);
  EXPECT_EQ(*v->Find("a")->items()[0].GetU64("n"), 1u);
  EXPECT_FALSE(v->Find("a")->items()[1].GetU64("n").ok());
  EXPECT_EQ(*v->Find("a")->items()[2].GetString("s"), "x\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_TRUE(*v->Find("a")->items()[3].GetBool("b"));
  EXPECT_FALSE(*v->Find("a")->items()[4].GetBool("b"));
  EXPECT_EQ(*ParseJson("18446744073709551615")->GetU64("max"), UINT64_MAX);
  EXPECT_FALSE(ParseJson("18446744073709551616")->GetU64("max").ok());
  for (const char* bad : {"", "{", "[1,]", "{\"a\":1,}", "01", "{\"a\":1,\"a\":2}", "\"\\x\"", "nul",
                          "1 2", "{a:1}", "\"\\ud800\"", "-", "1.", "[\"\x01\"]"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParseJson(bad).status())) << bad;
  }
  EXPECT_TRUE(absl::IsResourceExhausted(ParseJson(std::string(100, '[')).status()));
}

TEST(JsonTest, WriterRoundTrip) {
  JsonWriter w;
  w.BeginObject().Key("s").String("q\"\\\n\x01").Key("n").U64(UINT64_MAX).Key("a").BeginArray();
  w.Bool(true).Null().BeginObject().EndObject().EndArray().EndObject();
  auto v = ParseJson(w.str());
  ASSERT_TRUE(v.ok()) << v.status() << " " << w.str();
  EXPECT_EQ(*v->Find("s")->GetString("s"), "q\"\\\n\x01");
  EXPECT_EQ(*v->Find("n")->GetU64("n"), UINT64_MAX);
  EXPECT_EQ(v->Find("a")->items().size(), 3u);
}

TEST(IndexPartTest, RoundTripIsExactAndStable) {
  IndexPart p = Sample();
  std::string json = p.Serialize();
  auto back = IndexPart::Parse(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, p);
  EXPECT_EQ(back->Serialize(), json);
  // Field names as Neon writes them.
  for (const char* f : {"\"version\":15", "\"layer_metadata\"", "\"file_size\":25600000", "\"generation\":1",
                        "\"shard\":\"0104\"", "\"disk_consistent_lsn\":\"0/16960E8\"", "\"prev_record_lsn\"",
                        "\"ancestor_timeline\":\"e45a7f37d3ee2ff17dc14bf4f4e3f52e\"", "\"latest_gc_cutoff_lsn\"",
                        "\"initdb_lsn\"", "\"pg_version\":15"}) {
    EXPECT_NE(json.find(f), std::string::npos) << f << " in " << json;
  }
}

TEST(IndexPartTest, ParsesNeonOutput) {
  // As written by Neon's pageserver (index.rs, version 15), with fields we ignore.
  std::string neon = std::string(R"({"version":15,"layer_metadata":{")") + kL0 +
                     R"(":{"file_size":25600000,"generation":1}},"disk_consistent_lsn":"0/16960E8",)"
                     R"("metadata":{"disk_consistent_lsn":"0/16960E8","prev_record_lsn":"0/1696070",)"
                     R"("ancestor_timeline":null,"ancestor_lsn":"0/0","latest_gc_cutoff_lsn":"0/1696070",)"
                     R"("initdb_lsn":"0/1696070","pg_version":14},"gc_blocking":null,)"
                     R"("last_aux_file_policy":"V2","rel_size_migration":"legacy","lineage":{}})";
  auto p = IndexPart::Parse(neon);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->layer_metadata.size(), 1u);
  EXPECT_EQ(p->layer_metadata.at(kL0).generation, Generation::Of(1));
  EXPECT_TRUE(p->layer_metadata.at(kL0).shard.IsUnsharded());
  EXPECT_FALSE(p->metadata.ancestor_timeline.has_value());
  EXPECT_EQ(p->metadata.pg_version, 14u);
}

TEST(IndexPartTest, RejectsInvalidDocuments) {
  std::string good = Sample().Serialize();
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    size_t pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    return s.replace(pos, from.size(), to);
  };
  for (const std::string& bad :
       {std::string("[]"), std::string("not json"), replace("\"version\":15", "\"version\":16"),
        replace("\"version\":15", "\"version\":\"15\""), replace("\"file_size\":25600000", "\"file_size\":-1"),
        replace("\"disk_consistent_lsn\":\"0/16960E8\",\"metadata\"", "\"disk_consistent_lsn\":\"0/1\",\"metadata\""),
        replace("\"pg_version\":15", "\"pg_version\":4294967296"), replace("\"shard\":\"0104\"", "\"shard\":\"zz\""),
        replace("\"initdb_lsn\":\"0/1696070\",", ""), replace("0/1696070", "0x1696070"),
        replace(kL0, "../etc/passwd")}) {
    auto p = IndexPart::Parse(bad);
    EXPECT_TRUE(absl::IsDataLoss(p.status())) << bad << " -> " << p.status();
    EXPECT_NE(p.status().message().find("index_part"), absl::string_view::npos) << p.status();
  }
}

TEST(IndexPartTest, ByteMutationsNeverCrash) {
  const IndexPart original = Sample();
  const std::string good = original.Serialize();
  int rejected = 0;
  for (size_t i = 0; i < good.size(); i++) {
    for (uint8_t flip : {0x01, 0x20, 0x80}) {
      std::string s = good;
      s[i] = char(s[i] ^ flip);
      auto p = IndexPart::Parse(s);
      if (!p.ok()) {
        EXPECT_TRUE(absl::IsDataLoss(p.status())) << p.status();
        rejected++;
      }
    }
    auto truncated = IndexPart::Parse(good.substr(0, i));
    EXPECT_TRUE(absl::IsDataLoss(truncated.status()));
  }
  EXPECT_GT(rejected, int(good.size()));  // most flips break the document
}

TEST(IndexPartTest, KeyLayout) {
  TenantShardId sharded{Tenant().tenant_id, ShardIndex{1, 4}};
  EXPECT_EQ(RemoteIndexKey(Tenant(), Timeline(), Generation::Of(0x2a)),
            "tenants/3aa8fcc61f6d357410b7de754b1d9001/timelines/de200bd42b49cc1814412c7e592dd6e9/"
            "index_part.json-0000002a");
  EXPECT_EQ(RemoteIndexKey(Tenant(), Timeline(), Generation::None()),
            "tenants/3aa8fcc61f6d357410b7de754b1d9001/timelines/de200bd42b49cc1814412c7e592dd6e9/index_part.json");
  EXPECT_EQ(RemoteLayerKey(sharded, ShardIndex{1, 4}, Timeline(), "L", Generation::Of(3)),
            "tenants/3aa8fcc61f6d357410b7de754b1d9001-0104/timelines/de200bd42b49cc1814412c7e592dd6e9/L-00000003");
  // A layer inherited from before a split keeps its own shard in the key.
  EXPECT_EQ(RemoteLayerKey(sharded, ShardIndex{0, 1}, Timeline(), "L", Generation::Of(3)),
            "tenants/3aa8fcc61f6d357410b7de754b1d9001-0001/timelines/de200bd42b49cc1814412c7e592dd6e9/L-00000003");
  EXPECT_EQ(*ParseIndexGeneration("index_part.json"), Generation::None());
  EXPECT_EQ(*ParseIndexGeneration("index_part.json-0000002a"), Generation::Of(42));
  EXPECT_FALSE(ParseIndexGeneration("index_part.json-2a").ok());
  EXPECT_FALSE(ParseIndexGeneration("index_part.json.tmp").ok());
}

class IndexLoadTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = *NewLocalObjectStore(NewMemFileSystem(), "/objects"); }
  void PutIndex(Generation g, Lsn dcl) {
    IndexPart p;
    p.metadata.disk_consistent_lsn = dcl;
    ASSERT_TRUE(PutString(*store_, RemoteIndexKey(Tenant(), Timeline(), g), p.Serialize()).ok());
  }
  absl::StatusOr<DownloadedIndex> Load(uint32_t g) {
    return DownloadIndexPart(*store_, Tenant(), Timeline(), Generation::Of(g));
  }
  std::shared_ptr<ObjectStore> store_;
};

TEST_F(IndexLoadTest, OwnThenPreviousThenHighestOlderNeverNewer) {
  EXPECT_TRUE(absl::IsNotFound(Load(5).status()));
  PutIndex(Generation::None(), Lsn(0x10));
  EXPECT_EQ(Load(5)->generation, Generation::None());  // legacy sorts lowest
  PutIndex(Generation::Of(2), Lsn(0x20));
  PutIndex(Generation::Of(9), Lsn(0x90));  // a newer node: never read by older ones
  EXPECT_EQ(Load(5)->generation, Generation::Of(2));
  EXPECT_EQ(Load(5)->index.metadata.disk_consistent_lsn, Lsn(0x20));
  PutIndex(Generation::Of(4), Lsn(0x40));
  EXPECT_EQ(Load(5)->generation, Generation::Of(4));  // G-1
  PutIndex(Generation::Of(5), Lsn(0x50));
  EXPECT_EQ(Load(5)->generation, Generation::Of(5));  // own (restart)
  EXPECT_EQ(Load(3)->generation, Generation::Of(2));
  EXPECT_EQ(Load(10)->generation, Generation::Of(9));
  // A damaged index is an error, not a reason to fall back.
  ASSERT_TRUE(PutString(*store_, RemoteIndexKey(Tenant(), Timeline(), Generation::Of(9)), "{").ok());
  EXPECT_TRUE(absl::IsDataLoss(Load(10).status()));
  auto timelines = ListRemoteTimelines(*store_, Tenant());
  ASSERT_TRUE(timelines.ok()) << timelines.status();
  EXPECT_EQ(*timelines, std::vector<TimelineId>{Timeline()});
}

TEST(HeatmapTest, RoundTripsAndRefusesDamage) {
  Heatmap h;
  h.generation = Generation::Of(5);
  h.upload_period_ms = 60000;
  HeatmapTimeline t;
  t.timeline_id = *TimelineId::Parse("de200bd42b49cc1814412c7e592dd6e9");
  t.layers.push_back(HeatmapLayer{
      "000000000000000000000000000000000000-FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF__0000000001696070",
      IndexLayerMetadata{8192, Generation::Of(3), *ShardIndex::Parse("0104")}, 1'763'700'000'123'456, false});
  t.layers.push_back(HeatmapLayer{"layer_b", IndexLayerMetadata{10, Generation::None(), ShardIndex()},
                                  1'763'700'000'000'000, true});
  h.timelines.push_back(t);
  const std::string text = h.Serialize();
  EXPECT_NE(text.find(R"("access_time":"2025-11-21T04:40:00.123456Z")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("metadata":{"file_size":8192,"generation":3,"shard":"0104"})"), std::string::npos);
  auto back = Heatmap::Parse(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, h);
  Heatmap empty;
  auto e = Heatmap::Parse(empty.Serialize());
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_TRUE(e->generation.is_none());

  const std::string tl = R"("timeline_id":"de200bd42b49cc1814412c7e592dd6e9")";
  const std::string layer = R"({"name":"l","metadata":{"file_size":1},"access_time":"2025-11-21T04:53:20Z"})";
  for (const std::string& bad : {
           std::string("{"),
           std::string(R"({"generation":1})"),
           std::string(R"({"generation":1,"timelines":{}})"),
           std::string(R"({"generation":-1,"timelines":[]})"),
           std::string(R"({"generation":1,"timelines":[{"timeline_id":"xyz","layers":[]}]})"),
           R"({"generation":1,"timelines":[{)" + tl + R"(,"layers":[]},{)" + tl + R"(,"layers":[]}]})",
           R"({"generation":1,"timelines":[{)" + tl + R"(,"layers":[)" + layer + "," + layer + "]}]}",
           R"({"generation":1,"timelines":[{)" + tl +
               R"(,"layers":[{"name":"../x","metadata":{"file_size":1},"access_time":"2025-11-21T04:53:20Z"}]}]})",
           R"({"generation":1,"timelines":[{)" + tl +
               R"(,"layers":[{"name":"l","metadata":{"file_size":"1"},"access_time":"2025-11-21T04:53:20Z"}]}]})",
           R"({"generation":1,"timelines":[{)" + tl +
               R"(,"layers":[{"name":"l","metadata":{"file_size":1},"access_time":"yesterday"}]}]})",
       }) {
    auto r = Heatmap::Parse(bad);
    EXPECT_TRUE(absl::IsDataLoss(r.status())) << bad << " -> " << r.status();
  }
  EXPECT_EQ(RemoteHeatmapKey(TenantShardId::Unsharded(*TenantId::Parse("3aa8fcc61f6d357410b7de754b1d9001"))),
            "tenants/3aa8fcc61f6d357410b7de754b1d9001/heatmap-v1.json");
}

}  // namespace
}  // namespace neon
