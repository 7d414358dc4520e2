// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/reconstruct.h"

#include "base/check.h"
#include "base/coding.h"
#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon {
namespace {

// Postgres page and SLRU geometry (BLCKSZ 8192).
constexpr size_t kPageHeaderSize = 24;  // MAXALIGN(SizeOfPageHeaderData)
constexpr uint32_t kVmMapSize = kPageSize - kPageHeaderSize;
constexpr uint32_t kVmHeapBlocksPerByte = 4;
constexpr uint32_t kVmHeapBlocksPerPage = kVmMapSize * kVmHeapBlocksPerByte;
constexpr uint32_t kClogXactsPerByte = 4;
constexpr uint32_t kClogXactsPerPage = kPageSize * kClogXactsPerByte;
constexpr uint32_t kSlruPagesPerSegment = 32;
constexpr uint32_t kMultiXactOffsetsPerPage = kPageSize / 4;
constexpr uint32_t kMxMembersPerGroup = 4;
constexpr uint32_t kMxGroupSize = 4 + kMxMembersPerGroup * 4;  // flags word + 4 xids
constexpr uint32_t kMxGroupsPerPage = kPageSize / kMxGroupSize;
constexpr uint32_t kMxMembersPerPage = kMxGroupsPerPage * kMxMembersPerGroup;
constexpr uint8_t kClogCommitted = 1;
constexpr uint8_t kClogAborted = 2;
static_assert(kVmHeapBlocksPerPage == 32672);
static_assert(kMxMembersPerPage == 1636);

bool PageIsNew(const std::string& page) {
  return page.size() >= 16 && page[14] == 0 && page[15] == 0;  // pd_upper == 0
}

void SetPageLsn(std::string* page, Lsn lsn) {
  if (PageIsNew(*page)) return;
  auto* p = reinterpret_cast<uint8_t*>(page->data());
  EncodeFixed32LE(p, uint32_t(lsn.value() >> 32));  // pd_lsn.xlogid
  EncodeFixed32LE(p + 4, uint32_t(lsn.value()));    // pd_lsn.xrecoff
}

absl::Status NeedFullPage(const Key& key, const std::string& page, size_t min_size) {
  if (page.size() < min_size) {
    return absl::InvalidArgumentError(StrCat("page of key ", key.ToString(), " has ",
                                             page.size(), " bytes, need ", min_size));
  }
  return absl::OkStatus();
}

absl::Status ClearVm(const Key& key, Lsn lsn, const ClearVisibilityMapFlags& r, std::string* page) {
  NEON_RETURN_IF_ERROR(NeedFullPage(key, *page, kPageSize));
  for (const auto& heap_blk : {r.new_heap_blkno, r.old_heap_blkno}) {
    if (!heap_blk) continue;
    if (*heap_blk / kVmHeapBlocksPerPage != key.block()) {
      return absl::InvalidArgumentError(StrCat("visibility-map clear for heap block ", *heap_blk,
                                               " applied to VM block ", key.block()));
    }
    uint32_t in_page = *heap_blk % kVmHeapBlocksPerPage;
    size_t byte = kPageHeaderSize + in_page / kVmHeapBlocksPerByte;
    int shift = int(in_page % kVmHeapBlocksPerByte) * 2;
    (*page)[byte] = char(uint8_t((*page)[byte]) & ~uint8_t(r.flags << shift));
  }
  SetPageLsn(page, lsn);
  return absl::OkStatus();
}

absl::Status TruncateVm(const Key& key, const TruncateVisibilityMap& r, std::string* page) {
  NEON_RETURN_IF_ERROR(NeedFullPage(key, *page, kPageSize));
  if (r.trunc_byte >= kVmMapSize || r.trunc_offs >= 8) {
    return absl::InvalidArgumentError(StrCat("bad VM truncation ", r.trunc_byte, "/", r.trunc_offs));
  }
  char* map = page->data() + kPageHeaderSize;
  map[r.trunc_byte] = char(uint8_t(map[r.trunc_byte]) & ((1u << r.trunc_offs) - 1));
  std::memset(map + r.trunc_byte + 1, 0, kVmMapSize - r.trunc_byte - 1);
  return absl::OkStatus();
}

absl::Status SetClog(const Key& key, const std::vector<uint32_t>& xids, uint8_t status,
                     std::string* page) {
  NEON_RETURN_IF_ERROR(NeedFullPage(key, *page, kPageSize));
  for (uint32_t xid : xids) {
    uint32_t pageno = xid / kClogXactsPerPage;
    if (pageno / kSlruPagesPerSegment != key.field4 || pageno % kSlruPagesPerSegment != key.block()) {
      return absl::InvalidArgumentError(
          StrCat("CLOG update of xid ", xid, " applied to the wrong page ", key.ToString()));
    }
    size_t byte = (xid % kClogXactsPerPage) / kClogXactsPerByte;
    int shift = int(xid % kClogXactsPerByte) * 2;
    uint8_t b = uint8_t((*page)[byte]);
    b = uint8_t((b & ~(3u << shift)) | (status << shift));
    (*page)[byte] = char(b);
  }
  return absl::OkStatus();
}

absl::Status MultixactOffset(const Key& key, const MultixactOffsetCreate& r, std::string* page) {
  NEON_RETURN_IF_ERROR(NeedFullPage(key, *page, kPageSize));
  uint32_t entry = r.mid % kMultiXactOffsetsPerPage;
  EncodeFixed32LE(reinterpret_cast<uint8_t*>(page->data()) + entry * 4, r.moff);
  return absl::OkStatus();
}

absl::Status MultixactMembers(const Key& key, const MultixactMembersCreate& r, std::string* page) {
  NEON_RETURN_IF_ERROR(NeedFullPage(key, *page, kPageSize));
  uint32_t this_page = key.field4 * kSlruPagesPerSegment + key.block();
  auto* p = reinterpret_cast<uint8_t*>(page->data());
  for (size_t i = 0; i < r.members.size(); i++) {
    uint32_t off = r.moff + uint32_t(i);
    if (off / kMxMembersPerPage != this_page) continue;  // member lives on another page
    uint32_t group = (off / kMxMembersPerGroup) % kMxGroupsPerPage;
    uint32_t in_group = off % kMxMembersPerGroup;
    uint8_t* flags = p + group * kMxGroupSize;
    EncodeFixed32LE(flags + 4 + in_group * 4, r.members[i].xid);
    uint32_t shift = in_group * 8;
    uint32_t f = DecodeFixed32LE(flags);
    f = (f & ~(0xFFu << shift)) | ((r.members[i].status & 0xFF) << shift);
    EncodeFixed32LE(flags, f);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyEngineRecord(const Key& key, Lsn lsn, const Record& record, std::string* page) {
  switch (KindOf(record)) {
    case RecordKind::kClearVisibilityMapFlags:
      return ClearVm(key, lsn, std::get<ClearVisibilityMapFlags>(record), page);
    case RecordKind::kTruncateVisibilityMap:
      return TruncateVm(key, std::get<TruncateVisibilityMap>(record), page);
    case RecordKind::kClogSetCommitted: {
      const auto& r = std::get<ClogSetCommitted>(record);
      NEON_RETURN_IF_ERROR(SetClog(key, r.xids, kClogCommitted, page));
      page->resize(kPageSize);  // (re)write the commit-timestamp trailer
      PutFixed64BE(page, uint64_t(r.timestamp));
      return absl::OkStatus();
    }
    case RecordKind::kClogSetAborted:
      return SetClog(key, std::get<ClogSetAborted>(record).xids, kClogAborted, page);
    case RecordKind::kMultixactOffsetCreate:
      return MultixactOffset(key, std::get<MultixactOffsetCreate>(record), page);
    case RecordKind::kMultixactMembersCreate:
      return MultixactMembers(key, std::get<MultixactMembersCreate>(record), page);
    case RecordKind::kTest: {
      const auto& t = std::get<TestRecord>(record);
      if (t.clear) page->clear();
      page->append(t.append);
      return absl::OkStatus();
    }
    case RecordKind::kPostgres:
      break;
  }
  return absl::InvalidArgumentError("Postgres WAL records are not engine records");
}

absl::StatusOr<std::string> EngineRedoManager::Apply(const Key& key, Lsn lsn,
                                                     const std::optional<std::string>& base,
                                                     std::span<const RedoRecord> records) {
  std::string page = base.value_or(std::string());
  for (const RedoRecord& r : records) NEON_RETURN_IF_ERROR(ApplyEngineRecord(key, r.lsn, *r.record, &page));
  return page;
}

absl::StatusOr<std::string> Reconstruct(const Key& key, Lsn lsn, std::vector<LayerValue>& versions,
                                        RedoManager* postgres_redo) {
  if (versions.empty()) return absl::NotFoundError(StrCat("key ", key.ToString(), " not found"));
  // Delta layers hold serialized Values; image layers hold raw pages. Only
  // the oldest version can be an image (an image ends the collection).
  std::optional<std::string> page;
  size_t i = versions.size();
  std::vector<Value> values(i, Value::Image(std::string()));
  if (versions.back().raw_image) {
    page = std::move(versions.back().data);
    i--;
  }
  for (size_t j = 0; j < i; j++) {
    NEON_ASSIGN_OR_RETURN(values[j], Value::Deserialize(versions[j].data));
  }
  if (!page) {
    Value& oldest = values[i - 1];
    if (!oldest.will_init()) {
      return absl::NotFoundError(StrCat("key ", key.ToString(), " at ", lsn.ToString(),
                                        ": no base image or initializing record below ",
                                        versions.back().lsn.ToString()));
    }
    if (oldest.is_image()) {
      page = oldest.ReleaseImage();
      i--;
    }
  }
  // Apply the rest oldest first: engine records here, runs of Postgres
  // records through the Postgres redo manager.
  while (i > 0) {
    size_t run_end = i;
    if (values[i - 1].is_image()) {
      return absl::DataLossError(StrCat("key ", key.ToString(), ": image above the base at ",
                                        versions[i - 1].lsn.ToString()));
    }
    bool pg = std::holds_alternative<PostgresRecord>(values[i - 1].record());
    std::vector<RedoRecord> run;
    while (i > 0 && !values[i - 1].is_image() &&
           std::holds_alternative<PostgresRecord>(values[i - 1].record()) == pg) {
      run.push_back(RedoRecord{versions[i - 1].lsn, &values[i - 1].record()});
      i--;
    }
    NEON_CHECK(i < run_end);
    if (pg) {
      if (postgres_redo == nullptr) {
        return absl::FailedPreconditionError(StrCat(
            "key ", key.ToString(), " needs Postgres WAL redo, but no redo process is configured"));
      }
      NEON_ASSIGN_OR_RETURN(std::string out, postgres_redo->Apply(key, run.back().lsn, page, run));
      page = std::move(out);
    } else {
      if (!page) page.emplace();
      for (const RedoRecord& r : run) NEON_RETURN_IF_ERROR(ApplyEngineRecord(key, r.lsn, *r.record, &*page));
    }
  }
  NEON_CHECK(page.has_value());
  return *std::move(page);
}

}  // namespace neon
