// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// ImportDatadir: a cleanly shut down Postgres 15 data directory into an empty
// timeline at its checkpoint LSN, or an online base backup (backup_label and
// the WAL of the backup in pg_wal/) at the end of the backup; and the
// directory listings.

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include "base/crc32c.h"
#include "base/coding.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "engine/wal_ingest_impl.h"
#include "neon/wal.h"
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
  // `fuzzy`: the files were copied from a running server (an online base
  // backup), so a file may end in a partly written page; the WAL of the
  // backup rewrites every page changed after the start, so the partial page
  // is dropped instead of refused.
  Importer(FileSystem* fs, std::string dir, WalIngester::Impl* ing,
           void (*progress)(uint64_t, void*), void* arg, bool fuzzy)
      : fs_(fs), dir_(std::move(dir)), ing_(ing), progress_(progress), arg_(arg), fuzzy_(fuzzy) {}

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
      if (fuzzy_) bytes -= bytes % 8192;
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
      data.resize(std::min<size_t>(data.size() - data.size() % 8192,
                                   static_cast<size_t>(nblocks - seg * kRelSegBlocks) * 8192));
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
      if (fuzzy_) data.resize(data.size() - data.size() % 8192);
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
  bool fuzzy_;
  uint64_t pages_ = 0;
};

// pg_control; with `require_shutdown`, refuses a server that was not shut
// down cleanly. Returns the checkpoint location.
absl::StatusOr<Lsn> ReadControl(FileSystem* fs, const std::string& dir, bool require_shutdown,
                                std::string* control) {
  NEON_ASSIGN_OR_RETURN(*control, ReadFileToString(*fs, StrCat(dir, "/global/pg_control")));
  if (control->size() < kControlCrcOffset + 4 ||
      crc32c::Value(control->data(), kControlCrcOffset) != LoadHost<uint32_t>(*control, kControlCrcOffset)) {
    return absl::DataLossError(StrCat(dir, "/global/pg_control: CRC mismatch"));
  }
  const uint32_t state = LoadHost<uint32_t>(*control, kControlStateOffset);
  if (require_shutdown && state != kDbShutdowned && state != kDbShutdownedInRecovery) {
    return absl::FailedPreconditionError(
        StrCat(dir, " was not shut down cleanly (pg_control state ", state,
               ") and has no backup_label; import a base backup taken at a checkpoint, or an "
               "online base backup with its WAL"));
  }
  return Lsn(LoadHost<uint64_t>(*control, kControlCheckpointOffset)).Align();
}

// ---- Online base backups -------------------------------------------------------

// What backup_label says (xlog.c, do_pg_backup_start).
struct BackupLabel {
  Lsn start;        // START WAL LOCATION: the start checkpoint's redo pointer
  Lsn checkpoint;   // CHECKPOINT LOCATION: the start checkpoint record
  uint32_t timeline = 1;
};

// "X/Y" at the start of `v` (what follows is ignored).
absl::StatusOr<Lsn> LabelLsn(std::string_view v, std::string_view field) {
  const size_t end = v.find_first_of(" \t");
  absl::StatusOr<Lsn> l = Lsn::Parse(v.substr(0, end));
  if (!l.ok() || !l->valid()) {
    return absl::InvalidArgumentError(StrCat("backup_label: bad ", field, " \"", v, "\""));
  }
  return *l;
}

// Parses dir/backup_label; nullopt if there is none. InvalidArgument for a
// backup this import cannot complete (from a standby, with tablespaces).
absl::StatusOr<std::optional<BackupLabel>> ReadBackupLabel(FileSystem* fs, const std::string& dir) {
  const std::string path = StrCat(dir, "/backup_label");
  if (!fs->FileExists(path)) return std::optional<BackupLabel>();
  NEON_ASSIGN_OR_RETURN(std::string text, ReadFileToString(*fs, path));
  BackupLabel label;
  bool have_start = false, have_checkpoint = false;
  std::string from = "primary";  // the line is absent before Postgres 9.6
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line = std::string_view(text).substr(pos, nl - pos);
    pos = nl + 1;
    const size_t colon = line.find(": ");
    if (colon == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, colon), value = line.substr(colon + 2);
    if (key == "START WAL LOCATION") {
      NEON_ASSIGN_OR_RETURN(label.start, LabelLsn(value, key));
      // "(file 000000010000000000000002)": the timeline is its first 8 digits.
      const size_t f = value.find("(file ");
      if (f != std::string_view::npos && value.size() >= f + 6 + 24) {
        absl::StatusOr<Lsn> seg = WalSegmentStart(value.substr(f + 6, 24));
        if (!seg.ok() || *seg != Lsn(label.start.value() - label.start.SegmentOffset(kWalSegmentSize))) {
          return absl::InvalidArgumentError(StrCat("backup_label: START WAL LOCATION \"", value,
                                                   "\" names the wrong segment"));
        }
        label.timeline = static_cast<uint32_t>(
            std::strtoul(std::string(value.substr(f + 6, 8)).c_str(), nullptr, 16));
      }
      have_start = true;
    } else if (key == "CHECKPOINT LOCATION") {
      NEON_ASSIGN_OR_RETURN(label.checkpoint, LabelLsn(value, key));
      have_checkpoint = true;
    } else if (key == "BACKUP FROM") {
      from = std::string(value);
    } else if (key == "START TIMELINE") {
      label.timeline = static_cast<uint32_t>(std::strtoul(std::string(value).c_str(), nullptr, 10));
    }
  }
  if (!have_start || !have_checkpoint) {
    return absl::InvalidArgumentError(
        "backup_label: START WAL LOCATION or CHECKPOINT LOCATION is missing");
  }
  if (from != "primary") {
    return absl::InvalidArgumentError(
        StrCat("backup_label: BACKUP FROM: ", from, " is not supported: only a backup taken from "
               "a primary ends with an end-of-backup WAL record"));
  }
  if (label.timeline == 0) return absl::InvalidArgumentError("backup_label: bad START TIMELINE");
  if (label.checkpoint < label.start) {
    return absl::InvalidArgumentError("backup_label: CHECKPOINT LOCATION is before the start");
  }
  const std::string map = StrCat(dir, "/tablespace_map");
  if (fs->FileExists(map)) {
    NEON_ASSIGN_OR_RETURN(std::string entries, ReadFileToString(*fs, map));
    if (entries.find_first_not_of(" \t\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(
          "tablespace_map lists user tablespaces, which are not supported");
    }
  }
  return std::optional<BackupLabel>(label);
}

bool IsBackupEnd(const WalRecord& r, Lsn start) {
  return r.rmid == pg::kRmXlog && (r.info & pg::kXlrRmgrInfoMask) == pg::kXlogBackupEnd &&
         r.main_data().size() >= 8 && LoadHost<uint64_t>(r.main_data(), 0) == start.value();
}

// Reads the backup's WAL from its start to the end-of-backup record, before
// anything is written: every segment must be there and undamaged. Returns
// the end of that record; `checkpoint` gets the start checkpoint (CheckPoint
// struct), whose redo pointer must be the start.
absl::StatusOr<Lsn> CheckBackupWal(FileSystem* fs, const std::string& dir, const BackupLabel& label,
                                   std::string* checkpoint) {
  std::shared_ptr<FileSystem> shared(fs, [](FileSystem*) {});
  WalSegmentReader reader(shared, StrCat(dir, "/pg_wal"), label.start, label.timeline);
  checkpoint->clear();
  while (true) {
    absl::StatusOr<std::optional<WalRecord>> r = reader.Next();
    if (!r.ok()) {
      return absl::DataLossError(StrCat("the backup's WAL is damaged: ", r.status().message()));
    }
    if (!r->has_value()) {
      return absl::DataLossError(StrCat(
          "backup incomplete: WAL from ", reader.decoder().position().ToString(),
          " is missing (", WalSegmentFileName(label.timeline, reader.decoder().position()),
          " in pg_wal/), before the end-of-backup record of the backup started at ",
          label.start.ToString()));
    }
    const WalRecord& rec = **r;
    if (rec.lsn == label.checkpoint) {
      const uint8_t type = rec.info & pg::kXlrRmgrInfoMask;
      if (rec.rmid != pg::kRmXlog ||
          (type != pg::kXlogCheckpointOnline && type != pg::kXlogCheckpointShutdown) ||
          rec.main_data().size() < PgCheckpoint::kSize) {
        return absl::DataLossError(StrCat("backup_label: the record at CHECKPOINT LOCATION ",
                                          label.checkpoint.ToString(), " is not a checkpoint"));
      }
      *checkpoint = std::string(rec.main_data().substr(0, PgCheckpoint::kSize));
      if (LoadHost<uint64_t>(*checkpoint, PgCheckpoint::kRedo) != label.start.value()) {
        return absl::DataLossError(StrCat("backup_label: the checkpoint at ", label.checkpoint.ToString(),
                                          " does not redo from START WAL LOCATION ",
                                          label.start.ToString()));
      }
    }
    if (IsBackupEnd(rec, label.start)) {
      if (checkpoint->empty()) {
        return absl::DataLossError(StrCat("backup_label: no checkpoint record at ",
                                          label.checkpoint.ToString(), " in the backup's WAL"));
      }
      return rec.end_lsn;
    }
  }
}

// Ingests the backup's WAL from its start through the end-of-backup record
// (checked by CheckBackupWal) with `ing`, whose timeline is readable at the
// start. Returns the end of the end-of-backup record.
absl::StatusOr<Lsn> IngestBackupWal(FileSystem* fs, const std::string& dir, const BackupLabel& label,
                                    WalIngester::Impl* ing) {
  std::shared_ptr<FileSystem> shared(fs, [](FileSystem*) {});
  WalSegmentReader reader(shared, StrCat(dir, "/pg_wal"), label.start, label.timeline);
  while (true) {
    NEON_ASSIGN_OR_RETURN(std::optional<WalRecord> r, reader.Next());
    if (!r.has_value()) {
      return absl::DataLossError(StrCat("backup's WAL ended at ", reader.decoder().position().ToString()));
    }
    if (absl::Status s = ing->Ingest(*r); !s.ok()) {
      return absl::Status(s.code(), StrCat("ingesting the backup's WAL record at ",
                                           r->lsn.ToString(), ": ", s.message()));
    }
    if (IsBackupEnd(*r, label.start)) {
      NEON_RETURN_IF_ERROR(ing->Commit());
      return r->end_lsn;
    }
  }
}

}  // namespace

absl::StatusOr<Lsn> ImportDatadir(FileSystem* fs, const std::string& dir, Timeline* timeline,
                                  void (*progress)(uint64_t, void*), void* progress_arg) {
  if (timeline->Info().last_record_lsn.valid()) {
    return absl::FailedPreconditionError("import needs an empty timeline");
  }
  NEON_ASSIGN_OR_RETURN(std::optional<BackupLabel> label, ReadBackupLabel(fs, dir));
  std::string control;
  NEON_ASSIGN_OR_RETURN(Lsn lsn, ReadControl(fs, dir, /*require_shutdown=*/!label, &control));
  const std::string tblspc = StrCat(dir, "/pg_tblspc");
  if (fs->IsDirectory(tblspc)) {
    NEON_ASSIGN_OR_RETURN(auto spcs, fs->GetChildren(tblspc));
    if (!spcs.empty()) return absl::InvalidArgumentError("user tablespaces are not supported");
  }
  // An online backup: check its WAL before anything is written. The data
  // files go in at the start (the start checkpoint's redo pointer), with the
  // start checkpoint's values, as Postgres's recovery begins.
  std::string checkpoint = control.substr(kControlCheckpointCopyOffset, PgCheckpoint::kSize);
  Lsn backup_end;
  if (label) {
    NEON_ASSIGN_OR_RETURN(backup_end, CheckBackupWal(fs, dir, *label, &checkpoint));
    lsn = label->start;
  }
  // The timeline is shared only to satisfy Impl; it is not owned here.
  std::shared_ptr<Timeline> tl(timeline, [](Timeline*) {});
  WalIngester::Impl ing(tl, WalIngestOptions{});
  ing.lsn_ = lsn;
  Importer im(fs, dir, &ing, progress, progress_arg, /*fuzzy=*/label.has_value());
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
  ing.checkpoint_.bytes = checkpoint;
  ing.checkpoint_dirty_ = true;
  NEON_RETURN_IF_ERROR(ing.FlushDirtyMetadata());
  NEON_RETURN_IF_ERROR(timeline->FinishWrite(lsn));
  if (progress != nullptr) progress(im.pages(), progress_arg);
  if (!label) return lsn;
  // Replay the backup's WAL through the end-of-backup record: the first
  // change of every page after the start carries a full-page image, which
  // replaces the copy of a page the server was writing during the backup.
  ing.last_end_ = ing.committed_ = lsn;
  NEON_ASSIGN_OR_RETURN(Lsn end, IngestBackupWal(fs, dir, *label, &ing));
  if (end != backup_end) {
    return absl::InternalError(StrCat("backup end moved from ", backup_end.ToString(), " to ",
                                      end.ToString(), " between two reads of the same WAL"));
  }
  return end;
}

absl::StatusOr<std::optional<Lsn>> OnlineBackupStartLsn(FileSystem* fs, const std::string& dir) {
  NEON_ASSIGN_OR_RETURN(std::optional<BackupLabel> label, ReadBackupLabel(fs, dir));
  if (!label) return std::optional<Lsn>();
  return std::optional<Lsn>(label->start);
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
