// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Transactions (commit/abort, subtransactions, two-phase), CLOG and
// multixact SLRUs, and the checkpoint fields records advance.

#include <cstring>
#include <map>
#include <vector>

#include "base/coding.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "engine/wal_ingest_impl.h"
#include "wal/pg_constants.h"

namespace neon {
namespace {

constexpr uint32_t kClogXactsPerPage = 8192 * 4;
constexpr uint32_t kMultiXactOffsetsPerPage = 8192 / 4;
constexpr uint32_t kMultiXactMembersPerPage = (8192 / 20) * 4;  // 409 groups of 4
constexpr uint32_t kSlruPagesPerSegment = 32;
constexpr uint32_t kFirstNormalXid = 3;
constexpr uint32_t kXidCheckpointInterval = 1024;

bool XidPrecedes(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }

bool ClogPagePrecedes(uint32_t p1, uint32_t p2) {
  const uint32_t x1 = p1 * kClogXactsPerPage + kFirstNormalXid + 1;
  const uint32_t x2 = p2 * kClogXactsPerPage + kFirstNormalXid + 1;
  return XidPrecedes(x1, x2) && XidPrecedes(x1, x2 + kClogXactsPerPage - 1);
}

// The parts of xl_xact_commit / xl_xact_abort the ingester needs
// (access/xact.h; ParseCommitRecord / ParseAbortRecord).
struct ParsedXact {
  int64_t xact_time = 0;
  std::vector<uint32_t> subxacts;
  std::vector<RelTag> dropped;  // main forks of dropped relations
  uint32_t twophase_xid = 0;
};

absl::StatusOr<ParsedXact> ParseXact(const WalRecord& r, bool commit) {
  std::string_view d = r.main_data();
  ParsedXact p;
  p.xact_time = LoadHost<int64_t>(d, 0);
  size_t pos = 8;
  uint32_t xinfo = 0;
  if (r.info & pg::kXactHasInfo) {
    xinfo = LoadHost<uint32_t>(d, pos);
    pos += 4;
  }
  if (xinfo & pg::kXinfoHasDbinfo) pos += 8;
  if (xinfo & pg::kXinfoHasSubxacts) {
    const uint32_t n = LoadHost<uint32_t>(d, pos);
    if (pos + 4 + 4ull * n > d.size()) return absl::DataLossError("transaction record truncated");
    for (uint32_t i = 0; i < n; i++) p.subxacts.push_back(LoadHost<uint32_t>(d, pos + 4 + 4 * i));
    pos += 4 + 4ull * n;
  }
  if (xinfo & pg::kXinfoHasRelfilenodes) {
    const uint32_t n = LoadHost<uint32_t>(d, pos);
    if (pos + 4 + 12ull * n > d.size()) return absl::DataLossError("transaction record truncated");
    for (uint32_t i = 0; i < n; i++) {
      const size_t o = pos + 4 + 12ull * i;
      p.dropped.push_back(RelTag{LoadHost<uint32_t>(d, o), LoadHost<uint32_t>(d, o + 4),
                                 LoadHost<uint32_t>(d, o + 8), 0});
    }
    pos += 4 + 12ull * n;
  }
  if (xinfo & pg::kXinfoHasDroppedStats) pos += 4 + 12ull * LoadHost<uint32_t>(d, pos);
  if (commit && (xinfo & pg::kXinfoHasInvals)) pos += 4 + 16ull * LoadHost<uint32_t>(d, pos);
  if (xinfo & pg::kXinfoHasTwophase) {
    if (pos + 4 > d.size()) return absl::DataLossError("transaction record truncated");
    p.twophase_xid = LoadHost<uint32_t>(d, pos);
  }
  return p;
}

}  // namespace

// ---- Checkpoint -------------------------------------------------------------------

uint32_t PgCheckpoint::Get32(size_t off) const { return LoadHost<uint32_t>(bytes, off); }
void PgCheckpoint::Set32(size_t off, uint32_t v) { std::memcpy(bytes.data() + off, &v, 4); }
void PgCheckpoint::Set64(size_t off, uint64_t v) { std::memcpy(bytes.data() + off, &v, 8); }
uint64_t PgCheckpoint::next_xid() const { return LoadHost<uint64_t>(bytes, kNextXid); }
void PgCheckpoint::set_next_xid(uint64_t v) { Set64(kNextXid, v); }

// nextXid stays above every xid in the WAL, aligned up to 1024 so the
// checkpoint key is rewritten rarely (as Neon does).
void WalIngester::Impl::AdvanceNextXid(uint32_t xid) {
  uint32_t next = xid + 1;
  if (next < kFirstNormalXid) next = kFirstNormalXid;
  next = (next + kXidCheckpointInterval - 1) & ~(kXidCheckpointInterval - 1);
  const uint64_t full = checkpoint_.next_xid();
  const uint32_t old = static_cast<uint32_t>(full);
  if (static_cast<int32_t>(next - old) <= 0) return;
  uint64_t epoch = full >> 32;
  if (next < old) epoch++;  // wrapped around
  checkpoint_.set_next_xid((epoch << 32) | next);
  checkpoint_dirty_ = true;
}

// ---- SLRU pages ------------------------------------------------------------------

absl::Status WalIngester::Impl::PutSlruPage(SlruKind kind, uint32_t pageno, Value v) {
  const int k = static_cast<int>(kind);
  const uint32_t segno = pageno / kSlruPagesPerSegment, rpage = pageno % kSlruPagesPerSegment;
  if (slru_dirs_[k].insert(segno).second) slru_dirty_[k] = true;
  auto it = slru_sizes_.find({k, segno});
  if (it == slru_sizes_.end()) {
    uint32_t size = 0;
    if (last_end_.valid()) {
      absl::StatusOr<std::string> s = tl_->GetPage(Key::SlruSegmentSize(kind, segno), last_end_);
      if (s.ok() && s->size() == 4) size = LoadHost<uint32_t>(*s, 0);
    }
    it = slru_sizes_.emplace(std::make_pair(k, segno), size).first;
  }
  if (rpage >= it->second) {
    for (uint32_t p = it->second; p < rpage; p++) {  // gaps read as zero pages
      NEON_RETURN_IF_ERROR(Put(Key::SlruBlock(kind, segno, p), Value::Image(std::string(8192, '\0'))));
    }
    it->second = rpage + 1;
    std::string sz;
    PutFixed32LE(&sz, rpage + 1);
    NEON_RETURN_IF_ERROR(Put(Key::SlruSegmentSize(kind, segno), Value::Image(std::move(sz))));
  }
  return Put(Key::SlruBlock(kind, segno, rpage), std::move(v));
}

// ---- Transactions -------------------------------------------------------------------

absl::Status WalIngester::Impl::IngestXact(const WalRecord& r) {
  const uint8_t op = r.info & pg::kXactOpMask;
  if (op == pg::kXactPrepare) {
    // The main data is the two-phase state file.
    twophase_.insert(r.xid);
    twophase_dirty_ = true;
    return Put(Key::TwoPhaseFile(r.xid), Value::Image(std::string(r.main_data())));
  }
  const bool commit = op == pg::kXactCommit || op == pg::kXactCommitPrepared;
  const bool prepared = op == pg::kXactCommitPrepared || op == pg::kXactAbortPrepared;
  if (!commit && op != pg::kXactAbort && op != pg::kXactAbortPrepared) return absl::OkStatus();
  NEON_ASSIGN_OR_RETURN(ParsedXact p, ParseXact(r, commit));
  const uint32_t xid = prepared ? p.twophase_xid : r.xid;
  std::vector<uint32_t> xids = {xid};
  xids.insert(xids.end(), p.subxacts.begin(), p.subxacts.end());
  // One CLOG record per page the transaction and its subtransactions touch.
  std::map<uint32_t, std::vector<uint32_t>> by_page;
  for (uint32_t x : xids) by_page[x / kClogXactsPerPage].push_back(x);
  for (auto& [page, on_page] : by_page) {
    Value v = commit ? Value::FromRecord(ClogSetCommitted{std::move(on_page), p.xact_time})
                     : Value::FromRecord(ClogSetAborted{std::move(on_page)});
    NEON_RETURN_IF_ERROR(PutSlruPage(SlruKind::kClog, page, std::move(v)));
  }
  for (uint32_t s : p.subxacts) AdvanceNextXid(s);
  if (prepared && twophase_.erase(xid)) twophase_dirty_ = true;
  for (RelTag rel : p.dropped) {
    for (uint8_t fork = 0; fork <= pg::kMaxFork; fork++) {
      rel.fork = fork;
      NEON_RETURN_IF_ERROR(DropRelation(rel));
    }
  }
  return absl::OkStatus();
}

absl::Status WalIngester::Impl::IngestClog(const WalRecord& r) {
  std::string_view d = r.main_data();
  const uint8_t type = r.info & pg::kXlrRmgrInfoMask;
  if (type == pg::kClogZeroPage) {
    return PutSlruPage(SlruKind::kClog, LoadHost<uint32_t>(d, 0),
                       Value::Image(std::string(8192, '\0')));
  }
  if (type != pg::kClogTruncate) return absl::OkStatus();
  // xl_clog_truncate {int pageno; TransactionId oldestXact; Oid oldestXactDb}
  const uint32_t cutoff = LoadHost<uint32_t>(d, 0);
  checkpoint_.Set32(PgCheckpoint::kOldestXid, LoadHost<uint32_t>(d, 4));
  checkpoint_.Set32(PgCheckpoint::kOldestXidDb, LoadHost<uint32_t>(d, 8));
  checkpoint_dirty_ = true;
  auto& dir = slru_dirs_[static_cast<int>(SlruKind::kClog)];
  for (auto it = dir.begin(); it != dir.end();) {
    const uint32_t first = *it * kSlruPagesPerSegment;
    if (ClogPagePrecedes(first, cutoff) && ClogPagePrecedes(first + kSlruPagesPerSegment - 1, cutoff)) {
      it = dir.erase(it);
      slru_dirty_[static_cast<int>(SlruKind::kClog)] = true;
    } else {
      ++it;
    }
  }
  return absl::OkStatus();
}

absl::Status WalIngester::Impl::IngestMultiXact(const WalRecord& r) {
  std::string_view d = r.main_data();
  const uint8_t type = r.info & pg::kXlrRmgrInfoMask;
  const Value zero = Value::Image(std::string(8192, '\0'));
  if (type == pg::kMultiXactZeroOffPage) {
    return PutSlruPage(SlruKind::kMultiXactOffsets, LoadHost<uint32_t>(d, 0), zero);
  }
  if (type == pg::kMultiXactZeroMemPage) {
    return PutSlruPage(SlruKind::kMultiXactMembers, LoadHost<uint32_t>(d, 0), zero);
  }
  if (type == pg::kMultiXactCreateId) {
    // {MultiXactId mid; MultiXactOffset moff; int32 nmembers; {xid, status}[]}
    const uint32_t mid = LoadHost<uint32_t>(d, 0), moff = LoadHost<uint32_t>(d, 4);
    const uint32_t n = LoadHost<uint32_t>(d, 8);
    if (12 + 8ull * n > d.size()) return absl::DataLossError("multixact record truncated");
    NEON_RETURN_IF_ERROR(PutSlruPage(SlruKind::kMultiXactOffsets, mid / kMultiXactOffsetsPerPage,
                                     Value::FromRecord(MultixactOffsetCreate{mid, moff})));
    uint32_t off = moff, i = 0;
    while (i < n) {
      const uint32_t room = kMultiXactMembersPerPage - off % kMultiXactMembersPerPage;
      MultixactMembersCreate m;
      m.moff = off;
      for (uint32_t k = 0; k < room && i < n; k++, i++) {
        m.members.push_back({LoadHost<uint32_t>(d, 12 + 8 * i), LoadHost<uint32_t>(d, 16 + 8 * i)});
        AdvanceNextXid(m.members.back().xid);
      }
      const uint32_t page = off / kMultiXactMembersPerPage;
      off += static_cast<uint32_t>(m.members.size());
      NEON_RETURN_IF_ERROR(PutSlruPage(SlruKind::kMultiXactMembers, page,
                                       Value::FromRecord(std::move(m))));
    }
    if (static_cast<int32_t>(mid + 1 - checkpoint_.Get32(PgCheckpoint::kNextMulti)) > 0) {
      checkpoint_.Set32(PgCheckpoint::kNextMulti, mid + 1);
      checkpoint_dirty_ = true;
    }
    if (static_cast<int32_t>(moff + n - checkpoint_.Get32(PgCheckpoint::kNextMultiOffset)) > 0) {
      checkpoint_.Set32(PgCheckpoint::kNextMultiOffset, moff + n);
      checkpoint_dirty_ = true;
    }
    return absl::OkStatus();
  }
  if (type == pg::kMultiXactTruncateId) {
    // {Oid oldestMultiDB; MultiXactId startTruncOff, endTruncOff;
    //  MultiXactOffset startTruncMemb, endTruncMemb}
    checkpoint_.Set32(PgCheckpoint::kOldestMultiDb, LoadHost<uint32_t>(d, 0));
    checkpoint_.Set32(PgCheckpoint::kOldestMulti, LoadHost<uint32_t>(d, 8));
    checkpoint_dirty_ = true;
    const uint32_t max_seg = 0xFFFFFFFFu / kMultiXactMembersPerPage / kSlruPagesPerSegment;
    uint32_t seg = LoadHost<uint32_t>(d, 12) / kMultiXactMembersPerPage / kSlruPagesPerSegment;
    const uint32_t end = LoadHost<uint32_t>(d, 16) / kMultiXactMembersPerPage / kSlruPagesPerSegment;
    auto& dir = slru_dirs_[static_cast<int>(SlruKind::kMultiXactMembers)];
    for (uint32_t steps = 0; seg != end && steps <= max_seg; steps++) {
      if (dir.erase(seg)) slru_dirty_[static_cast<int>(SlruKind::kMultiXactMembers)] = true;
      seg = seg == max_seg ? 0 : seg + 1;
    }
  }
  return absl::OkStatus();
}

// ---- XLOG and standby --------------------------------------------------------------

absl::Status WalIngester::Impl::IngestXlog(const WalRecord& r) {
  std::string_view d = r.main_data();
  const uint8_t type = r.info & pg::kXlrRmgrInfoMask;
  if (type == pg::kXlogNextOid) {
    checkpoint_.Set32(PgCheckpoint::kNextOid, LoadHost<uint32_t>(d, 0));
    checkpoint_dirty_ = true;
  } else if (type == pg::kXlogCheckpointShutdown || type == pg::kXlogCheckpointOnline) {
    if (d.size() < PgCheckpoint::kSize) return absl::DataLossError("checkpoint record too short");
    PgCheckpoint cp;
    cp.bytes = std::string(d.substr(0, PgCheckpoint::kSize));
    if (checkpoint_.Get32(PgCheckpoint::kNextOid) == 0) {
      const uint64_t next = checkpoint_.next_xid();
      checkpoint_ = cp;  // first checkpoint seen: take it whole
      if (static_cast<int32_t>(static_cast<uint32_t>(next) - static_cast<uint32_t>(cp.next_xid())) > 0) {
        checkpoint_.set_next_xid(next);
      }
    } else {
      checkpoint_.Set32(PgCheckpoint::kOldestXid, cp.Get32(PgCheckpoint::kOldestXid));
      checkpoint_.Set32(PgCheckpoint::kOldestXidDb, cp.Get32(PgCheckpoint::kOldestXidDb));
      checkpoint_.Set32(PgCheckpoint::kOldestActiveXid, cp.Get32(PgCheckpoint::kOldestActiveXid));
    }
    checkpoint_dirty_ = true;  // rewritten on every checkpoint record, as Neon does
  }
  return absl::OkStatus();
}

absl::Status WalIngester::Impl::IngestStandby(const WalRecord& r) {
  if ((r.info & pg::kXlrRmgrInfoMask) != pg::kStandbyRunningXacts) return absl::OkStatus();
  // xl_running_xacts {int xcnt; int subxcnt; bool overflow; xid nextXid; xid oldestRunningXid; ...}
  checkpoint_.Set32(PgCheckpoint::kOldestActiveXid, LoadHost<uint32_t>(r.main_data(), 16));
  checkpoint_dirty_ = true;
  return absl::OkStatus();
}

}  // namespace neon
