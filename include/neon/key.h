// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Key: the 18-byte address of one versioned value in the page store.
//
//   field1 u8 | field2 u32 | field3 u32 | field4 u32 | field5 u8 | field6 u32
//
// Stored big-endian so that byte order equals field order. A Postgres block
// (spc, db, rel, fork, blk) is Key{0x00, spc, db, rel, fork, blk}; the other
// prefixes (SLRU, directories, control file, checkpoint) follow Neon's key
// space (doc/format/key.md).
//
// Thread safety: a plain value type.

#ifndef NEON_INCLUDE_NEON_KEY_H_
#define NEON_INCLUDE_NEON_KEY_H_

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "neon/types.h"

namespace neon {

class Key {
 public:
  static constexpr size_t kEncodedSize = 18;
  static constexpr size_t kTextSize = 36;
  static constexpr uint32_t kRelSizeBlock = 0xFFFFFFFF;  // field6 of a size key
  using Encoded = std::array<uint8_t, kEncodedSize>;

  constexpr Key() = default;
  constexpr Key(uint8_t f1, uint32_t f2, uint32_t f3, uint32_t f4, uint8_t f5, uint32_t f6)
      : field1(f1), field2(f2), field3(f3), field4(f4), field5(f5), field6(f6) {}

  static constexpr Key Min() { return Key(); }
  static constexpr Key Max() {
    return Key(0xFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFF, 0xFFFFFFFF);
  }

  // ---- Constructors for the key space (Neon's pgdatadir_mapping) ----
  static constexpr Key RelBlock(const RelTag& rel, uint32_t blkno) {
    return Key(0x00, rel.spc_oid, rel.db_oid, rel.rel_number, rel.fork, blkno);
  }
  static constexpr Key RelSize(const RelTag& rel) { return RelBlock(rel, kRelSizeBlock); }
  // All blocks and the size key of one fork: [RelBlock(rel,0), next fork).
  static constexpr Key RelRangeStart(const RelTag& rel) { return RelBlock(rel, 0); }
  static constexpr Key RelRangeEnd(const RelTag& rel) {
    return Key(0x00, rel.spc_oid, rel.db_oid, rel.rel_number, uint8_t(rel.fork + 1), 0);
  }
  static constexpr Key DbDir() { return Key(0x00, 0, 0, 0, 0, 0); }
  static constexpr Key RelMap(uint32_t spc, uint32_t db) { return Key(0x00, spc, db, 0, 0, 0); }
  static constexpr Key RelDir(uint32_t spc, uint32_t db) { return Key(0x00, spc, db, 0, 0, 1); }
  static constexpr Key SlruDir(SlruKind kind) {
    return Key(0x01, static_cast<uint8_t>(kind), 0, 0, 0, 0);
  }
  static constexpr Key SlruBlock(SlruKind kind, uint32_t segno, uint32_t blkno) {
    return Key(0x01, static_cast<uint8_t>(kind), 1, segno, 0, blkno);
  }
  static constexpr Key SlruSegmentSize(SlruKind kind, uint32_t segno) {
    return Key(0x01, static_cast<uint8_t>(kind), 1, segno, 0, kRelSizeBlock);
  }
  static constexpr Key TwoPhaseDir() { return Key(0x02, 0, 0, 0, 0, 0); }
  static constexpr Key TwoPhaseFile(uint64_t xid) {
    return Key(0x02, 0, 0, uint32_t((xid >> 40) & 0xFFFFFF), uint8_t((xid >> 32) & 0xFF),
               uint32_t(xid));
  }
  static constexpr Key ControlFile() { return Key(0x03, 0, 0, 0, 0, 0); }
  static constexpr Key Checkpoint() { return Key(0x03, 0, 0, 0, 0, 1); }

  // ---- Classification ----
  // A block of a relation fork (not a directory, relmap or size key).
  constexpr bool IsRelBlock() const {
    return field1 == 0x00 && field4 != 0 && field6 != kRelSizeBlock;
  }
  constexpr bool IsRelSize() const {
    return field1 == 0x00 && field4 != 0 && field6 == kRelSizeBlock;
  }
  constexpr bool IsSlruBlock() const {
    return field1 == 0x01 && field3 == 1 && field6 != kRelSizeBlock;
  }
  // Keys 0x60..0x7F are sparse metadata keys: absence is not an error.
  constexpr bool IsSparse() const { return field1 >= 0x60 && field1 < 0x80; }
  // For relation keys: the fork this key belongs to.
  constexpr RelTag rel() const { return RelTag{field2, field3, field4, field5}; }
  constexpr uint32_t block() const { return field6; }

  // Smallest key strictly greater than this one (Max() stays Max()).
  Key Next() const;

  // 18 bytes big-endian; byte order equals key order.
  Encoded Encode() const;
  void EncodeTo(uint8_t* out) const;  // REQUIRES: out has kEncodedSize bytes
  static Key Decode(const uint8_t* in);

  // 36 upper-case hex chars: %02X%08X%08X%08X%02X%08X.
  std::string ToString() const;
  static absl::StatusOr<Key> Parse(std::string_view text);

  friend constexpr auto operator<=>(const Key&, const Key&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const Key& k) {
    return H::combine(std::move(h), k.field1, k.field2, k.field3, k.field4, k.field5, k.field6);
  }

  uint8_t field1 = 0;
  uint32_t field2 = 0;
  uint32_t field3 = 0;
  uint32_t field4 = 0;
  uint8_t field5 = 0;
  uint32_t field6 = 0;
};

// Half-open key range [start, end).
struct KeyRange {
  Key start;
  Key end;

  static KeyRange All() { return KeyRange{Key::Min(), Key::Max()}; }
  bool Contains(const Key& k) const { return start <= k && k < end; }
  bool Overlaps(const KeyRange& o) const { return start < o.end && o.start < end; }
  bool IsEmpty() const { return !(start < end); }
  friend constexpr auto operator<=>(const KeyRange&, const KeyRange&) = default;
};

// Half-open LSN range [start, end).
struct LsnRange {
  Lsn start;
  Lsn end;

  bool Contains(Lsn l) const { return start <= l && l < end; }
  bool IsEmpty() const { return !(start < end); }
  friend constexpr auto operator<=>(const LsnRange&, const LsnRange&) = default;
};

}  // namespace neon

#endif  // NEON_INCLUDE_NEON_KEY_H_
