// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The read path: GetPage@LSN. Versions are collected newest to oldest from
// this timeline's layers, then from the ancestor's at min(lsn, ancestor_lsn),
// until an image or a will_init record; then reconstructed and cached.
// GetValuesAt / GetRelPages do the same for a batch of keys, as a vectored
// read (LayerMap::CollectMany).

#include <algorithm>

#include "base/check.h"
#include "base/coding.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "engine/reconstruct.h"
#include "engine/timeline.h"

namespace neon {
namespace {

// A search that ended without an image or will_init value.
absl::Status NoBaseError(const Key& key, Lsn lsn, const std::vector<LayerValue>& versions) {
  if (versions.empty()) {
    return absl::NotFoundError(StrCat("key ", key.ToString(), " does not exist at ", lsn.ToString()));
  }
  return absl::DataLossError(StrCat("key ", key.ToString(), " at ", lsn.ToString(),
                                    ": records without a base image (oldest at ",
                                    versions.back().lsn.ToString(), ")"));
}

}  // namespace

absl::StatusOr<std::string> TimelineImpl::GetValueAt(const Key& key, Lsn lsn) {
  if (auto hit = deps_.cache->LookupPage(cache_uid_, key, lsn)) return *hit;
  std::vector<LayerValue> versions;
  TimelineImpl* tl = this;
  Lsn read = lsn;
  for (;;) {
    auto map = tl->Snapshot();
    NEON_ASSIGN_OR_RETURN(CollectResult r, map->Collect(key, read.Next(), &versions));
    if (r == CollectResult::kComplete) break;
    if (r == CollectResult::kAbsent || tl->ancestor_ == nullptr) return NoBaseError(key, lsn, versions);
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

void TimelineImpl::GetValuesAt(absl::Span<const Key> keys, Lsn lsn,
                               std::vector<absl::StatusOr<std::string>>* out) {
  out->clear();
  out->reserve(keys.size());
  std::vector<KeyCollect> reads;  // the keys the materialized-page cache misses
  std::vector<size_t> slot;       // reads[i] answers (*out)[slot[i]]
  for (size_t i = 0; i < keys.size(); i++) {
    if (auto hit = deps_.cache->LookupPage(cache_uid_, keys[i], lsn)) {
      out->emplace_back(*hit);
    } else {
      out->emplace_back(std::string());
      reads.push_back(KeyCollect{keys[i], {}, CollectResult::kContinue});
      slot.push_back(i);
    }
  }
  // One layer-map snapshot per timeline for the whole batch; the keys that
  // continue go down into the ancestor together (they share the read LSN).
  // A key is reconstructed as soon as its versions are collected.
  std::vector<KeyCollect*> active;
  for (KeyCollect& r : reads) active.push_back(&r);
  std::vector<KeyCollect*> next;
  TimelineImpl* tl = this;
  Lsn read = lsn;
  while (!active.empty()) {
    next.clear();
    tl->Snapshot()->CollectMany(read.Next(), active, [&](KeyCollect* r) {
      absl::StatusOr<std::string>& result = (*out)[slot[size_t(r - reads.data())]];
      if (!r->result.ok()) {
        result = r->result.status();
      } else if (*r->result == CollectResult::kComplete) {
        const bool materialize = r->versions.size() > 1 || !r->versions[0].raw_image;
        result = Reconstruct(r->key, lsn, r->versions, deps_.postgres_redo);
        if (result.ok() && materialize) {
          deps_.cache->InsertPage(cache_uid_, r->key, lsn, std::make_shared<const std::string>(*result));
        }
      } else if (*r->result == CollectResult::kAbsent || tl->ancestor_ == nullptr) {
        result = NoBaseError(r->key, lsn, r->versions);
      } else {
        next.push_back(r);
        return;
      }
      r->versions = std::vector<LayerValue>();  // done with them
    });
    // In key order again for the ancestor's layers.
    std::sort(next.begin(), next.end());
    std::swap(active, next);
    if (active.empty()) break;
    read = std::min(read, tl->ancestor_lsn_);
    tl = tl->ancestor_.get();
  }
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

absl::Status TimelineImpl::GetRelPages(const RelTag& rel, absl::Span<const uint32_t> blknos,
                                       ReadLsn read,
                                       std::vector<absl::StatusOr<std::string>>* pages) {
  pages->clear();
  NEON_ASSIGN_OR_RETURN(Lsn lsn, EffectiveReadLsn(read));
  NEON_ASSIGN_OR_RETURN(uint32_t nblocks, RelSizeAt(rel, lsn));
  // The distinct blocks below the size, in key order.
  std::vector<uint32_t> blocks;
  blocks.reserve(blknos.size());
  for (uint32_t b : blknos) {
    if (b < nblocks) blocks.push_back(b);
  }
  std::sort(blocks.begin(), blocks.end());
  blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
  std::vector<Key> keys;
  keys.reserve(blocks.size());
  for (uint32_t b : blocks) keys.push_back(Key::RelBlock(rel, b));
  std::vector<absl::StatusOr<std::string>> values;
  GetValuesAt(keys, lsn, &values);
  // Hand each value out, moving it on its last use (a block may repeat).
  std::vector<uint32_t> uses(blocks.size(), 0);
  for (uint32_t b : blknos) {
    if (b < nblocks) uses[size_t(std::lower_bound(blocks.begin(), blocks.end(), b) - blocks.begin())]++;
  }
  pages->reserve(blknos.size());
  for (uint32_t b : blknos) {
    if (b >= nblocks) {
      pages->emplace_back(std::string(kPageSize, '\0'));
      continue;
    }
    const size_t i = size_t(std::lower_bound(blocks.begin(), blocks.end(), b) - blocks.begin());
    if (--uses[i] == 0) {
      pages->push_back(std::move(values[i]));
    } else {
      pages->push_back(values[i]);
    }
  }
  return absl::OkStatus();
}

}  // namespace neon
