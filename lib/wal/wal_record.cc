// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// DecodeWalRecord: Postgres 15's DecodeXLogRecord (xlogreader.c), with the
// same checks, producing offsets into the record instead of pointers.

#include <cstring>

#include "base/coding.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "lz4.h"
#include "neon/wal.h"
#include "wal/pg_constants.h"
#include "wal/pglz.h"
#include "zstd.h"

namespace neon {
namespace {

// A bounded cursor over the record's header area.
class Cursor {
 public:
  Cursor(const std::string& s, uint32_t pos) : s_(s), pos_(pos) {}
  uint32_t pos() const { return pos_; }
  uint32_t remaining() const { return static_cast<uint32_t>(s_.size()) - pos_; }
  bool Take(uint32_t n, const char** out) {
    if (remaining() < n) return false;
    *out = s_.data() + pos_;
    pos_ += n;
    return true;
  }
  bool U8(uint8_t* v) {
    const char* p;
    if (!Take(1, &p)) return false;
    *v = static_cast<uint8_t>(*p);
    return true;
  }
  bool U16(uint16_t* v) {
    const char* p;
    if (!Take(2, &p)) return false;
    *v = LoadHost<uint16_t>(p);
    return true;
  }
  bool U32(uint32_t* v) {
    const char* p;
    if (!Take(4, &p)) return false;
    *v = LoadHost<uint32_t>(p);
    return true;
  }

 private:
  const std::string& s_;
  uint32_t pos_;
};

absl::Status Bad(Lsn lsn, std::string_view what) {
  return absl::DataLossError(StrCat("WAL record at ", lsn.ToString(), ": ", what));
}

// Reads an image header (XLogRecordBlockImageHeader and the optional
// compress header) and checks it as Postgres does.
absl::Status DecodeImageHeader(Lsn lsn, Cursor* c, WalBlockRef* b) {
  if (!c->U16(&b->bimg_len) || !c->U16(&b->hole_offset) || !c->U8(&b->bimg_info)) {
    return Bad(lsn, "truncated block image header");
  }
  b->apply_image = (b->bimg_info & pg::kBkpImageApply) != 0;
  const bool compressed = (b->bimg_info & pg::kBkpImageCompressMask) != 0;
  const bool has_hole = (b->bimg_info & pg::kBkpImageHasHole) != 0;
  if (compressed) {
    if (has_hole && !c->U16(&b->hole_length)) return Bad(lsn, "truncated compress header");
  } else {
    b->hole_length = static_cast<uint16_t>(kPgPageSize - b->bimg_len);
  }
  if (has_hole && (b->hole_offset == 0 || b->hole_length == 0 || b->bimg_len == kPgPageSize)) {
    return Bad(lsn, StrCat("BKPIMAGE_HAS_HOLE set, but hole offset ", b->hole_offset,
                           " length ", b->hole_length, " block image length ", b->bimg_len));
  }
  if (!has_hole && (b->hole_offset != 0 || b->hole_length != 0)) {
    return Bad(lsn, StrCat("BKPIMAGE_HAS_HOLE not set, but hole offset ", b->hole_offset,
                           " length ", b->hole_length));
  }
  if (compressed && b->bimg_len == kPgPageSize) {
    return Bad(lsn, "BKPIMAGE_COMPRESSED set, but block image length 8192");
  }
  if (!has_hole && !compressed && b->bimg_len != kPgPageSize) {
    return Bad(lsn, StrCat("neither BKPIMAGE_HAS_HOLE nor BKPIMAGE_COMPRESSED set, but block "
                           "image length ", b->bimg_len));
  }
  if (static_cast<uint32_t>(b->hole_offset) + b->hole_length > kPgPageSize) {
    return Bad(lsn, "block image hole past the page end");
  }
  return absl::OkStatus();
}

absl::Status DecodeBlockHeader(Lsn lsn, uint8_t id, Cursor* c, const RelTag** last_rel,
                               WalRecord* r) {
  WalBlockRef b;
  b.id = id;
  if (!c->U8(&b.fork_flags) || !c->U16(&b.data_len)) return Bad(lsn, "truncated block header");
  if ((b.fork_flags & pg::kBkpBlockForkMask) > pg::kMaxFork) {
    return Bad(lsn, StrCat("invalid fork number ", b.fork_flags & pg::kBkpBlockForkMask));
  }
  b.has_image = (b.fork_flags & pg::kBkpBlockHasImage) != 0;
  b.has_data = (b.fork_flags & pg::kBkpBlockHasData) != 0;
  if (b.has_data && b.data_len == 0) return Bad(lsn, "BKPBLOCK_HAS_DATA set, but no data");
  if (!b.has_data && b.data_len != 0) {
    return Bad(lsn, StrCat("BKPBLOCK_HAS_DATA not set, but data length is ", b.data_len));
  }
  if (b.has_image) NEON_RETURN_IF_ERROR(DecodeImageHeader(lsn, c, &b));
  if (b.fork_flags & pg::kBkpBlockSameRel) {
    if (*last_rel == nullptr) return Bad(lsn, "BKPBLOCK_SAME_REL set but no previous rel");
    b.rel = **last_rel;
  } else {
    if (!c->U32(&b.rel.spc_oid) || !c->U32(&b.rel.db_oid) || !c->U32(&b.rel.rel_number)) {
      return Bad(lsn, "truncated relation in block header");
    }
  }
  b.rel.fork = b.fork_flags & pg::kBkpBlockForkMask;
  if (!c->U32(&b.blkno)) return Bad(lsn, "truncated block number");
  r->blocks.push_back(b);
  *last_rel = &r->blocks.back().rel;
  return absl::OkStatus();
}

// Parses the block headers, main-data header, origin and top-level xid.
absl::Status DecodeHeaders(Lsn lsn, Cursor* c, WalRecord* r, uint32_t* main_len) {
  const RelTag* last_rel = nullptr;
  int max_block_id = -1;
  uint64_t datatotal = 0;  // payload bytes announced so far
  while (c->remaining() > datatotal) {
    uint8_t id = 0;
    c->U8(&id);
    if (id == pg::kXlrBlockIdDataShort) {
      uint8_t n;
      if (!c->U8(&n)) return Bad(lsn, "truncated main data length");
      *main_len = n;
      break;  // by convention the main data header comes last
    }
    if (id == pg::kXlrBlockIdDataLong) {
      if (!c->U32(main_len)) return Bad(lsn, "truncated main data length");
      break;
    }
    if (id == pg::kXlrBlockIdOrigin) {
      uint16_t origin;
      if (!c->U16(&origin)) return Bad(lsn, "truncated origin");
      r->origin = origin;
    } else if (id == pg::kXlrBlockIdToplevelXid) {
      uint32_t xid;
      if (!c->U32(&xid)) return Bad(lsn, "truncated top-level xid");
      r->toplevel_xid = xid;
    } else if (id <= pg::kXlrMaxBlockId) {
      if (static_cast<int>(id) <= max_block_id) {
        return Bad(lsn, StrCat("out-of-order block_id ", id));
      }
      max_block_id = id;
      // `blocks` may reallocate: DecodeBlockHeader re-points last_rel.
      NEON_RETURN_IF_ERROR(DecodeBlockHeader(lsn, id, c, &last_rel, r));
      const WalBlockRef& b = r->blocks.back();
      datatotal += (b.has_image ? b.bimg_len : 0) + b.data_len;
    } else {
      return Bad(lsn, StrCat("invalid block_id ", id));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const WalBlockRef* WalRecord::block(uint8_t id) const {
  for (const WalBlockRef& b : blocks) {
    if (b.id == id) return &b;
  }
  return nullptr;
}

uint32_t WalRecord::fpi_len() const {
  uint32_t n = 0;
  for (const WalBlockRef& b : blocks) {
    if (b.has_image) n += b.bimg_len;
  }
  return n;
}

absl::StatusOr<WalRecord> DecodeWalRecord(Lsn lsn, std::string bytes) {
  if (bytes.size() < kXLogRecordHeaderSize) return Bad(lsn, "shorter than its header");
  WalRecord r;
  r.lsn = lsn;
  const char* h = bytes.data();
  r.tot_len = LoadHost<uint32_t>(h);
  r.xid = LoadHost<uint32_t>(h + 4);
  r.prev = Lsn(LoadHost<uint64_t>(h + 8));
  r.info = static_cast<uint8_t>(h[16]);
  r.rmid = static_cast<uint8_t>(h[17]);
  r.crc = LoadHost<uint32_t>(h + pg::kXlRecordCrcOffset);
  if (r.tot_len != bytes.size()) {
    return Bad(lsn, StrCat("xl_tot_len ", r.tot_len, " but ", bytes.size(), " bytes"));
  }
  r.bytes = std::move(bytes);
  Cursor c(r.bytes, kXLogRecordHeaderSize);
  uint32_t main_len = 0;
  // Headers end where the payload of blocks and main data begins: compute
  // the expected total and compare.
  NEON_RETURN_IF_ERROR(DecodeHeaders(lsn, &c, &r, &main_len));
  uint64_t pos = c.pos();
  for (WalBlockRef& b : r.blocks) {
    if (b.has_image) {
      b.image_offset = static_cast<uint32_t>(pos);
      pos += b.bimg_len;
    }
    if (b.has_data) {
      b.data_offset = static_cast<uint32_t>(pos);
      pos += b.data_len;
    }
  }
  r.main_data_offset = static_cast<uint32_t>(pos);
  r.main_data_len = main_len;
  pos += main_len;
  if (pos != r.tot_len) {
    return Bad(lsn, StrCat("record length ", r.tot_len, " does not match its contents (", pos,
                           " bytes)"));
  }
  return r;
}

absl::StatusOr<std::string> WalRecord::RestoreImage(const WalBlockRef& b) const {
  if (!b.has_image) return absl::InvalidArgumentError("block has no image");
  std::string_view stored(bytes.data() + b.image_offset, b.bimg_len);
  const uint32_t want = kPgPageSize - b.hole_length;
  std::string tmp;
  std::string_view image = stored;
  const uint8_t comp = b.bimg_info & pg::kBkpImageCompressMask;
  if (comp != 0) {
    tmp.resize(want);
    bool ok = false;
    if (comp == pg::kBkpImageCompressPglz) {
      ok = pg::PglzDecompress(stored, tmp.data(), want);
    } else if (comp == pg::kBkpImageCompressLz4) {
      int n = LZ4_decompress_safe(stored.data(), tmp.data(), static_cast<int>(stored.size()),
                                  static_cast<int>(want));
      ok = n == static_cast<int>(want);
    } else if (comp == pg::kBkpImageCompressZstd) {
      size_t n = ZSTD_decompress(tmp.data(), want, stored.data(), stored.size());
      ok = !ZSTD_isError(n) && n == want;
    }
    if (!ok) {
      return Bad(lsn, StrCat("could not decompress image of block ", b.blkno, " of ",
                             b.rel.ToString(), " (method 0x", static_cast<int>(comp), ")"));
    }
    image = tmp;
  } else if (stored.size() != want) {
    return Bad(lsn, "block image size mismatch");
  }
  std::string page(kPgPageSize, '\0');
  std::memcpy(page.data(), image.data(), b.hole_offset);
  std::memcpy(page.data() + b.hole_offset + b.hole_length, image.data() + b.hole_offset,
              kPgPageSize - b.hole_offset - b.hole_length);
  return page;
}

}  // namespace neon
