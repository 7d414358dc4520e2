// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Directories (databases, relations, SLRU segments, two-phase files), and the
// storage-manager, database and relmap records that change them.

#include <cstring>

#include "base/coding.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "engine/wal_ingest_impl.h"
#include "wal/pg_constants.h"

namespace neon {
namespace {

// FSM geometry (storage/freespace/freespace.c): leaf slots per FSM page and
// the logical-to-physical block mapping of its three-level tree.
constexpr uint32_t kSlotsPerFsmPage = 4069;
uint32_t FsmLogicalToPhysical(uint32_t logical) {
  uint32_t leaf = logical, pages = 0;
  for (int level = 0; level < 3; level++) {
    pages += leaf + 1;
    leaf /= kSlotsPerFsmPage;
  }
  return pages - 1;
}
constexpr uint32_t kVmHeapBlocksPerPage = (8192 - 24) * 4;

absl::Status BadDir(std::string_view what) {
  return absl::DataLossError(StrCat("stored ", what, " directory is malformed"));
}

absl::StatusOr<std::optional<std::string>> GetOptional(Timeline* tl, const Key& key, Lsn lsn) {
  absl::StatusOr<std::string> v = tl->GetPage(key, lsn);
  if (absl::IsNotFound(v.status())) return std::nullopt;
  if (!v.ok()) return v.status();
  return std::optional<std::string>(std::move(*v));
}

}  // namespace

// ---- Encodings ------------------------------------------------------------------

std::string EncodeDbDir(const std::map<std::pair<uint32_t, uint32_t>, bool>& dbs) {
  std::string out;
  PutFixed32LE(&out, static_cast<uint32_t>(dbs.size()));
  for (const auto& [k, relmap] : dbs) {
    PutFixed32LE(&out, k.first);
    PutFixed32LE(&out, k.second);
    out.push_back(relmap ? 1 : 0);
  }
  return out;
}

absl::Status DecodeDbDir(std::string_view v, std::map<std::pair<uint32_t, uint32_t>, bool>* out) {
  if (v.size() < 4) return BadDir("database");
  const uint32_t n = LoadHost<uint32_t>(v, 0);
  if (v.size() != 4 + 9ull * n) return BadDir("database");
  for (uint32_t i = 0; i < n; i++) {
    const size_t o = 4 + 9ull * i;
    (*out)[{LoadHost<uint32_t>(v, o), LoadHost<uint32_t>(v, o + 4)}] = v[o + 8] != 0;
  }
  return absl::OkStatus();
}

std::string EncodeRelDir(const std::set<std::pair<uint32_t, uint8_t>>& rels) {
  std::string out;
  PutFixed32LE(&out, static_cast<uint32_t>(rels.size()));
  for (const auto& [rel, fork] : rels) {
    PutFixed32LE(&out, rel);
    out.push_back(static_cast<char>(fork));
  }
  return out;
}

absl::Status DecodeRelDir(std::string_view v, std::set<std::pair<uint32_t, uint8_t>>* out) {
  if (v.size() < 4) return BadDir("relation");
  const uint32_t n = LoadHost<uint32_t>(v, 0);
  if (v.size() != 4 + 5ull * n) return BadDir("relation");
  for (uint32_t i = 0; i < n; i++) {
    const size_t o = 4 + 5ull * i;
    out->insert({LoadHost<uint32_t>(v, o), static_cast<uint8_t>(v[o + 4])});
  }
  return absl::OkStatus();
}

std::string EncodeU32Set(const std::set<uint32_t>& s) {
  std::string out;
  PutFixed32LE(&out, static_cast<uint32_t>(s.size()));
  for (uint32_t x : s) PutFixed32LE(&out, x);
  return out;
}

absl::Status DecodeU32Set(std::string_view v, std::set<uint32_t>* out) {
  if (v.size() < 4 || v.size() != 4 + 4ull * LoadHost<uint32_t>(v, 0)) return BadDir("SLRU");
  for (size_t o = 4; o < v.size(); o += 4) out->insert(LoadHost<uint32_t>(v, o));
  return absl::OkStatus();
}

std::string EncodeU64Set(const std::set<uint64_t>& s) {
  std::string out;
  PutFixed32LE(&out, static_cast<uint32_t>(s.size()));
  for (uint64_t x : s) PutFixed64LE(&out, x);
  return out;
}

absl::Status DecodeU64Set(std::string_view v, std::set<uint64_t>* out) {
  if (v.size() < 4 || v.size() != 4 + 8ull * LoadHost<uint32_t>(v, 0)) return BadDir("two-phase");
  for (size_t o = 4; o < v.size(); o += 8) out->insert(LoadHost<uint64_t>(v, o));
  return absl::OkStatus();
}

// ---- State ----------------------------------------------------------------------

absl::Status WalIngester::Impl::LoadState() {
  last_end_ = committed_ = tl_->Info().last_record_lsn;
  if (!last_end_.valid()) return absl::OkStatus();  // empty timeline
  Timeline* tl = tl_.get();
  NEON_ASSIGN_OR_RETURN(auto db, GetOptional(tl, Key::DbDir(), last_end_));
  if (db) NEON_RETURN_IF_ERROR(DecodeDbDir(*db, &dbdir_));
  for (int k = 0; k < 3; k++) {
    NEON_ASSIGN_OR_RETURN(auto s, GetOptional(tl, Key::SlruDir(static_cast<SlruKind>(k)), last_end_));
    if (s) NEON_RETURN_IF_ERROR(DecodeU32Set(*s, &slru_dirs_[k]));
  }
  NEON_ASSIGN_OR_RETURN(auto tp, GetOptional(tl, Key::TwoPhaseDir(), last_end_));
  if (tp) NEON_RETURN_IF_ERROR(DecodeU64Set(*tp, &twophase_));
  NEON_ASSIGN_OR_RETURN(auto cp, GetOptional(tl, Key::Checkpoint(), last_end_));
  if (cp) {
    if (cp->size() != PgCheckpoint::kSize) return absl::DataLossError("stored checkpoint has wrong size");
    checkpoint_.bytes = *cp;
  }
  return absl::OkStatus();
}

absl::Status WalIngester::Impl::ReadRelDir(uint32_t spc, uint32_t db) {
  if (reldirs_.count({spc, db})) return absl::OkStatus();
  auto& dir = reldirs_[{spc, db}];
  if (!last_end_.valid()) return absl::OkStatus();
  NEON_ASSIGN_OR_RETURN(auto v, GetOptional(tl_.get(), Key::RelDir(spc, db), last_end_));
  if (v) NEON_RETURN_IF_ERROR(DecodeRelDir(*v, &dir));
  return absl::OkStatus();
}

bool WalIngester::Impl::RelExists(const RelTag& rel) {
  if (!ReadRelDir(rel.spc_oid, rel.db_oid).ok()) return false;
  return reldirs_[{rel.spc_oid, rel.db_oid}].count({rel.rel_number, rel.fork}) > 0;
}

absl::StatusOr<uint32_t> WalIngester::Impl::RelSize(const RelTag& rel) {
  auto it = rel_sizes_.find(rel);
  if (it != rel_sizes_.end()) return it->second;
  uint32_t size = 0;
  // Sizes this ingester wrote are cached; anything else is as committed.
  if (RelExists(rel) && committed_.valid()) {
    absl::StatusOr<uint32_t> s = tl_->GetRelSize(rel, ReadLsn{committed_, committed_});
    if (s.ok()) {
      size = *s;
    } else if (!absl::IsNotFound(s.status())) {
      return s.status();
    }
  }
  rel_sizes_[rel] = size;
  return size;
}

absl::Status WalIngester::Impl::EnsureRelation(const RelTag& rel) {
  NEON_RETURN_IF_ERROR(ReadRelDir(rel.spc_oid, rel.db_oid));
  auto& dir = reldirs_[{rel.spc_oid, rel.db_oid}];
  if (dir.insert({rel.rel_number, rel.fork}).second) {
    dirty_reldirs_.insert({rel.spc_oid, rel.db_oid});
    if (!dbdir_.count({rel.spc_oid, rel.db_oid})) {
      dbdir_[{rel.spc_oid, rel.db_oid}] = false;
      dbdir_dirty_ = true;
    }
    // A new relation (or one dropped before) starts empty; the caller
    // writes its size (PutRelBlock extends it).
    rel_sizes_[rel] = 0;
  }
  return absl::OkStatus();
}

absl::Status WalIngester::Impl::SetRelSize(const RelTag& rel, uint32_t nblocks) {
  rel_sizes_[rel] = nblocks;
  return tl_->PutRelSize(rel, nblocks, lsn_);
}

// A dropped relation leaves its directory; its size becomes 0 so nothing of
// it can be read (the engine has no range deletion).
absl::Status WalIngester::Impl::DropRelation(const RelTag& rel) {
  NEON_RETURN_IF_ERROR(ReadRelDir(rel.spc_oid, rel.db_oid));
  auto& dir = reldirs_[{rel.spc_oid, rel.db_oid}];
  if (dir.erase({rel.rel_number, rel.fork}) == 0) return absl::OkStatus();
  dirty_reldirs_.insert({rel.spc_oid, rel.db_oid});
  return SetRelSize(rel, 0);
}

absl::Status WalIngester::Impl::FlushDirtyMetadata() {
  if (dbdir_dirty_) NEON_RETURN_IF_ERROR(Put(Key::DbDir(), Value::Image(EncodeDbDir(dbdir_))));
  for (const auto& k : dirty_reldirs_) {
    NEON_RETURN_IF_ERROR(Put(Key::RelDir(k.first, k.second), Value::Image(EncodeRelDir(reldirs_[k]))));
  }
  for (int k = 0; k < 3; k++) {
    if (slru_dirty_[k]) {
      NEON_RETURN_IF_ERROR(
          Put(Key::SlruDir(static_cast<SlruKind>(k)), Value::Image(EncodeU32Set(slru_dirs_[k]))));
    }
    slru_dirty_[k] = false;
  }
  if (twophase_dirty_) NEON_RETURN_IF_ERROR(Put(Key::TwoPhaseDir(), Value::Image(EncodeU64Set(twophase_))));
  if (checkpoint_dirty_) NEON_RETURN_IF_ERROR(Put(Key::Checkpoint(), Value::Image(checkpoint_.bytes)));
  dbdir_dirty_ = twophase_dirty_ = checkpoint_dirty_ = false;
  dirty_reldirs_.clear();
  return absl::OkStatus();
}

// ---- Storage manager ------------------------------------------------------------

absl::Status WalIngester::Impl::IngestSmgr(const WalRecord& r) {
  std::string_view d = r.main_data();
  const uint8_t type = r.info & pg::kXlrRmgrInfoMask;
  if (type == pg::kSmgrCreate) {  // xl_smgr_create {RelFileNode rnode; ForkNumber forkNum}
    RelTag rel{LoadHost<uint32_t>(d, 0), LoadHost<uint32_t>(d, 4), LoadHost<uint32_t>(d, 8),
               static_cast<uint8_t>(LoadHost<uint32_t>(d, 12))};
    if (RelExists(rel)) return absl::OkStatus();
    NEON_RETURN_IF_ERROR(EnsureRelation(rel));
    return SetRelSize(rel, 0);
  }
  if (type != pg::kSmgrTruncate) return absl::OkStatus();
  // xl_smgr_truncate {BlockNumber blkno; RelFileNode rnode; int flags}
  const uint32_t blkno = LoadHost<uint32_t>(d, 0);
  RelTag rel{LoadHost<uint32_t>(d, 4), LoadHost<uint32_t>(d, 8), LoadHost<uint32_t>(d, 12), pg::kMainFork};
  const uint32_t flags = LoadHost<uint32_t>(d, 16);
  if ((flags & pg::kSmgrTruncateHeap) && RelExists(rel)) {
    NEON_ASSIGN_OR_RETURN(uint32_t n, RelSize(rel));
    if (n > blkno) NEON_RETURN_IF_ERROR(SetRelSize(rel, blkno));
  }
  RelTag fsm = rel;
  fsm.fork = pg::kFsmFork;
  if ((flags & pg::kSmgrTruncateFsm) && RelExists(fsm)) {
    uint32_t first_gone = FsmLogicalToPhysical(blkno / kSlotsPerFsmPage);
    if (blkno % kSlotsPerFsmPage != 0) {
      // The last remaining FSM page keeps stale slots: clear it whole.
      NEON_ASSIGN_OR_RETURN(uint32_t n, RelSize(fsm));
      if (first_gone < n) {
        NEON_RETURN_IF_ERROR(PutBlock(fsm, first_gone, Value::Image(std::string(8192, '\0'))));
      }
      first_gone++;
    }
    NEON_ASSIGN_OR_RETURN(uint32_t n, RelSize(fsm));
    if (n > first_gone) NEON_RETURN_IF_ERROR(SetRelSize(fsm, first_gone));
  }
  RelTag vm = rel;
  vm.fork = pg::kVmFork;
  if ((flags & pg::kSmgrTruncateVm) && RelExists(vm)) {
    uint32_t first_gone = blkno / kVmHeapBlocksPerPage;
    NEON_ASSIGN_OR_RETURN(uint32_t n, RelSize(vm));
    if (blkno % kVmHeapBlocksPerPage != 0) {
      if (first_gone < n) {
        TruncateVisibilityMap t;
        t.trunc_byte = (blkno % kVmHeapBlocksPerPage) / 4;
        t.trunc_offs = (blkno % 4) * 2;
        NEON_RETURN_IF_ERROR(PutBlock(vm, first_gone, Value::FromRecord(t)));
      }
      first_gone++;
    }
    if (n > first_gone) NEON_RETURN_IF_ERROR(SetRelSize(vm, first_gone));
  }
  return absl::OkStatus();
}

// ---- Databases and relmap --------------------------------------------------------

absl::Status WalIngester::Impl::IngestDbase(const WalRecord& r) {
  std::string_view d = r.main_data();
  const uint8_t type = r.info & pg::kXlrRmgrInfoMask;
  if (type == pg::kDbaseCreateFileCopy) {
    // {Oid db_id; Oid tablespace_id; Oid src_db_id; Oid src_tablespace_id}
    const uint32_t db = LoadHost<uint32_t>(d, 0), spc = LoadHost<uint32_t>(d, 4);
    const uint32_t src_db = LoadHost<uint32_t>(d, 8), src_spc = LoadHost<uint32_t>(d, 12);
    // The copy reads the source as of the previous record: make it readable.
    NEON_RETURN_IF_ERROR(Commit());
    const ReadLsn at{last_end_, last_end_};
    NEON_ASSIGN_OR_RETURN(auto relmap, GetOptional(tl_.get(), Key::RelMap(src_spc, src_db), last_end_));
    if (relmap) NEON_RETURN_IF_ERROR(Put(Key::RelMap(spc, db), Value::Image(*relmap)));
    dbdir_[{spc, db}] = relmap.has_value();
    dbdir_dirty_ = true;
    NEON_RETURN_IF_ERROR(ReadRelDir(src_spc, src_db));
    const auto src_rels = reldirs_[{src_spc, src_db}];
    for (const auto& [relno, fork] : src_rels) {
      RelTag src{src_spc, src_db, relno, fork}, dst{spc, db, relno, fork};
      NEON_ASSIGN_OR_RETURN(uint32_t n, RelSize(src));
      NEON_RETURN_IF_ERROR(EnsureRelation(dst));
      NEON_RETURN_IF_ERROR(SetRelSize(dst, n));
      for (uint32_t b = 0; b < n; b++) {
        NEON_ASSIGN_OR_RETURN(std::string page, tl_->GetRelPage(src, b, at));
        NEON_RETURN_IF_ERROR(PutBlock(dst, b, Value::Image(std::move(page))));
      }
    }
    return absl::OkStatus();
  }
  if (type == pg::kDbaseDrop) {  // {Oid db_id; int ntablespaces; Oid tablespace_ids[]}
    const uint32_t db = LoadHost<uint32_t>(d, 0);
    const uint32_t n = LoadHost<uint32_t>(d, 4);
    for (uint32_t i = 0; i < n && 8 + 4ull * i + 4 <= d.size(); i++) {
      const uint32_t spc = LoadHost<uint32_t>(d, 8 + 4 * i);
      NEON_RETURN_IF_ERROR(ReadRelDir(spc, db));
      const auto rels = reldirs_[{spc, db}];
      for (const auto& [relno, fork] : rels) {
        NEON_RETURN_IF_ERROR(DropRelation(RelTag{spc, db, relno, fork}));
      }
      if (dbdir_.erase({spc, db})) dbdir_dirty_ = true;
    }
  }
  return absl::OkStatus();  // CREATE_WAL_LOG: the blocks arrive as ordinary WAL
}

absl::Status WalIngester::Impl::IngestRelMap(const WalRecord& r) {
  // xl_relmap_update {Oid dbid; Oid tsid; int32 nbytes; char data[]}
  std::string_view d = r.main_data();
  const uint32_t db = LoadHost<uint32_t>(d, 0), spc = LoadHost<uint32_t>(d, 4);
  const uint32_t n = LoadHost<uint32_t>(d, 8);
  if (d.size() < 12 + static_cast<uint64_t>(n)) {
    return absl::DataLossError(StrCat("relmap update at ", r.lsn.ToString(), " is truncated"));
  }
  NEON_RETURN_IF_ERROR(Put(Key::RelMap(spc, db), Value::Image(std::string(d.substr(12, n)))));
  auto it = dbdir_.find({spc, db});
  if (it == dbdir_.end()) {
    NEON_RETURN_IF_ERROR(ReadRelDir(spc, db));
    dirty_reldirs_.insert({spc, db});  // the database's (empty) relation directory
  }
  if (it == dbdir_.end() || !it->second) {
    dbdir_[{spc, db}] = true;
    dbdir_dirty_ = true;
  }
  return absl::OkStatus();
}

}  // namespace neon
