// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// ImportDatadir: a cleanly shut down Postgres 15 data directory into an empty
// timeline at its checkpoint LSN; and the directory listings.

#include <algorithm>
#include <cstring>
#include <map>

#include "base/crc32c.h"
#include "base/coding.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "engine/wal_ingest_impl.h"
#include "wal/pg_constants.h"

namespace neon {
namespace {

constexpr uint32_t kRelSegBlocks = (1u << 30) / 8192;  // RELSEG_SIZE
constexpr size_t kControlCrcOffset = 288;              // offsetof(ControlFileData, crc)
constexpr size_t kControlStateOffset = 16, kControlCheckpointOffset = 32,
                 kControlCheckpointCopyOffset = 40;
constexpr uint32_t kDbShutdowned = 1, kDbShutdownedInRecovery = 2;
constexpr uint64_t kProgressEveryPages = 4096;

// "<relnode>[_fsm|_vm|_init][.<segno>]" -> (relnode, fork, segno).
bool ParseRelFileName(const std::string& name, uint32_t* rel, uint8_t* fork, uint32_t* segno) {
  size_t i = 0;
  uint64_t r = 0;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9' && r <= 0xFFFFFFFFull) r = r * 10 + (name[i++] - '0');
  if (i == 0 || r == 0 || r > 0xFFFFFFFFull) return false;
  *rel = static_cast<uint32_t>(r);
  *fork = pg::kMainFork;
  *segno = 0;
  std::string rest = name.substr(i);
  for (auto [suffix, f] : {std::pair<const char*, uint8_t>{"_fsm", pg::kFsmFork},
                           {"_vm", pg::kVmFork}, {"_init", pg::kInitFork}}) {
    if (rest.rfind(suffix, 0) == 0) {
      *fork = f;
      rest = rest.substr(std::strlen(suffix));
      break;
    }
  }
  if (rest.empty()) return true;
  if (rest[0] != '.' || rest.size() < 2) return false;
  uint64_t s = 0;
  for (size_t k = 1; k < rest.size(); k++) {
    if (rest[k] < '0' || rest[k] > '9' || s > 0xFFFF) return false;
    s = s * 10 + (rest[k] - '0');
  }
  *segno = static_cast<uint32_t>(s);
  return true;
}

class Importer {
 public:
  Importer(FileSystem* fs, std::string dir, WalIngester::Impl* ing,
           void (*progress)(uint64_t, void*), void* arg)
      : fs_(fs), dir_(std::move(dir)), ing_(ing), progress_(progress), arg_(arg) {}

  absl::Status ImportRelDir(const std::string& sub, uint32_t spc, uint32_t db) {
    const std::string path = StrCat(dir_, "/", sub);
    NEON_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->GetChildren(path));
    std::sort(names.begin(), names.end());
    std::map<RelTag, uint32_t> sizes;
    for (const std::string& name : names) {
      if (name == "pg_filenode.map") {
        NEON_ASSIGN_OR_RETURN(std::string map, ReadFileToString(*fs_, StrCat(path, "/", name)));
        NEON_RETURN_IF_ERROR(ing_->Put(Key::RelMap(spc, db), Value::Image(std::move(map))));
        ing_->dbdir_[{spc, db}] = true;
        ing_->dbdir_dirty_ = true;
        continue;
      }
      uint32_t rel, segno;
      uint8_t fork;
      if (!ParseRelFileName(name, &rel, &fork, &segno)) continue;  // PG_VERSION, pg_internal.init
      NEON_ASSIGN_OR_RETURN(uint64_t bytes, fs_->GetFileSize(StrCat(path, "/", name)));
      if (bytes % 8192 != 0) {
        return absl::DataLossError(StrCat(path, "/", name, " is ", bytes, " bytes, not whole pages"));
      }
      RelTag tag{spc, db, rel, fork};
      uint32_t& n = sizes[tag];
      n = std::max<uint32_t>(n, segno * kRelSegBlocks + static_cast<uint32_t>(bytes / 8192));
    }
    if (!ing_->dbdir_.count({spc, db})) {
      ing_->dbdir_[{spc, db}] = false;
      ing_->dbdir_dirty_ = true;
    }
    ing_->dirty_reldirs_.insert({spc, db});
    for (const auto& [tag, n] : sizes) NEON_RETURN_IF_ERROR(ImportRelation(path, tag, n));
    return absl::OkStatus();
  }

  absl::Status ImportRelation(const std::string& path, const RelTag& tag, uint32_t nblocks) {
    NEON_RETURN_IF_ERROR(ing_->EnsureRelation(tag));
    NEON_RETURN_IF_ERROR(ing_->SetRelSize(tag, nblocks));
    static const char* kSuffix[] = {"", "_fsm", "_vm", "_init"};
    for (uint32_t seg = 0; seg * kRelSegBlocks < nblocks; seg++) {
      std::string file = StrCat(path, "/", tag.rel_number, kSuffix[tag.fork]);
      if (seg > 0) file += StrCat(".", seg);
      NEON_ASSIGN_OR_RETURN(std::string data, ReadFileToString(*fs_, file));
      for (size_t off = 0; off < data.size(); off += 8192) {
        const uint32_t blk = seg * kRelSegBlocks + static_cast<uint32_t>(off / 8192);
        NEON_RETURN_IF_ERROR(ing_->Put(Key::RelBlock(tag, blk), Value::Image(data.substr(off, 8192))));
        Tick();
      }
    }
    return absl::OkStatus();
  }

  absl::Status ImportSlru(const std::string& sub, SlruKind kind) {
    const std::string path = StrCat(dir_, "/", sub);
    if (!fs_->IsDirectory(path)) return absl::OkStatus();
    NEON_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->GetChildren(path));
    for (const std::string& name : names) {
      char* end = nullptr;
      const unsigned long segno = std::strtoul(name.c_str(), &end, 16);
      if (name.size() < 4 || *end != '\0') continue;
      NEON_ASSIGN_OR_RETURN(std::string data, ReadFileToString(*fs_, StrCat(path, "/", name)));
      if (data.size() % 8192 != 0 || data.size() > 32 * 8192) {
        return absl::DataLossError(StrCat(path, "/", name, " has a bad size ", data.size()));
      }
      for (size_t off = 0; off < data.size(); off += 8192) {
        const uint32_t page = static_cast<uint32_t>(segno * 32 + off / 8192);
        NEON_RETURN_IF_ERROR(ing_->PutSlruPage(kind, page, Value::Image(data.substr(off, 8192))));
        Tick();
      }
    }
    return absl::OkStatus();
  }

  // pg_twophase/<xid>: the state file; stored without its CRC trailer, as
  // the PREPARE record carries it.
  absl::Status ImportTwoPhase() {
    const std::string path = StrCat(dir_, "/pg_twophase");
    if (!fs_->IsDirectory(path)) return absl::OkStatus();
    NEON_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->GetChildren(path));
    for (const std::string& name : names) {
      char* end = nullptr;
      const unsigned long xid = std::strtoul(name.c_str(), &end, 16);
      if (name.size() != 8 || *end != '\0') continue;
      NEON_ASSIGN_OR_RETURN(std::string data, ReadFileToString(*fs_, StrCat(path, "/", name)));
      if (data.size() < 4 ||
          crc32c::Value(data.data(), data.size() - 4) != LoadHost<uint32_t>(data, data.size() - 4)) {
        return absl::DataLossError(StrCat(path, "/", name, ": two-phase state file CRC mismatch"));
      }
      data.resize(data.size() - 4);
      NEON_RETURN_IF_ERROR(ing_->Put(Key::TwoPhaseFile(xid), Value::Image(std::move(data))));
      ing_->twophase_.insert(xid);
      ing_->twophase_dirty_ = true;
    }
    return absl::OkStatus();
  }

  uint64_t pages() const { return pages_; }

 private:
  void Tick() {
    if (++pages_ % kProgressEveryPages == 0 && progress_ != nullptr) progress_(pages_, arg_);
  }

  FileSystem* fs_;
  std::string dir_;
  WalIngester::Impl* ing_;
  void (*progress_)(uint64_t, void*);
  void* arg_;
  uint64_t pages_ = 0;
};

absl::StatusOr<Lsn> ReadControl(FileSystem* fs, const std::string& dir, std::string* control) {
  NEON_ASSIGN_OR_RETURN(*control, ReadFileToString(*fs, StrCat(dir, "/global/pg_control")));
  if (control->size() < kControlCrcOffset + 4 ||
      crc32c::Value(control->data(), kControlCrcOffset) != LoadHost<uint32_t>(*control, kControlCrcOffset)) {
    return absl::DataLossError(StrCat(dir, "/global/pg_control: CRC mismatch"));
  }
  const uint32_t state = LoadHost<uint32_t>(*control, kControlStateOffset);
  if (state != kDbShutdowned && state != kDbShutdownedInRecovery) {
    return absl::FailedPreconditionError(
        StrCat(dir, " was not shut down cleanly (pg_control state ", state,
               "); import a base backup taken at a checkpoint"));
  }
  return Lsn(LoadHost<uint64_t>(*control, kControlCheckpointOffset)).Align();
}

}  // namespace

absl::StatusOr<Lsn> ImportDatadir(FileSystem* fs, const std::string& dir, Timeline* timeline,
                                  void (*progress)(uint64_t, void*), void* progress_arg) {
  if (timeline->Info().last_record_lsn.valid()) {
    return absl::FailedPreconditionError("import needs an empty timeline");
  }
  std::string control;
  NEON_ASSIGN_OR_RETURN(Lsn lsn, ReadControl(fs, dir, &control));
  const std::string tblspc = StrCat(dir, "/pg_tblspc");
  if (fs->IsDirectory(tblspc)) {
    NEON_ASSIGN_OR_RETURN(auto spcs, fs->GetChildren(tblspc));
    if (!spcs.empty()) return absl::InvalidArgumentError("user tablespaces are not supported");
  }
  // The timeline is shared only to satisfy Impl; it is not owned here.
  std::shared_ptr<Timeline> tl(timeline, [](Timeline*) {});
  WalIngester::Impl ing(tl, WalIngestOptions{});
  ing.lsn_ = lsn;
  Importer im(fs, dir, &ing, progress, progress_arg);
  NEON_RETURN_IF_ERROR(im.ImportRelDir("global", pg::kGlobalTablespaceOid, 0));
  NEON_ASSIGN_OR_RETURN(std::vector<std::string> dbs, fs->GetChildren(StrCat(dir, "/base")));
  for (const std::string& db : dbs) {
    char* end = nullptr;
    const unsigned long oid = std::strtoul(db.c_str(), &end, 10);
    if (db.empty() || *end != '\0' || oid == 0) continue;
    NEON_RETURN_IF_ERROR(im.ImportRelDir(StrCat("base/", db), pg::kDefaultTablespaceOid,
                                         static_cast<uint32_t>(oid)));
  }
  NEON_RETURN_IF_ERROR(im.ImportSlru("pg_xact", SlruKind::kClog));
  NEON_RETURN_IF_ERROR(im.ImportSlru("pg_multixact/offsets", SlruKind::kMultiXactOffsets));
  NEON_RETURN_IF_ERROR(im.ImportSlru("pg_multixact/members", SlruKind::kMultiXactMembers));
  NEON_RETURN_IF_ERROR(im.ImportTwoPhase());
  NEON_RETURN_IF_ERROR(ing.Put(Key::ControlFile(), Value::Image(control)));
  ing.checkpoint_.bytes = control.substr(kControlCheckpointCopyOffset, PgCheckpoint::kSize);
  ing.checkpoint_dirty_ = true;
  NEON_RETURN_IF_ERROR(ing.FlushDirtyMetadata());
  NEON_RETURN_IF_ERROR(timeline->FinishWrite(lsn));
  if (progress != nullptr) progress(im.pages(), progress_arg);
  return lsn;
}

absl::StatusOr<std::vector<std::pair<uint32_t, uint32_t>>> ListDatabases(Timeline* tl, Lsn lsn) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  absl::StatusOr<std::string> v = tl->GetPage(Key::DbDir(), lsn);
  if (absl::IsNotFound(v.status())) return out;
  NEON_RETURN_IF_ERROR(v.status());
  std::map<std::pair<uint32_t, uint32_t>, bool> dbs;
  NEON_RETURN_IF_ERROR(DecodeDbDir(*v, &dbs));
  for (const auto& [k, relmap] : dbs) out.push_back(k);
  return out;
}

absl::StatusOr<std::vector<RelTag>> ListRelations(Timeline* tl, uint32_t spc, uint32_t db, Lsn lsn) {
  std::vector<RelTag> out;
  absl::StatusOr<std::string> v = tl->GetPage(Key::RelDir(spc, db), lsn);
  if (absl::IsNotFound(v.status())) return out;
  NEON_RETURN_IF_ERROR(v.status());
  std::set<std::pair<uint32_t, uint8_t>> rels;
  NEON_RETURN_IF_ERROR(DecodeRelDir(*v, &rels));
  for (const auto& [rel, fork] : rels) out.push_back(RelTag{spc, db, rel, fork});
  return out;
}

}  // namespace neon
