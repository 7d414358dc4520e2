// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Neon's bincode (big-endian, fixed-width) encoding of Value: enum tags are
// u32, Option is a 0/1 byte then the payload, Vec/String/Bytes are a u64
// length then the elements. See doc/format/value.md.

#include "neon/value.h"

#include "base/str_cat.h"
#include "base/coding.h"

namespace neon {
namespace {

constexpr uint32_t kTagImage = 0;
constexpr uint32_t kTagRecord = 1;
constexpr uint64_t kMaxVecLen = 1u << 28;  // far above any real record; bounds allocation

void PutBytes(std::string* out, std::string_view b) {
  PutFixed64BE(out, b.size());
  out->append(b);
}
void PutOptU32(std::string* out, const std::optional<uint32_t>& v) {
  PutU8(out, v.has_value() ? 1 : 0);
  if (v) PutFixed32BE(out, *v);
}
void PutU32Vec(std::string* out, const std::vector<uint32_t>& v) {
  PutFixed64BE(out, v.size());
  for (uint32_t x : v) PutFixed32BE(out, x);
}

struct Reader {
  std::string_view in;
  bool ok = true;

  uint8_t U8() {
    uint8_t v = 0;
    ok = ok && GetU8(&in, &v);
    return v;
  }
  bool Bool() {
    uint8_t v = U8();
    if (v > 1) ok = false;
    return v == 1;
  }
  uint32_t U32() {
    uint32_t v = 0;
    ok = ok && GetFixed32BE(&in, &v);
    return v;
  }
  uint64_t U64() {
    uint64_t v = 0;
    ok = ok && GetFixed64BE(&in, &v);
    return v;
  }
  std::string Bytes() {
    uint64_t n = U64();
    std::string_view b;
    if (!ok || n > in.size() || !GetBytes(&in, n, &b)) {
      ok = false;
      return {};
    }
    return std::string(b);
  }
  std::optional<uint32_t> OptU32() {
    uint8_t has = U8();
    if (has > 1) ok = false;
    if (has == 1) return U32();
    return std::nullopt;
  }
  std::vector<uint32_t> U32Vec() {
    uint64_t n = U64();
    if (!ok || n > kMaxVecLen || n * 4 > in.size()) {
      ok = false;
      return {};
    }
    std::vector<uint32_t> v(n);
    for (auto& x : v) x = U32();
    return v;
  }
};

struct RecordWriter {
  std::string* out;
  void operator()(const PostgresRecord& r) {
    PutU8(out, r.will_init ? 1 : 0);
    PutBytes(out, r.rec);
  }
  void operator()(const ClearVisibilityMapFlags& r) {
    PutOptU32(out, r.new_heap_blkno);
    PutOptU32(out, r.old_heap_blkno);
    PutU8(out, r.flags);
  }
  void operator()(const ClogSetCommitted& r) {
    PutU32Vec(out, r.xids);
    PutFixed64BE(out, uint64_t(r.timestamp));
  }
  void operator()(const ClogSetAborted& r) { PutU32Vec(out, r.xids); }
  void operator()(const MultixactOffsetCreate& r) {
    PutFixed32BE(out, r.mid);
    PutFixed32BE(out, r.moff);
  }
  void operator()(const MultixactMembersCreate& r) {
    PutFixed32BE(out, r.moff);
    PutFixed64BE(out, r.members.size());
    for (const auto& m : r.members) {
      PutFixed32BE(out, m.xid);
      PutFixed32BE(out, m.status);
    }
  }
  void operator()(const TruncateVisibilityMap& r) {
    PutFixed64BE(out, r.trunc_byte);
    PutFixed64BE(out, r.trunc_offs);
  }
  void operator()(const TestRecord& r) {
    PutBytes(out, r.append);
    PutU8(out, r.clear ? 1 : 0);
    PutU8(out, r.will_init ? 1 : 0);
  }
};

std::optional<Record> ReadRecord(Reader& rd) {
  uint32_t tag = rd.U32();
  if (!rd.ok) return std::nullopt;
  switch (static_cast<RecordKind>(tag)) {
    case RecordKind::kPostgres: {
      PostgresRecord r;
      r.will_init = rd.Bool();
      r.rec = rd.Bytes();
      return Record(std::move(r));
    }
    case RecordKind::kClearVisibilityMapFlags: {
      ClearVisibilityMapFlags r;
      r.new_heap_blkno = rd.OptU32();
      r.old_heap_blkno = rd.OptU32();
      r.flags = rd.U8();
      return Record(r);
    }
    case RecordKind::kClogSetCommitted: {
      ClogSetCommitted r;
      r.xids = rd.U32Vec();
      r.timestamp = int64_t(rd.U64());
      return Record(std::move(r));
    }
    case RecordKind::kClogSetAborted: {
      ClogSetAborted r;
      r.xids = rd.U32Vec();
      return Record(std::move(r));
    }
    case RecordKind::kMultixactOffsetCreate: {
      MultixactOffsetCreate r;
      r.mid = rd.U32();
      r.moff = rd.U32();
      return Record(r);
    }
    case RecordKind::kMultixactMembersCreate: {
      MultixactMembersCreate r;
      r.moff = rd.U32();
      uint64_t n = rd.U64();
      if (!rd.ok || n > kMaxVecLen || n * 8 > rd.in.size()) return std::nullopt;
      r.members.resize(n);
      for (auto& m : r.members) {
        m.xid = rd.U32();
        m.status = rd.U32();
      }
      return Record(std::move(r));
    }
    case RecordKind::kTruncateVisibilityMap: {
      TruncateVisibilityMap r;
      r.trunc_byte = rd.U64();
      r.trunc_offs = rd.U64();
      return Record(r);
    }
    case RecordKind::kTest: {
      TestRecord r;
      r.append = rd.Bytes();
      r.clear = rd.Bool();
      r.will_init = rd.Bool();
      return Record(std::move(r));
    }
  }
  return std::nullopt;
}

}  // namespace

RecordKind KindOf(const Record& r) {
  static constexpr RecordKind kKinds[] = {
      RecordKind::kPostgres,         RecordKind::kClearVisibilityMapFlags,
      RecordKind::kClogSetCommitted, RecordKind::kClogSetAborted,
      RecordKind::kMultixactOffsetCreate, RecordKind::kMultixactMembersCreate,
      RecordKind::kTruncateVisibilityMap, RecordKind::kTest};
  static_assert(std::variant_size_v<Record> == sizeof(kKinds) / sizeof(kKinds[0]));
  return kKinds[r.index()];
}

bool RecordWillInit(const Record& r) {
  if (auto* pg = std::get_if<PostgresRecord>(&r)) return pg->will_init;
  if (auto* t = std::get_if<TestRecord>(&r)) return t->will_init;
  return false;
}

void Value::AppendSerialized(std::string* out) const {
  if (is_image()) {
    PutFixed32BE(out, kTagImage);
    PutBytes(out, image());
    return;
  }
  PutFixed32BE(out, kTagRecord);
  PutFixed32BE(out, static_cast<uint32_t>(KindOf(record())));
  std::visit(RecordWriter{out}, record());
}

std::string Value::Serialize() const {
  std::string out;
  AppendSerialized(&out);
  return out;
}

absl::StatusOr<Value> Value::Deserialize(std::string_view data) {
  Reader rd{data};
  uint32_t tag = rd.U32();
  std::optional<Value> v;
  if (rd.ok && tag == kTagImage) {
    std::string img = rd.Bytes();
    if (rd.ok) v = Value::Image(std::move(img));
  } else if (rd.ok && tag == kTagRecord) {
    auto r = ReadRecord(rd);
    if (r && rd.ok) v = Value::FromRecord(std::move(*r));
  }
  if (!v || !rd.ok) {
    return absl::DataLossError(StrCat("malformed value (", data.size(), " bytes, tag ", tag, ")"));
  }
  if (!rd.in.empty()) {
    return absl::DataLossError(StrCat("value has ", rd.in.size(), " trailing bytes"));
  }
  return *std::move(v);
}

bool Value::SerializedWillInit(std::string_view d) {
  if (d.size() < 4) return false;
  const auto* p = reinterpret_cast<const uint8_t*>(d.data());
  uint32_t tag = DecodeFixed32BE(p);
  if (tag == kTagImage) return true;
  if (tag != kTagRecord || d.size() < 9) return false;
  uint32_t kind = DecodeFixed32BE(p + 4);
  if (kind == uint32_t(RecordKind::kPostgres)) return p[8] == 1;
  if (kind == uint32_t(RecordKind::kTest)) {
    // append (u64 len + bytes), clear, will_init
    if (d.size() < 16) return false;
    uint64_t n = DecodeFixed64BE(p + 8);
    if (n > d.size() || 16 + n + 2 > d.size()) return false;
    return p[16 + n + 1] == 1;
  }
  return false;
}

}  // namespace neon
