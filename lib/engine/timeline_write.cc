// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The write path: values go into the open in-memory layer; FinishWrite makes
// them readable, rolls the open layer when it is big, old or asked to, and
// applies L0 backpressure (the writer flushes inline when L0 layers pile up).

#include "base/check.h"
#include "base/coding.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "engine/timeline.h"

namespace neon {

absl::Status TimelineImpl::CheckWritable() const {
  if (deleted_) return absl::NotFoundError(StrCat("timeline ", id_.ToString(), " was deleted"));
  if (shutdown_.load()) return absl::CancelledError("timeline is shutting down");
  return broken_;
}

absl::Status TimelineImpl::EnsureOpenLayer(Lsn lsn) {
  absl::MutexLock l(&mu_);
  NEON_RETURN_IF_ERROR(CheckWritable());
  if (open_layer_) return absl::OkStatus();
  Lsn start = last_record_lsn().Next();
  NEON_CHECK(lsn >= start);
  std::string path = JoinPath(dir_, StrCat("ephemeral-", ++ephemeral_seq_));
  NEON_ASSIGN_OR_RETURN(auto layer, InMemoryLayer::Create(deps_.fs, path, start,
                                                          deps_.clock->MonotonicMicros()));
  open_layer_ = std::move(layer);
  auto in_memory = layers_->in_memory();
  in_memory.push_back(open_layer_);
  layers_ = layers_->WithInMemory(std::move(in_memory));
  return absl::OkStatus();
}

absl::Status TimelineImpl::Put(const Key& key, Lsn lsn, const Value& value) {
  Lsn last = last_record_lsn();
  if (lsn <= last) {
    return absl::InvalidArgumentError(StrCat("put at ", lsn.ToString(), " is not above last_record_lsn ",
                                             last.ToString()));
  }
  value_buf_.clear();
  value.AppendSerialized(&value_buf_);
  for (;;) {
    {
      // Shared mu_ across the insert: a freeze (exclusive mu_) never sees a
      // half-written record slip into the layer it is closing.
      absl::ReaderMutexLock l(&mu_);
      NEON_RETURN_IF_ERROR(CheckWritable());
      if (open_layer_) return open_layer_->Put(key, lsn, value_buf_, value.will_init());
    }
    NEON_RETURN_IF_ERROR(EnsureOpenLayer(lsn));
  }
}

absl::StatusOr<uint32_t> TimelineImpl::RelSizeForWrite(const RelTag& rel) {
  auto it = rel_size_cache_.find(rel);
  if (it != rel_size_cache_.end()) return it->second;
  Lsn last = last_record_lsn();
  uint32_t size = 0;
  if (last.valid()) {
    auto s = RelSizeAt(rel, last);
    if (s.ok()) {
      size = *s;
    } else if (!absl::IsNotFound(s.status())) {
      return s.status();
    }
  }
  rel_size_cache_[rel] = size;
  return size;
}

absl::Status TimelineImpl::PutRelSize(const RelTag& rel, uint32_t nblocks, Lsn lsn) {
  std::string v;
  PutFixed32LE(&v, nblocks);
  NEON_RETURN_IF_ERROR(Put(Key::RelSize(rel), lsn, Value::Image(std::move(v))));
  rel_size_cache_[rel] = nblocks;
  return absl::OkStatus();
}

absl::Status TimelineImpl::PutRelBlock(const RelTag& rel, uint32_t blkno, Lsn lsn,
                                       const Value& value) {
  if (blkno == Key::kRelSizeBlock) return absl::InvalidArgumentError("block number 0xFFFFFFFF is reserved");
  NEON_ASSIGN_OR_RETURN(uint32_t size, RelSizeForWrite(rel));
  if (blkno >= size) {
    // Extend: blocks between the old end and blkno become zero pages.
    static const std::string kZeroPage(kPageSize, '\0');
    for (uint32_t b = size; b < blkno; b++) {
      NEON_RETURN_IF_ERROR(Put(Key::RelBlock(rel, b), lsn, Value::Image(kZeroPage)));
    }
    NEON_RETURN_IF_ERROR(PutRelSize(rel, blkno + 1, lsn));
  }
  return Put(Key::RelBlock(rel, blkno), lsn, value);
}

bool TimelineImpl::ShouldRollLocked(int64_t now_us) const {
  if (!open_layer_ || open_layer_->num_entries() == 0) return false;
  if (roll_requested_) return true;
  Lsn last = last_record_lsn();
  return last.Minus(open_layer_->start_lsn()) >= config_->checkpoint_distance ||
         open_layer_->size_bytes() >= config_->checkpoint_distance ||
         now_us - open_layer_->opened_at_us() >= config_->checkpoint_timeout_us;
}

void TimelineImpl::FreezeOpenLayerLocked() {
  if (!open_layer_ || open_layer_->num_entries() == 0) return;
  NEON_CHECK(open_layer_->max_lsn() <= last_record_lsn());
  open_layer_->Freeze(last_record_lsn().Next());
  frozen_prev_lsns_.push_back(prev_record_lsn_);
  open_layer_.reset();
  roll_requested_ = false;
  // layers_ already lists the (now frozen) layer among in_memory().
}

absl::Status TimelineImpl::FinishWrite(Lsn lsn) {
  int64_t now = deps_.clock->MonotonicMicros();
  bool rolled = false;
  size_t num_l0 = 0;
  {
    absl::MutexLock l(&mu_);
    NEON_RETURN_IF_ERROR(CheckWritable());
    Lsn last = last_record_lsn();
    if (lsn <= last) {
      return absl::InvalidArgumentError(StrCat("FinishWrite(", lsn.ToString(),
                                               ") is not above last_record_lsn ", last.ToString()));
    }
    if (open_layer_ && open_layer_->max_lsn() > lsn) {
      return absl::InvalidArgumentError(StrCat("FinishWrite(", lsn.ToString(), ") below a value put at ",
                                               open_layer_->max_lsn().ToString()));
    }
    prev_record_lsn_ = last;
    // A root timeline's data begins at its first write (bootstrap or import): Neon's
    // initdb_lsn. Branches inherit their ancestor's.
    if (!last.valid() && !initdb_lsn_.valid() && !ancestor_) initdb_lsn_ = lsn;
    last_record_lsn_.store(lsn.value(), std::memory_order_release);
    lsn_advanced_.SignalAll();
    int64_t wall = deps_.clock->NowMicros();
    if (lsn_by_time_.empty() || wall - lsn_by_time_.rbegin()->first >= kMicrosPerSecond) {
      lsn_by_time_[wall] = lsn;  // one sample a second, for pitr_interval
    }
    if (ShouldRollLocked(now)) {
      FreezeOpenLayerLocked();
      rolled = true;
    }
    num_l0 = layers_->num_l0();
  }
  if (!rolled) return absl::OkStatus();
  // Backpressure: with too many L0 layers the writer pays for the flush itself.
  if (num_l0 >= config_->effective_l0_flush_delay_threshold() || deps_.executor == nullptr) {
    NEON_RETURN_IF_ERROR(Flush().status());
    if (config_->l0_flush_stall_threshold && num_l0 >= *config_->l0_flush_stall_threshold) {
      NEON_RETURN_IF_ERROR(Compact(false).status());
    }
    return absl::OkStatus();
  }
  ScheduleFlush();
  return absl::OkStatus();
}

}  // namespace neon
