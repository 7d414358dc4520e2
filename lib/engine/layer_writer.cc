// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// DeltaLayerWriter and ImageLayerWriter: both append blobs to the data region
// and index entries to a B-tree builder, then write the index and the summary
// (doc/format/layer.md).

#include <cstring>

#include "base/coding.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "engine/blob.h"
#include "engine/block_file.h"
#include "engine/disk_btree.h"
#include "engine/layer_file.h"
#include "engine/layer_summary.h"

namespace neon {
namespace {

absl::Status CheckDesc(const LayerDesc& desc, bool is_image) {
  if (desc.is_image != is_image) {
    return absl::InvalidArgumentError(StrCat("layer ", desc.FileName(), ": wrong writer kind"));
  }
  if (desc.key_range.IsEmpty() || desc.lsn_range.IsEmpty()) {
    return absl::InvalidArgumentError(StrCat("layer ", desc.FileName(), ": empty range"));
  }
  if (is_image && desc.lsn_range.end != desc.lsn_range.start.Next()) {
    return absl::InvalidArgumentError(
        StrCat("image layer ", desc.FileName(), ": LSN range must be [lsn, lsn+1)"));
  }
  return absl::OkStatus();
}

// What the two writers share: the block file, the blob stream, the index.
class LayerWriterCore {
 public:
  static absl::StatusOr<std::unique_ptr<LayerWriterCore>> Create(FileSystem* fs,
                                                                 const std::string& path,
                                                                 const LayerDesc& desc,
                                                                 const LayerWriterOptions& opts) {
    NEON_RETURN_IF_ERROR(CheckDesc(desc, desc.is_image));
    NEON_ASSIGN_OR_RETURN(auto file, BlockFileWriter::Create(fs, path, opts.max_buffered_bytes));
    return std::unique_ptr<LayerWriterCore>(
        new LayerWriterCore(path, desc, opts, std::move(file)));
  }

  const LayerDesc& desc() const { return desc_; }
  const std::string& path() const { return path_; }
  uint64_t num_entries() const { return btree_.num_entries(); }
  uint64_t EstimatedSize() const {
    return kBlockSize + blobs_.data_length() + btree_.size_bytes();
  }

  // OK while the writer accepts entries.
  absl::Status Usable() const {
    if (finished_) return absl::FailedPreconditionError(StrCat("layer ", path_, ": finished"));
    return status_;
  }

  // REQUIRES: Usable(); index_key strictly increasing.
  absl::Status Add(const uint8_t* index_key, std::string_view value, bool will_init) {
    absl::StatusOr<uint64_t> offset = blobs_.Add(value);
    if (!offset.ok()) return Fail(offset.status());
    btree_.Add(index_key, (*offset << 1) | (will_init ? 1 : 0));
    return absl::OkStatus();
  }

  absl::StatusOr<LayerFileInfo> Finish() {
    NEON_RETURN_IF_ERROR(Usable());
    finished_ = true;
    NEON_RETURN_IF_ERROR(Fail(blobs_.Finish()));
    absl::StatusOr<BtreeShape> shape = btree_.Finish(file_.get());
    if (!shape.ok()) return Fail(shape.status());
    LayerSummary s;
    s.desc = desc_;
    s.compression = opts_.compression;
    s.num_blocks = file_->next_blkno();
    s.data_length = blobs_.data_length();
    s.index_start_block = shape->first_leaf;
    s.index_leaf_count = shape->leaf_count;
    s.index_root_block = shape->root;
    s.index_height = uint8_t(shape->height);
    s.num_entries = btree_.num_entries();
    s.raw_value_bytes = blobs_.raw_value_bytes();
    s.compressed_values = blobs_.compressed_values();
    NEON_RETURN_IF_ERROR(Fail(file_->Finish(s.Encode())));
    return LayerFileInfo{desc_, file_->size_bytes(), s.num_entries};
  }

 private:
  LayerWriterCore(std::string path, const LayerDesc& desc, const LayerWriterOptions& opts,
                  std::unique_ptr<BlockFileWriter> file)
      : path_(std::move(path)),
        desc_(desc),
        opts_(opts),
        file_(std::move(file)),
        blobs_(file_.get(), opts),
        btree_(desc.is_image ? LayerSummary::kImageKeyWidth : LayerSummary::kDeltaKeyWidth) {}

  // Records the first I/O error: the writer is unusable afterwards.
  absl::Status Fail(absl::Status s) {
    if (!s.ok() && status_.ok()) status_ = Annotate(s, StrCat("writing layer ", path_));
    return s.ok() ? s : status_;
  }

  const std::string path_;
  const LayerDesc desc_;
  const LayerWriterOptions opts_;
  std::unique_ptr<BlockFileWriter> file_;
  BlobWriter blobs_;
  DiskBtreeBuilder btree_;
  absl::Status status_;
  bool finished_ = false;
};

absl::Status CheckValueSize(const LayerWriterCore& core, size_t size) {
  if (size > kMaxBlobBytes) {
    return absl::InvalidArgumentError(
        StrCat("layer ", core.path(), ": value of ", size, " bytes is larger than ",
               kMaxBlobBytes));
  }
  return absl::OkStatus();
}

class DeltaLayerWriterImpl final : public DeltaLayerWriter {
 public:
  explicit DeltaLayerWriterImpl(std::unique_ptr<LayerWriterCore> core) : core_(std::move(core)) {}

  absl::Status Put(const Key& key, Lsn lsn, std::string_view value, bool will_init) override {
    NEON_RETURN_IF_ERROR(core_->Usable());
    const LayerDesc& d = core_->desc();
    if (!d.key_range.Contains(key) || !d.lsn_range.Contains(lsn)) {
      return absl::InvalidArgumentError(StrCat("layer ", core_->path(), ": entry ",
                                               key.ToString(), "@", lsn.ToString(),
                                               " outside ", d.FileName()));
    }
    if (has_last_ && !(std::make_pair(last_key_, last_lsn_) < std::make_pair(key, lsn))) {
      return absl::InvalidArgumentError(StrCat("layer ", core_->path(), ": entry ",
                                               key.ToString(), "@", lsn.ToString(),
                                               " is not after ", last_key_.ToString(), "@",
                                               last_lsn_.ToString()));
    }
    NEON_RETURN_IF_ERROR(CheckValueSize(*core_, value.size()));
    uint8_t index_key[LayerSummary::kDeltaKeyWidth];
    key.EncodeTo(index_key);
    EncodeFixed64BE(index_key + Key::kEncodedSize, lsn.value());
    NEON_RETURN_IF_ERROR(core_->Add(index_key, value, will_init));
    has_last_ = true;
    last_key_ = key;
    last_lsn_ = lsn;
    return absl::OkStatus();
  }
  uint64_t EstimatedSize() const override { return core_->EstimatedSize(); }
  uint64_t num_entries() const override { return core_->num_entries(); }
  absl::StatusOr<LayerFileInfo> Finish() override { return core_->Finish(); }

 private:
  std::unique_ptr<LayerWriterCore> core_;
  bool has_last_ = false;
  Key last_key_;
  Lsn last_lsn_;
};

class ImageLayerWriterImpl final : public ImageLayerWriter {
 public:
  explicit ImageLayerWriterImpl(std::unique_ptr<LayerWriterCore> core) : core_(std::move(core)) {}

  absl::Status Put(const Key& key, std::string_view image) override {
    NEON_RETURN_IF_ERROR(core_->Usable());
    if (!core_->desc().key_range.Contains(key)) {
      return absl::InvalidArgumentError(StrCat("layer ", core_->path(), ": key ",
                                               key.ToString(), " outside ",
                                               core_->desc().FileName()));
    }
    if (has_last_ && !(last_key_ < key)) {
      return absl::InvalidArgumentError(StrCat("layer ", core_->path(), ": key ",
                                               key.ToString(), " is not after ",
                                               last_key_.ToString()));
    }
    NEON_RETURN_IF_ERROR(CheckValueSize(*core_, image.size()));
    const Key::Encoded index_key = key.Encode();
    NEON_RETURN_IF_ERROR(core_->Add(index_key.data(), image, /*will_init=*/true));
    has_last_ = true;
    last_key_ = key;
    return absl::OkStatus();
  }
  uint64_t EstimatedSize() const override { return core_->EstimatedSize(); }
  uint64_t num_entries() const override { return core_->num_entries(); }
  absl::StatusOr<LayerFileInfo> Finish() override { return core_->Finish(); }

 private:
  std::unique_ptr<LayerWriterCore> core_;
  bool has_last_ = false;
  Key last_key_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<DeltaLayerWriter>> DeltaLayerWriter::Create(
    FileSystem* fs, const std::string& path, const LayerDesc& desc,
    const LayerWriterOptions& opts) {
  NEON_RETURN_IF_ERROR(CheckDesc(desc, /*is_image=*/false));
  NEON_ASSIGN_OR_RETURN(auto core, LayerWriterCore::Create(fs, path, desc, opts));
  return std::unique_ptr<DeltaLayerWriter>(new DeltaLayerWriterImpl(std::move(core)));
}

absl::StatusOr<std::unique_ptr<ImageLayerWriter>> ImageLayerWriter::Create(
    FileSystem* fs, const std::string& path, const LayerDesc& desc,
    const LayerWriterOptions& opts) {
  NEON_RETURN_IF_ERROR(CheckDesc(desc, /*is_image=*/true));
  NEON_ASSIGN_OR_RETURN(auto core, LayerWriterCore::Create(fs, path, desc, opts));
  return std::unique_ptr<ImageLayerWriter>(new ImageLayerWriterImpl(std::move(core)));
}

}  // namespace neon
