// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Value serialization: Neon's bincode byte layout, round trips of every record
// kind, and rejection of damaged input (byte-mutation tests).

#include "neon/value.h"

#include <random>
#include <string>
#include <vector>

#include "base/hex.h"
#include "gtest/gtest.h"

namespace neon {
namespace {

std::string Hex(std::string_view s) {
  return HexEncode(reinterpret_cast<const uint8_t*>(s.data()), s.size(), /*upper=*/false);
}

std::string Unhex(std::string_view h) {
  std::string out(h.size() / 2, '\0');
  EXPECT_TRUE(HexDecode(h, reinterpret_cast<uint8_t*>(out.data()))) << h;
  return out;
}

// One value of every kind, with and without will_init where it applies.
std::vector<Value> AllKinds() {
  std::vector<Value> v;
  v.push_back(Value::Image("foobar"));
  v.push_back(Value::Image(""));
  v.push_back(Value::Image(std::string(8192, '\x5a')));
  v.push_back(Value::FromRecord(PostgresRecord{true, "rec"}));
  v.push_back(Value::FromRecord(PostgresRecord{false, std::string("a\0b", 3)}));
  v.push_back(Value::FromRecord(ClearVisibilityMapFlags{std::nullopt, std::nullopt, 0}));
  v.push_back(Value::FromRecord(ClearVisibilityMapFlags{7u, std::nullopt, 3}));
  v.push_back(Value::FromRecord(ClearVisibilityMapFlags{std::nullopt, 0xFFFFFFFFu, 1}));
  v.push_back(Value::FromRecord(ClearVisibilityMapFlags{1u, 2u, 0xFF}));
  v.push_back(Value::FromRecord(ClogSetCommitted{{}, 0}));
  v.push_back(Value::FromRecord(ClogSetCommitted{{1, 2, 0xFFFFFFFF}, -12345}));
  v.push_back(Value::FromRecord(ClogSetAborted{{}}));
  v.push_back(Value::FromRecord(ClogSetAborted{{100, 200}}));
  v.push_back(Value::FromRecord(MultixactOffsetCreate{5, 6}));
  v.push_back(Value::FromRecord(MultixactMembersCreate{9, {}}));
  v.push_back(Value::FromRecord(MultixactMembersCreate{9, {{1, 2}, {3, 4}, {5, 0x20}}}));
  v.push_back(Value::FromRecord(TruncateVisibilityMap{123, 0xFFFFFFFFFFFFull}));
  v.push_back(Value::FromRecord(TestRecord{"xyz", false, false}));
  v.push_back(Value::FromRecord(TestRecord{"", true, true}));
  v.push_back(Value::FromRecord(TestRecord{"abc", true, false}));
  v.push_back(Value::FromRecord(TestRecord{"abc", false, true}));
  return v;
}

TEST(ValueTest, ImageMatchesNeonBincode) {
  Value v = Value::Image("foobar");
  EXPECT_EQ(Hex(v.Serialize()), "00000000" "0000000000000006" "666f6f626172");
  EXPECT_TRUE(v.is_image());
  EXPECT_TRUE(v.will_init());
}

TEST(ValueTest, PostgresRecordMatchesNeonBincode) {
  Value v = Value::FromRecord(PostgresRecord{true, "foobar"});
  EXPECT_EQ(Hex(v.Serialize()),
            "00000001" "00000000" "01" "0000000000000006" "666f6f626172");
  Value nv = Value::FromRecord(PostgresRecord{false, "ab"});
  EXPECT_EQ(Hex(nv.Serialize()), "00000001" "00000000" "00" "0000000000000002" "6162");
}

TEST(ValueTest, OtherRecordLayouts) {
  // Option<u32> is a 0/1 byte then the value; u8 flags last.
  EXPECT_EQ(Hex(Value::FromRecord(ClearVisibilityMapFlags{7u, std::nullopt, 3}).Serialize()),
            "00000001" "00000001" "01" "00000007" "00" "03");
  // Vec<u32> is a u64 count then the elements; timestamp is i64.
  EXPECT_EQ(Hex(Value::FromRecord(ClogSetCommitted{{1, 2}, -1}).Serialize()),
            "00000001" "00000002" "0000000000000002" "00000001" "00000002" "ffffffffffffffff");
  EXPECT_EQ(Hex(Value::FromRecord(ClogSetAborted{{0xAB}}).Serialize()),
            "00000001" "00000003" "0000000000000001" "000000ab");
  EXPECT_EQ(Hex(Value::FromRecord(MultixactOffsetCreate{5, 6}).Serialize()),
            "00000001" "00000004" "00000005" "00000006");
  EXPECT_EQ(Hex(Value::FromRecord(MultixactMembersCreate{9, {{1, 2}}}).Serialize()),
            "00000001" "00000005" "00000009" "0000000000000001" "00000001" "00000002");
  EXPECT_EQ(Hex(Value::FromRecord(TruncateVisibilityMap{1, 2}).Serialize()),
            "00000001" "00000007" "0000000000000001" "0000000000000002");
  EXPECT_EQ(Hex(Value::FromRecord(TestRecord{"ab", true, false}).Serialize()),
            "00000001" "00000008" "0000000000000002" "6162" "01" "00");
}

TEST(ValueTest, DeserializesNeonBytes) {
  auto v = Value::Deserialize(Unhex("00000000" "0000000000000006" "666f6f626172"));
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_TRUE(v->is_image());
  EXPECT_EQ(v->image(), "foobar");

  auto r = Value::Deserialize(Unhex("00000001" "00000000" "01" "0000000000000003" "726563"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->is_record());
  EXPECT_EQ(KindOf(r->record()), RecordKind::kPostgres);
  EXPECT_EQ(std::get<PostgresRecord>(r->record()), (PostgresRecord{true, "rec"}));
}

TEST(ValueTest, RoundTripsEveryKind) {
  for (const Value& v : AllKinds()) {
    std::string bytes = v.Serialize();
    auto back = Value::Deserialize(bytes);
    ASSERT_TRUE(back.ok()) << Hex(bytes) << ": " << back.status();
    EXPECT_EQ(*back, v) << Hex(bytes);
    EXPECT_EQ(back->Serialize(), bytes);
    // AppendSerialized appends without disturbing what is there.
    std::string buf = "prefix";
    v.AppendSerialized(&buf);
    EXPECT_EQ(buf, "prefix" + bytes);
  }
}

TEST(ValueTest, KindsAreTheNeonDiscriminants) {
  EXPECT_EQ(KindOf(PostgresRecord{}), RecordKind::kPostgres);
  EXPECT_EQ(KindOf(ClearVisibilityMapFlags{}), RecordKind::kClearVisibilityMapFlags);
  EXPECT_EQ(KindOf(ClogSetCommitted{}), RecordKind::kClogSetCommitted);
  EXPECT_EQ(KindOf(ClogSetAborted{}), RecordKind::kClogSetAborted);
  EXPECT_EQ(KindOf(MultixactOffsetCreate{}), RecordKind::kMultixactOffsetCreate);
  EXPECT_EQ(KindOf(MultixactMembersCreate{}), RecordKind::kMultixactMembersCreate);
  EXPECT_EQ(KindOf(TruncateVisibilityMap{}), RecordKind::kTruncateVisibilityMap);
  EXPECT_EQ(KindOf(TestRecord{}), RecordKind::kTest);
  EXPECT_EQ(uint32_t(RecordKind::kTruncateVisibilityMap), 7u);
  EXPECT_EQ(uint32_t(RecordKind::kTest), 8u);
}

TEST(ValueTest, WillInit) {
  EXPECT_TRUE(Value::Image("x").will_init());
  EXPECT_TRUE(Value::FromRecord(PostgresRecord{true, "r"}).will_init());
  EXPECT_FALSE(Value::FromRecord(PostgresRecord{false, "r"}).will_init());
  EXPECT_TRUE(Value::FromRecord(TestRecord{"a", false, true}).will_init());
  EXPECT_FALSE(Value::FromRecord(TestRecord{"a", true, false}).will_init());
  EXPECT_FALSE(Value::FromRecord(ClogSetAborted{{1}}).will_init());
  EXPECT_FALSE(Value::FromRecord(MultixactOffsetCreate{1, 2}).will_init());
}

TEST(ValueTest, SerializedWillInitAgreesWithWillInit) {
  for (const Value& v : AllKinds()) {
    std::string bytes = v.Serialize();
    EXPECT_EQ(Value::SerializedWillInit(bytes), v.will_init()) << Hex(bytes);
  }
  // Never reads past the end of short or damaged input.
  EXPECT_FALSE(Value::SerializedWillInit(""));
  EXPECT_FALSE(Value::SerializedWillInit(Unhex("000000")));
  EXPECT_FALSE(Value::SerializedWillInit(Unhex("00000001" "00000000")));
  EXPECT_FALSE(Value::SerializedWillInit(Unhex("00000001" "00000008" "00000000000000")));
  EXPECT_FALSE(Value::SerializedWillInit(Unhex("00000001" "00000008" "ffffffffffffffff" "01")));
  EXPECT_FALSE(Value::SerializedWillInit(Unhex("00000001" "00000008" "0000000000000001" "61" "01")));
  EXPECT_FALSE(Value::SerializedWillInit(Unhex("00000002" "00000000" "01")));
}

void ExpectDataLoss(std::string_view bytes) {
  auto r = Value::Deserialize(bytes);
  EXPECT_FALSE(r.ok()) << Hex(bytes);
  if (!r.ok()) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << Hex(bytes);
  }
}

TEST(ValueTest, RejectsTruncatedInput) {
  for (const Value& v : AllKinds()) {
    std::string bytes = v.Serialize();
    for (size_t n = 0; n < bytes.size(); n++) ExpectDataLoss(std::string_view(bytes).substr(0, n));
  }
}

TEST(ValueTest, RejectsTrailingBytes) {
  for (const Value& v : AllKinds()) {
    ExpectDataLoss(v.Serialize() + std::string(1, '\0'));
    ExpectDataLoss(v.Serialize() + "garbage");
  }
}

TEST(ValueTest, RejectsBadDiscriminantsAndFlags) {
  ExpectDataLoss(Unhex("00000002" "0000000000000000"));                    // value tag 2
  ExpectDataLoss(Unhex("ffffffff" "0000000000000000"));
  ExpectDataLoss(Unhex("00000001" "00000006" "0000000000000000" "00"));    // AuxFile: never written
  ExpectDataLoss(Unhex("00000001" "00000009" "00000000"));                 // unknown kind
  ExpectDataLoss(Unhex("00000001" "00000000" "02" "0000000000000000"));    // bool 2
  ExpectDataLoss(Unhex("00000001" "00000001" "02" "00000007" "00" "03"));  // Option tag 2
  ExpectDataLoss(Unhex("00000001" "00000008" "0000000000000000" "00" "05"));
  // Lengths far beyond the input must not allocate or crash.
  ExpectDataLoss(Unhex("00000000" "ffffffffffffffff" "00"));
  ExpectDataLoss(Unhex("00000001" "00000002" "4000000000000000" "00000001"));
  ExpectDataLoss(Unhex("00000001" "00000003" "ffffffffffffffff"));
  ExpectDataLoss(Unhex("00000001" "00000005" "00000000" "2000000000000001" "0000000100000002"));
}

TEST(ValueTest, RandomMutationsNeverCrash) {
  // Byte mutations of valid values either decode to something that
  // re-serializes to the same bytes, or fail with DataLoss.
  std::mt19937_64 rng(2024);
  std::vector<Value> kinds = AllKinds();
  for (int iter = 0; iter < 20000; iter++) {
    std::string bytes = kinds[rng() % kinds.size()].Serialize();
    if (bytes.size() > 64) bytes.resize(64);  // keep it quick; truncation is a mutation too
    int flips = 1 + int(rng() % 3);
    for (int f = 0; f < flips; f++) {
      bytes[rng() % bytes.size()] = char(rng());
    }
    auto r = Value::Deserialize(bytes);
    if (r.ok()) {
      EXPECT_EQ(r->Serialize(), bytes) << Hex(bytes);
      EXPECT_EQ(Value::SerializedWillInit(bytes), r->will_init()) << Hex(bytes);
    } else {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << Hex(bytes);
    }
  }
}

TEST(ValueTest, ValuesConcatenateInAStream) {
  // AppendSerialized + a length prefix is how layers pack values; each
  // slice decodes independently.
  std::string stream;
  std::vector<size_t> ends;
  for (const Value& v : AllKinds()) {
    v.AppendSerialized(&stream);
    ends.push_back(stream.size());
  }
  size_t start = 0;
  std::vector<Value> kinds = AllKinds();
  for (size_t i = 0; i < ends.size(); i++) {
    auto r = Value::Deserialize(std::string_view(stream).substr(start, ends[i] - start));
    ASSERT_TRUE(r.ok()) << i << ": " << r.status();
    EXPECT_EQ(*r, kinds[i]);
    start = ends[i];
  }
}

}  // namespace
}  // namespace neon
