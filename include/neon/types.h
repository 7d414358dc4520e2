// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Core identifier and position types shared by every part of neonstore:
// Lsn, TenantId, TimelineId, ShardIndex, TenantShardId, Generation, RelTag.
//
// Thread safety: all types here are plain values; const methods are safe to
// call concurrently, and instances may be copied freely between threads.
//
// Text forms follow Neon's (see doc/architecture.md):
//   Lsn            "X/Y" upper-case hex of the high and low 32 bits ("0/16960E8")
//   TenantId       32 lower-case hex characters
//   TenantShardId  "<tenant>" (unsharded) or "<tenant>-NNCC" (shard number, count)
//   Generation     8 lower-case hex characters as a name suffix ("-0000002a")
// Parse functions reject malformed text with InvalidArgument and never crash.

#ifndef NEON_INCLUDE_NEON_TYPES_H_
#define NEON_INCLUDE_NEON_TYPES_H_

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace neon {

// A byte position in the Postgres WAL. Lsn 0 is "invalid". Values are
// ordered; arithmetic is explicit to keep positions from mixing with sizes.
class Lsn {
 public:
  static constexpr uint64_t kInvalidValue = 0;
  static constexpr uint64_t kMaxValue = UINT64_MAX;

  constexpr Lsn() = default;
  constexpr explicit Lsn(uint64_t v) : value_(v) {}

  static constexpr Lsn Invalid() { return Lsn(kInvalidValue); }
  static constexpr Lsn Max() { return Lsn(kMaxValue); }

  constexpr uint64_t value() const { return value_; }
  constexpr bool valid() const { return value_ != kInvalidValue; }

  // Rounds up to a multiple of 8 (Postgres MAXALIGN of WAL records).
  constexpr Lsn Align() const { return Lsn((value_ + 7) & ~uint64_t{7}); }
  constexpr bool IsAligned() const { return (value_ & 7) == 0; }
  // Saturating neighbours.
  constexpr Lsn Next() const { return value_ == kMaxValue ? *this : Lsn(value_ + 1); }
  constexpr Lsn Prev() const { return value_ == 0 ? *this : Lsn(value_ - 1); }
  constexpr Lsn Plus(uint64_t n) const { return Lsn(value_ + n); }
  // Saturating difference, in bytes.
  constexpr uint64_t Minus(Lsn other) const {
    return value_ > other.value_ ? value_ - other.value_ : 0;
  }
  // Offset within a WAL segment of `segment_size` bytes (a power of two).
  constexpr uint64_t SegmentOffset(uint64_t segment_size) const {
    return value_ & (segment_size - 1);
  }

  // "X/Y" with upper-case hex, no leading zeros ("0/0", "16/B374D848").
  std::string ToString() const;
  // Accepts "X/Y" with 1..8 hex digits per half (either case).
  static absl::StatusOr<Lsn> Parse(std::string_view text);

  friend constexpr auto operator<=>(Lsn a, Lsn b) = default;

 private:
  uint64_t value_ = kInvalidValue;
};

// 16 random bytes naming a tenant or a timeline. Text: 32 lower-case hex.
template <typename Tag>
class Id128 {
 public:
  static constexpr size_t kSize = 16;
  using Bytes = std::array<uint8_t, kSize>;

  constexpr Id128() = default;
  constexpr explicit Id128(const Bytes& b) : bytes_(b) {}

  // A new id from the operating system's random source.
  static Id128 Generate();
  static absl::StatusOr<Id128> Parse(std::string_view hex);
  // The first 16 bytes of `raw`; InvalidArgument unless raw.size() == 16.
  static absl::StatusOr<Id128> FromBytes(std::string_view raw);

  const Bytes& bytes() const { return bytes_; }
  bool IsZero() const {
    for (uint8_t b : bytes_) {
      if (b != 0) return false;
    }
    return true;
  }
  std::string ToString() const;

  friend constexpr auto operator<=>(const Id128&, const Id128&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const Id128& id) {
    return H::combine_contiguous(std::move(h), id.bytes_.data(), kSize);
  }

 private:
  Bytes bytes_{};
};

struct TenantIdTag {};
struct TimelineIdTag {};
using TenantId = Id128<TenantIdTag>;
using TimelineId = Id128<TimelineIdTag>;

// Shard number and count. Count 0 is the legacy "unsharded" form, which has
// no suffix in names; count 1 is a modern single shard.
struct ShardIndex {
  uint8_t number = 0;
  uint8_t count = 0;

  bool IsUnsharded() const { return count == 0; }
  std::string ToString() const;  // "NNCC", lower-case hex
  static absl::StatusOr<ShardIndex> Parse(std::string_view text);
  friend constexpr auto operator<=>(const ShardIndex&, const ShardIndex&) = default;
};

struct TenantShardId {
  TenantId tenant_id;
  ShardIndex shard;

  static TenantShardId Unsharded(TenantId id) { return TenantShardId{id, ShardIndex{}}; }
  std::string ToString() const;  // "<tenant>" or "<tenant>-NNCC"
  static absl::StatusOr<TenantShardId> Parse(std::string_view text);
  friend constexpr auto operator<=>(const TenantShardId&, const TenantShardId&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const TenantShardId& id) {
    return H::combine(std::move(h), id.tenant_id, id.shard.number, id.shard.count);
  }
};

// Attachment generation issued by the storage controller. The "none" value
// (legacy, no suffix) sorts below every valid generation.
class Generation {
 public:
  constexpr Generation() = default;
  static constexpr Generation None() { return Generation(); }
  static constexpr Generation Of(uint32_t v) { return Generation(v, true); }

  constexpr bool is_none() const { return !valid_; }
  // REQUIRES: !is_none().
  constexpr uint32_t value() const { return value_; }
  // Name suffix: "" for none, else "-%08x".
  std::string Suffix() const;
  // Parses 8 hex chars (no dash).
  static absl::StatusOr<Generation> Parse(std::string_view hex);

  friend constexpr bool operator==(const Generation&, const Generation&) = default;
  friend constexpr auto operator<=>(const Generation& a, const Generation& b) {
    if (a.valid_ != b.valid_) return a.valid_ <=> b.valid_;
    return a.value_ <=> b.value_;
  }

 private:
  constexpr Generation(uint32_t v, bool valid) : value_(v), valid_(valid) {}
  uint32_t value_ = 0;
  bool valid_ = false;
};

// Postgres fork numbers.
enum class ForkNumber : uint8_t { kMain = 0, kFsm = 1, kVisibilityMap = 2, kInit = 3 };

inline constexpr uint32_t kGlobalTablespaceOid = 1664;
inline constexpr uint32_t kDefaultTablespaceOid = 1663;
inline constexpr size_t kPageSize = 8192;  // Postgres BLCKSZ

// A Postgres relation fork. Ordering is (spc, db, rel, fork), as Neon's.
struct RelTag {
  uint32_t spc_oid = 0;
  uint32_t db_oid = 0;
  uint32_t rel_number = 0;
  uint8_t fork = 0;

  // "spc/db/rel" for the main fork, "spc/db/rel_fsm|_vm|_init" otherwise.
  std::string ToString() const;
  friend constexpr auto operator<=>(const RelTag&, const RelTag&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const RelTag& r) {
    return H::combine(std::move(h), r.spc_oid, r.db_oid, r.rel_number, r.fork);
  }
};

// SLRU kinds, numbered as Neon numbers them.
enum class SlruKind : uint8_t { kClog = 0, kMultiXactMembers = 1, kMultiXactOffsets = 2 };

}  // namespace neon

#endif  // NEON_INCLUDE_NEON_TYPES_H_
