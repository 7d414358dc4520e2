// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "neon/types.h"

#include <cstdio>
#include <random>

#include "base/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/hex.h"

namespace neon {

std::string Lsn::ToString() const {
  return absl::StrFormat("%X/%X", uint32_t(value_ >> 32), uint32_t(value_));
}

absl::StatusOr<Lsn> Lsn::Parse(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return absl::InvalidArgumentError(StrCat("LSN \"", text, "\" lacks '/' (want X/Y hex)"));
  }
  uint64_t hi, lo;
  if (!ParseHexU64(text.substr(0, slash), 8, &hi) || !ParseHexU64(text.substr(slash + 1), 8, &lo)) {
    return absl::InvalidArgumentError(
        StrCat("LSN \"", text, "\" is not two 1-8 digit hex numbers X/Y"));
  }
  return Lsn((hi << 32) | lo);
}

template <typename Tag>
Id128<Tag> Id128<Tag>::Generate() {
  static thread_local std::random_device rd;  // OS entropy (getrandom)
  Bytes b;
  for (size_t i = 0; i < kSize; i += 4) {
    uint32_t r = rd();
    for (int j = 0; j < 4; j++) b[i + j] = uint8_t(r >> (8 * j));
  }
  return Id128(b);
}

template <typename Tag>
absl::StatusOr<Id128<Tag>> Id128<Tag>::Parse(std::string_view hex) {
  if (hex.size() != 2 * kSize) {
    return absl::InvalidArgumentError(
        StrCat("id \"", hex, "\" must be 32 hex characters, got ", hex.size()));
  }
  Bytes b;
  if (!HexDecode(hex, b.data())) {
    return absl::InvalidArgumentError(StrCat("id \"", hex, "\" is not hex"));
  }
  return Id128(b);
}

template <typename Tag>
absl::StatusOr<Id128<Tag>> Id128<Tag>::FromBytes(std::string_view raw) {
  if (raw.size() != kSize) {
    return absl::InvalidArgumentError(StrCat("id needs 16 bytes, got ", raw.size()));
  }
  Bytes b;
  std::memcpy(b.data(), raw.data(), kSize);
  return Id128(b);
}

template <typename Tag>
std::string Id128<Tag>::ToString() const {
  return HexEncode(bytes_.data(), kSize, /*upper=*/false);
}

template class Id128<TenantIdTag>;
template class Id128<TimelineIdTag>;

std::string ShardIndex::ToString() const { return absl::StrFormat("%02x%02x", number, count); }

absl::StatusOr<ShardIndex> ShardIndex::Parse(std::string_view text) {
  uint8_t b[2];
  if (text.size() != 4 || !HexDecode(text, b)) {
    return absl::InvalidArgumentError(StrCat("shard index \"", text, "\" must be NNCC hex"));
  }
  // Count 0 (unsharded) allows only number 0: "0100" would print back as
  // an unsharded id and lose its number.
  if (b[1] == 0 ? b[0] != 0 : b[0] >= b[1]) {
    return absl::InvalidArgumentError(
        StrCat("shard index \"", text, "\": number must be below count"));
  }
  return ShardIndex{b[0], b[1]};
}

std::string TenantShardId::ToString() const {
  if (shard.IsUnsharded()) return tenant_id.ToString();
  return StrCat(tenant_id.ToString(), "-", shard.ToString());
}

absl::StatusOr<TenantShardId> TenantShardId::Parse(std::string_view text) {
  if (text.size() == 32) {
    auto id = TenantId::Parse(text);
    if (!id.ok()) return id.status();
    return TenantShardId::Unsharded(*id);
  }
  if (text.size() != 37 || text[32] != '-') {
    return absl::InvalidArgumentError(
        StrCat("tenant shard id \"", text, "\" must be <32 hex> or <32 hex>-NNCC"));
  }
  auto id = TenantId::Parse(text.substr(0, 32));
  if (!id.ok()) return id.status();
  auto shard = ShardIndex::Parse(text.substr(33));
  if (!shard.ok()) return shard.status();
  return TenantShardId{*id, *shard};
}

std::string Generation::Suffix() const {
  if (!valid_) return "";
  return absl::StrFormat("-%08x", value_);
}

absl::StatusOr<Generation> Generation::Parse(std::string_view hex) {
  uint64_t v;
  if (hex.size() != 8 || !ParseHexU64(hex, 8, &v)) {
    return absl::InvalidArgumentError(StrCat("generation \"", hex, "\" must be 8 hex chars"));
  }
  return Generation::Of(uint32_t(v));
}

std::string RelTag::ToString() const {
  static constexpr const char* kForkSuffix[] = {"", "_fsm", "_vm", "_init"};
  const char* suffix = fork < 4 ? kForkSuffix[fork] : "_fork?";
  return StrCat(spc_oid, "/", db_oid, "/", rel_number, suffix);
}

}  // namespace neon
