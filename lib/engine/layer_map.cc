// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "engine/layer_map.h"

#include <algorithm>
#include <functional>

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
  Sweep sweep;
  sweep.lsn_end = lsn_end;
  for (;;) {
    const Step step = NextStep(key, &sweep);
    if (step.layer == nullptr) return CollectResult::kContinue;
    NEON_ASSIGN_OR_RETURN(auto reader, step.layer->Reader());
    NEON_ASSIGN_OR_RETURN(bool found, reader->Get(key, step.range, out));
    if (std::optional<CollectResult> r = AfterStep(step, found, &sweep, out)) return *r;
  }
}

LayerMap::Step LayerMap::NextStep(const Key& key, Sweep* sweep) const {
  const Lsn lsn_end = sweep->lsn_end;
  size_t& di = sweep->di;
  size_t& ii = sweep->ii;
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
  if (delta == nullptr && image == nullptr) return Step{};
  // The image wins if it is at least as new as the delta's top, or if it is
  // exactly at the read point (nothing of the delta lies above it).
  if (image != nullptr &&
      (delta == nullptr || image->desc.image_lsn().Next() >= delta->desc.lsn_range.end ||
       image->desc.image_lsn().Next() >= lsn_end)) {
    return Step{image, image->desc.lsn_range};
  }
  Lsn floor = delta->desc.lsn_range.start;
  if (image != nullptr && image->desc.image_lsn().Next() > floor) floor = image->desc.image_lsn().Next();
  return Step{delta, LsnRange{floor, lsn_end}};
}

std::optional<CollectResult> LayerMap::AfterStep(const Step& step, bool found, Sweep* sweep,
                                                 std::vector<LayerValue>* out) {
  if (step.layer->desc.is_image) {
    if (found) out->back().raw_image = true;
    return found ? CollectResult::kComplete : CollectResult::kAbsent;
  }
  if (found) return CollectResult::kComplete;
  NEON_CHECK(step.range.start < sweep->lsn_end);
  sweep->lsn_end = step.range.start;
  sweep->di++;
  return std::nullopt;
}

Lsn LayerMap::CollectInMemory(Lsn lsn_end, absl::Span<KeyCollect* const> keys,
                              std::vector<KeyCollect*>* active,
                              absl::FunctionRef<void(KeyCollect*)> decided) const {
  active->assign(keys.begin(), keys.end());
  std::vector<KeyLookup> lookups;
  for (auto it = in_memory_.rbegin(); it != in_memory_.rend() && !active->empty(); ++it) {
    const InMemoryLayer& m = **it;
    if (m.start_lsn() >= lsn_end) continue;
    lookups.clear();
    for (KeyCollect* k : *active) {
      lookups.push_back(KeyLookup{k->key, LsnRange{m.start_lsn(), lsn_end}, &k->versions});
    }
    m.GetMany(absl::MakeSpan(lookups));
    size_t n = 0;
    for (size_t i = 0; i < lookups.size(); i++) {
      KeyCollect* k = (*active)[i];
      if (!lookups[i].found.ok()) {
        k->result = lookups[i].found.status();
        decided(k);
      } else if (*lookups[i].found) {
        k->result = CollectResult::kComplete;
        decided(k);
      } else {
        (*active)[n++] = k;
      }
    }
    active->resize(n);
    lsn_end = m.start_lsn();
  }
  return lsn_end;
}

void LayerMap::CollectMany(Lsn lsn_end, absl::Span<KeyCollect* const> keys,
                           absl::FunctionRef<void(KeyCollect*)> decided) const {
  std::vector<KeyCollect*> active;
  lsn_end = CollectInMemory(lsn_end, keys, &active, decided);
  std::vector<KeySearch> searches;
  searches.reserve(active.size());
  for (size_t i = 0; i < active.size(); i++) {
    KeySearch s{active[i], i, Sweep{}, Step{}};
    s.sweep.lsn_end = lsn_end;
    searches.push_back(s);
  }
  std::vector<KeySearch> next;
  while (!searches.empty()) {
    // Every search picks its next layer; those with none are done here.
    size_t n = 0;
    for (KeySearch& s : searches) {
      s.step = NextStep(s.k->key, &s.sweep);
      if (s.step.layer == nullptr) {
        s.k->result = CollectResult::kContinue;
        decided(s.k);
      } else {
        searches[n++] = s;
      }
    }
    searches.resize(n);
    // Group by layer; each layer is opened and read once per step.
    std::sort(searches.begin(), searches.end(), [](const KeySearch& a, const KeySearch& b) {
      if (a.step.layer != b.step.layer) return std::less<>()(a.step.layer, b.step.layer);
      return a.order < b.order;
    });
    next.clear();
    for (size_t i = 0; i < searches.size();) {
      size_t j = i;
      while (j < searches.size() && searches[j].step.layer == searches[i].step.layer) j++;
      ReadLayer(absl::MakeSpan(searches).subspan(i, j - i), &next, decided);
      i = j;
    }
    std::swap(searches, next);
  }
}

void LayerMap::ReadLayer(absl::Span<KeySearch> group, std::vector<KeySearch>* next,
                         absl::FunctionRef<void(KeyCollect*)> decided) const {
  absl::StatusOr<std::shared_ptr<LayerReader>> reader = group[0].step.layer->Reader();
  if (!reader.ok()) {
    for (KeySearch& s : group) {
      s.k->result = reader.status();
      decided(s.k);
    }
    return;
  }
  std::vector<KeyLookup> lookups;
  lookups.reserve(group.size());
  for (const KeySearch& s : group) lookups.push_back(KeyLookup{s.k->key, s.step.range, &s.k->versions});
  (*reader)->GetMany(absl::MakeSpan(lookups), [&](KeyLookup& l) {
    KeySearch& s = group[size_t(&l - lookups.data())];
    if (!l.found.ok()) {
      s.k->result = l.found.status();
      decided(s.k);
    } else if (std::optional<CollectResult> r = AfterStep(s.step, *l.found, &s.sweep, &s.k->versions)) {
      s.k->result = *r;
      decided(s.k);
    } else {
      next->push_back(s);
    }
  });
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
