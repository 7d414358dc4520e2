// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// ResidentLayers (declared in layer_handle.h): the engine-wide LRU of local
// layer files under RemoteStorageOptions::local_layer_budget_bytes.

#include <algorithm>
#include <vector>

#include "base/status_macros.h"
#include "engine/layer_handle.h"

namespace neon {

void ResidentLayers::Add(const std::shared_ptr<LayerHandle>& h) {
  absl::MutexLock l(&mu_);
  auto [it, inserted] = layers_.try_emplace(h.get(), std::weak_ptr<LayerHandle>(h), h->size());
  if (inserted) bytes_ += h->size();
}

void ResidentLayers::Remove(const LayerHandle* h) {
  absl::MutexLock l(&mu_);
  auto it = layers_.find(h);
  if (it == layers_.end()) return;
  bytes_ -= it->second.second;
  layers_.erase(it);
}

uint64_t ResidentLayers::resident_bytes() const {
  absl::MutexLock l(&mu_);
  return bytes_;
}

absl::Status ResidentLayers::EnforceBudget() {
  if (budget_bytes_ == 0) return absl::OkStatus();
  absl::MutexLock e(&enforce_mu_);
  std::vector<std::shared_ptr<LayerHandle>> candidates;
  uint64_t bytes;
  {
    absl::MutexLock l(&mu_);
    if (bytes_ <= budget_bytes_) return absl::OkStatus();
    bytes = bytes_;
    for (const auto& [ptr, entry] : layers_) {
      if (auto h = entry.first.lock()) candidates.push_back(std::move(h));
    }
  }
  // Least recently used first. (Handles are released outside mu_: the last
  // reference may run a destructor that calls Remove.)
  std::sort(candidates.begin(), candidates.end(),
            [](const auto& a, const auto& b) { return a->last_used() < b->last_used(); });
  for (const auto& h : candidates) {
    if (bytes <= budget_bytes_) break;
    NEON_ASSIGN_OR_RETURN(uint64_t freed, h->Evict());
    if (freed > 0) evictions_.fetch_add(1);
    bytes -= std::min(bytes, freed);
  }
  return absl::OkStatus();
}

}  // namespace neon
