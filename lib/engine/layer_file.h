// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Immutable on-disk layer files: delta layers (values of a key range over an
// LSN range) and image layers (every key of a key range at one LSN). The byte
// format is ours and is specified in doc/format/layer.md:
//   * the file is a sequence of 8 KiB blocks; every block ends with a CRC32C
//     of its payload and its block number, so a flipped bit anywhere is caught
//     on read and reported as DataLoss, never served;
//   * block 0 is a versioned summary (magic, kind, tenant, timeline, key range,
//     LSN range, index location, counts);
//   * values are blobs in a data region (zstd or lz4 when that is smaller);
//   * a bulk-built B-tree over (key, lsn) [delta] or key [image] finds
//     "latest version <= X" in one root-to-leaf walk.
//
// Thread safety: writers are single-threaded. A LayerReader is immutable once
// opened and may be used from many threads at once.

#ifndef NEON_LIB_ENGINE_LAYER_FILE_H_
#define NEON_LIB_ENGINE_LAYER_FILE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/page_cache.h"
#include "neon/file_system.h"
#include "neon/key.h"
#include "neon/types.h"

namespace neon {

// What a layer holds. For an image layer lsn_range = [lsn, lsn+1).
struct LayerDesc {
  TenantShardId tenant;
  TimelineId timeline;
  KeyRange key_range;
  LsnRange lsn_range;
  bool is_image = false;

  Lsn image_lsn() const { return lsn_range.start; }
  bool is_l0() const { return !is_image && key_range == KeyRange::All(); }

  // Neon's names: delta "<keystart>-<keyend>__<lsnstart:016X>-<lsnend:016X>",
  // image "<keystart>-<keyend>__<lsn:016X>" (keys in 36-hex form).
  std::string FileName() const;
  // Parses FileName() output (tenant/timeline are left default).
  // InvalidArgument if `name` is not a layer name.
  static absl::StatusOr<LayerDesc> ParseFileName(std::string_view name);

  friend bool operator==(const LayerDesc&, const LayerDesc&) = default;
};

// Persistent (stored in blob headers and layer summaries): never renumber.
enum class Compression : uint8_t { kNone = 0, kZstd = 1, kLz4 = 2 };

struct LayerWriterOptions {
  // Values are compressed with this when the result is strictly smaller.
  Compression compression = Compression::kZstd;
  int zstd_level = 1;
  // Values shorter than this are never compressed.
  size_t min_compress_bytes = 128;
  // Block 0 (the summary) is written last, and files are append-only, so the
  // writer holds the file body in memory up to this many bytes and spills the
  // rest to "<path>.spill", which Finish() copies behind block 0 and deletes.
  // (A leftover .spill file after a crash is garbage, like the temp file.)
  size_t max_buffered_bytes = size_t{16} << 20;
};

// What a finished writer produced.
struct LayerFileInfo {
  LayerDesc desc;
  uint64_t file_size = 0;
  uint64_t num_entries = 0;
};

// Writes a delta layer. Entries must come in strictly increasing (key, lsn)
// order, with key in desc.key_range and lsn in desc.lsn_range.
// The file is written to `path` and fsynced by Finish(); the caller renames it
// into place and syncs the directory.
class DeltaLayerWriter {
 public:
  static absl::StatusOr<std::unique_ptr<DeltaLayerWriter>> Create(FileSystem* fs,
                                                                  const std::string& path,
                                                                  const LayerDesc& desc,
                                                                  const LayerWriterOptions& opts);
  virtual ~DeltaLayerWriter() = default;
  // `value` is a serialized neon::Value; `will_init` its Value::will_init().
  // InvalidArgument on out-of-order or out-of-range entries.
  virtual absl::Status Put(const Key& key, Lsn lsn, std::string_view value, bool will_init) = 0;
  // Bytes written so far (for splitting output files by size).
  virtual uint64_t EstimatedSize() const = 0;
  virtual uint64_t num_entries() const = 0;
  // Writes the index and summary, syncs and closes. The writer is unusable
  // afterwards.
  virtual absl::StatusOr<LayerFileInfo> Finish() = 0;
};

// Writes an image layer at desc.image_lsn(). Keys strictly increasing.
class ImageLayerWriter {
 public:
  static absl::StatusOr<std::unique_ptr<ImageLayerWriter>> Create(FileSystem* fs,
                                                                  const std::string& path,
                                                                  const LayerDesc& desc,
                                                                  const LayerWriterOptions& opts);
  virtual ~ImageLayerWriter() = default;
  // `image` is raw page bytes (not a serialized Value).
  virtual absl::Status Put(const Key& key, std::string_view image) = 0;
  virtual uint64_t EstimatedSize() const = 0;
  virtual uint64_t num_entries() const = 0;
  virtual absl::StatusOr<LayerFileInfo> Finish() = 0;
};

// One version of a key as found in a layer.
struct LayerValue {
  Lsn lsn;
  bool will_init = false;
  // Delta layers: a serialized neon::Value. Image layers: raw page bytes.
  std::string data;
  // True when `data` is a raw page from an image layer (set by readers of
  // image layers; callers use it to skip Value decoding).
  bool raw_image = false;
};

// One key of a batched layer read (LayerReader::GetMany,
// InMemoryLayer::GetMany): the versions of `key` with lsn in `range` are
// appended to *out and `found` is what Get() would return for it.
struct KeyLookup {
  Key key;
  LsnRange range;
  std::vector<LayerValue>* out = nullptr;
  absl::StatusOr<bool> found = false;
};

// Iterates a layer's entries in (key, lsn) order.
class LayerIterator {
 public:
  virtual ~LayerIterator() = default;
  // Positions at the first entry >= (key, lsn). (An image layer's entries
  // are (key, image lsn), so Seek(k, lsn > image lsn) skips k.) After an
  // error the iterator is not Valid().
  virtual absl::Status Seek(const Key& key, Lsn lsn) = 0;
  virtual absl::Status SeekToFirst() = 0;
  virtual bool Valid() const = 0;
  // REQUIRES: Valid().
  virtual absl::Status Next() = 0;
  virtual const Key& key() const = 0;
  virtual Lsn lsn() const = 0;  // image layers: the image lsn
  virtual bool will_init() const = 0;
  // Reads (and decompresses) the current value.
  virtual absl::StatusOr<std::string> value() const = 0;
};

// Reads a layer file. Open() reads and checks the summary block; every other
// block is checked when first read (and then cached in the PageCache).
// All read errors caused by damaged bytes are DataLoss with the file path.
class LayerReader {
 public:
  // `cache` may be null (no caching) and must outlive the reader.
  static absl::StatusOr<std::shared_ptr<LayerReader>> Open(FileSystem* fs, const std::string& path,
                                                           PageCache* cache);
  virtual ~LayerReader() = default;

  virtual const LayerDesc& desc() const = 0;
  virtual uint64_t file_size() const = 0;
  virtual uint64_t num_entries() const = 0;
  virtual const std::string& path() const = 0;

  // Appends to `out` the versions of `key` with lsn in `range`, newest first,
  // stopping after the first will_init one. Returns true if it stopped at a
  // will_init version (the key needs nothing older). Image layers append the
  // image (will_init = true) and return true if the key is present and the
  // image lsn is in `range`; otherwise they append nothing and return false.
  // On error nothing is appended.
  virtual absl::StatusOr<bool> Get(const Key& key, LsnRange range,
                                   std::vector<LayerValue>* out) const = 0;
  // Get() for each lookup in order, sharing what consecutive keys have in
  // common (B-tree leaves, data blocks); fastest with keys in increasing
  // order. `done` is called with each lookup as soon as it is complete, before
  // the next one is read (its values are still hot in the CPU caches). An
  // error ends only its own lookup.
  virtual void GetMany(absl::Span<KeyLookup> lookups,
                       absl::FunctionRef<void(KeyLookup&)> done) const {
    for (KeyLookup& l : lookups) {
      l.found = Get(l.key, l.range, l.out);
      done(l);
    }
  }
  // Image layers: whether the key exists. Delta layers: whether any version of
  // the key is present.
  virtual absl::StatusOr<bool> Contains(const Key& key) const = 0;

  virtual std::unique_ptr<LayerIterator> NewIterator() const = 0;
  // Reads and checks every block (scrubbing).
  virtual absl::Status VerifyAll() const = 0;
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_LAYER_FILE_H_
