// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// WriteBaseBackup on a timeline filled by hand (no Postgres): the file set
// and its order, what each file holds at two LSNs, init forks, SLRU trailers,
// two-phase CRCs, neon.signal on the main timeline and on a branch,
// pg_control, page checksums, gzip, piece sizes and every error path. The
// real-Postgres tests (a stock server starting on the result) are in
// tests/ingest/basebackup_test.cc.

#include "neon/basebackup.h"

#include <cstring>
#include <thread>

#include "base/coding.h"
#include "base/crc32c.h"
#include "engine/basebackup_pg.h"
#include "engine/basebackup_tar_reader.h"
#include "engine/engine_test_util.h"
#include "engine/wal_ingest_impl.h"
#include "gtest/gtest.h"
#include "neon/wal.h"

namespace neon {
namespace {

using testing::Gunzip;
using testing::ReadTar;
using testing::TarEntry;
using testing::TestEnv;
using testing::ValueOrDie;

constexpr Lsn kImportLsn(0x2000028);
constexpr Lsn kLaterLsn(0x2001000);
constexpr uint64_t kSysId = 7306000000000000042ull;
const RelTag kTable{1663, 5, 16384, 0};
const RelTag kTableFsm{1663, 5, 16384, 1};
const RelTag kUnloggedInit{1663, 5, 16385, 3};
const RelTag kEmpty{1663, 5, 16386, 0};
const RelTag kShared{1664, 0, 1262, 0};

std::string Page(char fill, uint32_t blk) {
  std::string p(8192, fill);
  std::memset(p.data(), 0, 24);
  p[12] = 24;  // pd_lower
  p[14] = 0;   // pd_upper = 0x1F00
  p[15] = 0x1F;
  p[100] = static_cast<char>(blk);
  return p;
}

std::string Control(uint32_t checksum_version) {
  std::string c(8192, '\0');
  std::memcpy(c.data(), &kSysId, 8);
  const uint32_t version = pg::kPgControlVersion;
  std::memcpy(c.data() + pg::kControlVersionOffset, &version, 4);
  std::memcpy(c.data() + pg::kControlDataChecksumVersionOffset, &checksum_version, 4);
  const uint32_t crc = crc32c::Value(c.data(), pg::kControlCrcOffset);
  std::memcpy(c.data() + pg::kControlCrcOffset, &crc, 4);
  return c;
}

std::string Checkpoint() {
  std::string cp(pg::kCheckPointSize, '\0');
  const uint64_t redo = kImportLsn.value(), next_xid = 740;
  std::memcpy(cp.data(), &redo, 8);
  std::memcpy(cp.data() + 24, &next_xid, 8);
  cp[80] = 9;  // oldestActiveXid, cleared by the backup
  return cp;
}

class BaseBackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = ValueOrDie(Engine::Open(env_.Options(), "/root"));
    tenant_ = ValueOrDie(
        engine_->CreateTenant(TenantShardId::Unsharded(TenantId::Generate()), TenantConfig{}));
    tl_ = ValueOrDie(tenant_->CreateTimeline(TimelineId::Generate(), 15));
  }

  // A small cluster at kImportLsn, and block 0 of kTable rewritten at kLaterLsn.
  void Fill(uint32_t checksum_version = 0) {
    Timeline* t = tl_.get();
    const Lsn a = kImportLsn;
    auto put = [&](const Key& k, std::string v) {
      NEON_ASSERT_OK(t->Put(k, a, Value::Image(std::move(v))));
    };
    put(Key::ControlFile(), Control(checksum_version));
    put(Key::Checkpoint(), Checkpoint());
    put(Key::DbDir(), EncodeDbDir({{{1664, 0}, true}, {{1663, 1}, true}, {{1663, 5}, true}}));
    put(Key::RelMap(1664, 0), std::string(512, 'g'));
    put(Key::RelMap(1663, 1), std::string(512, '1'));
    put(Key::RelMap(1663, 5), std::string(512, '5'));
    put(Key::RelDir(1664, 0), EncodeRelDir({{1262, 0}}));
    put(Key::RelDir(1663, 5), EncodeRelDir({{16384, 0}, {16384, 1}, {16385, 3}, {16386, 0}}));
    for (uint32_t b = 0; b < 3; b++)
      NEON_ASSERT_OK(t->PutRelBlock(kTable, b, a, Value::Image(Page('t', b))));
    NEON_ASSERT_OK(t->PutRelBlock(kTableFsm, 0, a, Value::Image(Page('f', 0))));
    NEON_ASSERT_OK(t->PutRelBlock(kUnloggedInit, 0, a, Value::Image(Page('i', 0))));
    NEON_ASSERT_OK(t->PutRelSize(kEmpty, 0, a));
    NEON_ASSERT_OK(t->PutRelBlock(kShared, 0, a, Value::Image(Page('s', 0))));
    put(Key::SlruDir(SlruKind::kClog), EncodeU32Set({0}));
    std::string two;
    PutFixed32LE(&two, 2);
    put(Key::SlruSegmentSize(SlruKind::kClog, 0), two);
    put(Key::SlruBlock(SlruKind::kClog, 0, 0), std::string(8192, 'c'));
    // A CLOG page with the 8-byte commit-timestamp trailer.
    put(Key::SlruBlock(SlruKind::kClog, 0, 1), std::string(8192, 'd') + std::string(8, 'T'));
    put(Key::TwoPhaseDir(), EncodeU64Set({737}));
    put(Key::TwoPhaseFile(737), "two-phase state");
    NEON_ASSERT_OK(t->FinishWrite(a));
    NEON_ASSERT_OK(t->PutRelBlock(kTable, 0, kLaterLsn, Value::Image(Page('u', 0))));
    NEON_ASSERT_OK(t->FinishWrite(kLaterLsn));
  }

  struct Backup {
    absl::Status status;
    std::string bytes;
    std::vector<size_t> pieces;
    BaseBackupResult result;
    std::vector<TarEntry> entries;
    const TarEntry* Find(const std::string& name) const {
      for (const TarEntry& e : entries) {
        if (e.name == name) return &e;
      }
      return nullptr;
    }
  };

  Backup Take(BaseBackupOptions o, Timeline* tl = nullptr) {
    Backup b;
    b.status = WriteBaseBackup(
        tl != nullptr ? tl : tl_.get(), o,
        [&](std::string_view piece) {
          b.pieces.push_back(piece.size());
          b.bytes.append(piece);
          return absl::OkStatus();
        },
        &b.result);
    if (!b.status.ok()) return b;
    std::string tar = b.bytes;
    if (o.gzip) {
      auto plain = Gunzip(b.bytes);
      EXPECT_TRUE(plain.ok()) << plain.status();
      tar = plain.ok() ? *plain : "";
    }
    auto entries = ReadTar(tar);
    EXPECT_TRUE(entries.ok()) << entries.status();
    if (entries.ok()) b.entries = std::move(*entries);
    return b;
  }

  TestEnv env_;
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<Tenant> tenant_;
  std::shared_ptr<Timeline> tl_;
};

std::vector<std::string> Names(const std::vector<TarEntry>& entries) {
  std::vector<std::string> out;
  for (const TarEntry& e : entries) out.push_back(e.name);
  return out;
}

TEST_F(BaseBackupTest, NonFullHasTheFileSetInOrder) {
  Fill();
  Backup b = Take(BaseBackupOptions{});
  ASSERT_TRUE(b.status.ok()) << b.status;
  const Lsn start = BaseBackupStartLsn(kLaterLsn);
  const std::string wal = "pg_wal/" + WalSegmentFileName(1, start);
  // clang-format off
  const std::vector<std::string> want = {
      "global/", "pg_wal/", "pg_wal/archive_status/", "pg_commit_ts/", "pg_dynshmem/",
      "pg_notify/", "pg_serial/", "pg_snapshots/", "pg_subtrans/", "pg_twophase/",
      "pg_multixact/", "pg_multixact/members/", "pg_multixact/offsets/", "base/", "base/1/",
      "pg_replslot/", "pg_tblspc/", "pg_stat/", "pg_stat_tmp/", "pg_xact/", "pg_logical/",
      "pg_logical/snapshots/", "pg_logical/mappings/", "pg_hba.conf", "pg_ident.conf",
      "postgresql.auto.conf", "pg_xact/0000", "base/1/PG_VERSION", "base/1/pg_filenode.map",
      "base/5/", "base/5/PG_VERSION", "base/5/pg_filenode.map", "base/5/16385_init",
      "base/5/16385", "PG_VERSION", "global/pg_filenode.map", "pg_twophase/000002E1",
      "neon.signal", "zenith.signal", wal, "global/pg_control"};
  // clang-format on
  EXPECT_EQ(Names(b.entries), want);

  EXPECT_EQ(b.Find("PG_VERSION")->data, "15\n");
  EXPECT_EQ(b.Find("base/5/pg_filenode.map")->data, std::string(512, '5'));
  EXPECT_EQ(b.Find("global/pg_filenode.map")->data, std::string(512, 'g'));
  // The unlogged relation's init fork, also as its main fork.
  EXPECT_EQ(b.Find("base/5/16385_init")->data, Page('i', 0));
  EXPECT_EQ(b.Find("base/5/16385")->data, Page('i', 0));
  // SLRU pages without the commit-timestamp trailer.
  EXPECT_EQ(b.Find("pg_xact/0000")->data, std::string(8192, 'c') + std::string(8192, 'd'));
  const std::string& twophase = b.Find("pg_twophase/000002E1")->data;
  ASSERT_EQ(twophase.size(), 15u + 4);
  EXPECT_EQ(twophase.substr(0, 15), "two-phase state");
  EXPECT_EQ(LoadHost<uint32_t>(twophase, 15), crc32c::Value("two-phase state", 15));
  // L is the end of the timeline: PREV LSN is the record LSN before it.
  EXPECT_EQ(b.Find("neon.signal")->data, "PREV LSN: " + kImportLsn.ToString());
  EXPECT_EQ(b.Find("zenith.signal")->data, b.Find("neon.signal")->data);
  EXPECT_EQ(b.Find("pg_hba.conf")->data.find("trust") != std::string::npos, true);

  const std::string& control = b.Find("global/pg_control")->data;
  ASSERT_EQ(control.size(), 8192u);
  EXPECT_EQ(LoadHost<uint32_t>(control, pg::kControlCrcOffset),
            crc32c::Value(control.data(), pg::kControlCrcOffset));
  EXPECT_EQ(LoadHost<uint32_t>(control, pg::kControlStateOffset), pg::kDbShutdowned);
  EXPECT_EQ(LoadHost<uint64_t>(control, pg::kControlCheckPointOffset), start.value());
  EXPECT_EQ(LoadHost<uint64_t>(control, pg::kControlCheckPointCopyOffset), start.value());  // redo
  EXPECT_EQ(LoadHost<uint64_t>(control, pg::kControlCheckPointCopyOffset + 24), 740u);  // nextXid

  // The WAL segment: 16 MiB, with the checkpoint record at S.
  const std::string& seg = b.Find(wal)->data;
  ASSERT_EQ(seg.size(), kWalSegmentSize);
  const uint64_t page = start.SegmentOffset(kWalSegmentSize) / 8192 * 8192;
  WalStreamDecoder d(Lsn(start.value() - start.value() % 8192), kImportLsn);
  d.Feed(std::string_view(seg).substr(page));
  auto rec = d.Poll();
  ASSERT_TRUE(rec.ok()) << rec.status();
  ASSERT_TRUE(rec->has_value());
  EXPECT_EQ((*rec)->lsn, start);
  EXPECT_EQ((*rec)->prev, kImportLsn);
  EXPECT_EQ((*rec)->main_data(), control.substr(pg::kControlCheckPointCopyOffset, 88));
  EXPECT_EQ(LoadHost<uint64_t>(seg, 24), kSysId);  // long header's system id

  EXPECT_EQ(b.result.lsn, kLaterLsn);
  EXPECT_EQ(b.result.start_lsn, start);
  EXPECT_EQ(b.result.end_lsn, (*rec)->end_lsn);
  EXPECT_EQ(b.result.prev_lsn, kImportLsn);
  EXPECT_EQ(b.result.files, 17u);
  EXPECT_EQ(b.result.output_bytes, b.bytes.size());
  EXPECT_EQ(b.result.tar_bytes, b.bytes.size());
  for (size_t i = 0; i < b.pieces.size(); i++) {
    EXPECT_LE(b.pieces[i], kBaseBackupMaxPieceBytes);
    if (i + 1 < b.pieces.size()) {
      EXPECT_EQ(b.pieces[i], kBaseBackupMaxPieceBytes);
    }
  }
}

TEST_F(BaseBackupTest, FullHasEveryForkAsOfTheLsn) {
  Fill();
  BaseBackupOptions o;
  o.full = true;
  o.mtime_unix_seconds = 1700000000;
  Backup later = Take(o);
  ASSERT_TRUE(later.status.ok()) << later.status;
  o.lsn = kImportLsn;
  Backup early = Take(o);
  ASSERT_TRUE(early.status.ok()) << early.status;
  for (const Backup* b : {&early, &later}) {
    ASSERT_NE(b->Find("base/5/16384"), nullptr);
    EXPECT_EQ(b->Find("base/5/16384_fsm")->data, Page('f', 0));
    EXPECT_EQ(b->Find("base/5/16386")->data, "");  // exists, empty
    EXPECT_EQ(b->Find("base/5/16385")->data, Page('i', 0));
    EXPECT_EQ(b->Find("global/1262")->data, Page('s', 0));
    for (const TarEntry& e : b->entries) EXPECT_EQ(e.mtime, 1700000000);
  }
  EXPECT_EQ(later.Find("base/5/16384")->data, Page('u', 0) + Page('t', 1) + Page('t', 2));
  EXPECT_EQ(early.Find("base/5/16384")->data, Page('t', 0) + Page('t', 1) + Page('t', 2));
  // Below the end of the timeline there is no known previous record.
  EXPECT_EQ(early.Find("neon.signal")->data, "PREV LSN: invalid");
  EXPECT_EQ(early.result.prev_lsn, Lsn());
  EXPECT_EQ(early.result.start_lsn, kImportLsn);
  const std::string& control = early.Find("global/pg_control")->data;
  EXPECT_EQ(LoadHost<uint64_t>(control, pg::kControlCheckPointOffset), kImportLsn.value());
  // Unlogged relations have no other forks in a full backup either.
  EXPECT_EQ(later.Find("base/5/16385_fsm"), nullptr);
}

TEST_F(BaseBackupTest, GzipStreamIsTheSameTar) {
  Fill();
  BaseBackupOptions o;
  o.full = true;
  Backup plain = Take(o);
  o.gzip = true;
  Backup gz = Take(o);
  ASSERT_TRUE(plain.status.ok() && gz.status.ok()) << plain.status << gz.status;
  EXPECT_EQ(Names(gz.entries), Names(plain.entries));
  auto unpacked = Gunzip(gz.bytes);
  ASSERT_TRUE(unpacked.ok());
  EXPECT_EQ(*unpacked, plain.bytes);
  EXPECT_LT(gz.bytes.size(), plain.bytes.size() / 20);  // mostly the zeros of the WAL segment
  EXPECT_EQ(gz.result.tar_bytes, plain.bytes.size());
  EXPECT_EQ(gz.result.output_bytes, gz.bytes.size());
  o.gzip_level = 0;
  EXPECT_EQ(Take(o).status.code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BaseBackupTest, ChecksumsAreSetWhenTheClusterHasThem) {
  Fill(/*checksum_version=*/1);
  BaseBackupOptions o;
  o.full = true;
  Backup b = Take(o);
  ASSERT_TRUE(b.status.ok()) << b.status;
  const std::string& rel = b.Find("base/5/16384")->data;
  for (uint32_t blk = 0; blk < 3; blk++) {
    std::string page = rel.substr(blk * 8192, 8192);
    EXPECT_NE(LoadHost<uint16_t>(page, 8), 0);
    EXPECT_EQ(LoadHost<uint16_t>(page, 8), pg::PageChecksum(page, blk)) << blk;
  }
}

TEST_F(BaseBackupTest, BranchPointSaysNoPreviousRecord) {
  Fill();
  auto branch = ValueOrDie(tenant_->CreateBranch(TimelineId::Generate(), tl_->id(), kImportLsn));
  Backup b = Take(BaseBackupOptions{}, branch.get());
  ASSERT_TRUE(b.status.ok()) << b.status;
  EXPECT_EQ(b.result.lsn, kImportLsn);
  EXPECT_EQ(b.Find("neon.signal")->data, "PREV LSN: none");
  BaseBackupOptions below;
  below.lsn = Lsn(kImportLsn.value() - 8);
  EXPECT_EQ(Take(below, branch.get()).status.code(), absl::StatusCode::kOutOfRange);
}

TEST_F(BaseBackupTest, LsnAboveTheEndIsOutOfRangeOrWaited) {
  Fill();
  BaseBackupOptions o;
  o.lsn = Lsn(kLaterLsn.value() + 0x100);
  EXPECT_EQ(Take(o).status.code(), absl::StatusCode::kOutOfRange);
  o.wait_lsn_timeout_us = 1000;
  EXPECT_EQ(Take(o).status.code(), absl::StatusCode::kDeadlineExceeded);
  // A wait the writer satisfies.
  o.wait_lsn_timeout_us = 60'000'000;
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(tl_->PutRelBlock(kTable, 1, o.lsn, Value::Image(Page('w', 1))).ok());
    EXPECT_TRUE(tl_->FinishWrite(o.lsn).ok());
  });
  o.full = true;
  Backup b = Take(o);
  writer.join();
  ASSERT_TRUE(b.status.ok()) << b.status;
  EXPECT_EQ(b.Find("base/5/16384")->data, Page('u', 0) + Page('w', 1) + Page('t', 2));
}

TEST_F(BaseBackupTest, RefusesTimelinesItCannotServe) {
  // Empty.
  EXPECT_EQ(Take(BaseBackupOptions{}).status.code(), absl::StatusCode::kFailedPrecondition);
  // Data but no pg_control.
  NEON_ASSERT_OK(tl_->PutRelBlock(kTable, 0, kImportLsn, Value::Image(Page('t', 0))));
  NEON_ASSERT_OK(tl_->FinishWrite(kImportLsn));
  absl::Status s = Take(BaseBackupOptions{}).status;
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("pg_control"), std::string::npos) << s;
  // Not Postgres 15.
  auto pg14 = ValueOrDie(tenant_->CreateTimeline(TimelineId::Generate(), 14));
  EXPECT_EQ(Take(BaseBackupOptions{}, pg14.get()).status.code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(BaseBackupTest, DamagedMetadataIsDataLoss) {
  Fill();
  const Lsn c(kLaterLsn.value() + 0x100);
  NEON_ASSERT_OK(tl_->Put(Key::DbDir(), c, Value::Image("garbage")));
  NEON_ASSERT_OK(tl_->FinishWrite(c));
  EXPECT_EQ(Take(BaseBackupOptions{}).status.code(), absl::StatusCode::kDataLoss);
  const Lsn d(c.value() + 0x100);
  NEON_ASSERT_OK(tl_->Put(Key::Checkpoint(), d, Value::Image("short")));
  NEON_ASSERT_OK(tl_->FinishWrite(d));
  EXPECT_EQ(Take(BaseBackupOptions{}).status.code(), absl::StatusCode::kDataLoss);
  // Earlier LSNs still read fine.
  BaseBackupOptions o;
  o.lsn = kLaterLsn;
  EXPECT_TRUE(Take(o).status.ok());
}

TEST_F(BaseBackupTest, SinkErrorStopsTheBackup) {
  Fill();
  int calls = 0;
  BaseBackupOptions o;
  o.full = true;
  absl::Status s = WriteBaseBackup(tl_.get(), o, [&](std::string_view) {
    calls++;
    return absl::CancelledError("client went away");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace neon
