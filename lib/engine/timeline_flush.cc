// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Flush: frozen in-memory layers become L0 delta files, oldest first. The
// order makes a crash at any point safe:
//   1. write the layer to a temp file and sync it;
//   2. rename it into place and sync the directory;
//   3. commit {add layer, new disk_consistent_lsn} to the catalog (synced);
//   4. swap the layer map (frozen layer out, L0 in).
// A crash before 3 leaves an unlisted file, removed at the next open.

#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "engine/timeline.h"

namespace neon {

absl::StatusOr<MaintenanceResult> TimelineImpl::Flush() {
  absl::MutexLock flush_lock(&flush_mu_);
  // Checked under flush_mu_, like Compact and Gc under maint_mu_: Shutdown()
  // sets shutdown_ and then waits for flush_mu_, so no flush starts after it
  // returns (a background flush task that read shutdown_ just before would
  // otherwise go on to use the catalog after the engine was shut down).
  if (shutdown_.load()) return absl::CancelledError("timeline is shutting down");
  MaintenanceResult result;
  {
    absl::MutexLock l(&mu_);
    if (deleted_) return absl::NotFoundError(StrCat("timeline ", id_.ToString(), " was deleted"));
    NEON_RETURN_IF_ERROR(broken_);
    // Freeze the open layer unless a record is half-written.
    if (open_layer_ && open_layer_->max_lsn() <= last_record_lsn()) FreezeOpenLayerLocked();
  }
  NEON_RETURN_IF_ERROR(FlushFrozenLayers(&result));
  // With nothing in memory, everything ingested is on disk.
  Lsn last, prev;
  {
    absl::ReaderMutexLock l(&mu_);
    if (!layers_->in_memory().empty() || disk_consistent_lsn_ >= last_record_lsn()) return result;
    last = last_record_lsn();
    prev = prev_record_lsn_;
  }
  CatalogBatch batch;
  absl::Status s = CommitMeta(
      batch,
      [&](TimelineMeta& m) {
        m.disk_consistent_lsn = last;
        m.prev_record_lsn = prev;
      },
      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        disk_consistent_lsn_ = std::max(disk_consistent_lsn_, last);
        persisted_prev_record_lsn_ = prev;
      });
  if (!s.ok()) {
    SetBroken(s);
    return s;
  }
  return result;
}

absl::Status TimelineImpl::FlushFrozenLayers(MaintenanceResult* result) {
  for (;;) {
    std::shared_ptr<InMemoryLayer> oldest;
    Lsn prev;
    {
      absl::ReaderMutexLock l(&mu_);
      const auto& in_memory = layers_->in_memory();
      if (in_memory.empty() || !in_memory.front()->frozen()) return absl::OkStatus();
      oldest = in_memory.front();
      prev = frozen_prev_lsns_.front();
    }
    absl::Status s = FlushOneFrozen(oldest, prev, result);
    if (!s.ok()) {
      SetBroken(s);  // never retry a failed write-to-disk: stop accepting writes
      return s;
    }
  }
}

absl::Status TimelineImpl::FlushOneFrozen(const std::shared_ptr<InMemoryLayer>& layer, Lsn prev,
                                          MaintenanceResult* result) {
  LayerDesc desc;
  desc.tenant = tenant_;
  desc.timeline = id_;
  desc.key_range = KeyRange::All();
  desc.lsn_range = LsnRange{layer->start_lsn(), layer->end_lsn()};
  desc.is_image = false;
  std::string tmp = TempPath(desc.FileName());
  NEON_ASSIGN_OR_RETURN(auto writer, DeltaLayerWriter::Create(deps_.fs, tmp, desc, deps_.writer_options));
  NEON_RETURN_IF_ERROR(layer->WriteTo(writer.get()));
  NEON_ASSIGN_OR_RETURN(LayerFileInfo info, writer->Finish());
  NEON_ASSIGN_OR_RETURN(HistoricLayerPtr h, PublishLayerFile(tmp, info));

  Lsn new_disk_consistent = layer->end_lsn().Prev();
  CatalogBatch batch;
  batch.AddLayer(tenant_, id_, LayerRecord{h->file_name, h->file_size});
  return CommitMeta(
      batch,
      [&](TimelineMeta& m) {
        m.disk_consistent_lsn = new_disk_consistent;
        m.prev_record_lsn = prev;
      },
      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        auto in_memory = layers_->in_memory();
        NEON_CHECK(!in_memory.empty() && in_memory.front() == layer);
        in_memory.erase(in_memory.begin());
        frozen_prev_lsns_.pop_front();
        layers_ = layers_->WithChanges({h}, {}, std::move(in_memory));
        disk_consistent_lsn_ = new_disk_consistent;
        persisted_prev_record_lsn_ = prev;
        result->layers_created++;
        result->bytes_written += h->file_size;
      },
      {h});
}

}  // namespace neon
