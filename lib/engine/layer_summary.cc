// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/layer_summary.h"

#include "base/coding.h"
#include "base/hex.h"
#include "base/str_cat.h"
#include "engine/block_file.h"

namespace neon {
namespace {

absl::Status Bad(const std::string& path, std::string_view what) {
  return absl::DataLossError(StrCat("layer ", path, " block 0 (summary): ", what));
}

}  // namespace

std::string LayerSummary::Encode() const {
  std::string out;
  out.reserve(kEncodedSize);
  PutFixed32BE(&out, desc.is_image ? kImageMagic : kDeltaMagic);
  PutFixed16BE(&out, kFormatVersion);
  PutU8(&out, uint8_t(desc.is_image ? Kind::kImage : Kind::kDelta));
  PutU8(&out, uint8_t(compression));
  const auto& tenant = desc.tenant.tenant_id.bytes();
  out.append(reinterpret_cast<const char*>(tenant.data()), tenant.size());
  PutU8(&out, desc.tenant.shard.number);
  PutU8(&out, desc.tenant.shard.count);
  const auto& timeline = desc.timeline.bytes();
  out.append(reinterpret_cast<const char*>(timeline.data()), timeline.size());
  const Key::Encoded start = desc.key_range.start.Encode();
  const Key::Encoded end = desc.key_range.end.Encode();
  out.append(reinterpret_cast<const char*>(start.data()), start.size());
  out.append(reinterpret_cast<const char*>(end.data()), end.size());
  PutFixed64BE(&out, desc.lsn_range.start.value());
  PutFixed64BE(&out, desc.lsn_range.end.value());
  PutFixed32BE(&out, num_blocks);
  PutFixed32BE(&out, kDataStartBlock);
  PutFixed64BE(&out, data_length);
  PutFixed32BE(&out, index_start_block);
  PutFixed32BE(&out, index_leaf_count);
  PutFixed32BE(&out, index_root_block);
  PutU8(&out, index_height);
  PutU8(&out, uint8_t(key_width()));
  PutFixed64BE(&out, num_entries);
  PutFixed64BE(&out, raw_value_bytes);
  PutFixed64BE(&out, compressed_values);
  return out;
}

absl::StatusOr<LayerSummary> LayerSummary::Decode(std::string_view payload,
                                                  const std::string& path) {
  const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
  const uint32_t magic = DecodeFixed32BE(p);
  if (magic != kDeltaMagic && magic != kImageMagic) {
    return Bad(path, StrCat("bad magic 0x", HexEncode(p, 4, /*upper=*/true), " (not a layer file)"));
  }
  const uint16_t version = DecodeFixed16BE(p + 4);
  if (version != kFormatVersion) {
    return Bad(path, StrCat("unsupported layer format version ", version, " (this build reads ",
                            kFormatVersion, ")"));
  }
  LayerSummary s;
  s.desc.is_image = magic == kImageMagic;
  if (p[6] != uint8_t(s.desc.is_image ? Kind::kImage : Kind::kDelta)) {
    return Bad(path, StrCat("kind ", int(p[6]), " does not match the magic"));
  }
  if (p[7] > uint8_t(Compression::kLz4)) return Bad(path, StrCat("unknown codec ", int(p[7])));
  s.compression = Compression(p[7]);
  TenantId::Bytes tenant;
  std::copy(p + 8, p + 24, tenant.begin());
  s.desc.tenant = TenantShardId{TenantId(tenant), ShardIndex{p[24], p[25]}};
  TimelineId::Bytes timeline;
  std::copy(p + 26, p + 42, timeline.begin());
  s.desc.timeline = TimelineId(timeline);
  s.desc.key_range = KeyRange{Key::Decode(p + 42), Key::Decode(p + 60)};
  s.desc.lsn_range = LsnRange{Lsn(DecodeFixed64BE(p + 78)), Lsn(DecodeFixed64BE(p + 86))};
  s.num_blocks = DecodeFixed32BE(p + 94);
  if (DecodeFixed32BE(p + 98) != kDataStartBlock) return Bad(path, "data does not start at 1");
  s.data_length = DecodeFixed64BE(p + 102);
  s.index_start_block = DecodeFixed32BE(p + 110);
  s.index_leaf_count = DecodeFixed32BE(p + 114);
  s.index_root_block = DecodeFixed32BE(p + 118);
  s.index_height = p[122];
  if (p[123] != s.key_width()) return Bad(path, StrCat("key width ", int(p[123])));
  s.num_entries = DecodeFixed64BE(p + 124);
  s.raw_value_bytes = DecodeFixed64BE(p + 132);
  s.compressed_values = DecodeFixed64BE(p + 140);
  return s;
}

absl::Status LayerSummary::Validate(uint32_t file_blocks, const std::string& path) const {
  if (num_blocks != file_blocks) {
    return Bad(path, StrCat("summary says ", num_blocks, " blocks but the file has ",
                            file_blocks, " (truncated or extended)"));
  }
  if (desc.key_range.IsEmpty() || desc.lsn_range.IsEmpty()) return Bad(path, "empty range");
  if (desc.is_image && desc.lsn_range.end != desc.lsn_range.start.Next()) {
    return Bad(path, "image layer LSN range is not one LSN wide");
  }
  const uint64_t data_blocks = (data_length + kBlockPayloadSize - 1) / kBlockPayloadSize;
  if (data_blocks >= num_blocks || index_start_block != kDataStartBlock + data_blocks) {
    return Bad(path, StrCat("data length ", data_length, " does not end at index block ",
                            index_start_block));
  }
  if (num_entries == 0) {
    if (index_leaf_count != 0 || index_height != 0 || num_blocks != index_start_block) {
      return Bad(path, "empty layer with a non-empty index");
    }
    return absl::OkStatus();
  }
  const uint64_t leaves_end = uint64_t{index_start_block} + index_leaf_count;
  const bool shape_ok =
      index_height >= 1 && index_height <= kMaxIndexHeight && index_leaf_count >= 1 &&
      index_leaf_count <= num_entries && leaves_end <= num_blocks &&
      index_root_block == num_blocks - 1 &&
      (index_height == 1 ? index_leaf_count == 1 : index_root_block >= leaves_end);
  if (!shape_ok) {
    return Bad(path, StrCat("inconsistent index: start ", index_start_block, " leaves ",
                            index_leaf_count, " root ", index_root_block, " height ",
                            int(index_height)));
  }
  return absl::OkStatus();
}

}  // namespace neon
