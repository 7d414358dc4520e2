// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// WalStreamDecoder: page headers, records spanning pages and segments,
// prev-link and CRC checks (Postgres 15's xlogreader.c, restated as a
// push-driven state machine so it can sit behind a network stream).

#include <algorithm>
#include <cstring>

#include "base/crc32c.h"
#include "base/coding.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "neon/wal.h"
#include "wal/pg_constants.h"

namespace neon {
namespace {

bool RmgrIdValid(uint8_t rmid) {
  return rmid <= pg::kRmMaxBuiltinId || rmid >= pg::kRmMinCustomId;
}

}  // namespace

class WalStreamDecoder::Impl {
 public:
  Impl(Lsn start, Lsn expected_prev)
      : pos_(start), start_(start), expected_prev_(expected_prev) {}

  void Feed(std::string_view bytes) {
    if (off_ > 0 && off_ >= buf_.size() / 2) {
      buf_.erase(0, off_);
      off_ = 0;
    }
    buf_.append(bytes);
  }

  absl::StatusOr<std::optional<WalRecord>> Poll() {
    NEON_RETURN_IF_ERROR(error_);
    while (true) {
      bool progress = false;
      absl::StatusOr<std::optional<WalRecord>> r = Step(&progress);
      if (!r.ok()) {
        error_ = r.status();
        return error_;
      }
      if (r->has_value() || !progress) return r;
    }
  }

  Lsn position() const { return pos_; }
  Lsn last_end() const { return last_end_; }
  Lsn last_start() const { return last_start_; }
  WalStop stop() const { return stop_; }
  size_t buffered() const { return buf_.size() - off_; }

 private:
  size_t avail() const { return buf_.size() - off_; }
  const char* head() const { return buf_.data() + off_; }
  uint64_t PageRemaining() const { return kWalBlockSize - pos_.value() % kWalBlockSize; }
  void Consume(size_t n) {
    off_ += n;
    pos_ = pos_.Plus(n);
  }

  absl::Status Fail(WalStop why, Lsn at, std::string_view what) {
    stop_ = why;
    return absl::DataLossError(StrCat("WAL at ", at.ToString(), ": ", what));
  }

  // One step of the state machine. Sets *progress when bytes were consumed.
  absl::StatusOr<std::optional<WalRecord>> Step(bool* progress) {
    if (raw_skip_until_.valid() && pos_ < raw_skip_until_) {
      size_t n = std::min<uint64_t>(avail(), raw_skip_until_.Minus(pos_));
      Consume(n);
      *progress = n > 0;
      return std::nullopt;
    }
    if (pos_.value() % kWalBlockSize == 0) {
      bool have = false;
      NEON_RETURN_IF_ERROR(ReadPageHeader(&have));
      *progress = have;
      return std::nullopt;
    }
    if (contrecord_skip_ > 0) {
      size_t n = std::min<uint64_t>({avail(), contrecord_skip_, PageRemaining()});
      Consume(n);
      contrecord_skip_ -= n;
      *progress = n > 0;
      return std::nullopt;
    }
    if (!in_record_) return BeginRecord(progress);
    return ContinueRecord(progress);
  }

  absl::Status ReadPageHeader(bool* have) {
    const bool seg_start = pos_.SegmentOffset(kWalSegmentSize) == 0;
    const uint32_t size = seg_start ? pg::kLongPageHeaderSize : pg::kShortPageHeaderSize;
    if (avail() < size) return absl::OkStatus();
    const char* p = head();
    const uint16_t magic = LoadHost<uint16_t>(p);
    const uint16_t info = LoadHost<uint16_t>(p + 2);
    const uint32_t tli = LoadHost<uint32_t>(p + 4);
    const uint64_t pageaddr = LoadHost<uint64_t>(p + 8);
    const uint32_t rem_len = LoadHost<uint32_t>(p + 16);
    if (magic != pg::kXlogPageMagic) {
      return Fail(WalStop::kBadPageHeader, pos_,
                  StrCat("invalid magic number ", Hex(magic), " in page header"));
    }
    if ((info & ~pg::kXlpAllFlags) != 0) {
      return Fail(WalStop::kBadPageHeader, pos_, StrCat("invalid info bits ", Hex(info)));
    }
    if (pageaddr != pos_.value()) {
      return Fail(WalStop::kBadPageHeader, pos_,
                  StrCat("unexpected pageaddr ", Lsn(pageaddr).ToString(), " in page header"));
    }
    if (seg_start != ((info & pg::kXlpLongHeader) != 0)) {
      return Fail(WalStop::kBadPageHeader, pos_,
                  seg_start ? "missing long header at segment start" : "unexpected long header");
    }
    if (seg_start) NEON_RETURN_IF_ERROR(CheckLongHeader(p));
    if (tli < timeline_) {
      return Fail(WalStop::kBadPageHeader, pos_,
                  StrCat("out-of-sequence timeline ", tli, " after ", timeline_));
    }
    timeline_ = tli;
    const bool contrecord = (info & pg::kXlpFirstIsContrecord) != 0;
    const Lsn page = pos_;
    Consume(size);
    *have = true;
    if (in_record_) {
      const uint64_t want = rec_total_ - rec_.size();
      if (!contrecord) {
        return Fail(WalStop::kBadRecord, page, "there is no contrecord flag");
      }
      if (rem_len != want || rem_len == 0) {
        return Fail(WalStop::kBadRecord, page,
                    StrCat("invalid contrecord length ", rem_len, " (expected ", want, ")"));
      }
    } else if (contrecord_skip_ > 0 || (contrecord && page == start_)) {
      if (!contrecord) return Fail(WalStop::kBadRecord, page, "there is no contrecord flag");
      // Started in the middle of a record: skip its tail.
      contrecord_skip_ = rem_len;
      skip_align_ = true;
    } else if (contrecord) {
      return Fail(WalStop::kBadRecord, page, "contrecord flag on a page that starts a record");
    }
    return absl::OkStatus();
  }

  absl::Status CheckLongHeader(const char* p) {
    const uint64_t sysid = LoadHost<uint64_t>(p + 24);
    const uint32_t seg_size = LoadHost<uint32_t>(p + 32);
    const uint32_t blcksz = LoadHost<uint32_t>(p + 36);
    if (seg_size != kWalSegmentSize || blcksz != kWalBlockSize) {
      return Fail(WalStop::kBadPageHeader, pos_,
                  StrCat("segment size ", seg_size, " / block size ", blcksz,
                         " in page header; expected 16 MiB / 8192"));
    }
    if (sysid_ != 0 && sysid != sysid_) {
      return Fail(WalStop::kBadPageHeader, pos_,
                  StrCat("WAL file is from a different database system: system identifier ",
                         sysid, ", expected ", sysid_));
    }
    sysid_ = sysid;
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<WalRecord>> BeginRecord(bool* progress) {
    if (skip_align_ || !pos_.IsAligned()) {
      const uint64_t pad = pos_.Align().Minus(pos_);
      if (avail() < pad) return std::nullopt;
      Consume(pad);
      skip_align_ = false;
      *progress = true;
      return std::nullopt;  // may have reached a page boundary
    }
    if (avail() < 4) return std::nullopt;
    const uint32_t tot_len = LoadHost<uint32_t>(head());
    if (tot_len == 0) {
      return Fail(WalStop::kZeroLength, pos_, "invalid record length: wanted 24, got 0");
    }
    if (tot_len < kXLogRecordHeaderSize || tot_len > kMaxWalRecordBytes) {
      return Fail(WalStop::kBadRecord, pos_, StrCat("invalid record length ", tot_len));
    }
    rec_start_ = pos_;
    rec_total_ = tot_len;
    *progress = true;
    if (tot_len <= PageRemaining() && tot_len <= avail()) {
      // The common case: the whole record is on this page and buffered.
      rec_.assign(head(), tot_len);
      Consume(tot_len);
      return FinishRecord();
    }
    in_record_ = true;
    rec_.clear();
    rec_.reserve(std::min<uint32_t>(tot_len, 1u << 16));
    return std::nullopt;
  }

  absl::StatusOr<std::optional<WalRecord>> ContinueRecord(bool* progress) {
    const size_t n = std::min<uint64_t>({avail(), rec_total_ - rec_.size(), PageRemaining()});
    rec_.append(head(), n);
    Consume(n);
    *progress = n > 0;
    if (rec_.size() < rec_total_) return std::nullopt;
    in_record_ = false;
    return FinishRecord();
  }

  absl::StatusOr<std::optional<WalRecord>> FinishRecord() {
    const char* h = rec_.data();
    const uint8_t rmid = static_cast<uint8_t>(h[17]);
    const Lsn prev(LoadHost<uint64_t>(h + 8));
    if (!RmgrIdValid(rmid)) {
      return Fail(WalStop::kBadRecord, rec_start_, StrCat("invalid resource manager ID ", rmid));
    }
    if (expected_prev_.valid() && prev != expected_prev_) {
      return Fail(WalStop::kBadRecord, rec_start_,
                  StrCat("record with incorrect prev-link ", prev.ToString(), " (expected ",
                         expected_prev_.ToString(), ")"));
    }
    uint32_t crc = crc32c::Value(h + kXLogRecordHeaderSize, rec_total_ - kXLogRecordHeaderSize);
    crc = crc32c::Extend(crc, h, pg::kXlRecordCrcOffset);
    if (crc != LoadHost<uint32_t>(h + pg::kXlRecordCrcOffset)) {
      return Fail(WalStop::kBadChecksum, rec_start_,
                  "incorrect resource manager data checksum in record");
    }
    absl::StatusOr<WalRecord> rec = DecodeWalRecord(rec_start_, std::move(rec_));
    rec_ = std::string();
    if (!rec.ok()) {
      stop_ = WalStop::kBadRecord;
      return rec.status();
    }
    rec->end_lsn = pos_.Align();
    expected_prev_ = rec_start_;
    last_start_ = rec_start_;
    last_end_ = rec->end_lsn;
    if (rec->rmid == pg::kRmXlog && (rec->info & pg::kXlrRmgrInfoMask) == pg::kXlogSwitch) {
      // The rest of the segment is padding; the next record starts the next one.
      const uint64_t seg_off = pos_.SegmentOffset(kWalSegmentSize);
      if (seg_off != 0) raw_skip_until_ = pos_.Plus(kWalSegmentSize - seg_off);
    }
    return std::optional<WalRecord>(std::move(*rec));
  }

  static std::string Hex(uint32_t v) {
    static const char kDigits[] = "0123456789ABCDEF";
    std::string s = "0000";
    for (int i = 3; i >= 0; i--, v >>= 4) s[i] = kDigits[v & 15];
    return s;
  }

  std::string buf_;
  size_t off_ = 0;
  Lsn pos_;
  const Lsn start_;
  Lsn expected_prev_;
  Lsn last_start_;
  Lsn last_end_;
  Lsn raw_skip_until_;
  uint64_t contrecord_skip_ = 0;
  bool skip_align_ = false;
  bool in_record_ = false;
  Lsn rec_start_;
  uint32_t rec_total_ = 0;
  std::string rec_;
  uint64_t sysid_ = 0;
  uint32_t timeline_ = 0;
  absl::Status error_;
  WalStop stop_ = WalStop::kNone;
};

WalStreamDecoder::WalStreamDecoder(Lsn start, Lsn expected_prev)
    : impl_(std::make_unique<Impl>(start, expected_prev)) {}
WalStreamDecoder::~WalStreamDecoder() = default;
void WalStreamDecoder::Feed(std::string_view bytes) { impl_->Feed(bytes); }
absl::StatusOr<std::optional<WalRecord>> WalStreamDecoder::Poll() { return impl_->Poll(); }
Lsn WalStreamDecoder::position() const { return impl_->position(); }
Lsn WalStreamDecoder::last_record_end() const { return impl_->last_end(); }
Lsn WalStreamDecoder::last_record_start() const { return impl_->last_start(); }
WalStop WalStreamDecoder::stop_reason() const { return impl_->stop(); }
size_t WalStreamDecoder::buffered_bytes() const { return impl_->buffered(); }

}  // namespace neon
