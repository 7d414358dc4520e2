// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Page masking as Postgres 15's wal_consistency_checking does it
// (access/common/bufmask.c and each access method's *_mask function): the
// parts of a page that change without WAL (hint bits, LSN, checksum, unused
// space, line-pointer flags on leaf pages, ...) are overwritten with
// MASK_MARKER (0) on both pages before they are compared.

#include "ingest/page_mask.h"

#include <cstring>

namespace neon::testing {
namespace {

constexpr uint8_t kMaskMarker = 0;
constexpr uint16_t kPageHeaderSize = 24;

uint16_t Get16(const std::string& p, size_t off) {
  uint16_t v;
  std::memcpy(&v, p.data() + off, 2);
  return v;
}
void Set16(std::string* p, size_t off, uint16_t v) { std::memcpy(p->data() + off, &v, 2); }
uint32_t Get32(const std::string& p, size_t off) {
  uint32_t v;
  std::memcpy(&v, p.data() + off, 4);
  return v;
}
void Set32(std::string* p, size_t off, uint32_t v) { std::memcpy(p->data() + off, &v, 4); }

uint16_t Lower(const std::string& p) { return Get16(p, 12); }
uint16_t Upper(const std::string& p) { return Get16(p, 14); }
uint16_t Special(const std::string& p) { return Get16(p, 16); }
bool IsNew(const std::string& p) { return Upper(p) == 0; }
int MaxOffset(const std::string& p) {
  return Lower(p) <= kPageHeaderSize ? 0 : (Lower(p) - kPageHeaderSize) / 4;
}

void MaskLsnAndChecksum(std::string* p) {
  std::memset(p->data(), kMaskMarker, 8);  // pd_lsn
  Set16(p, 8, kMaskMarker);                // pd_checksum
}

void MaskHintBits(std::string* p) {
  Set32(p, 20, kMaskMarker);  // pd_prune_xid
  // PD_HAS_FREE_LINES, PD_PAGE_FULL, PD_ALL_VISIBLE
  Set16(p, 10, Get16(*p, 10) & ~uint16_t{0x7});
}

void MaskUnusedSpace(std::string* p) {
  const uint16_t lower = Lower(*p), upper = Upper(*p), special = Special(*p);
  if (lower > upper || special < upper || lower < kPageHeaderSize || special > 8192) return;
  std::memset(p->data() + lower, kMaskMarker, upper - lower);
}

void MaskContent(std::string* p) {
  std::memset(p->data() + kPageHeaderSize, kMaskMarker, 8192 - kPageHeaderSize);
  Set16(p, 12, kMaskMarker);
  Set16(p, 14, kMaskMarker);
}

// Line pointers: lp_off:15, lp_flags:2, lp_len:15.
void MaskLpFlags(std::string* p) {
  for (int i = 0; i < MaxOffset(*p); i++) {
    const size_t at = kPageHeaderSize + 4 * i;
    uint32_t lp = Get32(*p, at);
    if (((lp >> 15) & 3) != 0) {  // used: set LP_UNUSED
      lp &= ~(uint32_t{3} << 15);
      Set32(p, at, lp);
    }
  }
}

void HeapMask(std::string* p, uint32_t blkno) {
  MaskLsnAndChecksum(p);
  MaskHintBits(p);
  MaskUnusedSpace(p);
  for (int i = 0; i < MaxOffset(*p); i++) {
    const uint32_t lp = Get32(*p, kPageHeaderSize + 4 * i);
    const uint32_t off = lp & 0x7FFF, flags = (lp >> 15) & 3, len = lp >> 17;
    if (flags == 1 && off + 23 <= 8192) {  // LP_NORMAL: a tuple header
      uint16_t infomask = Get16(*p, off + 20);
      if ((infomask & 0x0300) != 0x0300) {
        infomask &= ~uint16_t{0xFFF0};  // HEAP_XACT_MASK
      } else {
        infomask &= ~uint16_t{0x0800 | 0x0400};  // xmax invalid / committed
      }
      Set16(p, off + 20, infomask);
      Set32(p, off + 8, kMaskMarker);  // t_cid
      if (Get16(*p, off + 16) == 0xfffe) {  // speculative token in t_ctid
        Set16(p, off + 12, static_cast<uint16_t>(blkno >> 16));
        Set16(p, off + 14, static_cast<uint16_t>(blkno));
        Set16(p, off + 16, static_cast<uint16_t>(i + 1));
      }
    }
    if (len != 0 && off + len <= 8192) {
      const uint32_t pad = ((len + 7) & ~7u) - len;
      if (off + len + pad <= 8192) std::memset(p->data() + off + len, kMaskMarker, pad);
    }
  }
}

void BtreeMask(std::string* p) {
  MaskLsnAndChecksum(p);
  MaskUnusedSpace(p);
  const uint16_t sp = Special(*p);
  if (sp + 16 > 8192) return;
  uint16_t flags = Get16(*p, sp + 12);
  if (flags & 0x1) MaskLpFlags(p);  // BTP_LEAF
  flags &= ~uint16_t{0x40 | 0x20};  // BTP_HAS_GARBAGE, BTP_SPLIT_END
  Set16(p, sp + 12, flags);
  Set16(p, sp + 14, 0);  // btpo_cycleid
}

void HashMask(std::string* p) {
  MaskLsnAndChecksum(p);
  MaskHintBits(p);
  MaskUnusedSpace(p);
  const uint16_t sp = Special(*p);
  if (sp + 16 > 8192) return;
  uint16_t flag = Get16(*p, sp + 12);
  const uint16_t type = flag & 0xF;
  if (type == 0) {
    MaskContent(p);
  } else if (type == 1 || type == 2) {
    MaskLpFlags(p);
  }
  Set16(p, sp + 12, Get16(*p, sp + 12) & ~uint16_t{0x80});  // LH_PAGE_HAS_DEAD_TUPLES
  (void)flag;
}

void GinMask(std::string* p) {
  MaskLsnAndChecksum(p);
  const uint16_t sp = Special(*p);
  MaskHintBits(p);
  if (sp + 8 <= 8192 && (Get16(*p, sp + 6) & 0x4)) {  // GIN_DELETED
    MaskContent(p);
  } else if (Lower(*p) > kPageHeaderSize) {
    MaskUnusedSpace(p);
  }
}

void GistMask(std::string* p) {
  MaskLsnAndChecksum(p);
  MaskHintBits(p);
  MaskUnusedSpace(p);
  const uint16_t sp = Special(*p);
  if (sp + 16 > 8192) return;
  std::memset(p->data() + sp, kMaskMarker, 8);  // NSN
  uint16_t flags = Get16(*p, sp + 12) | 0x8;   // F_FOLLOW_RIGHT
  if (flags & 0x1) MaskLpFlags(p);             // F_LEAF
  flags &= ~uint16_t{0x10};                    // F_HAS_GARBAGE
  // F_TUPLES_DELETED: Postgres's own redo of XLOG_GIST_DELETE sets it
  // (gistRedoDeleteRecord) where the primary's gistprunepage does not, so a
  // standby differs from its primary here too.
  flags &= ~uint16_t{0x4};
  Set16(p, sp + 12, flags);
}

void SpgistMask(std::string* p, uint32_t blkno) {
  MaskLsnAndChecksum(p);
  MaskHintBits(p);
  if (Lower(*p) >= kPageHeaderSize) MaskUnusedSpace(p);
  // The metapage's last-used-pages cache is written without WAL
  // (SpGistUpdateMetaPage): SpGistMetaPageData {magic u32; 8 x {blkno, free}}.
  if (blkno == 0) std::memset(p->data() + kPageHeaderSize + 4, kMaskMarker, 64);
}

// A sequence page holds one tuple {last_value, log_cnt, is_called}. Redo
// leaves it where the WAL put it: up to SEQ_LOG_VALS (32) values ahead of the
// server's in-memory state, by design (a sequence jumps ahead after crash
// recovery too). Mask the tuple's data.
void SequenceMask(std::string* p) {
  MaskLsnAndChecksum(p);
  MaskHintBits(p);
  if (MaxOffset(*p) < 1) return;
  const uint32_t lp = Get32(*p, kPageHeaderSize);
  const uint32_t off = lp & 0x7FFF, len = lp >> 17;
  if (off + len > 8192 || len < 24) return;
  const uint8_t hoff = static_cast<uint8_t>((*p)[off + 22]);
  if (hoff < len) std::memset(p->data() + off + hoff, kMaskMarker, len - hoff);
  Set16(p, off + 20, Get16(*p, off + 20) & ~uint16_t{0xFFF0});
}

void BrinMask(std::string* p) {
  MaskLsnAndChecksum(p);
  MaskHintBits(p);
  const uint16_t sp = Special(*p);
  if (sp + 8 > 8192) return;
  const uint16_t type = Get16(*p, sp + 6);
  if (type == 0xF093 || (type == 0xF091 && Lower(*p) > kPageHeaderSize)) MaskUnusedSpace(p);
  Set16(p, sp + 4, Get16(*p, sp + 4) & ~uint16_t{0x1});  // BRIN_EVACUATE_PAGE
}

}  // namespace

void MaskPage(std::string* page, const std::string& am, uint8_t fork, uint32_t blkno) {
  if (page->size() != 8192 || IsNew(*page)) return;
  if (fork == 2) {  // visibility map: only the LSN and checksum change without WAL
    MaskLsnAndChecksum(page);
    return;
  }
  if (am == "heap" || am == "heap2") {
    HeapMask(page, blkno);
  } else if (am == "btree") {
    BtreeMask(page);
  } else if (am == "hash") {
    HashMask(page);
  } else if (am == "gin") {
    GinMask(page);
  } else if (am == "gist") {
    GistMask(page);
  } else if (am == "spgist") {
    SpgistMask(page, blkno);
  } else if (am == "brin") {
    BrinMask(page);
  } else if (am == "S") {
    SequenceMask(page);
  } else {
    MaskLsnAndChecksum(page);
    MaskUnusedSpace(page);
  }
}

bool VmBitsSubset(const std::string& ours, const std::string& theirs) {
  for (size_t i = 24; i < 8192; i++) {
    if ((ours[i] & ~theirs[i]) != 0) return false;
  }
  return ours.substr(0, 24) == theirs.substr(0, 24);
}

}  // namespace neon::testing
