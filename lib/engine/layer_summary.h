// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// LayerSummary: the content of block 0 of a layer file (doc/format/layer.md).
// All integers are big-endian; offsets are within the block payload.
//
//   off size field
//     0   4  magic               kDeltaMagic or kImageMagic
//     4   2  format_version      kFormatVersion (1)
//     6   1  kind                0 = delta, 1 = image
//     7   1  compression         codec the writer was configured with
//     8  16  tenant_id
//    24   1  shard number
//    25   1  shard count
//    26  16  timeline_id
//    42  18  key_range.start
//    60  18  key_range.end
//    78   8  lsn_range.start
//    86   8  lsn_range.end
//    94   4  num_blocks          file size / 8192
//    98   4  data_start_block    1
//   102   8  data_length         bytes of the blob stream
//   110   4  index_start_block   first B-tree leaf
//   114   4  index_leaf_count
//   118   4  index_root_block
//   122   1  index_height        levels including the leaves; 0 = empty
//   123   1  index_key_width     26 (delta) or 18 (image)
//   124   8  num_entries
//   132   8  raw_value_bytes     sum of the values' uncompressed sizes
//   140   8  compressed_values   how many blobs are stored compressed
//   148      end (zero padding up to the trailer)
//
// Thread safety: a plain value type.

#ifndef NEON_LIB_ENGINE_LAYER_SUMMARY_H_
#define NEON_LIB_ENGINE_LAYER_SUMMARY_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/layer_file.h"

namespace neon {

struct LayerSummary {
  static constexpr uint32_t kDeltaMagic = 0x4E534C44;  // "NSLD"
  static constexpr uint32_t kImageMagic = 0x4E534C49;  // "NSLI"
  static constexpr uint16_t kFormatVersion = 1;
  static constexpr size_t kEncodedSize = 148;
  static constexpr uint32_t kDataStartBlock = 1;
  static constexpr size_t kDeltaKeyWidth = Key::kEncodedSize + 8;
  static constexpr size_t kImageKeyWidth = Key::kEncodedSize;
  static constexpr uint8_t kMaxIndexHeight = 16;
  // Persistent: never renumber.
  enum class Kind : uint8_t { kDelta = 0, kImage = 1 };

  LayerDesc desc;  // tenant, timeline, ranges and is_image
  Compression compression = Compression::kNone;
  uint32_t num_blocks = 0;
  uint64_t data_length = 0;
  uint32_t index_start_block = 0;
  uint32_t index_leaf_count = 0;
  uint32_t index_root_block = 0;
  uint8_t index_height = 0;
  uint64_t num_entries = 0;
  uint64_t raw_value_bytes = 0;
  uint64_t compressed_values = 0;

  size_t key_width() const { return desc.is_image ? kImageKeyWidth : kDeltaKeyWidth; }

  // kEncodedSize bytes.
  std::string Encode() const;
  // Decodes the payload of block 0 of `path` (REQUIRES: payload has at least
  // kEncodedSize bytes). Checks magic and version only; DataLoss on mismatch.
  static absl::StatusOr<LayerSummary> Decode(std::string_view payload, const std::string& path);
  // Checks that the fields are consistent with each other and with a file of
  // `file_blocks` blocks. DataLoss naming `path` and block 0 otherwise.
  absl::Status Validate(uint32_t file_blocks, const std::string& path) const;
};

static_assert(LayerSummary::kEncodedSize <= 8188);

}  // namespace neon

#endif  // NEON_LIB_ENGINE_LAYER_SUMMARY_H_
