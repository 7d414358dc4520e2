// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// L0 -> L1 compaction and image layer creation.
//
// L0 -> L1: the oldest contiguous run of L0 layers is merged in (key, lsn)
// order into L1 delta layers that cover the run's whole LSN range and
// disjoint key ranges, each about compaction_target_size. Split points are
// chosen in a first pass over the merged indexes (entry counts), so each
// output's key range is known when its file is started.
//
// Images: the keyspace at disk_consistent_lsn is cut into partitions of about
// compaction_target_size worth of pages, covering [Key::Min, Key::Max)
// without holes; a partition gets an image layer when image_creation_threshold
// deltas stack above its latest image.
//
// Both publish through ReplaceLayers: files synced and renamed first, then one
// catalog batch, then the map swap, then deletion of replaced files.

#include <algorithm>
#include <queue>

#include "absl/container/btree_set.h"

#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "engine/timeline.h"

namespace neon {
namespace {

// Merges layer iterators in (key, lsn) order.
class MergingIterator {
 public:
  static absl::StatusOr<std::unique_ptr<MergingIterator>> Create(
      const std::vector<HistoricLayerPtr>& layers) {
    std::unique_ptr<MergingIterator> p(new MergingIterator());
    MergingIterator& m = *p;
    for (const auto& l : layers) {
      NEON_ASSIGN_OR_RETURN(auto reader, l->Reader());
      m.readers_.push_back(reader);
      auto it = reader->NewIterator();
      NEON_RETURN_IF_ERROR(it->SeekToFirst());
      m.iters_.push_back(std::move(it));
    }
    for (size_t i = 0; i < m.iters_.size(); i++) {
      if (m.iters_[i]->Valid()) m.heap_.push(i);
    }
    return p;
  }
  bool Valid() const { return !heap_.empty(); }
  LayerIterator& top() const { return *iters_[heap_.top()]; }
  absl::Status Next() {
    size_t i = heap_.top();
    heap_.pop();
    NEON_RETURN_IF_ERROR(iters_[i]->Next());
    if (iters_[i]->Valid()) heap_.push(i);
    return absl::OkStatus();
  }

 private:
  struct Greater {
    const MergingIterator* m;
    bool operator()(size_t a, size_t b) const {
      const auto& x = *m->iters_[a];
      const auto& y = *m->iters_[b];
      if (x.key() != y.key()) return y.key() < x.key();
      return y.lsn() < x.lsn();
    }
  };
  MergingIterator() : heap_(Greater{this}) {}

  std::vector<std::shared_ptr<LayerReader>> readers_;  // kept open for the iterators
  std::vector<std::unique_ptr<LayerIterator>> iters_;
  std::priority_queue<size_t, std::vector<size_t>, Greater> heap_;

};

}  // namespace

absl::StatusOr<MaintenanceResult> TimelineImpl::Compact(bool force) {
  absl::MutexLock m(&maint_mu_);
  if (shutdown_.load()) return absl::CancelledError("timeline is shutting down");
  {
    absl::ReaderMutexLock l(&mu_);
    if (deleted_) return absl::NotFoundError(StrCat("timeline ", id_.ToString(), " was deleted"));
  }
  MaintenanceResult result;
  NEON_RETURN_IF_ERROR(CompactL0(force, &result));
  NEON_RETURN_IF_ERROR(CreateImageLayers(force, &result));
  absl::MutexLock l(&mu_);
  last_compaction_us_ = deps_.clock->NowMicros();
  return result;
}

absl::Status TimelineImpl::ReplaceLayers(const std::vector<HistoricLayerPtr>& add,
                                         const std::vector<HistoricLayerPtr>& remove) {
  CatalogBatch batch;
  for (const auto& h : add) batch.AddLayer(tenant_, id_, LayerRecord{h->file_name, h->file_size});
  for (const auto& h : remove) batch.RemoveLayer(tenant_, id_, h->file_name);
  {
    // In commit order with metadata commits, like CommitMeta.
    absl::MutexLock m(&meta_mu_);
    NEON_RETURN_IF_ERROR(deps_.catalog->Commit(batch));
    {
      absl::MutexLock l(&mu_);
      layers_ = layers_->WithChanges(add, remove, layers_->in_memory());
    }
    NEON_RETURN_IF_ERROR(ScheduleRemote(add, remove, std::nullopt));
  }
  // Readers holding an older map keep their files open; unlinking is safe.
  for (const auto& h : remove) NEON_RETURN_IF_ERROR(h->handle->RemoveLocal());
  if (!remove.empty()) NEON_RETURN_IF_ERROR(deps_.fs->SyncDir(dir_));
  return absl::OkStatus();
}

absl::Status TimelineImpl::CompactL0(bool force, MaintenanceResult* result) {
  std::vector<HistoricLayerPtr> l0s = Snapshot()->L0s();
  if (l0s.empty() || (!force && l0s.size() < config_->compaction_threshold)) return absl::OkStatus();
  // Neon's bound: max(upper_limit, threshold) x max(checkpoint_distance, 256 MiB).
  const uint64_t limit =
      std::max<uint64_t>(config_->compaction_upper_limit, config_->compaction_threshold) *
      std::max<uint64_t>(config_->checkpoint_distance, 256ull << 20);
  std::vector<HistoricLayerPtr> inputs;
  uint64_t bytes = 0, entries = 0;
  for (const auto& l : l0s) {
    if (!inputs.empty() && l->desc.lsn_range.start != inputs.back()->desc.lsn_range.end) break;
    inputs.push_back(l);
    bytes += l->file_size;
    NEON_ASSIGN_OR_RETURN(auto reader, l->Reader());
    entries += reader->num_entries();
    if (bytes >= limit) break;
  }
  const LsnRange lsn_range{inputs.front()->desc.lsn_range.start, inputs.back()->desc.lsn_range.end};
  const uint64_t avg = std::max<uint64_t>(1, bytes / std::max<uint64_t>(entries, 1));
  const uint64_t per_file = std::max<uint64_t>(1, config_->compaction_target_size / avg);

  // Pass 1: choose split keys (at key boundaries, every ~per_file entries).
  std::vector<Key> splits;
  Key last_key;
  {
    NEON_ASSIGN_OR_RETURN(auto merged, MergingIterator::Create(inputs));
    MergingIterator& it = *merged;
    uint64_t n = 0;
    while (it.Valid()) {
      const Key& k = it.top().key();
      if (splits.empty() || (n >= per_file && k != last_key)) {
        splits.push_back(k);
        n = 0;
      }
      last_key = k;
      n++;
      NEON_RETURN_IF_ERROR(it.Next());
    }
  }
  if (splits.empty()) return ReplaceLayers({}, inputs);  // inputs hold nothing
  splits.push_back(last_key.Next());

  // Pass 2: write one L1 per split range.
  std::vector<HistoricLayerPtr> outputs;
  NEON_ASSIGN_OR_RETURN(auto merged, MergingIterator::Create(inputs));
  MergingIterator& it = *merged;
  for (size_t f = 0; f + 1 < splits.size(); f++) {
    LayerDesc desc{tenant_, id_, KeyRange{splits[f], splits[f + 1]}, lsn_range, false};
    std::string tmp = TempPath(desc.FileName());
    NEON_ASSIGN_OR_RETURN(auto w, DeltaLayerWriter::Create(deps_.fs, tmp, desc, deps_.writer_options));
    while (it.Valid() && it.top().key() < splits[f + 1]) {
      NEON_ASSIGN_OR_RETURN(std::string v, it.top().value());
      NEON_RETURN_IF_ERROR(w->Put(it.top().key(), it.top().lsn(), v, it.top().will_init()));
      NEON_RETURN_IF_ERROR(it.Next());
    }
    NEON_ASSIGN_OR_RETURN(LayerFileInfo info, w->Finish());
    NEON_ASSIGN_OR_RETURN(HistoricLayerPtr h, PublishLayerFile(tmp, info));
    result->bytes_written += h->file_size;
    outputs.push_back(std::move(h));
  }
  NEON_CHECK(!it.Valid());
  NEON_RETURN_IF_ERROR(ReplaceLayers(outputs, inputs));
  result->layers_created += outputs.size();
  result->layers_removed += inputs.size();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Key>> TimelineImpl::CollectKeyspace(Lsn lsn) {
  absl::btree_set<Key> keys;
  TimelineImpl* tl = this;
  Lsn read = lsn;
  while (tl != nullptr) {
    auto map = tl->Snapshot();
    for (const auto& m : map->in_memory()) {
      if (m->start_lsn() <= read) m->ForEachKey([&](const Key& k) { keys.insert(k); });
    }
    for (const auto& h : map->historic()) {
      if (h->desc.lsn_range.start > read) continue;
      NEON_ASSIGN_OR_RETURN(auto reader, h->Reader());
      auto it = reader->NewIterator();
      NEON_RETURN_IF_ERROR(it->SeekToFirst());
      while (it->Valid()) {
        keys.insert(it->key());
        NEON_RETURN_IF_ERROR(it->Next());
      }
    }
    read = std::min(read, tl->ancestor_lsn_);
    tl = tl->ancestor_.get();
  }
  return std::vector<Key>(keys.begin(), keys.end());
}

absl::Status TimelineImpl::CreateImageLayers(bool force, MaintenanceResult* result) {
  Lsn lsn;
  {
    absl::ReaderMutexLock l(&mu_);
    lsn = disk_consistent_lsn_;
  }
  if (!lsn.valid() || (ancestor_ && lsn <= ancestor_lsn_) || !IsReadable(lsn)) return absl::OkStatus();
  auto map = Snapshot();
  NEON_ASSIGN_OR_RETURN(std::vector<Key> keys, CollectKeyspace(lsn));
  if (keys.empty()) return absl::OkStatus();
  const size_t per_partition = std::max<uint64_t>(1, config_->compaction_target_size / kPageSize);
  for (size_t start = 0; start < keys.size(); start += per_partition) {
    size_t end = std::min(keys.size(), start + per_partition);
    KeyRange range{start == 0 ? Key::Min() : keys[start], end == keys.size() ? Key::Max() : keys[end]};
    // The newest image covering the whole partition, and the deltas above it.
    Lsn image_lsn;
    bool have_image = false;
    for (const auto& h : map->historic()) {
      if (h->desc.is_image && h->desc.key_range.start <= range.start && range.end <= h->desc.key_range.end &&
          (!have_image || h->desc.image_lsn() > image_lsn)) {
        image_lsn = h->desc.image_lsn();
        have_image = true;
      }
    }
    if (have_image && image_lsn >= lsn) continue;
    uint32_t deltas = 0;
    for (const auto& h : map->historic()) {
      if (!h->desc.is_image && h->desc.key_range.Overlaps(range) && h->desc.lsn_range.start <= lsn &&
          (!have_image || h->desc.lsn_range.end > image_lsn.Next())) {
        deltas++;
      }
    }
    if (deltas == 0 || (!force && deltas < config_->image_creation_threshold)) continue;
    std::vector<Key> part(keys.begin() + start, keys.begin() + end);
    NEON_RETURN_IF_ERROR(CreateImageLayer(range, part, lsn, result));
  }
  return absl::OkStatus();
}

absl::Status TimelineImpl::CreateImageLayer(const KeyRange& range, const std::vector<Key>& keys,
                                            Lsn lsn, MaintenanceResult* result) {
  LayerDesc desc{tenant_, id_, range, LsnRange{lsn, lsn.Next()}, true};
  std::string tmp = TempPath(desc.FileName());
  NEON_ASSIGN_OR_RETURN(auto w, ImageLayerWriter::Create(deps_.fs, tmp, desc, deps_.writer_options));
  for (const Key& k : keys) {
    auto page = GetValueAt(k, lsn);
    if (absl::IsNotFound(page.status())) continue;  // the key does not exist at lsn
    NEON_RETURN_IF_ERROR(page.status());
    NEON_RETURN_IF_ERROR(w->Put(k, *page));
  }
  NEON_ASSIGN_OR_RETURN(LayerFileInfo info, w->Finish());
  NEON_ASSIGN_OR_RETURN(HistoricLayerPtr h, PublishLayerFile(tmp, info));
  result->bytes_written += h->file_size;
  result->layers_created++;
  return ReplaceLayers({h}, {});
}

}  // namespace neon
