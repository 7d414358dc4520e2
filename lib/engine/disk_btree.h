// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// A bulk-built, immutable B-tree over fixed-width byte keys with 8-byte
// values, stored in the blocks of a block file (doc/format/layer.md).
//
// Node (one block payload):
//   level u8 (0 = leaf) | key_width u8 | count u16 BE |
//   count x (key[key_width] || value u64 BE)        entries in key order
// Leaf values are the caller's; internal values are child block numbers and
// internal keys are the first key of the child. Leaves are consecutive blocks
// in key order (forward iteration is "next block"); each upper level follows
// the one below it, and the root is the last block.
//
// Thread safety: a builder is used by one thread; a DiskBtreeReader is
// immutable and may be shared; a cursor belongs to one thread.

#ifndef NEON_LIB_ENGINE_DISK_BTREE_H_
#define NEON_LIB_ENGINE_DISK_BTREE_H_

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/block_file.h"

namespace neon {

inline constexpr size_t kBtreeNodeHeaderSize = 4;
inline constexpr size_t kBtreeValueSize = 8;
inline constexpr size_t kBtreeMaxKeyWidth = 64;

// Entries that fit one node.
constexpr size_t BtreeNodeCapacity(size_t key_width) {
  return (kBlockPayloadSize - kBtreeNodeHeaderSize) / (key_width + kBtreeValueSize);
}
static_assert(BtreeNodeCapacity(26) == 240);
static_assert(BtreeNodeCapacity(18) == 314);

// Where a finished tree is. height = levels including the leaves (0: empty).
struct BtreeShape {
  size_t key_width = 0;
  uint32_t first_leaf = 0;
  uint32_t leaf_count = 0;
  uint32_t root = 0;
  uint32_t height = 0;
};

class DiskBtreeBuilder {
 public:
  explicit DiskBtreeBuilder(size_t key_width);

  // REQUIRES: `key` (key_width bytes) is greater than the previous key.
  void Add(const uint8_t* key, uint64_t value);
  uint64_t num_entries() const { return num_entries_; }
  // Bytes of index built so far (leaves, full blocks).
  uint64_t size_bytes() const { return leaves_.size() + kBlockSize; }
  // Appends the leaves and the internal levels to `out`; the tree must be
  // the last thing in the file (the root is its last block).
  absl::StatusOr<BtreeShape> Finish(BlockFileWriter* out);

 private:
  void FlushLeaf();
  // Writes one level's entries (key || child blkno) as nodes of `level`;
  // returns the entries of the level above.
  absl::StatusOr<std::string> WriteLevel(const std::string& entries, uint8_t level,
                                         BlockFileWriter* out);

  const size_t key_width_;
  const size_t entry_size_;
  const size_t capacity_;
  std::string leaves_;  // finished leaf payloads, kBlockPayloadSize each
  std::string cur_;     // the leaf being filled
  size_t cur_count_ = 0;
  uint64_t num_entries_ = 0;
};

// A position in the leaves. Holds its leaf block, so it stays usable while
// the cache evicts.
struct BtreeCursor {
  bool valid() const { return leaf != nullptr; }
  // REQUIRES: valid().
  const uint8_t* key() const { return entry(); }
  uint64_t value() const;

  PageCache::Entry leaf;  // null: not positioned / past the end
  uint32_t blkno = 0;
  uint32_t idx = 0;
  uint32_t count = 0;
  size_t key_width = 0;
  bool fill_cache = true;  // insert blocks read by this cursor into the cache

 private:
  const uint8_t* entry() const {
    return reinterpret_cast<const uint8_t*>(leaf->data()) + kBtreeNodeHeaderSize +
           idx * (key_width + kBtreeValueSize);
  }
};

class DiskBtreeReader {
 public:
  DiskBtreeReader(const BlockFileReader* file, const BtreeShape& shape);

  const BtreeShape& shape() const { return shape_; }
  // Positions `c` at the first entry with key >= `key`, or invalid if none.
  // One root-to-leaf walk (shape.height block reads), plus the next leaf
  // when every key of the found leaf is smaller.
  absl::Status SeekGE(const uint8_t* key, BtreeCursor* c) const;
  // SeekGE that searches only `c`'s current leaf when `key` lies between
  // that leaf's first and last keys (no root-to-leaf walk); otherwise a
  // plain SeekGE. For lookups of nearby keys in order.
  absl::Status SeekGENear(const uint8_t* key, BtreeCursor* c) const;
  absl::Status SeekToFirst(BtreeCursor* c) const;
  // REQUIRES: c->valid(). Leaves c invalid after the last entry.
  absl::Status Next(BtreeCursor* c) const;
  // Reads every node and checks levels, child links and separator keys
  // against the children's first keys (for scrubbing; not cached).
  absl::Status CheckStructure() const;

 private:
  // Reads a node and checks its header (level, key width, count).
  absl::StatusOr<PageCache::Entry> ReadNode(uint32_t blkno, uint32_t level, bool fill_cache,
                                            uint32_t* count) const;
  absl::Status LoadLeaf(uint32_t blkno, BtreeCursor* c) const;
  // The child to descend into from an internal node for `key`.
  absl::StatusOr<uint32_t> Descend(const std::string& node, uint32_t blkno, uint32_t level,
                                   uint32_t count, const uint8_t* key) const;
  absl::Status CheckLevel(uint32_t level, uint32_t begin, uint32_t end, std::string* firsts,
                          uint32_t* child_begin, uint32_t* child_end) const;

  const BlockFileReader* const file_;
  const BtreeShape shape_;
  const size_t entry_size_;
  const uint32_t capacity_;
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_DISK_BTREE_H_
