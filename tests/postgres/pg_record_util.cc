// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "postgres/pg_record_util.h"

#include <lz4.h>
#include <zstd.h>

#include <cstring>

#include "base/check.h"
#include "base/crc32c.h"

namespace neon::pgtest {
namespace {

constexpr size_t kRecordHeaderSize = 24;
constexpr size_t kCrcOffset = 20;
constexpr uint8_t kHasImage = 0x10;
constexpr uint8_t kHasData = 0x20;
constexpr uint8_t kWillInit = 0x40;
constexpr uint8_t kImgHasHole = 0x01;
constexpr uint8_t kImgApply = 0x02;
constexpr uint8_t kImgLz4 = 0x08;
constexpr uint8_t kImgZstd = 0x10;
constexpr uint8_t kBlockIdDataShort = 255;
constexpr uint8_t kBlockIdDataLong = 254;
constexpr size_t kPageHeaderSize = 24;

void Put16(std::string* out, uint16_t v) { out->append(reinterpret_cast<const char*>(&v), 2); }
void Put32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }
void Put64(std::string* out, uint64_t v) { out->append(reinterpret_cast<const char*>(&v), 8); }

uint16_t Get16(const std::string& s, size_t off) {
  uint16_t v;
  std::memcpy(&v, s.data() + off, 2);
  return v;
}
uint32_t Get32(const std::string& s, size_t off) {
  uint32_t v;
  std::memcpy(&v, s.data() + off, 4);
  return v;
}
void Set16(std::string* s, size_t off, uint16_t v) { std::memcpy(s->data() + off, &v, 2); }
void Set32(std::string* s, size_t off, uint32_t v) { std::memcpy(s->data() + off, &v, 4); }

// The image bytes as stored: the hole removed, then compressed if asked.
std::string StoredImage(const BlockRef& b) {
  std::string flat =
      b.image->substr(0, b.hole_offset) + b.image->substr(b.hole_offset + b.hole_length);
  switch (b.compression) {
    case ImageCompression::kNone:
      return flat;
    case ImageCompression::kLz4: {
      std::string out(LZ4_compressBound(int(flat.size())), '\0');
      int n = LZ4_compress_default(flat.data(), out.data(), int(flat.size()), int(out.size()));
      NEON_CHECK(n > 0);
      out.resize(n);
      return out;
    }
    case ImageCompression::kZstd: {
      std::string out(ZSTD_compressBound(flat.size()), '\0');
      size_t n = ZSTD_compress(out.data(), out.size(), flat.data(), flat.size(), 3);
      NEON_CHECK(!ZSTD_isError(n));
      out.resize(n);
      return out;
    }
  }
  return flat;
}

}  // namespace

std::string BuildRecord(const RecordSpec& spec) {
  std::string headers, payload;
  for (size_t id = 0; id < spec.blocks.size(); ++id) {
    const BlockRef& b = spec.blocks[id];
    uint8_t flags = b.rel.fork;
    if (b.image) flags |= kHasImage;
    if (!b.data.empty()) flags |= kHasData;
    if (b.will_init) flags |= kWillInit;
    headers.push_back(char(id));
    headers.push_back(char(flags));
    Put16(&headers, uint16_t(b.data.size()));
    if (b.image) {
      std::string stored = StoredImage(b);
      bool hole = b.hole_length > 0;
      bool compressed = b.compression != ImageCompression::kNone;
      uint8_t info = (hole ? kImgHasHole : 0) | (b.apply_image ? kImgApply : 0) |
                     (b.compression == ImageCompression::kLz4 ? kImgLz4 : 0) |
                     (b.compression == ImageCompression::kZstd ? kImgZstd : 0);
      Put16(&headers, uint16_t(stored.size()));
      Put16(&headers, hole ? b.hole_offset : 0);
      headers.push_back(char(info));
      if (hole && compressed) Put16(&headers, b.hole_length);
      payload += stored;
    }
    Put32(&headers, b.rel.spc_oid);
    Put32(&headers, b.rel.db_oid);
    Put32(&headers, b.rel.rel_number);
    Put32(&headers, b.blkno);
    payload += b.data;
  }
  if (!spec.main_data.empty()) {
    if (spec.main_data.size() < 256) {
      headers.push_back(char(kBlockIdDataShort));
      headers.push_back(char(spec.main_data.size()));
    } else {
      headers.push_back(char(kBlockIdDataLong));
      Put32(&headers, uint32_t(spec.main_data.size()));
    }
    payload += spec.main_data;
  }
  std::string rec;
  Put32(&rec, uint32_t(kRecordHeaderSize + headers.size() + payload.size()));
  Put32(&rec, spec.xid);
  Put64(&rec, spec.prev);
  rec.push_back(char(spec.info));
  rec.push_back(char(spec.rmid));
  rec.append(2, '\0');
  Put32(&rec, 0);  // xl_crc, below
  rec += headers;
  rec += payload;
  uint32_t crc = crc32c::Extend(0, rec.data() + kRecordHeaderSize, rec.size() - kRecordHeaderSize);
  crc = crc32c::Extend(crc, rec.data(), kCrcOffset);
  Set32(&rec, kCrcOffset, crc);
  return rec;
}

std::string MakePage(uint32_t seed, uint16_t ntuples) {
  constexpr uint16_t kTupleSize = 64;
  std::string page(kBlockSize, '\0');
  uint16_t lower = uint16_t(kPageHeaderSize + 4 * ntuples);
  uint16_t upper = uint16_t(kBlockSize - kTupleSize * ntuples);
  Set16(&page, 12, lower);
  Set16(&page, 14, upper);
  Set16(&page, 16, uint16_t(kBlockSize));
  Set16(&page, 18, uint16_t(kBlockSize | 4));
  for (uint16_t i = 0; i < ntuples; ++i) {
    uint32_t off = upper + uint32_t(i) * kTupleSize;
    Set32(&page, kPageHeaderSize + 4 * i, off | (1u << 15) | (uint32_t(kTupleSize) << 17));
  }
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = upper; i < kBlockSize; ++i) {
    x = x * 1103515245u + 12345u;
    page[i] = char(x >> 24);
  }
  return page;
}

uint16_t PageLower(const std::string& page) { return Get16(page, 12); }
uint16_t PageUpper(const std::string& page) { return Get16(page, 14); }
uint16_t PageFlags(const std::string& page) { return Get16(page, 10); }
std::string WithFlags(std::string page, uint16_t pd_flags) {
  Set16(&page, 10, pd_flags);
  return page;
}
uint64_t PageLsn(const std::string& page) {
  return (uint64_t(Get32(page, 0)) << 32) | Get32(page, 4);
}
uint16_t PageMaxOffset(const std::string& page) {
  uint16_t lower = PageLower(page);
  return lower <= kPageHeaderSize ? 0 : uint16_t((lower - kPageHeaderSize) / 4);
}

std::string PageItem(const std::string& page, uint16_t offnum) {
  uint32_t lp = Get32(page, kPageHeaderSize + 4 * (offnum - 1));
  uint32_t off = lp & 0x7FFF, len = lp >> 17;
  return page.substr(off, len);
}

std::string WithLsn(std::string page, uint64_t lsn) {
  Set32(&page, 0, uint32_t(lsn >> 32));
  Set32(&page, 4, uint32_t(lsn));
  return page;
}

std::string FpiRecord(const RelTag& rel, uint32_t blkno, const std::string& image,
                      ImageCompression compression) {
  BlockRef b;
  b.rel = rel;
  b.blkno = blkno;
  b.image = image;
  b.hole_offset = PageLower(image);
  b.hole_length = uint16_t(PageUpper(image) - PageLower(image));
  if (b.hole_length == 0) b.hole_offset = 0;
  b.compression = compression;
  RecordSpec spec;
  spec.rmid = kRmXlog;
  spec.info = kXlogFpi;
  spec.blocks.push_back(std::move(b));
  return BuildRecord(spec);
}

std::string HeapInsertRecord(const RelTag& rel, uint32_t blkno, uint16_t offnum, int32_t value,
                             bool init_page, uint32_t xid, uint8_t flags) {
  BlockRef b;
  b.rel = rel;
  b.blkno = blkno;
  b.will_init = init_page;
  // xl_heap_header {t_infomask2 = 1 attribute, t_infomask = HEAP_XMAX_INVALID,
  // t_hoff = 24}, then the tuple from offset 23: one pad byte and the int4.
  Put16(&b.data, 1);
  Put16(&b.data, 0x0800);
  b.data.push_back(char(24));
  b.data.push_back('\0');
  Put32(&b.data, uint32_t(value));
  RecordSpec spec;
  spec.rmid = kRmHeap;
  spec.info = kHeapInsert | (init_page ? kHeapInitPage : 0);
  spec.xid = xid;
  spec.blocks.push_back(std::move(b));
  Put16(&spec.main_data, offnum);  // xl_heap_insert {offnum, flags}
  spec.main_data.push_back(char(flags));
  return BuildRecord(spec);
}

std::string HeapUpdateRecord(const RelTag& rel, uint32_t old_blkno, uint16_t old_offnum,
                             uint32_t new_blkno, uint16_t new_offnum, int32_t value,
                             bool init_new_page, uint32_t xid) {
  BlockRef new_page;  // block 0: the new version (same layout as an insert's)
  new_page.rel = rel;
  new_page.blkno = new_blkno;
  new_page.will_init = init_new_page;
  Put16(&new_page.data, 1);
  Put16(&new_page.data, 0x0800);
  new_page.data.push_back(char(24));
  new_page.data.push_back('\0');
  Put32(&new_page.data, uint32_t(value));
  BlockRef old_page;  // block 1: the old version, no data
  old_page.rel = rel;
  old_page.blkno = old_blkno;
  RecordSpec spec;
  spec.rmid = kRmHeap;
  spec.info = kHeapUpdate | (init_new_page ? kHeapInitPage : 0);
  spec.xid = xid;
  spec.blocks = {std::move(new_page), std::move(old_page)};
  // xl_heap_update {old_xmax, old_offnum, old_infobits_set, flags, new_xmax,
  // new_offnum}
  Put32(&spec.main_data, xid);
  Put16(&spec.main_data, old_offnum);
  spec.main_data.push_back('\0');
  spec.main_data.push_back('\0');
  Put32(&spec.main_data, 0);
  Put16(&spec.main_data, new_offnum);
  return BuildRecord(spec);
}

uint32_t HeapTupleXmax(const std::string& item) { return item.size() >= 8 ? Get32(item, 4) : 0; }

std::pair<uint32_t, uint16_t> HeapTupleCtid(const std::string& item) {
  if (item.size() < 18) return {0, 0};
  return {(uint32_t(Get16(item, 12)) << 16) | Get16(item, 14), Get16(item, 16)};
}

int32_t HeapTupleValue(const std::string& item) {
  int32_t v = 0;
  if (item.size() >= 28) std::memcpy(&v, item.data() + 24, 4);
  return v;
}

}  // namespace neon::pgtest
