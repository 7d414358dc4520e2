// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Hand-built PostgreSQL 15 WAL records and pages for the walredo tests and
// benchmark: the XLogRecord layout of access/xlogrecord.h (header, block
// headers, image and data payloads, main data, CRC32C over the payload and
// then the header up to xl_crc), little-endian like the WAL of x86 servers.

#ifndef NEON_TESTS_POSTGRES_PG_RECORD_UTIL_H_
#define NEON_TESTS_POSTGRES_PG_RECORD_UTIL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "neon/types.h"

namespace neon::pgtest {

inline constexpr size_t kBlockSize = 8192;
inline constexpr uint8_t kRmXlog = 0;
inline constexpr uint8_t kRmHeap = 10;
inline constexpr uint8_t kXlogFpi = 0xB0;
inline constexpr uint8_t kHeapInsert = 0x00;
inline constexpr uint8_t kHeapUpdate = 0x20;
inline constexpr uint8_t kHeapInitPage = 0x80;
inline constexpr uint8_t kHeapAllVisibleCleared = 0x01;  // XLH_INSERT_ALL_VISIBLE_CLEARED
inline constexpr uint16_t kPdAllVisible = 0x0004;        // pd_flags PD_ALL_VISIBLE

enum class ImageCompression { kNone, kLz4, kZstd };

struct BlockRef {
  RelTag rel;
  uint32_t blkno = 0;
  bool will_init = false;
  // A full-page image (kBlockSize bytes) and its hole [hole_offset,
  // hole_offset + hole_length), which must be zeroes in `image`.
  std::optional<std::string> image;
  uint16_t hole_offset = 0;
  uint16_t hole_length = 0;
  bool apply_image = true;
  ImageCompression compression = ImageCompression::kNone;
  std::string data;  // block data (may be empty)
};

struct RecordSpec {
  uint8_t rmid = 0;
  uint8_t info = 0;
  uint32_t xid = 0;
  uint64_t prev = 0;
  std::vector<BlockRef> blocks;  // block ids 0, 1, ...
  std::string main_data;
};

// The raw XLogRecord, CRC included.
std::string BuildRecord(const RecordSpec& spec);

// An initialized page (PageInit) with `ntuples` fake line pointers and a
// recognizable pattern in [pd_upper, pd_special); the space between pd_lower
// and pd_upper is zero: a valid full-page-image hole.
std::string MakePage(uint32_t seed, uint16_t ntuples);
uint16_t PageLower(const std::string& page);
uint16_t PageUpper(const std::string& page);
uint16_t PageFlags(const std::string& page);
std::string WithFlags(std::string page, uint16_t pd_flags);
uint64_t PageLsn(const std::string& page);
// PageGetMaxOffsetNumber: line pointers in use by pd_lower.
uint16_t PageMaxOffset(const std::string& page);
// The bytes of the tuple at line pointer `offnum` (1-based).
std::string PageItem(const std::string& page, uint16_t offnum);
// `page` with pd_lsn replaced (what redo of an FPI produces).
std::string WithLsn(std::string page, uint64_t lsn);

// XLOG_FPI of `image` for (rel, blkno), its hole = [pd_lower, pd_upper).
std::string FpiRecord(const RelTag& rel, uint32_t blkno, const std::string& image,
                      ImageCompression compression = ImageCompression::kNone);
// heap INSERT of one tuple with one int4 attribute `value` at `offnum`;
// `init_page` adds XLOG_HEAP_INIT_PAGE (and WILL_INIT on the block).
// `flags` are xl_heap_insert flags (kHeapAllVisibleCleared: also clears the
// page's bit in the visibility map fork).
std::string HeapInsertRecord(const RelTag& rel, uint32_t blkno, uint16_t offnum, int32_t value,
                             bool init_page, uint32_t xid = 1000, uint8_t flags = 0);
// heap UPDATE of the tuple at (old_blkno, old_offnum) to a new version with
// int4 `value` at (new_blkno, new_offnum) on another page, which
// `init_new_page` initializes. Sets the old tuple's xmax to `xid`.
std::string HeapUpdateRecord(const RelTag& rel, uint32_t old_blkno, uint16_t old_offnum,
                             uint32_t new_blkno, uint16_t new_offnum, int32_t value,
                             bool init_new_page, uint32_t xid);
// The user data of a tuple HeapInsertRecord made (the int4), from PageItem.
int32_t HeapTupleValue(const std::string& item);
// t_xmax and the t_ctid (block, offset) of a heap tuple, from PageItem.
uint32_t HeapTupleXmax(const std::string& item);
std::pair<uint32_t, uint16_t> HeapTupleCtid(const std::string& item);

}  // namespace neon::pgtest

#endif  // NEON_TESTS_POSTGRES_PG_RECORD_UTIL_H_
