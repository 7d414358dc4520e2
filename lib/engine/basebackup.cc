// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// WriteBaseBackup: the tar of a Postgres 15 data directory read from a
// timeline at one LSN (doc/format/basebackup.md). The files are produced
// one after the other and streamed (a relation one page at a time), so the
// memory used does not grow with the database.

#include "neon/basebackup.h"

#include <cinttypes>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include "base/coding.h"
#include "base/crc32c.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "engine/basebackup_pg.h"
#include "engine/basebackup_tar.h"
#include "engine/wal_ingest_impl.h"
#include "neon/wal.h"
#include "wal/pg_constants.h"

namespace neon {
namespace {

constexpr uint32_t kRelSegBlocks = (1u << 30) / kPgPageSize;  // RELSEG_SIZE: 1 GiB files
constexpr uint32_t kPgVersion = 15;
constexpr char kPgVersionFile[] = "15\n";
// Zero bytes written in one go for the empty part of a WAL segment.
constexpr size_t kZeroRunBytes = 256 << 10;

// PGDATA_SUBDIRS of Postgres 15 (Neon's list, with pg_wal itself first).
// clang-format off
constexpr const char* kPgDataSubdirs[] = {
    "global", "pg_wal", "pg_wal/archive_status", "pg_commit_ts", "pg_dynshmem", "pg_notify",
    "pg_serial", "pg_snapshots", "pg_subtrans", "pg_twophase", "pg_multixact",
    "pg_multixact/members", "pg_multixact/offsets", "base", "base/1", "pg_replslot", "pg_tblspc",
    "pg_stat", "pg_stat_tmp", "pg_xact", "pg_logical", "pg_logical/snapshots",
    "pg_logical/mappings"};
// clang-format on

// Neon's sample pg_hba.conf: trust on loopback and the local socket.
constexpr char kPgHba[] =
    "# TYPE  DATABASE        USER            ADDRESS                 METHOD\n"
    "# \"local\" is for Unix domain socket connections only\n"
    "local   all             all                                     trust\n"
    "# IPv4 local connections:\n"
    "host    all             all             127.0.0.1/32            trust\n"
    "# IPv6 local connections:\n"
    "host    all             all             ::1/128                 trust\n"
    "# Allow replication connections from localhost, by a user with the\n"
    "# replication privilege.\n"
    "local   replication     all                                     trust\n"
    "host    replication     all             127.0.0.1/32            trust\n"
    "host    replication     all             ::1/128                 trust\n";

const char* ForkSuffix(uint8_t fork) {
  static const char* kSuffix[] = {"", "_fsm", "_vm", "_init"};
  return fork <= pg::kMaxFork ? kSuffix[fork] : "";
}

std::string Hex(const char* fmt, uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

absl::StatusOr<std::optional<std::string>> GetOptional(Timeline* tl, const Key& key, Lsn lsn) {
  absl::StatusOr<std::string> v = tl->GetPage(key, lsn);
  if (absl::IsNotFound(v.status())) return std::nullopt;
  if (!v.ok()) return v.status();
  return std::optional<std::string>(std::move(*v));
}

// One basebackup: reads at lsn_, writes into tar_.
class BaseBackupWriter {
 public:
  BaseBackupWriter(Timeline* tl, const BaseBackupOptions& opts, const TimelineInfo& info, Lsn lsn,
                   TarWriter* tar)
      : tl_(tl), opts_(opts), info_(info), lsn_(lsn), tar_(tar) {}

  // Reads and checks pg_control and the checkpoint; nothing is written yet.
  absl::Status Prepare();
  absl::Status WriteAll(BaseBackupResult* result);

 private:
  absl::Status AddDirectory(const std::string& path);
  absl::Status AddSlruSegments(SlruKind kind, const char* dir);
  absl::Status AddDatabase(uint32_t spc, uint32_t db, bool has_relmap);
  absl::Status AddRelations(uint32_t spc, uint32_t db, const std::string& dir);
  // `src` written as the file(s) `<dir>/<rel><suffix>[.N]`.
  absl::Status AddFork(const RelTag& src, const std::string& dir, uint8_t as_fork);
  absl::Status AddTwoPhase();
  absl::Status AddSignals();
  absl::Status AddWal(Lsn prev, Lsn* end);
  absl::Status AddWalSegment(const pg::WalSegmentImage& image);

  Timeline* tl_;
  const BaseBackupOptions& opts_;
  const TimelineInfo info_;
  const Lsn lsn_;
  TarWriter* tar_;
  Lsn start_;
  std::string control_;     // as stored
  std::string checkpoint_;  // as the backup states it (redo = start_)
  uint64_t system_id_ = 0;
  bool checksums_ = false;
  std::set<std::string> dirs_;
};

absl::Status BaseBackupWriter::Prepare() {
  start_ = BaseBackupStartLsn(lsn_);
  NEON_ASSIGN_OR_RETURN(auto control, GetOptional(tl_, Key::ControlFile(), lsn_));
  if (!control) {
    return absl::FailedPreconditionError(
        StrCat("timeline has no pg_control at ", lsn_.ToString(), " (nothing imported)"));
  }
  control_ = std::move(*control);
  NEON_ASSIGN_OR_RETURN(auto stored_cp, GetOptional(tl_, Key::Checkpoint(), lsn_));
  if (!stored_cp) return absl::DataLossError(StrCat("no checkpoint stored at ", lsn_.ToString()));
  NEON_ASSIGN_OR_RETURN(checkpoint_, pg::StartCheckpoint(*stored_cp, start_));
  // Validates the stored file before anything is written.
  NEON_RETURN_IF_ERROR(pg::GeneratePgControl(control_, checkpoint_, start_).status());
  system_id_ = LoadHost<uint64_t>(control_, pg::kControlSystemIdOffset);
  checksums_ = LoadHost<uint32_t>(control_, pg::kControlDataChecksumVersionOffset) != 0;
  return absl::OkStatus();
}

absl::Status BaseBackupWriter::AddDirectory(const std::string& path) {
  if (!dirs_.insert(path).second) return absl::OkStatus();
  return tar_->AddDirectory(path);
}

absl::Status BaseBackupWriter::WriteAll(BaseBackupResult* result) {
  for (const char* d : kPgDataSubdirs) NEON_RETURN_IF_ERROR(AddDirectory(d));
  NEON_RETURN_IF_ERROR(tar_->AddFile("pg_hba.conf", kPgHba));
  NEON_RETURN_IF_ERROR(tar_->AddFile("pg_ident.conf", ""));
  NEON_RETURN_IF_ERROR(tar_->AddFile("postgresql.auto.conf", ""));
  NEON_RETURN_IF_ERROR(AddSlruSegments(SlruKind::kClog, "pg_xact"));
  NEON_RETURN_IF_ERROR(AddSlruSegments(SlruKind::kMultiXactMembers, "pg_multixact/members"));
  NEON_RETURN_IF_ERROR(AddSlruSegments(SlruKind::kMultiXactOffsets, "pg_multixact/offsets"));

  NEON_ASSIGN_OR_RETURN(auto dbdir, GetOptional(tl_, Key::DbDir(), lsn_));
  if (!dbdir) return absl::DataLossError(StrCat("no database directory at ", lsn_.ToString()));
  std::map<std::pair<uint32_t, uint32_t>, bool> dbs;
  NEON_RETURN_IF_ERROR(DecodeDbDir(*dbdir, &dbs));
  for (const auto& [k, has_relmap] : dbs) {
    NEON_RETURN_IF_ERROR(AddDatabase(k.first, k.second, has_relmap));
  }
  NEON_RETURN_IF_ERROR(AddTwoPhase());
  NEON_RETURN_IF_ERROR(AddSignals());

  // xl_prev: the timeline's prev_record_lsn when L is its end (what a WAL
  // receiver resuming at L expects), else 0 (Postgres only requires < S).
  Lsn prev;
  if (lsn_ == info_.last_record_lsn && info_.prev_record_lsn < start_) prev = info_.prev_record_lsn;
  Lsn end;
  NEON_RETURN_IF_ERROR(AddWal(prev, &end));
  NEON_ASSIGN_OR_RETURN(std::string control, pg::GeneratePgControl(control_, checkpoint_, start_));
  NEON_RETURN_IF_ERROR(tar_->AddFile("global/pg_control", control));  // last
  NEON_RETURN_IF_ERROR(tar_->Finish());
  if (result != nullptr) {
    result->lsn = lsn_;
    result->start_lsn = start_;
    result->end_lsn = BaseBackupStartLsn(end);  // past a page header if the record ends a page
    result->prev_lsn = prev;
  }
  return absl::OkStatus();
}

absl::Status BaseBackupWriter::AddSlruSegments(SlruKind kind, const char* dir) {
  NEON_ASSIGN_OR_RETURN(auto v, GetOptional(tl_, Key::SlruDir(kind), lsn_));
  if (!v) return absl::OkStatus();
  std::set<uint32_t> segnos;
  NEON_RETURN_IF_ERROR(DecodeU32Set(*v, &segnos));
  for (uint32_t segno : segnos) {
    const std::string path = StrCat(dir, "/", Hex("%04" PRIX64, segno));
    NEON_ASSIGN_OR_RETURN(auto size, GetOptional(tl_, Key::SlruSegmentSize(kind, segno), lsn_));
    if (!size || size->size() != 4) {
      return absl::DataLossError(StrCat(path, ": the segment is listed without a valid size"));
    }
    const uint32_t pages = LoadHost<uint32_t>(*size, 0);
    if (pages > pg::kSlruPagesPerSegment) {
      return absl::DataLossError(StrCat(path, ": stored size of ", pages, " pages"));
    }
    NEON_RETURN_IF_ERROR(tar_->BeginFile(path, uint64_t{pages} * kPgPageSize));
    for (uint32_t blk = 0; blk < pages; blk++) {
      absl::StatusOr<std::string> page = tl_->GetPage(Key::SlruBlock(kind, segno, blk), lsn_);
      if (!page.ok()) return Annotate(page.status(), StrCat(path, " page ", blk));
      // CLOG pages may carry the commit-timestamp trailer: not part of the file.
      if (page->size() < kPgPageSize) {
        return absl::DataLossError(StrCat(path, " page ", blk, " is ", page->size(), " bytes"));
      }
      NEON_RETURN_IF_ERROR(tar_->Append(std::string_view(*page).substr(0, kPgPageSize)));
    }
    NEON_RETURN_IF_ERROR(tar_->EndFile());
  }
  return absl::OkStatus();
}

absl::Status BaseBackupWriter::AddDatabase(uint32_t spc, uint32_t db, bool has_relmap) {
  std::optional<std::string> relmap;
  if (has_relmap) {
    NEON_ASSIGN_OR_RETURN(relmap, GetOptional(tl_, Key::RelMap(spc, db), lsn_));
    if (!relmap) {
      return absl::DataLossError(StrCat("database ", spc, "/", db,
                                        " is listed with a relmap "
                                        "file that is not stored"));
    }
  }
  if (spc == pg::kGlobalTablespaceOid) {
    NEON_RETURN_IF_ERROR(tar_->AddFile("PG_VERSION", kPgVersionFile));
    if (relmap) NEON_RETURN_IF_ERROR(tar_->AddFile("global/pg_filenode.map", *relmap));
    return AddRelations(spc, db, "global");
  }
  if (spc != pg::kDefaultTablespaceOid) {
    // A database that left nothing in a dropped user tablespace is skipped.
    NEON_ASSIGN_OR_RETURN(std::vector<RelTag> rels, ListRelations(tl_, spc, db, lsn_));
    if (!relmap && rels.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(
        StrCat("database ", db, " has files in user tablespace ", spc, ": not supported"));
  }
  const std::string dir = StrCat("base/", db);
  NEON_RETURN_IF_ERROR(AddDirectory(dir));
  if (relmap) {
    NEON_RETURN_IF_ERROR(tar_->AddFile(dir + "/PG_VERSION", kPgVersionFile));
    NEON_RETURN_IF_ERROR(tar_->AddFile(dir + "/pg_filenode.map", *relmap));
  }
  return AddRelations(spc, db, dir);
}

// Unlogged relations (those with an init fork) get their init fork twice: as
// itself and as the main fork, which is what Postgres's reset of unlogged
// relations would leave (no recovery runs on a backup's start). Their other
// forks are not logged, so a full backup leaves them out too.
absl::Status BaseBackupWriter::AddRelations(uint32_t spc, uint32_t db, const std::string& dir) {
  NEON_ASSIGN_OR_RETURN(std::vector<RelTag> rels, ListRelations(tl_, spc, db, lsn_));
  std::set<uint32_t> unlogged;
  for (const RelTag& r : rels) {
    if (r.fork == pg::kInitFork) unlogged.insert(r.rel_number);
  }
  for (const RelTag& r : rels) {
    if (r.fork == pg::kInitFork) {
      NEON_RETURN_IF_ERROR(AddFork(r, dir, pg::kInitFork));
      NEON_RETURN_IF_ERROR(AddFork(r, dir, pg::kMainFork));
    } else if (opts_.full && !unlogged.count(r.rel_number)) {
      NEON_RETURN_IF_ERROR(AddFork(r, dir, r.fork));
    }
  }
  return absl::OkStatus();
}

absl::Status BaseBackupWriter::AddFork(const RelTag& src, const std::string& dir, uint8_t as_fork) {
  const std::string base = StrCat(dir, "/", src.rel_number, ForkSuffix(as_fork));
  absl::StatusOr<uint32_t> nblocks = tl_->GetRelSize(src, ReadLsn{lsn_, lsn_});
  if (!nblocks.ok()) {
    if (absl::IsNotFound(nblocks.status())) {
      return absl::DataLossError(
          StrCat(src.ToString(), " is listed but has no size at ", lsn_.ToString()));
    }
    return Annotate(nblocks.status(), src.ToString());
  }
  if (*nblocks == 0) return tar_->AddFile(base, "");
  for (uint32_t seg = 0; uint64_t{seg} * kRelSegBlocks < *nblocks; seg++) {
    const uint32_t first = seg * kRelSegBlocks;
    const uint32_t last =
        static_cast<uint32_t>(std::min<uint64_t>(*nblocks, uint64_t{first} + kRelSegBlocks));
    const std::string path = seg == 0 ? base : StrCat(base, ".", seg);
    NEON_RETURN_IF_ERROR(tar_->BeginFile(path, uint64_t{last - first} * kPgPageSize));
    for (uint32_t blk = first; blk < last; blk++) {
      absl::StatusOr<std::string> page = tl_->GetPage(Key::RelBlock(src, blk), lsn_);
      if (!page.ok()) return Annotate(page.status(), StrCat(src.ToString(), " block ", blk));
      if (page->size() != kPgPageSize) {
        return absl::DataLossError(
            StrCat(src.ToString(), " block ", blk, " is ", page->size(), " bytes"));
      }
      if (checksums_) pg::SetPageChecksum(&*page, blk);
      NEON_RETURN_IF_ERROR(tar_->Append(*page));
    }
    NEON_RETURN_IF_ERROR(tar_->EndFile());
  }
  return absl::OkStatus();
}

// pg_twophase/<xid>: the state file as the PREPARE record carried it, plus
// its CRC32C (host order), as Postgres writes it.
absl::Status BaseBackupWriter::AddTwoPhase() {
  NEON_ASSIGN_OR_RETURN(auto v, GetOptional(tl_, Key::TwoPhaseDir(), lsn_));
  if (!v) return absl::OkStatus();
  std::set<uint64_t> xids;
  NEON_RETURN_IF_ERROR(DecodeU64Set(*v, &xids));
  for (uint64_t xid : xids) {
    const std::string path = StrCat("pg_twophase/", Hex("%08" PRIX64, xid));
    absl::StatusOr<std::string> state = tl_->GetPage(Key::TwoPhaseFile(xid), lsn_);
    if (!state.ok()) return Annotate(state.status(), path);
    const uint32_t crc = crc32c::Value(*state);
    state->append(reinterpret_cast<const char*>(&crc), 4);
    NEON_RETURN_IF_ERROR(tar_->AddFile(path, *state));
  }
  return absl::OkStatus();
}

// "PREV LSN: X/Y" when L is the end of the timeline, "none" at a branch
// point the branch has not moved from, else "invalid" (Neon's rules).
absl::Status BaseBackupWriter::AddSignals() {
  std::string signal;
  if (lsn_ == info_.last_record_lsn && info_.prev_record_lsn.valid()) {
    signal = StrCat("PREV LSN: ", info_.prev_record_lsn.ToString());
  } else if (info_.ancestor_timeline_id && lsn_ == info_.ancestor_lsn) {
    signal = "PREV LSN: none";
  } else {
    signal = "PREV LSN: invalid";
  }
  NEON_RETURN_IF_ERROR(tar_->AddFile("neon.signal", signal));
  return tar_->AddFile("zenith.signal", signal);
}

absl::Status BaseBackupWriter::AddWal(Lsn prev, Lsn* end) {
  const std::string record = pg::CheckpointRecord(checkpoint_, prev);
  for (const pg::WalSegmentImage& image : pg::GenerateStartWal(start_, system_id_, record, end)) {
    NEON_RETURN_IF_ERROR(AddWalSegment(image));
  }
  return absl::OkStatus();
}

absl::Status BaseBackupWriter::AddWalSegment(const pg::WalSegmentImage& image) {
  static const std::string* const kZeros = new std::string(kZeroRunBytes, '\0');
  NEON_RETURN_IF_ERROR(tar_->BeginFile(StrCat("pg_wal/", image.file_name), kWalSegmentSize));
  uint64_t pos = 0;
  auto zeros_to = [&](uint64_t to) -> absl::Status {
    while (pos < to) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(to - pos, kZeroRunBytes));
      NEON_RETURN_IF_ERROR(tar_->Append(std::string_view(*kZeros).substr(0, n)));
      pos += n;
    }
    return absl::OkStatus();
  };
  for (const auto& [off, page] : image.pages) {
    NEON_RETURN_IF_ERROR(zeros_to(off));
    NEON_RETURN_IF_ERROR(tar_->Append(page));
    pos += page.size();
  }
  NEON_RETURN_IF_ERROR(zeros_to(kWalSegmentSize));
  return tar_->EndFile();
}

// L from the options, checked against the timeline (waiting if asked to).
absl::StatusOr<Lsn> ResolveLsn(Timeline* tl, const BaseBackupOptions& opts, TimelineInfo* info) {
  *info = tl->Info();
  if (info->pg_version != kPgVersion) {
    return absl::FailedPreconditionError(StrCat("basebackup needs a Postgres 15 timeline; ",
                                                tl->id().ToString(), " has pg_version ",
                                                info->pg_version));
  }
  if (!opts.lsn.valid()) {
    if (!info->last_record_lsn.valid()) {
      return absl::FailedPreconditionError("the timeline has no data yet");
    }
    return info->last_record_lsn;
  }
  const Lsn lsn = opts.lsn;
  if (lsn > info->last_record_lsn) {
    if (opts.wait_lsn_timeout_us <= 0) {
      return absl::OutOfRangeError(StrCat("basebackup LSN ", lsn.ToString(),
                                          " is above the last record LSN ",
                                          info->last_record_lsn.ToString()));
    }
    NEON_RETURN_IF_ERROR(tl->WaitLsn(lsn, opts.wait_lsn_timeout_us));
    *info = tl->Info();
  }
  if (info->ancestor_timeline_id && lsn < info->ancestor_lsn) {
    return absl::OutOfRangeError(StrCat("basebackup LSN ", lsn.ToString(),
                                        " is below the branch point ",
                                        info->ancestor_lsn.ToString()));
  }
  return lsn;
}

}  // namespace

Lsn BaseBackupStartLsn(Lsn lsn) {
  Lsn s = lsn.Align();
  const uint64_t in_page = s.value() % kWalBlockSize;
  const uint64_t header = s.SegmentOffset(kWalSegmentSize) < kWalBlockSize
                              ? pg::kLongPageHeaderSize
                              : pg::kShortPageHeaderSize;
  if (in_page < header) s = Lsn(s.value() - in_page + header);
  return s;
}

absl::Status WriteBaseBackup(Timeline* tl, const BaseBackupOptions& opts,
                             const BaseBackupSink& sink, BaseBackupResult* result) {
  if (opts.gzip && (opts.gzip_level < 1 || opts.gzip_level > 9)) {
    return absl::InvalidArgumentError(StrCat("gzip_level ", opts.gzip_level, " is not in 1..9"));
  }
  TimelineInfo info;
  NEON_ASSIGN_OR_RETURN(const Lsn lsn, ResolveLsn(tl, opts, &info));
  PieceSink pieces(sink, kBaseBackupMaxPieceBytes);
  std::unique_ptr<GzipSink> gzip;
  if (opts.gzip) {
    NEON_ASSIGN_OR_RETURN(gzip, GzipSink::Open(&pieces, opts.gzip_level));
  }
  TarWriter tar(gzip ? static_cast<ByteSink*>(gzip.get()) : &pieces, opts.mtime_unix_seconds);
  BaseBackupWriter writer(tl, opts, info, lsn, &tar);
  const std::string context = StrCat("basebackup of ", tl->id().ToString(), " at ", lsn.ToString());
  NEON_RETURN_IF_ERROR_CTX(writer.Prepare(), context);
  NEON_RETURN_IF_ERROR_CTX(writer.WriteAll(result), context);
  if (gzip) NEON_RETURN_IF_ERROR_CTX(gzip->Finish(), context);
  NEON_RETURN_IF_ERROR_CTX(pieces.Flush(), context);
  if (result != nullptr) {
    result->files = tar.files();
    result->tar_bytes = tar.bytes_written();
    result->output_bytes = pieces.bytes_out();
  }
  return absl::OkStatus();
}

}  // namespace neon
