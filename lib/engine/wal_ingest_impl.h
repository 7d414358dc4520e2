// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// WalIngester's state: the timeline, caches of the directories and the
// checkpoint (authoritative while this ingester is the timeline's writer),
// and the batch bookkeeping. Split by concern: wal_ingest.cc (dispatch,
// block references, heap VM clears, streaming), wal_ingest_meta.cc
// (directories, storage manager, databases, relmap), wal_ingest_xact.cc
// (transactions, CLOG, multixacts, checkpoint).

#ifndef NEON_LIB_ENGINE_WAL_INGEST_IMPL_H_
#define NEON_LIB_ENGINE_WAL_INGEST_IMPL_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "neon/wal_ingest.h"

namespace neon {

// Postgres's CheckPoint struct (catalog/pg_control.h), 88 bytes.
struct PgCheckpoint {
  static constexpr size_t kSize = 88;
  std::string bytes = std::string(kSize, '\0');

  uint64_t next_xid() const;  // FullTransactionId
  void set_next_xid(uint64_t v);
  uint32_t Get32(size_t off) const;
  void Set32(size_t off, uint32_t v);
  void Set64(size_t off, uint64_t v);
  // Field offsets.
  static constexpr size_t kRedo = 0, kNextXid = 24, kNextOid = 32, kNextMulti = 36,
                          kNextMultiOffset = 40, kOldestXid = 44, kOldestXidDb = 48,
                          kOldestMulti = 52, kOldestMultiDb = 56, kOldestActiveXid = 80;
};

// Directory encodings (doc/wal-ingest.md): little-endian, u32 count first.
std::string EncodeDbDir(const std::map<std::pair<uint32_t, uint32_t>, bool>& dbs);
absl::Status DecodeDbDir(std::string_view v, std::map<std::pair<uint32_t, uint32_t>, bool>* out);
std::string EncodeRelDir(const std::set<std::pair<uint32_t, uint8_t>>& rels);
absl::Status DecodeRelDir(std::string_view v, std::set<std::pair<uint32_t, uint8_t>>* out);
std::string EncodeU32Set(const std::set<uint32_t>& s);
absl::Status DecodeU32Set(std::string_view v, std::set<uint32_t>* out);
std::string EncodeU64Set(const std::set<uint64_t>& s);
absl::Status DecodeU64Set(std::string_view v, std::set<uint64_t>* out);

class WalIngester::Impl {
 public:
  Impl(std::shared_ptr<Timeline> tl, WalIngestOptions o) : tl_(std::move(tl)), opts_(o) {}

  absl::Status LoadState();
  absl::Status Ingest(const WalRecord& r);
  absl::Status Commit();
  absl::Status FeedWal(std::string_view bytes);
  Lsn last_end() const { return last_end_; }
  const WalIngestStats& stats() const { return stats_; }

  // ---- Used by the per-concern files ----
  absl::Status Put(const Key& key, Value v);
  absl::Status PutBlock(const RelTag& rel, uint32_t blk, Value v);
  absl::Status PutSlruPage(SlruKind kind, uint32_t pageno, Value v);
  absl::Status EnsureRelation(const RelTag& rel);
  absl::Status SetRelSize(const RelTag& rel, uint32_t nblocks);
  absl::Status DropRelation(const RelTag& rel);
  absl::StatusOr<uint32_t> RelSize(const RelTag& rel);  // 0 if absent
  bool RelExists(const RelTag& rel);
  absl::Status ReadRelDir(uint32_t spc, uint32_t db);
  void AdvanceNextXid(uint32_t xid);

  // Per resource manager.
  absl::Status IngestBlocks(const WalRecord& r);
  absl::Status IngestHeapVmClears(const WalRecord& r);
  absl::Status IngestSmgr(const WalRecord& r);
  absl::Status IngestDbase(const WalRecord& r);
  absl::Status IngestRelMap(const WalRecord& r);
  absl::Status IngestXact(const WalRecord& r);
  absl::Status IngestClog(const WalRecord& r);
  absl::Status IngestMultiXact(const WalRecord& r);
  absl::Status IngestXlog(const WalRecord& r);
  absl::Status IngestStandby(const WalRecord& r);
  absl::Status FlushDirtyMetadata();

  std::shared_ptr<Timeline> tl_;
  WalIngestOptions opts_;
  Lsn lsn_;        // end LSN of the record being ingested
  Lsn last_end_;   // end LSN of the last record ingested
  Lsn committed_;  // last FinishWrite
  uint32_t uncommitted_records_ = 0;
  uint64_t uncommitted_bytes_ = 0;
  WalIngestStats stats_;

  std::map<std::pair<uint32_t, uint32_t>, bool> dbdir_;
  std::map<std::pair<uint32_t, uint32_t>, std::set<std::pair<uint32_t, uint8_t>>> reldirs_;
  std::set<std::pair<uint32_t, uint32_t>> dirty_reldirs_;
  std::map<RelTag, uint32_t> rel_sizes_;
  std::set<uint32_t> slru_dirs_[3];
  std::map<std::pair<int, uint32_t>, uint32_t> slru_sizes_;  // (kind, segno) -> pages
  std::set<uint64_t> twophase_;
  PgCheckpoint checkpoint_;
  bool dbdir_dirty_ = false, slru_dirty_[3] = {false, false, false}, twophase_dirty_ = false,
       checkpoint_dirty_ = false;

  std::unique_ptr<WalStreamDecoder> decoder_;
};

}  // namespace neon

#endif  // NEON_LIB_ENGINE_WAL_INGEST_IMPL_H_
