// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// pg_control, the start WAL segment and page checksums for basebackups.

#include "engine/basebackup_pg.h"

#include <cstring>

#include "base/coding.h"
#include "base/crc32c.h"
#include "base/str_cat.h"
#include "neon/wal.h"
#include "wal/pg_constants.h"

namespace neon::pg {
namespace {

static_assert(kCheckpointRecordSize == 114, "SizeOfXLogRecord + short data header + CheckPoint");
static_assert(kControlCrcOffset == kControlCheckPointCopyOffset + kCheckPointSize + 160,
              "ControlFileData layout of Postgres 15");

template <typename T>
void StoreHost(char* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

// XLogPageHeaderData: magic u16, info u16, tli u32, pageaddr u64, rem_len u32;
// the long form adds sysid u64, seg_size u32, xlog_blcksz u32.
std::string PageHeader(Lsn page, uint16_t info, uint32_t rem_len, bool long_header,
                       uint64_t system_id) {
  std::string h(long_header ? kLongPageHeaderSize : kShortPageHeaderSize, '\0');
  StoreHost<uint16_t>(h.data(), kXlogPageMagic);
  StoreHost<uint16_t>(h.data() + 2,
                      static_cast<uint16_t>(info | (long_header ? kXlpLongHeader : 0)));
  StoreHost<uint32_t>(h.data() + 4, kBaseBackupTimeline);
  StoreHost<uint64_t>(h.data() + 8, page.value());
  StoreHost<uint32_t>(h.data() + 16, rem_len);
  if (long_header) {
    StoreHost<uint64_t>(h.data() + 24, system_id);
    StoreHost<uint32_t>(h.data() + 32, static_cast<uint32_t>(kWalSegmentSize));
    StoreHost<uint32_t>(h.data() + 36, kWalBlockSize);
  }
  return h;
}

// The page at `page_lsn` in `images` (creating the segment image and a zero
// page as needed).
std::string* PageOf(std::vector<WalSegmentImage>* images, Lsn page_lsn) {
  const std::string name = WalSegmentFileName(kBaseBackupTimeline, page_lsn);
  if (images->empty() || images->back().file_name != name) {
    images->push_back(WalSegmentImage{name, {}});
  }
  const auto off = static_cast<uint32_t>(page_lsn.SegmentOffset(kWalSegmentSize));
  auto [it, inserted] = images->back().pages.try_emplace(off, std::string(kWalBlockSize, '\0'));
  return &it->second;
}

// checksum_impl.h: FNV-1a-like mixing over 32 parallel sums.
constexpr uint32_t kChecksumBaseOffsets[32] = {
    0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A, 0x79FF467A, 0x9BB9F8A3, 0x217E7CD2, 0x83E13D2C,
    0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA, 0x7B093B5D, 0x98DAFF3C, 0xF718902A, 0x0B1C9CDB,
    0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE, 0x92BEC979, 0xCCA6C0B2, 0x304A0979, 0x85AA43D4,
    0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E, 0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756};
constexpr uint32_t kFnvPrime = 16777619;
constexpr size_t kPdChecksumOffset = 8, kPdUpperOffset = 14;

inline void ChecksumComp(uint32_t* sum, uint32_t value) {
  const uint32_t tmp = *sum ^ value;
  *sum = tmp * kFnvPrime ^ (tmp >> 17);
}

}  // namespace

absl::StatusOr<std::string> StartCheckpoint(std::string_view stored, Lsn start) {
  if (stored.size() != kCheckPointSize) {
    return absl::DataLossError(
        StrCat("stored checkpoint is ", stored.size(), " bytes, not ", kCheckPointSize));
  }
  std::string cp(stored);
  StoreHost<uint64_t>(cp.data() + kCheckPointRedoOffset, start.value());
  StoreHost<uint32_t>(cp.data() + kCheckPointTliOffset, kBaseBackupTimeline);
  StoreHost<uint32_t>(cp.data() + kCheckPointPrevTliOffset, kBaseBackupTimeline);
  StoreHost<uint32_t>(cp.data() + kCheckPointOldestActiveXidOffset, 0);
  return cp;
}

absl::StatusOr<std::string> GeneratePgControl(std::string_view stored, std::string_view checkpoint,
                                              Lsn start) {
  if (stored.size() < kControlCrcOffset + 4) {
    return absl::DataLossError(StrCat("stored pg_control is ", stored.size(), " bytes"));
  }
  const uint32_t version = LoadHost<uint32_t>(stored, kControlVersionOffset);
  if (version != kPgControlVersion) {
    return absl::DataLossError(StrCat("stored pg_control has version ", version, ", not ",
                                      kPgControlVersion, " (Postgres 15)"));
  }
  if (checkpoint.size() != kCheckPointSize)
    return absl::DataLossError("checkpoint is not 88 bytes");
  std::string c(stored);
  StoreHost<uint32_t>(c.data() + kControlStateOffset, kDbShutdowned);
  StoreHost<uint64_t>(c.data() + kControlCheckPointOffset, start.value());
  std::memcpy(c.data() + kControlCheckPointCopyOffset, checkpoint.data(), kCheckPointSize);
  StoreHost<uint64_t>(c.data() + kControlMinRecoveryPointOffset, 0);
  StoreHost<uint32_t>(c.data() + kControlMinRecoveryPointTliOffset, 0);
  StoreHost<uint64_t>(c.data() + kControlBackupStartPointOffset, 0);
  StoreHost<uint64_t>(c.data() + kControlBackupEndPointOffset, 0);
  c[kControlBackupEndRequiredOffset] = 0;
  StoreHost<uint32_t>(c.data() + kControlCrcOffset, crc32c::Value(c.data(), kControlCrcOffset));
  return c;
}

std::string CheckpointRecord(std::string_view checkpoint, Lsn prev) {
  std::string r(kCheckpointRecordSize, '\0');
  StoreHost<uint32_t>(r.data(), kCheckpointRecordSize);  // xl_tot_len
  StoreHost<uint32_t>(r.data() + 4, 0);                  // xl_xid
  StoreHost<uint64_t>(r.data() + 8, prev.value());       // xl_prev
  r[16] = static_cast<char>(kXlogCheckpointShutdown);    // xl_info
  r[17] = static_cast<char>(kRmXlog);                    // xl_rmid
  r[kXLogRecordHeaderSize] = static_cast<char>(kXlrBlockIdDataShort);
  r[kXLogRecordHeaderSize + 1] = static_cast<char>(kCheckPointSize);
  std::memcpy(r.data() + kXLogRecordHeaderSize + 2, checkpoint.data(), kCheckPointSize);
  // xl_crc: the data after the header, then the header up to xl_crc.
  uint32_t crc = crc32c::Value(r.data() + kXLogRecordHeaderSize, r.size() - kXLogRecordHeaderSize);
  crc = crc32c::Extend(crc, r.data(), kXlRecordCrcOffset);
  StoreHost<uint32_t>(r.data() + kXlRecordCrcOffset, crc);
  return r;
}

std::vector<WalSegmentImage> GenerateStartWal(Lsn start, uint64_t system_id,
                                              std::string_view record, Lsn* end) {
  std::vector<WalSegmentImage> images;
  const Lsn seg_start(start.value() - start.SegmentOffset(kWalSegmentSize));
  const Lsn page(start.value() - start.value() % kWalBlockSize);
  auto header_size = [](Lsn p) {
    return p.SegmentOffset(kWalSegmentSize) == 0 ? kLongPageHeaderSize : kShortPageHeaderSize;
  };
  // The segment's first page always carries the long header Postgres checks
  // when it opens the file.
  if (page != seg_start) {
    PageOf(&images, seg_start)
        ->replace(0, kLongPageHeaderSize, PageHeader(seg_start, 0, 0, true, system_id));
  }
  // The page holding `start`: what precedes the record on it reads as the
  // tail of an earlier record, so a reader starting at the page lands on it.
  const uint32_t before = static_cast<uint32_t>(start.Minus(page.Plus(header_size(page))));
  std::string* p = PageOf(&images, page);
  p->replace(0, header_size(page),
             PageHeader(page, before > 0 ? kXlpFirstIsContrecord : 0, before, page == seg_start,
                        system_id));
  const size_t in_page = static_cast<size_t>(start.value() - page.value());
  const size_t first = std::min(record.size(), size_t{kWalBlockSize} - in_page);
  p->replace(in_page, first, record.substr(0, first));
  Lsn pos = start.Plus(first);
  if (first < record.size()) {
    // The rest continues after the next page's header.
    const Lsn next = page.Plus(kWalBlockSize);
    const uint32_t rest = static_cast<uint32_t>(record.size() - first);
    std::string* q = PageOf(&images, next);
    const uint32_t hs = header_size(next);
    q->replace(0, hs,
               PageHeader(next, kXlpFirstIsContrecord, rest, hs == kLongPageHeaderSize, system_id));
    q->replace(hs, rest, record.substr(first));
    pos = next.Plus(hs + rest);
  }
  *end = pos.Align();
  return images;
}

uint16_t PageChecksum(std::string_view page, uint32_t blkno) {
  uint32_t sums[32];
  std::memcpy(sums, kChecksumBaseOffsets, sizeof(sums));
  const auto* words = reinterpret_cast<const unsigned char*>(page.data());
  constexpr size_t kRows = kPgPageSize / (4 * 32);
  for (size_t i = 0; i < kRows; i++) {
    for (size_t j = 0; j < 32; j++) {
      const size_t off = (i * 32 + j) * 4;
      uint32_t w;
      std::memcpy(&w, words + off, 4);
      // pd_checksum counts as zero.
      if (off == kPdChecksumOffset - kPdChecksumOffset % 4) w &= 0xFFFF0000u;
      ChecksumComp(&sums[j], w);
    }
  }
  for (int round = 0; round < 2; round++) {
    for (size_t j = 0; j < 32; j++) ChecksumComp(&sums[j], 0);
  }
  uint32_t result = 0;
  for (uint32_t s : sums) result ^= s;
  result ^= blkno;
  return static_cast<uint16_t>(result % 65535 + 1);
}

void SetPageChecksum(std::string* page, uint32_t blkno) {
  if (page->size() != kPgPageSize || LoadHost<uint16_t>(*page, kPdUpperOffset) == 0) return;
  StoreHost<uint16_t>(page->data() + kPdChecksumOffset, PageChecksum(*page, blkno));
}

}  // namespace neon::pg
