// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The read path: GetPage@LSN. Versions are collected newest to oldest from
// this timeline's layers, then from the ancestor's at min(lsn, ancestor_lsn),
// until an image or a will_init record; then reconstructed and cached.

#include <algorithm>

#include "base/check.h"
#include "base/coding.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "engine/reconstruct.h"
#include "engine/timeline.h"

namespace neon {

absl::StatusOr<std::string> TimelineImpl::GetValueAt(const Key& key, Lsn lsn) {
  if (auto hit = deps_.cache->LookupPage(cache_uid_, key, lsn)) return *hit;
  std::vector<LayerValue> versions;
  TimelineImpl* tl = this;
  Lsn read = lsn;
  for (;;) {
    auto map = tl->Snapshot();
    NEON_ASSIGN_OR_RETURN(CollectResult r, map->Collect(key, read.Next(), &versions));
    if (r == CollectResult::kComplete) break;
    if (r == CollectResult::kAbsent || tl->ancestor_ == nullptr) {
      if (versions.empty()) {
        return absl::NotFoundError(StrCat("key ", key.ToString(), " does not exist at ", lsn.ToString()));
      }
      return absl::DataLossError(StrCat("key ", key.ToString(), " at ", lsn.ToString(),
                                        ": records without a base image (oldest at ",
                                        versions.back().lsn.ToString(), ")"));
    }
    read = std::min(read, tl->ancestor_lsn_);
    tl = tl->ancestor_.get();
  }
  NEON_ASSIGN_OR_RETURN(std::string page, Reconstruct(key, lsn, versions, deps_.postgres_redo));
  // A page that was a stored image is already cached (as its file blocks or
  // decompressed blob); only pages that took redo are worth materializing.
  if (versions.size() > 1 || !versions[0].raw_image) {
    deps_.cache->InsertPage(cache_uid_, key, lsn, std::make_shared<const std::string>(page));
  }
  return page;
}

absl::StatusOr<std::string> TimelineImpl::GetPage(const Key& key, Lsn lsn) {
  if (!lsn.valid()) return absl::InvalidArgumentError("read at LSN 0/0");
  {
    absl::ReaderMutexLock l(&mu_);
    if (deleted_) return absl::NotFoundError(StrCat("timeline ", id_.ToString(), " was deleted"));
  }
  lsn = std::min(lsn, last_record_lsn());
  if (!lsn.valid()) return absl::NotFoundError("timeline has no data yet");
  if (!IsReadable(lsn)) {
    return absl::OutOfRangeError(StrCat("LSN ", lsn.ToString(), " is below the GC cutoff"));
  }
  return GetValueAt(key, lsn);
}

absl::StatusOr<Lsn> TimelineImpl::EffectiveReadLsn(ReadLsn read) {
  if (!read.request_lsn.valid()) return absl::InvalidArgumentError("request_lsn is 0/0");
  Lsn nms = read.not_modified_since.valid() ? read.not_modified_since : read.request_lsn;
  if (read.request_lsn < nms) {
    return absl::InvalidArgumentError(StrCat("request_lsn ", read.request_lsn.ToString(),
                                             " is below not_modified_since ", nms.ToString()));
  }
  Lsn lsn;
  if (nms != Lsn::Max() && nms > last_record_lsn()) {
    NEON_RETURN_IF_ERROR(WaitLsn(nms, deps_.wait_lsn_timeout_us));
    lsn = nms;
  } else {
    lsn = std::min(last_record_lsn(), read.request_lsn);
  }
  if (!lsn.valid()) return absl::NotFoundError("timeline has no data yet");
  if (!IsReadable(lsn)) {
    return absl::OutOfRangeError(StrCat("LSN ", lsn.ToString(), " is below the GC cutoff"));
  }
  return lsn;
}

absl::StatusOr<uint32_t> TimelineImpl::RelSizeAt(const RelTag& rel, Lsn lsn) {
  auto v = GetValueAt(Key::RelSize(rel), lsn);
  if (!v.ok()) {
    if (absl::IsNotFound(v.status())) {
      return absl::NotFoundError(StrCat("relation ", rel.ToString(), " does not exist at ", lsn.ToString()));
    }
    return v.status();
  }
  if (v->size() != 4) {
    return absl::DataLossError(StrCat("relation size of ", rel.ToString(), " has ", v->size(), " bytes"));
  }
  return DecodeFixed32LE(reinterpret_cast<const uint8_t*>(v->data()));
}

absl::StatusOr<uint32_t> TimelineImpl::GetRelSize(const RelTag& rel, ReadLsn read) {
  NEON_ASSIGN_OR_RETURN(Lsn lsn, EffectiveReadLsn(read));
  auto size = RelSizeAt(rel, lsn);
  bool optional_fork = rel.fork == uint8_t(ForkNumber::kFsm) || rel.fork == uint8_t(ForkNumber::kVisibilityMap);
  if (!size.ok() && absl::IsNotFound(size.status()) && optional_fork) return 0u;
  return size;
}

absl::StatusOr<std::string> TimelineImpl::GetRelPage(const RelTag& rel, uint32_t blkno, ReadLsn read) {
  NEON_ASSIGN_OR_RETURN(Lsn lsn, EffectiveReadLsn(read));
  NEON_ASSIGN_OR_RETURN(uint32_t nblocks, RelSizeAt(rel, lsn));
  if (blkno >= nblocks) return std::string(kPageSize, '\0');
  return GetValueAt(Key::RelBlock(rel, blkno), lsn);
}

}  // namespace neon
