// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// InMemoryLayer: the open (then frozen) layer of a timeline. Values are
// appended to an ephemeral file (through a 64 KiB tail buffer) and indexed in
// memory by key, then LSN. The file is deleted with the layer; it is never
// read after a restart (the data is re-ingested from the WAL source).
//
// Lifecycle: open (Put allowed) -> Freeze(end_lsn) -> written to an L0 delta
// layer by WriteTo -> dropped.
//
// Thread safety: one writer (Put/Freeze) concurrent with many readers.

#ifndef NEON_LIB_ENGINE_IN_MEMORY_LAYER_H_
#define NEON_LIB_ENGINE_IN_MEMORY_LAYER_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/synchronization/mutex.h"
#include "engine/layer_file.h"
#include "neon/file_system.h"
#include "neon/key.h"

namespace neon {

class InMemoryLayer {
 public:
  static absl::StatusOr<std::unique_ptr<InMemoryLayer>> Create(FileSystem* fs,
                                                               const std::string& path,
                                                               Lsn start_lsn, int64_t now_us);
  ~InMemoryLayer();

  // REQUIRES: not frozen; lsn >= start_lsn. A second value at the same
  // (key, lsn) replaces the first; an older lsn than the key's newest is an error.
  absl::Status Put(const Key& key, Lsn lsn, std::string_view serialized_value, bool will_init);
  // Versions of `key` with lsn in `range`, newest first, stopping after the
  // first will_init one; returns true if it stopped there.
  absl::StatusOr<bool> Get(const Key& key, LsnRange range, std::vector<LayerValue>* out) const;
  // Get() for each lookup under one acquisition of the layer's lock (no
  // callback: nothing else runs while the writer is held off). An error ends
  // only its own lookup.
  void GetMany(absl::Span<KeyLookup> lookups) const;
  // Sets end_lsn (exclusive); no Put afterwards.
  void Freeze(Lsn end_lsn);
  // Writes every entry in (key, lsn) order. REQUIRES: frozen.
  absl::Status WriteTo(DeltaLayerWriter* writer) const;
  // Calls fn(key) for every key held, in order.
  void ForEachKey(const std::function<void(const Key&)>& fn) const;

  Lsn start_lsn() const { return start_lsn_; }
  // Lsn::Max() while open.
  Lsn end_lsn() const { return Lsn(end_lsn_.load(std::memory_order_acquire)); }
  bool frozen() const { return end_lsn() != Lsn::Max(); }
  uint64_t size_bytes() const { return size_.load(std::memory_order_relaxed); }
  uint64_t num_entries() const { return entries_.load(std::memory_order_relaxed); }
  Lsn max_lsn() const { return Lsn(max_lsn_.load(std::memory_order_relaxed)); }
  int64_t opened_at_us() const { return opened_at_us_; }

 private:
  struct Entry {
    Lsn lsn;
    uint64_t pos;
    uint32_t len;
    bool will_init;
  };
  using Versions = absl::InlinedVector<Entry, 2>;
  static constexpr size_t kTailBufferBytes = 64 * 1024;

  InMemoryLayer(FileSystem* fs, std::string path, Lsn start_lsn, int64_t now_us,
                std::unique_ptr<WritableFile> file, std::unique_ptr<RandomAccessFile> reader);
  absl::Status ReadAt(uint64_t pos, uint32_t len, std::string* out) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::StatusOr<bool> GetLocked(const Key& key, LsnRange range,
                                 std::vector<LayerValue>* out) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::Status FlushTail() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  FileSystem* fs_;
  const std::string path_;
  const Lsn start_lsn_;
  const int64_t opened_at_us_;
  std::atomic<uint64_t> end_lsn_{Lsn::kMaxValue};
  std::atomic<uint64_t> size_{0};
  std::atomic<uint64_t> entries_{0};
  std::atomic<uint64_t> max_lsn_{0};

  mutable absl::Mutex mu_;
  std::unique_ptr<WritableFile> file_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<RandomAccessFile> reader_;
  std::string tail_ ABSL_GUARDED_BY(mu_);       // bytes at [file_bytes_, size_)
  uint64_t file_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // bytes already in the file
  absl::btree_map<Key, Versions> index_ ABSL_GUARDED_BY(mu_);
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_IN_MEMORY_LAYER_H_
