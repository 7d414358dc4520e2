// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/disk_btree.h"

#include "base/check.h"
#include "base/coding.h"
#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon {
namespace {

const uint8_t* U8(const char* p) { return reinterpret_cast<const uint8_t*>(p); }

std::string NodeHeader(uint8_t level, size_t key_width, size_t count) {
  std::string h;
  PutU8(&h, level);
  PutU8(&h, uint8_t(key_width));
  PutFixed16BE(&h, uint16_t(count));
  return h;
}

}  // namespace

// ---- Builder ------------------------------------------------------------------

DiskBtreeBuilder::DiskBtreeBuilder(size_t key_width)
    : key_width_(key_width),
      entry_size_(key_width + kBtreeValueSize),
      capacity_(BtreeNodeCapacity(key_width)) {
  NEON_CHECK(key_width >= 1 && key_width <= kBtreeMaxKeyWidth);
}

void DiskBtreeBuilder::Add(const uint8_t* key, uint64_t value) {
  if (cur_count_ > 0) {
    NEON_CHECK(std::memcmp(key, cur_.data() + cur_.size() - entry_size_, key_width_) > 0);
  } else if (!leaves_.empty()) {
    // Flushed leaves other than the last are full.
    const char* last = leaves_.data() + leaves_.size() - kBlockPayloadSize +
                       kBtreeNodeHeaderSize + (capacity_ - 1) * entry_size_;
    NEON_CHECK(std::memcmp(key, last, key_width_) > 0);
  }
  if (cur_count_ == capacity_) FlushLeaf();
  if (cur_count_ == 0) cur_ = NodeHeader(0, key_width_, 0);
  cur_.append(reinterpret_cast<const char*>(key), key_width_);
  PutFixed64BE(&cur_, value);
  cur_count_++;
  num_entries_++;
}

void DiskBtreeBuilder::FlushLeaf() {
  EncodeFixed16BE(reinterpret_cast<uint8_t*>(cur_.data()) + 2, uint16_t(cur_count_));
  cur_.resize(kBlockPayloadSize, '\0');
  leaves_.append(cur_);
  cur_.clear();
  cur_count_ = 0;
}

absl::StatusOr<std::string> DiskBtreeBuilder::WriteLevel(const std::string& entries,
                                                         uint8_t level, BlockFileWriter* out) {
  const size_t n = entries.size() / entry_size_;
  std::string above;
  std::string node;
  for (size_t i = 0; i < n; i += capacity_) {
    const size_t count = std::min(capacity_, n - i);
    node = NodeHeader(level, key_width_, count);
    node.append(entries, i * entry_size_, count * entry_size_);
    const uint32_t blkno = out->next_blkno();
    NEON_RETURN_IF_ERROR(out->AppendBlock(node));
    above.append(entries, i * entry_size_, key_width_);
    PutFixed64BE(&above, blkno);
  }
  return above;
}

absl::StatusOr<BtreeShape> DiskBtreeBuilder::Finish(BlockFileWriter* out) {
  if (cur_count_ > 0) FlushLeaf();
  BtreeShape shape;
  shape.key_width = key_width_;
  shape.first_leaf = out->next_blkno();
  if (leaves_.empty()) return shape;
  shape.leaf_count = uint32_t(leaves_.size() / kBlockPayloadSize);
  std::string entries;  // level 1 entries: (first key of leaf, leaf blkno)
  entries.reserve(size_t{shape.leaf_count} * entry_size_);
  for (uint32_t i = 0; i < shape.leaf_count; i++) {
    std::string_view leaf(leaves_.data() + size_t{i} * kBlockPayloadSize, kBlockPayloadSize);
    NEON_RETURN_IF_ERROR(out->AppendBlock(leaf));
    entries.append(leaf.substr(kBtreeNodeHeaderSize, key_width_));
    PutFixed64BE(&entries, shape.first_leaf + i);
  }
  std::string().swap(leaves_);
  shape.height = 1;
  while (entries.size() > entry_size_) {
    NEON_ASSIGN_OR_RETURN(entries, WriteLevel(entries, uint8_t(shape.height), out));
    shape.height++;
  }
  shape.root = uint32_t(DecodeFixed64BE(U8(entries.data()) + key_width_));
  return shape;
}

// ---- Reader -------------------------------------------------------------------

uint64_t BtreeCursor::value() const { return DecodeFixed64BE(entry() + key_width); }

DiskBtreeReader::DiskBtreeReader(const BlockFileReader* file, const BtreeShape& shape)
    : file_(file),
      shape_(shape),
      entry_size_(shape.key_width + kBtreeValueSize),
      capacity_(uint32_t(BtreeNodeCapacity(shape.key_width))) {}

absl::StatusOr<PageCache::Entry> DiskBtreeReader::ReadNode(uint32_t blkno, uint32_t level,
                                                           bool fill_cache,
                                                           uint32_t* count) const {
  NEON_ASSIGN_OR_RETURN(PageCache::Entry node, file_->Read(blkno, fill_cache));
  const uint8_t* p = U8(node->data());
  if (p[0] != level || p[1] != shape_.key_width) {
    return file_->Corrupt(blkno, StrCat("B-tree node has level ", int(p[0]), " and key width ",
                                        int(p[1]), ", expected ", level, " and ",
                                        shape_.key_width));
  }
  *count = DecodeFixed16BE(p + 2);
  if (*count == 0 || *count > capacity_) {
    return file_->Corrupt(blkno, StrCat("B-tree node has ", *count, " entries"));
  }
  return node;
}

absl::StatusOr<uint32_t> DiskBtreeReader::Descend(const std::string& node, uint32_t blkno,
                                                  uint32_t level, uint32_t count,
                                                  const uint8_t* key) const {
  const uint8_t* base = U8(node.data()) + kBtreeNodeHeaderSize;
  // First entry whose key is > `key`; descend into the one before it.
  uint32_t lo = 0, hi = count;
  while (lo < hi) {
    const uint32_t mid = (lo + hi) / 2;
    if (std::memcmp(base + size_t{mid} * entry_size_, key, shape_.key_width) <= 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const uint32_t idx = lo == 0 ? 0 : lo - 1;
  const uint64_t child = DecodeFixed64BE(base + size_t{idx} * entry_size_ + shape_.key_width);
  const uint64_t leaves_end = uint64_t{shape_.first_leaf} + shape_.leaf_count;
  const bool ok = level == 1 ? (child >= shape_.first_leaf && child < leaves_end)
                             : (child >= leaves_end && child < blkno);
  if (!ok) return file_->Corrupt(blkno, StrCat("B-tree child block ", child, " out of range"));
  return uint32_t(child);
}

absl::Status DiskBtreeReader::LoadLeaf(uint32_t blkno, BtreeCursor* c) const {
  uint32_t count = 0;
  absl::StatusOr<PageCache::Entry> leaf = ReadNode(blkno, 0, c->fill_cache, &count);
  if (!leaf.ok()) {
    c->leaf = nullptr;
    return leaf.status();
  }
  c->leaf = *std::move(leaf);
  c->blkno = blkno;
  c->count = count;
  c->idx = 0;
  return absl::OkStatus();
}

absl::Status DiskBtreeReader::SeekToFirst(BtreeCursor* c) const {
  c->leaf = nullptr;
  c->key_width = shape_.key_width;
  if (shape_.height == 0) return absl::OkStatus();
  return LoadLeaf(shape_.first_leaf, c);
}

absl::Status DiskBtreeReader::SeekGE(const uint8_t* key, BtreeCursor* c) const {
  c->leaf = nullptr;
  c->key_width = shape_.key_width;
  if (shape_.height == 0) return absl::OkStatus();
  uint32_t blkno = shape_.root;
  for (uint32_t level = shape_.height - 1; level > 0; level--) {
    uint32_t count = 0;
    NEON_ASSIGN_OR_RETURN(PageCache::Entry node, ReadNode(blkno, level, c->fill_cache, &count));
    NEON_ASSIGN_OR_RETURN(blkno, Descend(*node, blkno, level, count, key));
  }
  NEON_RETURN_IF_ERROR(LoadLeaf(blkno, c));
  const uint8_t* base = U8(c->leaf->data()) + kBtreeNodeHeaderSize;
  uint32_t lo = 0, hi = c->count;  // first entry >= key
  while (lo < hi) {
    const uint32_t mid = (lo + hi) / 2;
    if (std::memcmp(base + size_t{mid} * entry_size_, key, shape_.key_width) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo < c->count) {
    c->idx = lo;
    return absl::OkStatus();
  }
  c->idx = c->count - 1;
  return Next(c);
}

absl::Status DiskBtreeReader::SeekGENear(const uint8_t* key, BtreeCursor* c) const {
  if (!c->valid() || c->key_width != shape_.key_width) return SeekGE(key, c);
  const uint8_t* base = U8(c->leaf->data()) + kBtreeNodeHeaderSize;
  const size_t kw = shape_.key_width;
  if (std::memcmp(base, key, kw) > 0 ||
      std::memcmp(key, base + size_t{c->count - 1} * entry_size_, kw) > 0) {
    return SeekGE(key, c);
  }
  uint32_t lo = 0, hi = c->count;  // first entry >= key; exists since key <= the last one
  while (lo < hi) {
    const uint32_t mid = (lo + hi) / 2;
    if (std::memcmp(base + size_t{mid} * entry_size_, key, kw) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  NEON_CHECK(lo < c->count);
  c->idx = lo;
  return absl::OkStatus();
}

absl::Status DiskBtreeReader::Next(BtreeCursor* c) const {
  NEON_CHECK(c->valid());
  if (++c->idx < c->count) return absl::OkStatus();
  if (c->blkno + 1 >= uint64_t{shape_.first_leaf} + shape_.leaf_count) {
    c->leaf = nullptr;
    return absl::OkStatus();
  }
  return LoadLeaf(c->blkno + 1, c);
}

// Checks the nodes [begin, end) of `level`. `firsts` holds the separator keys
// the parent level expects as the nodes' first keys (empty for the root) and
// returns the separators of this level's children, which must be the
// consecutive blocks [*child_begin, *child_end).
absl::Status DiskBtreeReader::CheckLevel(uint32_t level, uint32_t begin, uint32_t end,
                                         std::string* firsts, uint32_t* child_begin,
                                         uint32_t* child_end) const {
  const size_t kw = shape_.key_width;
  std::string children;
  uint64_t next_child = 0;
  for (uint32_t blkno = begin; blkno < end; blkno++) {
    uint32_t count = 0;
    NEON_ASSIGN_OR_RETURN(PageCache::Entry node, ReadNode(blkno, level, false, &count));
    const uint8_t* base = U8(node->data()) + kBtreeNodeHeaderSize;
    if (!firsts->empty() && std::memcmp(base, firsts->data() + (blkno - begin) * kw, kw) != 0) {
      return file_->Corrupt(blkno, "B-tree node's first key differs from its parent's key");
    }
    for (uint32_t i = 0; i < count; i++) {
      const uint8_t* e = base + size_t{i} * entry_size_;
      if (i > 0 && std::memcmp(e - entry_size_, e, kw) >= 0) {
        return file_->Corrupt(blkno, "B-tree keys out of order");
      }
      if (level == 0) continue;
      const uint64_t child = DecodeFixed64BE(e + kw);
      if (blkno == begin && i == 0) next_child = *child_begin = uint32_t(child);
      if (child != next_child || child >= begin) {
        return file_->Corrupt(blkno, StrCat("B-tree child ", child, " is not consecutive"));
      }
      next_child++;
      children.append(reinterpret_cast<const char*>(e), kw);
    }
  }
  *child_end = uint32_t(next_child);
  *firsts = std::move(children);
  return absl::OkStatus();
}

absl::Status DiskBtreeReader::CheckStructure() const {
  if (shape_.height == 0) return absl::OkStatus();
  uint32_t begin = shape_.root, end = shape_.root + 1;
  std::string firsts;
  for (uint32_t level = shape_.height - 1; level > 0; level--) {
    uint32_t child_begin = 0, child_end = 0;
    NEON_RETURN_IF_ERROR(CheckLevel(level, begin, end, &firsts, &child_begin, &child_end));
    if (child_end != begin) {
      return file_->Corrupt(begin, "B-tree level does not end where its parent level begins");
    }
    begin = child_begin;
    end = child_end;
  }
  if (begin != shape_.first_leaf || end != shape_.first_leaf + shape_.leaf_count) {
    return file_->Corrupt(shape_.root, "B-tree leaves do not match the summary");
  }
  uint32_t unused_begin = 0, unused_end = 0;
  return CheckLevel(0, begin, end, &firsts, &unused_begin, &unused_end);
}

}  // namespace neon
