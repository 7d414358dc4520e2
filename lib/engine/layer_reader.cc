// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// LayerReader and LayerIterator over the format of doc/format/layer.md.

#include <cstring>

#include "absl/container/inlined_vector.h"
#include "base/check.h"
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

constexpr size_t kKeySize = Key::kEncodedSize;

BtreeShape ShapeOf(const LayerSummary& s) {
  return BtreeShape{s.key_width(), s.index_start_block, s.index_leaf_count, s.index_root_block,
                    s.index_height};
}

class LayerReaderImpl final : public LayerReader,
                              public std::enable_shared_from_this<LayerReaderImpl> {
 public:
  LayerReaderImpl(std::unique_ptr<BlockFileReader> file, const LayerSummary& summary)
      : file_(std::move(file)),
        summary_(summary),
        btree_(file_.get(), ShapeOf(summary)),
        blobs_(file_.get(), summary.data_length) {}

  const LayerDesc& desc() const override { return summary_.desc; }
  uint64_t file_size() const override { return file_->file_size(); }
  uint64_t num_entries() const override { return summary_.num_entries; }
  const std::string& path() const override { return file_->path(); }

  absl::StatusOr<bool> Get(const Key& key, LsnRange range,
                           std::vector<LayerValue>* out) const override {
    BtreeCursor c;
    BlobBlockHint hint;
    return GetAt(key, range, out, &c, &hint);
  }

  // One cursor and one data-block hint for the whole batch: a key in the
  // leaf of the previous one skips the root-to-leaf walk, and blobs in the
  // previous key's last data block skip the cache lookup.
  void GetMany(absl::Span<KeyLookup> lookups,
               absl::FunctionRef<void(KeyLookup&)> done) const override {
    BtreeCursor c;
    BlobBlockHint hint;
    for (KeyLookup& l : lookups) {
      l.found = GetAt(l.key, l.range, l.out, &c, &hint);
      done(l);
    }
  }

  absl::StatusOr<bool> Contains(const Key& key) const override {
    if (!summary_.desc.key_range.Contains(key)) return false;
    uint8_t search[LayerSummary::kDeltaKeyWidth] = {};  // delta: lsn 0
    key.EncodeTo(search);
    BtreeCursor c;
    NEON_RETURN_IF_ERROR(btree_.SeekGE(search, &c));
    return c.valid() && std::memcmp(c.key(), search, kKeySize) == 0;
  }

  std::unique_ptr<LayerIterator> NewIterator() const override;
  absl::Status VerifyAll() const override;

  // ---- For the iterator ----
  const DiskBtreeReader& btree() const { return btree_; }
  const LayerSummary& summary() const { return summary_; }
  // Reads the value the entry at `c` refers to.
  absl::Status ReadValue(const BtreeCursor& c, std::string* out, BlobBlockHint* hint) const {
    NEON_RETURN_IF_ERROR(CheckRef(c));
    return blobs_.Read(c.value() >> 1, out, hint, c.fill_cache);
  }

 private:
  // DataLoss if the entry at `c` points outside the data region.
  absl::Status CheckRef(const BtreeCursor& c) const {
    if ((c.value() >> 1) >= summary_.data_length) {
      return file_->Corrupt(c.blkno, StrCat("index entry ", c.idx, " points past the data"));
    }
    return absl::OkStatus();
  }

  // Get() starting from the cursor and hint of the previous lookup.
  absl::StatusOr<bool> GetAt(const Key& key, LsnRange range, std::vector<LayerValue>* out,
                             BtreeCursor* c, BlobBlockHint* hint) const {
    if (range.IsEmpty() || !summary_.desc.key_range.Contains(key)) return false;
    return summary_.desc.is_image ? GetImage(key, range, out, c, hint)
                                  : GetDelta(key, range, out, c, hint);
  }
  absl::StatusOr<bool> GetDelta(const Key& key, LsnRange range, std::vector<LayerValue>* out,
                                BtreeCursor* c, BlobBlockHint* hint) const;
  absl::StatusOr<bool> GetImage(const Key& key, LsnRange range, std::vector<LayerValue>* out,
                                BtreeCursor* c, BlobBlockHint* hint) const;
  absl::Status CheckEntries() const;

  const std::unique_ptr<BlockFileReader> file_;
  const LayerSummary summary_;
  const DiskBtreeReader btree_;
  const BlobReader blobs_;
};

// Seeks to (key, range.start) and scans the versions below range.end, keeping
// only those from the newest will_init one on (older ones are never needed),
// then reads their blobs newest first.
absl::StatusOr<bool> LayerReaderImpl::GetDelta(const Key& key, LsnRange range,
                                               std::vector<LayerValue>* out, BtreeCursor* cursor,
                                               BlobBlockHint* hint) const {
  struct Version {
    uint64_t lsn;
    uint64_t ref;
    uint32_t blkno;
    uint32_t idx;
  };
  absl::InlinedVector<Version, 32> versions;
  uint8_t search[LayerSummary::kDeltaKeyWidth];
  key.EncodeTo(search);
  EncodeFixed64BE(search + kKeySize, range.start.value());
  BtreeCursor& c = *cursor;
  NEON_RETURN_IF_ERROR(btree_.SeekGENear(search, &c));
  while (c.valid() && std::memcmp(c.key(), search, kKeySize) == 0) {
    const uint64_t lsn = DecodeFixed64BE(c.key() + kKeySize);
    if (lsn >= range.end.value()) break;
    NEON_RETURN_IF_ERROR(CheckRef(c));
    if (c.value() & 1) versions.clear();
    versions.push_back(Version{lsn, c.value(), c.blkno, c.idx});
    NEON_RETURN_IF_ERROR(btree_.Next(&c));
  }
  const size_t base = out->size();
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    out->push_back(LayerValue{Lsn(it->lsn), (it->ref & 1) != 0, std::string()});
    absl::Status s = blobs_.Read(it->ref >> 1, &out->back().data, hint);
    if (!s.ok()) {
      out->resize(base);
      return s;
    }
  }
  return !versions.empty() && (versions.front().ref & 1) != 0;
}

absl::StatusOr<bool> LayerReaderImpl::GetImage(const Key& key, LsnRange range,
                                               std::vector<LayerValue>* out, BtreeCursor* cursor,
                                               BlobBlockHint* hint) const {
  const Lsn lsn = summary_.desc.image_lsn();
  if (!range.Contains(lsn)) return false;
  const Key::Encoded search = key.Encode();
  BtreeCursor& c = *cursor;
  NEON_RETURN_IF_ERROR(btree_.SeekGENear(search.data(), &c));
  if (!c.valid() || std::memcmp(c.key(), search.data(), kKeySize) != 0) return false;
  out->push_back(LayerValue{lsn, true, std::string(), /*raw_image=*/true});
  absl::Status s = ReadValue(c, &out->back().data, hint);
  if (!s.ok()) {
    out->pop_back();
    return s;
  }
  return true;
}

// ---- Iterator -------------------------------------------------------------------

class LayerIteratorImpl final : public LayerIterator {
 public:
  explicit LayerIteratorImpl(std::shared_ptr<const LayerReaderImpl> r) : r_(std::move(r)) {}

  absl::Status Seek(const Key& key, Lsn lsn) override {
    const bool image = r_->summary().desc.is_image;
    uint8_t search[LayerSummary::kDeltaKeyWidth];
    key.EncodeTo(search);
    EncodeFixed64BE(search + kKeySize, lsn.value());
    NEON_RETURN_IF_ERROR(r_->btree().SeekGE(search, &c_));
    Update();
    // An image entry is (key, image_lsn): skip it if that is below (key, lsn).
    if (image && Valid() && key_ == key && lsn_ < lsn) return Next();
    return absl::OkStatus();
  }
  absl::Status SeekToFirst() override {
    NEON_RETURN_IF_ERROR(r_->btree().SeekToFirst(&c_));
    Update();
    return absl::OkStatus();
  }
  bool Valid() const override { return c_.valid(); }
  absl::Status Next() override {
    NEON_CHECK(Valid());
    NEON_RETURN_IF_ERROR(r_->btree().Next(&c_));
    Update();
    return absl::OkStatus();
  }
  const Key& key() const override { return key_; }
  Lsn lsn() const override { return lsn_; }
  bool will_init() const override { return will_init_; }
  absl::StatusOr<std::string> value() const override {
    NEON_CHECK(Valid());
    std::string out;
    NEON_RETURN_IF_ERROR(r_->ReadValue(c_, &out, &hint_));
    return out;
  }

 private:
  void Update() {
    if (!c_.valid()) return;
    key_ = Key::Decode(c_.key());
    if (r_->summary().desc.is_image) {
      lsn_ = r_->summary().desc.image_lsn();
      will_init_ = true;
    } else {
      lsn_ = Lsn(DecodeFixed64BE(c_.key() + kKeySize));
      will_init_ = (c_.value() & 1) != 0;
    }
  }

  const std::shared_ptr<const LayerReaderImpl> r_;
  BtreeCursor c_;
  mutable BlobBlockHint hint_;
  Key key_;
  Lsn lsn_;
  bool will_init_ = false;
};

std::unique_ptr<LayerIterator> LayerReaderImpl::NewIterator() const {
  return std::make_unique<LayerIteratorImpl>(shared_from_this());
}

// ---- Scrubbing --------------------------------------------------------------------

absl::Status LayerReaderImpl::VerifyAll() const {
  NEON_RETURN_IF_ERROR(file_->VerifyAll());
  NEON_RETURN_IF_ERROR(btree_.CheckStructure());
  return CheckEntries();
}

// Walks every entry (bypassing the cache): order, ranges, counts, and that
// every blob decodes.
absl::Status LayerReaderImpl::CheckEntries() const {
  const LayerDesc& d = summary_.desc;
  const size_t kw = summary_.key_width();
  BtreeCursor c;
  c.fill_cache = false;
  BlobBlockHint hint;
  std::string prev, value;
  uint64_t n = 0, raw_bytes = 0;
  NEON_RETURN_IF_ERROR(btree_.SeekToFirst(&c));
  for (; c.valid(); n++) {
    std::string_view k(reinterpret_cast<const char*>(c.key()), kw);
    if (!prev.empty() && !(prev < k)) return file_->Corrupt(c.blkno, "keys out of order");
    prev.assign(k);
    const Key key = Key::Decode(c.key());
    const bool lsn_ok = d.is_image || d.lsn_range.Contains(Lsn(DecodeFixed64BE(c.key() + kKeySize)));
    if (!d.key_range.Contains(key) || !lsn_ok) {
      return file_->Corrupt(c.blkno, StrCat("entry ", c.idx, " is outside the layer's ranges"));
    }
    NEON_RETURN_IF_ERROR(ReadValue(c, &value, &hint));
    raw_bytes += value.size();
    NEON_RETURN_IF_ERROR(btree_.Next(&c));
  }
  if (n != summary_.num_entries || raw_bytes != summary_.raw_value_bytes) {
    return file_->Corrupt(0, StrCat("summary counts ", summary_.num_entries, " entries of ",
                                    summary_.raw_value_bytes, " bytes, found ", n, " of ",
                                    raw_bytes));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<LayerReader>> LayerReader::Open(FileSystem* fs,
                                                               const std::string& path,
                                                               PageCache* cache) {
  NEON_ASSIGN_OR_RETURN(auto file, BlockFileReader::Open(fs, path, cache));
  std::string block0(kBlockSize, '\0');
  NEON_RETURN_IF_ERROR(file->ReadRaw(0, block0.data()));
  // Magic and version first: a file of another version may differ in more
  // than its summary, even in its block trailers.
  NEON_ASSIGN_OR_RETURN(LayerSummary summary, LayerSummary::Decode(block0, path));
  NEON_RETURN_IF_ERROR(file->Verify(0, block0.data()));
  NEON_RETURN_IF_ERROR(summary.Validate(file->num_blocks(), path));
  return std::shared_ptr<LayerReader>(
      std::make_shared<LayerReaderImpl>(std::move(file), summary));
}

}  // namespace neon
