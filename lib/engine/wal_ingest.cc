// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// WalIngester: record dispatch, block references, the heap records'
// visibility-map clears, batching and the streaming entry point.

#include <cstring>

#include "base/coding.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "engine/wal_ingest_impl.h"
#include "wal/pg_constants.h"

namespace neon {
namespace {

// Heap blocks covered by one visibility-map page: 2 bits per heap block in
// the page's usable space (access/heapam/visibilitymap.c).
constexpr uint32_t kVmHeapBlocksPerPage = (8192 - 24) * 4;

bool PageIsNew(const std::string& page) {
  uint16_t upper;
  std::memcpy(&upper, page.data() + 14, 2);
  return upper == 0;
}

}  // namespace

absl::Status WalIngester::Impl::Put(const Key& key, Value v) {
  stats_.values++;
  return tl_->Put(key, lsn_, v);
}

absl::Status WalIngester::Impl::PutBlock(const RelTag& rel, uint32_t blk, Value v) {
  NEON_RETURN_IF_ERROR(EnsureRelation(rel));
  stats_.values++;
  NEON_RETURN_IF_ERROR(tl_->PutRelBlock(rel, blk, lsn_, v));
  uint32_t& size = rel_sizes_[rel];
  if (blk >= size) size = blk + 1;
  return absl::OkStatus();
}

// One value per referenced block. When redo would restore the block from
// its full-page image (BKPIMAGE_APPLY), the page after the record is that
// image with the record's end LSN, so it is stored as an image; otherwise
// the raw record, flagged will_init when it initializes the page.
absl::Status WalIngester::Impl::IngestBlocks(const WalRecord& r) {
  for (const WalBlockRef& b : r.blocks) {
    if (b.rel.spc_oid != pg::kDefaultTablespaceOid && b.rel.spc_oid != pg::kGlobalTablespaceOid) {
      return absl::InvalidArgumentError(
          StrCat("record at ", r.lsn.ToString(), " touches user tablespace ", b.rel.spc_oid,
                 " (only pg_default and pg_global are supported)"));
    }
    if (b.has_image && b.apply_image) {
      NEON_ASSIGN_OR_RETURN(std::string page, r.RestoreImage(b));
      if (!PageIsNew(page)) {
        const uint64_t lsn = lsn_.value();
        const uint32_t hi = static_cast<uint32_t>(lsn >> 32), lo = static_cast<uint32_t>(lsn);
        std::memcpy(page.data(), &hi, 4);  // pd_lsn is {xlogid, xrecoff}
        std::memcpy(page.data() + 4, &lo, 4);
      }
      stats_.page_images++;
      NEON_RETURN_IF_ERROR(PutBlock(b.rel, b.blkno, Value::Image(std::move(page))));
    } else {
      PostgresRecord rec;
      rec.will_init = b.will_init();
      rec.rec = r.bytes;
      NEON_RETURN_IF_ERROR(PutBlock(b.rel, b.blkno, Value::FromRecord(std::move(rec))));
    }
  }
  return absl::OkStatus();
}

// Heap changes that clear all-visible/all-frozen bits do so in redo of the
// visibility map, which Postgres applies to a page the record does not
// reference: emit ClearVisibilityMapFlags on the VM page(s) explicitly.
absl::Status WalIngester::Impl::IngestHeapVmClears(const WalRecord& r) {
  std::string_view d = r.main_data();
  const uint8_t op = r.info & pg::kHeapOpMask;
  std::optional<uint32_t> new_blk, old_blk;
  uint8_t flags = pg::kVmValidBits;
  const WalBlockRef* b0 = r.block(0);
  const WalBlockRef* b1 = r.block(1);
  if (b0 == nullptr) return absl::OkStatus();
  if (r.rmid == pg::kRmHeap) {
    if (op == pg::kHeapInsert) {
      if (LoadHost<uint8_t>(d, 2) & pg::kXlhInsertAllVisibleCleared) new_blk = b0->blkno;
    } else if (op == pg::kHeapDelete) {
      if (LoadHost<uint8_t>(d, 7) & pg::kXlhDeleteAllVisibleCleared) new_blk = b0->blkno;
    } else if (op == pg::kHeapUpdate || op == pg::kHeapHotUpdate) {
      const uint8_t f = LoadHost<uint8_t>(d, 7);
      if (f & pg::kXlhUpdateOldAllVisibleCleared) old_blk = (b1 != nullptr ? b1 : b0)->blkno;
      if (f & pg::kXlhUpdateNewAllVisibleCleared) new_blk = b0->blkno;
    } else if (op == pg::kHeapLock) {
      if (LoadHost<uint8_t>(d, 7) & pg::kXlhLockAllFrozenCleared) old_blk = b0->blkno;
      flags = pg::kVmAllFrozen;
    }
  } else {  // Heap2
    if (op == pg::kHeap2MultiInsert) {
      if (LoadHost<uint8_t>(d, 0) & pg::kXlhInsertAllVisibleCleared) new_blk = b0->blkno;
    } else if (op == pg::kHeap2LockUpdated) {
      if (LoadHost<uint8_t>(d, 7) & pg::kXlhLockAllFrozenCleared) old_blk = b0->blkno;
      flags = pg::kVmAllFrozen;
    }
  }
  if (!new_blk && !old_blk) return absl::OkStatus();
  RelTag vm = b0->rel;
  vm.fork = pg::kVmFork;
  NEON_ASSIGN_OR_RETURN(uint32_t vm_size, RelSize(vm));
  auto put = [&](std::optional<uint32_t> nb, std::optional<uint32_t> ob) -> absl::Status {
    const uint32_t vm_blk = (nb ? *nb : *ob) / kVmHeapBlocksPerPage;
    if (vm_blk >= vm_size) return absl::OkStatus();  // no VM page: nothing to clear
    ClearVisibilityMapFlags c;
    c.new_heap_blkno = nb;
    c.old_heap_blkno = ob;
    c.flags = flags;
    stats_.values++;
    return tl_->PutRelBlock(vm, vm_blk, lsn_, Value::FromRecord(c));
  };
  if (new_blk && old_blk && *new_blk / kVmHeapBlocksPerPage != *old_blk / kVmHeapBlocksPerPage) {
    NEON_RETURN_IF_ERROR(put(new_blk, std::nullopt));
    return put(std::nullopt, old_blk);
  }
  return put(new_blk, old_blk);
}

absl::Status WalIngester::Impl::Ingest(const WalRecord& r) {
  if (r.end_lsn <= last_end_) return absl::OkStatus();  // already ingested
  lsn_ = r.end_lsn;
  if (r.xid != 0) AdvanceNextXid(r.xid);
  NEON_RETURN_IF_ERROR(IngestBlocks(r));
  switch (r.rmid) {
    case pg::kRmHeap:
    case pg::kRmHeap2:
      NEON_RETURN_IF_ERROR(IngestHeapVmClears(r));
      break;
    case pg::kRmSmgr: NEON_RETURN_IF_ERROR(IngestSmgr(r)); break;
    case pg::kRmDbase: NEON_RETURN_IF_ERROR(IngestDbase(r)); break;
    case pg::kRmRelMap: NEON_RETURN_IF_ERROR(IngestRelMap(r)); break;
    case pg::kRmXact: NEON_RETURN_IF_ERROR(IngestXact(r)); break;
    case pg::kRmClog: NEON_RETURN_IF_ERROR(IngestClog(r)); break;
    case pg::kRmMultiXact: NEON_RETURN_IF_ERROR(IngestMultiXact(r)); break;
    case pg::kRmXlog: NEON_RETURN_IF_ERROR(IngestXlog(r)); break;
    case pg::kRmStandby: NEON_RETURN_IF_ERROR(IngestStandby(r)); break;
    case pg::kRmTblspc:
      return absl::InvalidArgumentError(
          StrCat("record at ", r.lsn.ToString(), ": user tablespaces are not supported"));
    default: break;
  }
  NEON_RETURN_IF_ERROR(FlushDirtyMetadata());
  last_end_ = lsn_;
  stats_.records++;
  stats_.wal_bytes += r.tot_len;
  uncommitted_records_++;
  uncommitted_bytes_ += r.tot_len;
  if (uncommitted_records_ >= opts_.commit_every_records ||
      uncommitted_bytes_ >= opts_.commit_every_bytes) {
    return Commit();
  }
  return absl::OkStatus();
}

absl::Status WalIngester::Impl::Commit() {
  if (last_end_ <= committed_) return absl::OkStatus();
  NEON_RETURN_IF_ERROR(tl_->FinishWrite(last_end_));
  committed_ = last_end_;
  uncommitted_records_ = 0;
  uncommitted_bytes_ = 0;
  stats_.commits++;
  return absl::OkStatus();
}

absl::Status WalIngester::Impl::FeedWal(std::string_view bytes) {
  if (!decoder_) decoder_ = std::make_unique<WalStreamDecoder>(last_end_);
  decoder_->Feed(bytes);
  while (true) {
    NEON_ASSIGN_OR_RETURN(std::optional<WalRecord> r, decoder_->Poll());
    if (!r) break;
    NEON_RETURN_IF_ERROR(Ingest(*r));
  }
  return absl::OkStatus();
}

// ---- WalIngester ---------------------------------------------------------------

WalIngester::WalIngester(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WalIngester::~WalIngester() = default;

absl::StatusOr<std::unique_ptr<WalIngester>> WalIngester::Open(std::shared_ptr<Timeline> timeline,
                                                               WalIngestOptions options) {
  if (timeline == nullptr) return absl::InvalidArgumentError("null timeline");
  auto impl = std::make_unique<Impl>(std::move(timeline), options);
  NEON_RETURN_IF_ERROR(impl->LoadState());
  return std::unique_ptr<WalIngester>(new WalIngester(std::move(impl)));
}

absl::Status WalIngester::Ingest(const WalRecord& record) { return impl_->Ingest(record); }
absl::Status WalIngester::Commit() { return impl_->Commit(); }
absl::Status WalIngester::FeedWal(std::string_view bytes) { return impl_->FeedWal(bytes); }
Lsn WalIngester::last_record_end() const { return impl_->last_end(); }
const WalIngestStats& WalIngester::stats() const { return impl_->stats(); }

}  // namespace neon
