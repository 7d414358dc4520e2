// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// LayerDesc names (Neon's): see doc/format/layer.md, "Names".

#include "engine/layer_file.h"

#include "base/coding.h"
#include "base/hex.h"
#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon {
namespace {

constexpr size_t kKeyText = Key::kTextSize;  // 36
constexpr size_t kLsnText = 16;
// "<key>-<key>__<lsn>"
constexpr size_t kImageNameSize = kKeyText + 1 + kKeyText + 2 + kLsnText;
// "<key>-<key>__<lsn>-<lsn>"
constexpr size_t kDeltaNameSize = kImageNameSize + 1 + kLsnText;
static_assert(kImageNameSize == 91 && kDeltaNameSize == 108);

std::string LsnHex(Lsn lsn) {
  uint8_t b[8];
  EncodeFixed64BE(b, lsn.value());
  return HexEncode(b, sizeof(b), /*upper=*/true);
}

absl::Status BadName(std::string_view name, std::string_view why) {
  return absl::InvalidArgumentError(StrCat("\"", name, "\" is not a layer file name: ", why));
}

}  // namespace

std::string LayerDesc::FileName() const {
  std::string s = StrCat(key_range.start.ToString(), "-", key_range.end.ToString(), "__",
                         LsnHex(lsn_range.start));
  if (!is_image) s += StrCat("-", LsnHex(lsn_range.end));
  return s;
}

absl::StatusOr<LayerDesc> LayerDesc::ParseFileName(std::string_view name) {
  if (name.size() != kImageNameSize && name.size() != kDeltaNameSize) {
    return BadName(name, "wrong length");
  }
  LayerDesc d;
  d.is_image = name.size() == kImageNameSize;
  if (name[kKeyText] != '-' || name.substr(2 * kKeyText + 1, 2) != "__" ||
      (!d.is_image && name[kImageNameSize] != '-')) {
    return BadName(name, "bad separators");
  }
  absl::StatusOr<Key> start = Key::Parse(name.substr(0, kKeyText));
  absl::StatusOr<Key> end = Key::Parse(name.substr(kKeyText + 1, kKeyText));
  if (!start.ok() || !end.ok()) return BadName(name, "bad key");
  d.key_range = KeyRange{*start, *end};
  uint64_t lsn_start = 0, lsn_end = 0;
  const size_t lsn_pos = 2 * kKeyText + 3;
  if (!ParseHexU64(name.substr(lsn_pos, kLsnText), kLsnText, &lsn_start) ||
      (!d.is_image && !ParseHexU64(name.substr(kImageNameSize + 1), kLsnText, &lsn_end))) {
    return BadName(name, "bad LSN");
  }
  if (d.is_image) {
    if (lsn_start == Lsn::kMaxValue) return BadName(name, "image LSN out of range");
    lsn_end = lsn_start + 1;
  }
  d.lsn_range = LsnRange{Lsn(lsn_start), Lsn(lsn_end)};
  if (d.key_range.IsEmpty() || d.lsn_range.IsEmpty()) return BadName(name, "empty range");
  // One name per layer: only the upper-case form FileName() writes.
  if (d.FileName() != name) return BadName(name, "not in canonical (upper-case) form");
  return d;
}

}  // namespace neon
