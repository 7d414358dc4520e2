// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// WireReader / WireWriter: big-endian field access with a sticky error, so a
// decoder reads every field and checks once at the end. Internal to
// lib/consensus (the message codec and the control file use them; the
// control file passes little_endian = true).

#ifndef NEON_LIB_CONSENSUS_WIRE_READER_H_
#define NEON_LIB_CONSENSUS_WIRE_READER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "base/coding.h"
#include "base/str_cat.h"
#include "neon/consensus.h"

namespace neon::consensus::internal {

class WireReader {
 public:
  explicit WireReader(std::string_view in, bool little_endian = false)
      : in_(in), le_(little_endian) {}

  uint8_t U8() {
    uint8_t v = 0;
    if (ok() && !GetU8(&in_, &v)) Fail("truncated");
    return v;
  }
  uint16_t U16() {
    std::string_view b = Bytes(2);
    if (!ok()) return 0;
    const auto* p = reinterpret_cast<const uint8_t*>(b.data());
    return le_ ? uint16_t(p[0] | (p[1] << 8)) : DecodeFixed16BE(p);
  }
  uint32_t U32() {
    uint32_t v = 0;
    if (ok() && !(le_ ? GetFixed32LE(&in_, &v) : GetFixed32BE(&in_, &v))) Fail("truncated");
    return v;
  }
  uint64_t U64() {
    uint64_t v = 0;
    if (ok() && !(le_ ? GetFixed64LE(&in_, &v) : GetFixed64BE(&in_, &v))) Fail("truncated");
    return v;
  }
  std::string_view Bytes(size_t n) {
    std::string_view v;
    if (ok() && !GetBytes(&in_, n, &v)) Fail("truncated");
    return v;
  }
  // A count that must be <= limit and leave room for `min_item_bytes` each.
  uint32_t Count(size_t limit, size_t min_item_bytes, std::string_view what) {
    uint32_t n = U32();
    if (ok() && (n > limit || uint64_t(n) * min_item_bytes > in_.size())) {
      Fail(StrCat(what, " count ", n, " out of range"));
      return 0;
    }
    return n;
  }
  // Everything not yet read.
  std::string_view Rest() {
    std::string_view r = in_;
    in_ = {};
    return r;
  }
  size_t remaining() const { return in_.size(); }

  void Fail(std::string_view why) {
    if (error_.empty()) error_ = std::string(why);
  }
  bool ok() const { return error_.empty(); }
  // OK if every field was read and nothing is left over.
  absl::Status Finish(std::string_view what) const {
    if (!ok()) return absl::InvalidArgumentError(StrCat("decode ", what, ": ", error_));
    if (!in_.empty()) {
      return absl::InvalidArgumentError(StrCat("decode ", what, ": ", in_.size(), " trailing bytes"));
    }
    return absl::OkStatus();
  }

 private:
  std::string_view in_;
  bool le_;
  std::string error_;
};

class WireWriter {
 public:
  explicit WireWriter(bool little_endian = false) : le_(little_endian) {}
  void U8(uint8_t v) { PutU8(&out_, v); }
  void U16(uint16_t v) {
    if (le_) {
      PutU8(&out_, uint8_t(v));
      PutU8(&out_, uint8_t(v >> 8));
    } else {
      PutFixed16BE(&out_, v);
    }
  }
  void U32(uint32_t v) { le_ ? PutFixed32LE(&out_, v) : PutFixed32BE(&out_, v); }
  void U64(uint64_t v) { le_ ? PutFixed64LE(&out_, v) : PutFixed64BE(&out_, v); }
  void Bytes(std::string_view b) { out_.append(b); }
  std::string& out() { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  bool le_;
  std::string out_;
};

// Shared field encodings (codec.cc): ids as 16 raw bytes, generation as u32
// (0 = none), membership and term history as counted lists.
void PutGeneration(WireWriter& w, Generation g);
Generation GetGeneration(WireReader& r);
void PutMembership(WireWriter& w, const MembershipConfig& m);
MembershipConfig GetMembership(WireReader& r);
void PutHistory(WireWriter& w, const TermHistory& h);
TermHistory GetHistory(WireReader& r);
void PutServerInfo(WireWriter& w, const ServerInfo& s);
ServerInfo GetServerInfo(WireReader& r);
template <typename Id>
void PutId(WireWriter& w, const Id& id) {
  w.Bytes(std::string_view(reinterpret_cast<const char*>(id.bytes().data()), Id::kSize));
}
template <typename Id>
Id GetId(WireReader& r) {
  std::string_view b = r.Bytes(Id::kSize);
  if (!r.ok()) return Id();
  typename Id::Bytes bytes;
  for (size_t i = 0; i < Id::kSize; i++) bytes[i] = uint8_t(b[i]);
  return Id(bytes);
}

}  // namespace neon::consensus::internal

#endif  // NEON_LIB_CONSENSUS_WIRE_READER_H_
