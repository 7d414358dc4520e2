// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The decoder on real WAL (from WalFixture's Postgres 15 cluster): streamed in
// pieces of any size, started at any record or page boundary, and damaged in
// every way the issue names (bit flips, truncated segments, wrong magic, wrong
// page address): it stops with DataLoss naming the LSN and yields nothing
// past the damage.

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "base/str_cat.h"
#include "neon/wal.h"
#include "wal/wal_fixture.h"

namespace neon {
namespace {

using testing::WalFixture;

struct Summary {
  Lsn lsn;
  Lsn end;
  std::string bytes;
};

class WalDecoderTest : public WalFixture {
 protected:
  static std::vector<Summary>& Originals() {
    static std::vector<Summary>* all = [] {
      auto* v = new std::vector<Summary>();
      WalSegmentReader reader(NewPosixFileSystem(), wal_dir(), first_segment_start());
      while (true) {
        absl::StatusOr<std::optional<WalRecord>> r = reader.Next();
        if (!r.ok() || !r->has_value()) break;
        v->push_back({(*r)->lsn, (*r)->end_lsn, (*r)->bytes});
      }
      return v;
    }();
    return *all;
  }

  // The WAL bytes from the first segment start: whole segments.
  static const std::string& Stream() {
    static std::string* s = [] {
      auto* out = new std::string();
      for (Lsn seg = first_segment_start();; seg = seg.Plus(kWalSegmentSize)) {
        std::ifstream f(wal_dir() + "/" + WalSegmentFileName(1, seg), std::ios::binary);
        if (!f) break;
        out->append(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
      }
      return out;
    }();
    return *s;
  }

  // A memory file system holding the segments, for damaging them.
  static std::shared_ptr<FileSystem> CopyToMem() {
    auto fs = NewMemFileSystem();
    EXPECT_TRUE(fs->CreateDirs("/wal").ok());
    const std::string& s = Stream();
    for (uint64_t off = 0; off < s.size(); off += kWalSegmentSize) {
      auto f = fs->NewWritableFile(
          "/wal/" + WalSegmentFileName(1, first_segment_start().Plus(off)));
      EXPECT_TRUE(f.ok());
      EXPECT_TRUE((*f)->Append(std::string_view(s).substr(off, kWalSegmentSize)).ok());
      EXPECT_TRUE((*f)->Close().ok());
    }
    return fs;
  }

  static void Patch(FileSystem* fs, Lsn at, std::string_view bytes) {
    const Lsn seg(at.value() - at.SegmentOffset(kWalSegmentSize));
    std::string path = "/wal/" + WalSegmentFileName(1, seg);
    std::string data = Stream().substr(seg.Minus(first_segment_start()), kWalSegmentSize);
    data.replace(at.Minus(seg), bytes.size(), bytes);
    auto f = fs->NewWritableFile(path);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append(data).ok());
    ASSERT_TRUE((*f)->Close().ok());
  }

  // Reads everything; checks every record before the error is an original
  // one. Returns the error (OK at a clean end) and the records read.
  static absl::Status ReadAll(std::shared_ptr<FileSystem> fs, size_t* count) {
    WalSegmentReader reader(std::move(fs), "/wal", first_segment_start());
    *count = 0;
    while (true) {
      absl::StatusOr<std::optional<WalRecord>> r = reader.Next();
      if (!r.ok()) return r.status();
      if (!r->has_value()) return absl::OkStatus();
      const Summary& o = Originals().at(*count);
      EXPECT_EQ((*r)->lsn, o.lsn);
      EXPECT_EQ((*r)->bytes, o.bytes);
      (*count)++;
    }
  }
};

TEST_F(WalDecoderTest, StreamInRandomPiecesMatchesSegmentReader) {
  const std::string& s = Stream();
  std::mt19937_64 rng(42);
  WalStreamDecoder d(first_segment_start());
  size_t pos = 0, i = 0;
  while (pos < s.size() && i < Originals().size()) {
    const size_t n = std::min<size_t>(s.size() - pos, 1 + rng() % 20000);
    d.Feed(std::string_view(s).substr(pos, n));
    pos += n;
    while (true) {
      absl::StatusOr<std::optional<WalRecord>> r = d.Poll();
      if (!r.ok() || !r->has_value()) break;
      ASSERT_EQ((*r)->lsn, Originals()[i].lsn);
      ASSERT_EQ((*r)->end_lsn, Originals()[i].end);
      ASSERT_EQ((*r)->bytes, Originals()[i].bytes);
      i++;
    }
  }
  EXPECT_EQ(i, Originals().size());
}

// Starting at a record (with its expected prev-link) or at a page boundary
// inside a record (the continuation is skipped).
TEST_F(WalDecoderTest, StartsAtAnyRecordOrPageBoundary) {
  const std::string& s = Stream();
  const auto& all = Originals();
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 200; trial++) {
    const size_t k = 1 + rng() % (all.size() - 2);
    const bool at_page = trial % 2 == 1;
    Lsn start = all[k].lsn;
    if (at_page) start = Lsn(start.value() - start.value() % kWalBlockSize);
    WalStreamDecoder d(start, at_page ? Lsn::Invalid() : all[k - 1].lsn);
    const size_t off = start.Minus(first_segment_start());
    d.Feed(std::string_view(s).substr(off, std::min<size_t>(1 << 20, s.size() - off)));
    absl::StatusOr<std::optional<WalRecord>> r = d.Poll();
    ASSERT_TRUE(r.ok()) << r.status() << " start " << start.ToString();
    ASSERT_TRUE(r->has_value());
    // The first record returned is the first one starting at or after `start`.
    size_t want = k;
    while (want > 0 && all[want - 1].lsn >= start) want--;
    EXPECT_EQ((*r)->lsn, all[want].lsn) << "start " << start.ToString();
  }
}

TEST_F(WalDecoderTest, BitFlipInAnyRecordStopsThere) {
  const auto& all = Originals();
  std::mt19937_64 rng(1234);
  for (int trial = 0; trial < 40; trial++) {
    const size_t k = rng() % (all.size() / 4);  // keep the read short
    const Summary& victim = all[k];
    // A byte of the record that lies on its first page, past the length.
    const uint64_t on_page = kWalBlockSize - victim.lsn.value() % kWalBlockSize;
    const uint64_t span = std::min<uint64_t>(victim.bytes.size(), on_page);
    const uint64_t at = 4 + rng() % (span - 4);
    std::string flipped(1, static_cast<char>(victim.bytes[at] ^ (1 << (rng() % 8))));
    auto fs = CopyToMem();
    Patch(fs.get(), victim.lsn.Plus(at), flipped);
    size_t n = 0;
    absl::Status s = ReadAll(fs, &n);
    ASSERT_TRUE(absl::IsDataLoss(s)) << s << " flip at record " << victim.lsn.ToString();
    EXPECT_EQ(n, k) << s;
    EXPECT_NE(s.message().find(victim.lsn.ToString()), std::string::npos) << s;
  }
}

TEST_F(WalDecoderTest, DamagedPageHeadersAreDataLoss) {
  const auto& all = Originals();
  const Lsn page(all[all.size() / 8].lsn.value() / kWalBlockSize * kWalBlockSize + kWalBlockSize);
  size_t before = 0;
  while (all[before].end <= page) before++;  // records that end before the page
  {
    auto fs = CopyToMem();
    Patch(fs.get(), page, std::string("\x11\xD0", 2));  // wrong magic
    size_t n = 0;
    absl::Status s = ReadAll(fs, &n);
    ASSERT_TRUE(absl::IsDataLoss(s)) << s;
    EXPECT_NE(s.message().find("magic"), std::string::npos) << s;
    EXPECT_NE(s.message().find(page.ToString()), std::string::npos) << s;
    EXPECT_LE(n, before + 1);
  }
  {
    auto fs = CopyToMem();
    uint64_t wrong = page.value() + kWalBlockSize;
    Patch(fs.get(), page.Plus(8), std::string_view(reinterpret_cast<char*>(&wrong), 8));
    size_t n = 0;
    absl::Status s = ReadAll(fs, &n);
    ASSERT_TRUE(absl::IsDataLoss(s)) << s;
    EXPECT_NE(s.message().find("pageaddr"), std::string::npos) << s;
    EXPECT_LE(n, before + 1);
  }
}

TEST_F(WalDecoderTest, TruncatedSegmentIsDataLoss) {
  auto fs = CopyToMem();
  const Lsn second = first_segment_start().Plus(kWalSegmentSize);
  const std::string path = "/wal/" + WalSegmentFileName(1, second);
  ASSERT_TRUE(fs->Truncate(path, 5 << 20).ok());
  size_t n = 0;
  absl::Status s = ReadAll(fs, &n);
  ASSERT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("truncated"), std::string::npos) << s;
  // Nothing that needs the second segment was returned.
  for (size_t i = 0; i < n; i++) EXPECT_LE(Originals()[i].end, second.Plus(kWalBlockSize));
}

TEST_F(WalDecoderTest, SegmentNames) {
  EXPECT_EQ(WalSegmentFileName(1, Lsn(0x16B374D848ull)), "0000000100000016000000B3");
  EXPECT_EQ(WalSegmentFileName(1, Lsn(16ull << 20)), "000000010000000000000001");
  EXPECT_EQ(*WalSegmentStart("000000010000000000000001"), Lsn(16ull << 20));
  EXPECT_EQ(*WalSegmentStart("0000000100000016000000B3"), Lsn(0x16B3000000ull));
  EXPECT_FALSE(WalSegmentStart("00000001000000000000001").ok());
  EXPECT_FALSE(WalSegmentStart("0000000100000000000001G1").ok());
  EXPECT_FALSE(WalSegmentStart("000000010000000000000100").ok());
}

}  // namespace
}  // namespace neon
