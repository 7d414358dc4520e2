// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/layer_map.h"

#include <algorithm>

#include "base/check.h"
#include "base/status_macros.h"

namespace neon {

LayerMap::LayerMap(std::vector<std::shared_ptr<InMemoryLayer>> in_memory,
                   std::vector<HistoricLayerPtr> historic)
    : in_memory_(std::move(in_memory)), historic_(std::move(historic)) {
  for (const auto& h : historic_) {
    if (h->desc.is_image) {
      images_.push_back(h.get());
    } else {
      deltas_.push_back(h.get());
      if (h->desc.is_l0()) num_l0_++;
    }
  }
  std::sort(deltas_.begin(), deltas_.end(), [](const HistoricLayer* a, const HistoricLayer* b) {
    return a->desc.lsn_range.end > b->desc.lsn_range.end;
  });
  std::sort(images_.begin(), images_.end(), [](const HistoricLayer* a, const HistoricLayer* b) {
    return a->desc.image_lsn() > b->desc.image_lsn();
  });
}

absl::StatusOr<CollectResult> LayerMap::Collect(const Key& key, Lsn lsn_end,
                                                std::vector<LayerValue>* out) const {
  // In-memory layers are newer than every historic layer and contiguous.
  for (auto it = in_memory_.rbegin(); it != in_memory_.rend(); ++it) {
    const InMemoryLayer& m = **it;
    if (m.start_lsn() >= lsn_end) continue;
    NEON_ASSIGN_OR_RETURN(bool done, m.Get(key, LsnRange{m.start_lsn(), lsn_end}, out));
    if (done) return CollectResult::kComplete;
    lsn_end = m.start_lsn();
  }
  size_t di = 0, ii = 0;
  for (;;) {
    while (di < deltas_.size() && (!deltas_[di]->desc.key_range.Contains(key) ||
                                   deltas_[di]->desc.lsn_range.start >= lsn_end)) {
      di++;
    }
    while (ii < images_.size() && (!images_[ii]->desc.key_range.Contains(key) ||
                                   images_[ii]->desc.image_lsn() >= lsn_end)) {
      ii++;
    }
    const HistoricLayer* delta = di < deltas_.size() ? deltas_[di] : nullptr;
    const HistoricLayer* image = ii < images_.size() ? images_[ii] : nullptr;
    if (delta == nullptr && image == nullptr) return CollectResult::kContinue;
    // The image wins if it is at least as new as the delta's top, or if it is
    // exactly at the read point (nothing of the delta lies above it).
    if (image != nullptr &&
        (delta == nullptr || image->desc.image_lsn().Next() >= delta->desc.lsn_range.end ||
         image->desc.image_lsn().Next() >= lsn_end)) {
      NEON_ASSIGN_OR_RETURN(auto reader, image->Reader());
      NEON_ASSIGN_OR_RETURN(bool found, reader->Get(key, image->desc.lsn_range, out));
      if (found) out->back().raw_image = true;
      return found ? CollectResult::kComplete : CollectResult::kAbsent;
    }
    Lsn floor = delta->desc.lsn_range.start;
    if (image != nullptr && image->desc.image_lsn().Next() > floor) floor = image->desc.image_lsn().Next();
    NEON_ASSIGN_OR_RETURN(auto reader, delta->Reader());
    NEON_ASSIGN_OR_RETURN(bool done, reader->Get(key, LsnRange{floor, lsn_end}, out));
    if (done) return CollectResult::kComplete;
    NEON_CHECK(floor < lsn_end);
    lsn_end = floor;
    di++;
  }
}

std::vector<HistoricLayerPtr> LayerMap::L0s() const {
  std::vector<HistoricLayerPtr> out;
  for (const auto& h : historic_) {
    if (h->desc.is_l0()) out.push_back(h);
  }
  std::sort(out.begin(), out.end(), [](const HistoricLayerPtr& a, const HistoricLayerPtr& b) {
    return a->desc.lsn_range.start < b->desc.lsn_range.start;
  });
  return out;
}

uint64_t LayerMap::historic_bytes() const {
  uint64_t n = 0;
  for (const auto& h : historic_) n += h->file_size;
  return n;
}

std::shared_ptr<const LayerMap> LayerMap::WithInMemory(
    std::vector<std::shared_ptr<InMemoryLayer>> m) const {
  return std::make_shared<const LayerMap>(std::move(m), historic_);
}

std::shared_ptr<const LayerMap> LayerMap::WithChanges(
    const std::vector<HistoricLayerPtr>& add, const std::vector<HistoricLayerPtr>& remove,
    std::vector<std::shared_ptr<InMemoryLayer>> m) const {
  std::vector<HistoricLayerPtr> h;
  h.reserve(historic_.size() + add.size());
  for (const auto& l : historic_) {
    bool removed = std::any_of(remove.begin(), remove.end(), [&](const HistoricLayerPtr& r) {
      return r->file_name == l->file_name;
    });
    if (!removed) h.push_back(l);
  }
  h.insert(h.end(), add.begin(), add.end());
  return std::make_shared<const LayerMap>(std::move(m), std::move(h));
}

}  // namespace neon
