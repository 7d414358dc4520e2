// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The basebackup building blocks: the ustar writer (read back by an
// independent reader and by the system's tar), gzip (zlib's inflate and
// gzip -t), the piece buffer, pg_control regeneration and the generated start
// WAL (decoded by WalStreamDecoder from the page start and from the record),
// at every kind of position in a page and a segment.

#include "engine/basebackup_tar.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "base/coding.h"
#include "base/crc32c.h"
#include "engine/basebackup_pg.h"
#include "engine/basebackup_tar_reader.h"
#include "gtest/gtest.h"
#include "neon/basebackup.h"
#include "neon/wal.h"

namespace neon {
namespace {

using testing::Gunzip;
using testing::ReadTar;
using testing::TarEntry;

class StringSink final : public ByteSink {
 public:
  absl::Status Write(std::string_view data) override {
    out.append(data);
    return absl::OkStatus();
  }
  std::string out;
};

// Runs a shell command; its stdout, or "" with *ok = false.
std::string Shell(const std::string& cmd, bool* ok) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    *ok = false;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  *ok = pclose(p) == 0;
  return out;
}

class TempFile {
 public:
  explicit TempFile(const std::string& data) {
    char tmpl[] = "/tmp/neon-tar-test-XXXXXX";
    const int fd = mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    path_ = tmpl;
    EXPECT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    close(fd);
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string Pattern(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// A tar with directories, empty and odd-sized files and a streamed file.
std::string SampleTar(int64_t mtime, std::vector<std::pair<std::string, std::string>>* files) {
  StringSink sink;
  TarWriter tar(&sink, mtime);
  EXPECT_TRUE(tar.AddDirectory("global").ok());
  EXPECT_TRUE(tar.AddDirectory("pg_wal/archive_status").ok());
  *files = {{"empty", ""},
            {"global/one_block", Pattern(512, 1)},
            {"global/odd", Pattern(513, 2)},
            {"base/5/16384", Pattern(3 * 8192, 3)}};
  for (int i = 0; i < 3; i++) EXPECT_TRUE(tar.AddFile((*files)[i].first, (*files)[i].second).ok());
  // The last one streamed in uneven pieces.
  const std::string& big = (*files)[3].second;
  EXPECT_TRUE(tar.BeginFile((*files)[3].first, big.size()).ok());
  for (size_t off = 0; off < big.size(); off += 5000) {
    EXPECT_TRUE(tar.Append(std::string_view(big).substr(off, 5000)).ok());
  }
  EXPECT_TRUE(tar.EndFile().ok());
  EXPECT_TRUE(tar.Finish().ok());
  EXPECT_EQ(tar.files(), 4u);
  EXPECT_EQ(tar.bytes_written(), sink.out.size());
  return sink.out;
}

TEST(BaseBackupTar, ReadsBackWithValidChecksumsAndPadding) {
  std::vector<std::pair<std::string, std::string>> files;
  const std::string tar = SampleTar(1700000000, &files);
  EXPECT_EQ(tar.size() % 512, 0u);
  auto entries = ReadTar(tar);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 6u);
  EXPECT_EQ((*entries)[0].name, "global/");
  EXPECT_EQ((*entries)[0].type, '5');
  EXPECT_EQ((*entries)[0].mode, 0755u);
  EXPECT_EQ((*entries)[1].name, "pg_wal/archive_status/");
  for (size_t i = 0; i < files.size(); i++) {
    const TarEntry& e = (*entries)[i + 2];
    EXPECT_EQ(e.name, files[i].first);
    EXPECT_EQ(e.type, '0');
    EXPECT_EQ(e.mode, 0600u);
    EXPECT_EQ(e.mtime, 1700000000);
    EXPECT_EQ(e.data, files[i].second) << e.name;
  }
  // A flipped byte in a header is caught by its checksum.
  std::string damaged = tar;
  damaged[512 * 2 + 3] ^= 1;
  EXPECT_FALSE(ReadTar(damaged).ok());
}

TEST(BaseBackupTar, SystemTarListsAndExtractsIt) {
  std::vector<std::pair<std::string, std::string>> files;
  TempFile f(SampleTar(1700000000, &files));
  bool ok = false;
  const std::string listing = Shell("tar -tvf " + f.path() + " 2>&1", &ok);
  ASSERT_TRUE(ok) << listing;
  EXPECT_NE(listing.find("drwxr-xr-x"), std::string::npos) << listing;
  EXPECT_NE(listing.find("-rw------- 0/0"), std::string::npos) << listing;
  EXPECT_NE(listing.find(" 513 "), std::string::npos) << listing;
  for (const auto& [name, data] : files) {
    EXPECT_NE(listing.find(name), std::string::npos) << listing;
    const std::string content = Shell("tar -xOf " + f.path() + " " + name, &ok);
    EXPECT_TRUE(ok) << name;
    EXPECT_EQ(content, data) << name;
  }
}

TEST(BaseBackupTar, RejectsWhatUstarCannotHold) {
  const std::string name100(100, 'n');
  auto h = TarHeader(name100, TarEntryType::kFile, 0600, 1, 0);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(TarHeader(name100 + "x", TarEntryType::kFile, 0600, 1, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TarHeader("", TarEntryType::kFile, 0600, 1, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TarHeader(std::string("a\0b", 3), TarEntryType::kFile, 0600, 1, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(TarHeader("big", TarEntryType::kFile, 0600, kTarMaxFileBytes, 0).ok());
  EXPECT_EQ(TarHeader("big", TarEntryType::kFile, 0600, kTarMaxFileBytes + 1, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A 100-byte name has no terminating NUL and still reads back whole.
  StringSink sink;
  TarWriter tar(&sink, 0);
  ASSERT_TRUE(tar.AddFile(name100, "x").ok());
  ASSERT_TRUE(tar.Finish().ok());
  auto entries = ReadTar(sink.out);
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_EQ((*entries)[0].name, name100);
  // A directory's trailing slash counts too.
  EXPECT_FALSE(tar.AddDirectory(name100).ok());
}

TEST(BaseBackupTar, StreamedFileMustMatchItsDeclaredSize) {
  StringSink sink;
  TarWriter tar(&sink, 0);
  ASSERT_TRUE(tar.BeginFile("f", 10).ok());
  EXPECT_EQ(tar.BeginFile("g", 1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(tar.AddDirectory("d").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(tar.Append("12345").ok());
  EXPECT_EQ(tar.Append("123456").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(tar.EndFile().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(tar.Finish().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(tar.Append("67890").ok());
  ASSERT_TRUE(tar.EndFile().ok());
  EXPECT_EQ(tar.Append("x").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(tar.Finish().ok());
  auto entries = ReadTar(sink.out);
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_EQ((*entries)[0].data, "1234567890");
}

TEST(BaseBackupTar, GzipDecompressesToTheTar) {
  std::vector<std::pair<std::string, std::string>> files;
  const std::string tar = SampleTar(0, &files);
  for (int level : {1, 6, 9}) {
    StringSink sink;
    auto gz = GzipSink::Open(&sink, level);
    ASSERT_TRUE(gz.ok()) << gz.status();
    // Written in small pieces, plus 4 MiB of zeros that must shrink.
    for (size_t off = 0; off < tar.size(); off += 777) {
      ASSERT_TRUE((*gz)->Write(std::string_view(tar).substr(off, 777)).ok());
    }
    const std::string zeros(4 << 20, '\0');
    ASSERT_TRUE((*gz)->Write(zeros).ok());
    ASSERT_TRUE((*gz)->Finish().ok());
    EXPECT_FALSE((*gz)->Write("late").ok());
    EXPECT_LT(sink.out.size(), tar.size() + 64 * 1024);
    auto plain = Gunzip(sink.out);
    ASSERT_TRUE(plain.ok()) << plain.status();
    EXPECT_EQ(*plain, tar + zeros);
    TempFile f(sink.out);
    bool ok = false;
    const std::string out = Shell("gzip -t < " + f.path() + " 2>&1", &ok);
    EXPECT_TRUE(ok) << out;
  }
  StringSink sink;
  EXPECT_EQ(GzipSink::Open(&sink, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GzipSink::Open(&sink, 10).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BaseBackupTar, PieceSinkBoundsPiecesAndStopsOnError) {
  std::vector<std::string> pieces;
  PieceSink sink(
      [&](std::string_view p) {
        pieces.emplace_back(p);
        return absl::OkStatus();
      },
      1000);
  const std::string data = Pattern(10500, 7);
  for (size_t off = 0; off < data.size(); off += 333) {
    ASSERT_TRUE(sink.Write(std::string_view(data).substr(off, 333)).ok());
  }
  ASSERT_TRUE(sink.Flush().ok());
  ASSERT_EQ(pieces.size(), 11u);
  std::string joined;
  for (size_t i = 0; i < pieces.size(); i++) {
    EXPECT_EQ(pieces[i].size(), i + 1 < pieces.size() ? 1000u : 500u);
    joined += pieces[i];
  }
  EXPECT_EQ(joined, data);
  EXPECT_EQ(sink.bytes_out(), data.size());

  int calls = 0;
  PieceSink failing(
      [&](std::string_view) {
        calls++;
        return absl::CancelledError("client went away");
      },
      100);
  EXPECT_EQ(failing.Write(std::string(250, 'x')).code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 1);
}

// ---- Postgres files ----------------------------------------------------------

std::string SyntheticControl() {
  std::string c(8192, '\0');
  uint64_t sysid = 7306999999999999999ull;
  std::memcpy(c.data(), &sysid, 8);
  uint32_t version = pg::kPgControlVersion;
  std::memcpy(c.data() + pg::kControlVersionOffset, &version, 4);
  uint32_t state = 6;  // DB_IN_PRODUCTION
  std::memcpy(c.data() + pg::kControlStateOffset, &state, 4);
  uint64_t min_recovery = 0x1234;
  std::memcpy(c.data() + pg::kControlMinRecoveryPointOffset, &min_recovery, 8);
  c[pg::kControlBackupEndRequiredOffset] = 1;
  return c;
}

std::string SyntheticCheckpoint() {
  std::string cp = Pattern(pg::kCheckPointSize, 11);
  return cp;
}

TEST(BaseBackupPg, ControlFileIsShutDownAtTheStartWithAValidCrc) {
  const Lsn start(0x3000028);
  auto cp = pg::StartCheckpoint(SyntheticCheckpoint(), start);
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(LoadHost<uint64_t>(*cp, pg::kCheckPointRedoOffset), start.value());
  EXPECT_EQ(LoadHost<uint32_t>(*cp, pg::kCheckPointTliOffset), 1u);
  EXPECT_EQ(LoadHost<uint32_t>(*cp, pg::kCheckPointPrevTliOffset), 1u);
  EXPECT_EQ(LoadHost<uint32_t>(*cp, pg::kCheckPointOldestActiveXidOffset), 0u);
  EXPECT_EQ(cp->substr(16, 64), SyntheticCheckpoint().substr(16, 64));  // the rest kept

  auto c = pg::GeneratePgControl(SyntheticControl(), *cp, start);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->size(), 8192u);
  EXPECT_EQ(LoadHost<uint32_t>(*c, pg::kControlCrcOffset),
            crc32c::Value(c->data(), pg::kControlCrcOffset));
  EXPECT_EQ(LoadHost<uint32_t>(*c, pg::kControlStateOffset), pg::kDbShutdowned);
  EXPECT_EQ(LoadHost<uint64_t>(*c, pg::kControlCheckPointOffset), start.value());
  EXPECT_EQ(c->substr(pg::kControlCheckPointCopyOffset, pg::kCheckPointSize), *cp);
  EXPECT_EQ(LoadHost<uint64_t>(*c, pg::kControlMinRecoveryPointOffset), 0u);
  EXPECT_EQ((*c)[pg::kControlBackupEndRequiredOffset], 0);
  EXPECT_EQ(LoadHost<uint64_t>(*c, 0), 7306999999999999999ull);

  std::string wrong_version = SyntheticControl();
  wrong_version[pg::kControlVersionOffset] = 1;
  EXPECT_EQ(pg::GeneratePgControl(wrong_version, *cp, start).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(pg::GeneratePgControl(SyntheticControl().substr(0, 200), *cp, start).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(pg::StartCheckpoint("short", start).status().code(), absl::StatusCode::kDataLoss);
}

TEST(BaseBackupPg, StartLsnIsARecordBoundary) {
  constexpr uint64_t kSeg = 16ull << 20;
  EXPECT_EQ(BaseBackupStartLsn(Lsn(3 * kSeg)), Lsn(3 * kSeg + 40));           // segment start
  EXPECT_EQ(BaseBackupStartLsn(Lsn(3 * kSeg + 8)), Lsn(3 * kSeg + 40));       // inside the header
  EXPECT_EQ(BaseBackupStartLsn(Lsn(3 * kSeg + 8192)), Lsn(3 * kSeg + 8216));  // page start
  EXPECT_EQ(BaseBackupStartLsn(Lsn(3 * kSeg + 8192 + 24)), Lsn(3 * kSeg + 8216));
  EXPECT_EQ(BaseBackupStartLsn(Lsn(3 * kSeg + 8192 + 25)), Lsn(3 * kSeg + 8224));  // aligned up
  EXPECT_EQ(BaseBackupStartLsn(Lsn(0x16D68F8)), Lsn(0x16D68F8));
  EXPECT_EQ(BaseBackupStartLsn(Lsn(4 * kSeg - 3)), Lsn(4 * kSeg + 40));  // rounds into the next
}

// Everything `images` holds from `from` on, as one byte stream (zero pages
// where an image has none).
std::string StreamFrom(const std::vector<pg::WalSegmentImage>& images, Lsn from) {
  std::string out;
  for (const pg::WalSegmentImage& img : images) {
    auto seg_start = WalSegmentStart(img.file_name);
    EXPECT_TRUE(seg_start.ok());
    const uint32_t last = img.pages.rbegin()->first;
    for (uint32_t off = 0; off <= last; off += kWalBlockSize) {
      const Lsn page = seg_start->Plus(off);
      if (page.Plus(kWalBlockSize) <= from) continue;
      auto it = img.pages.find(off);
      std::string p = it == img.pages.end() ? std::string(kWalBlockSize, '\0') : it->second;
      if (page < from) p = p.substr(from.value() - page.value());
      out += p;
    }
  }
  return out;
}

absl::StatusOr<WalRecord> DecodeOne(const std::string& bytes, Lsn from, Lsn expected_prev) {
  WalStreamDecoder d(from, expected_prev);
  d.Feed(bytes);
  auto r = d.Poll();
  if (!r.ok()) return r.status();
  if (!r->has_value()) return absl::NotFoundError("no record decoded");
  return std::move(**r);
}

TEST(BaseBackupPg, StartWalDecodesAtEveryKindOfPosition) {
  constexpr uint64_t kSeg = 16ull << 20;
  const uint64_t sysid = 7306999999999999999ull;
  const Lsn prev(0x2FFFF00);
  struct Case {
    Lsn lsn;
    size_t segments;
  };
  const std::vector<Case> cases = {
      {Lsn(3 * kSeg), 1},                    // segment start: right after the long header
      {Lsn(3 * kSeg + 1000), 1},             // on the first page, after other bytes
      {Lsn(3 * kSeg + 5 * 8192), 1},         // a page start
      {Lsn(3 * kSeg + 5 * 8192 + 4000), 1},  // mid-page
      {Lsn(3 * kSeg + 6 * 8192 - 64), 1},    // crosses into the next page
      {Lsn(3 * kSeg + 6 * 8192 - 8), 1},     // only xl_tot_len fits on the page
      {Lsn(4 * kSeg - 48), 2},               // crosses into the next segment
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.lsn.ToString());
    const Lsn start = BaseBackupStartLsn(c.lsn);
    auto cp = pg::StartCheckpoint(SyntheticCheckpoint(), start);
    ASSERT_TRUE(cp.ok());
    const std::string record = pg::CheckpointRecord(*cp, prev);
    ASSERT_EQ(record.size(), pg::kCheckpointRecordSize);
    Lsn end;
    auto images = pg::GenerateStartWal(start, sysid, record, &end);
    ASSERT_EQ(images.size(), c.segments);
    EXPECT_EQ(images[0].file_name, WalSegmentFileName(1, start));
    EXPECT_TRUE(images[0].pages.count(0)) << "the first page carries the long header";
    for (const auto& img : images) {
      for (const auto& [off, page] : img.pages) EXPECT_EQ(page.size(), kWalBlockSize);
    }
    // From the page that holds the record (skipping what precedes it), and
    // from the record itself with the prev-link checked.
    const Lsn page(start.value() - start.value() % kWalBlockSize);
    for (Lsn from : {page, start}) {
      auto r = DecodeOne(StreamFrom(images, from), from, from == start ? prev : Lsn());
      ASSERT_TRUE(r.ok()) << r.status() << " from " << from.ToString();
      EXPECT_EQ(r->lsn, start);
      EXPECT_EQ(r->end_lsn, end);
      EXPECT_EQ(r->rmid, 0);
      EXPECT_EQ(r->info, 0);  // XLOG_CHECKPOINT_SHUTDOWN
      EXPECT_EQ(r->xid, 0u);
      EXPECT_EQ(r->prev, prev);
      EXPECT_EQ(r->main_data(), *cp);
    }
    // From the segment start too when the record is on the first page.
    if (page.SegmentOffset(kSeg) == 0) {
      auto r = DecodeOne(StreamFrom(images, page), page, Lsn());
      ASSERT_TRUE(r.ok()) << r.status();
    }
    EXPECT_GE(end.Minus(start), 120u);
  }
}

TEST(BaseBackupPg, RecordCrcCoversDataAndHeader) {
  const std::string cp = SyntheticCheckpoint();
  std::string r = pg::CheckpointRecord(cp, Lsn(0x100));
  const uint32_t crc = LoadHost<uint32_t>(r, 20);
  uint32_t want = crc32c::Value(r.data() + 24, r.size() - 24);
  want = crc32c::Extend(want, r.data(), 20);
  EXPECT_EQ(crc, want);
  EXPECT_EQ(static_cast<uint8_t>(r[24]), 255);  // XLR_BLOCK_ID_DATA_SHORT
  EXPECT_EQ(static_cast<uint8_t>(r[25]), 88);
  // A damaged byte is caught by the decoder.
  const Lsn start(0x3000028);
  r[30] ^= 1;
  Lsn end;
  auto images = pg::GenerateStartWal(start, 1, r, &end);
  auto bad = DecodeOne(StreamFrom(images, start), start, Lsn());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
}

TEST(BaseBackupPg, PageChecksumCoversPageAndBlockNumber) {
  std::string page = Pattern(8192, 5);
  page[14] = 0x20;  // pd_upper != 0: not a new page
  page[15] = 0x1F;
  const uint16_t c0 = pg::PageChecksum(page, 0);
  EXPECT_NE(c0, 0);
  EXPECT_NE(pg::PageChecksum(page, 1), c0);
  // The stored checksum itself does not count.
  std::string with = page;
  pg::SetPageChecksum(&with, 0);
  EXPECT_EQ(LoadHost<uint16_t>(with, 8), c0);
  EXPECT_EQ(pg::PageChecksum(with, 0), c0);
  with[100] ^= 1;
  EXPECT_NE(pg::PageChecksum(with, 0), c0);
  // New pages keep a zero checksum.
  std::string fresh(8192, '\0');
  pg::SetPageChecksum(&fresh, 3);
  EXPECT_EQ(fresh, std::string(8192, '\0'));
}

}  // namespace
}  // namespace neon
