// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Crash tests in the fault-injection shape: the process "dies" after every
// possible number of file-system operations while writing and installing a
// layer (write temp file, Finish, rename, sync dir). After the simulated
// power loss, a layer under its final name reads back exactly, and the temp
// file, if any, is either DataLoss or exact: never wrong data.

#include "base/fault_injection_fs.h"
#include "engine/layer_file.h"
#include "engine/layer_test_util.h"
#include "gtest/gtest.h"

namespace neon {
namespace {

using layer_test::Model;

constexpr Lsn kLo(0x1000);
constexpr Lsn kHi(0x100000);

// Writes `m` to /t/tmp and installs it as /t/layer. False at the first error.
bool WriteAndInstall(FileSystem* fs, const Model& m, const LayerWriterOptions& opts) {
  auto w = DeltaLayerWriter::Create(fs, "/t/tmp", layer_test::DeltaDesc(KeyRange::All(),
                                                                        {kLo, kHi}), opts);
  if (!w.ok()) return false;
  for (const auto& [kl, v] : m) {
    if (!(*w)->Put(kl.first, kl.second, v.data, v.will_init).ok()) return false;
  }
  return (*w)->Finish().ok() && fs->RenameFile("/t/tmp", "/t/layer").ok() &&
         fs->SyncDir("/t").ok();
}

// OK if `path` reads back as `m` in full; DataLoss if it is damaged.
absl::Status ReadBack(FileSystem* fs, const std::string& path, const Model& m) {
  auto r = LayerReader::Open(fs, path, nullptr);
  if (!r.ok()) return r.status();
  if (absl::Status s = (*r)->VerifyAll(); !s.ok()) return s;
  auto it = (*r)->NewIterator();
  EXPECT_TRUE(it->SeekToFirst().ok());
  for (const auto& [kl, v] : m) {
    EXPECT_TRUE(it->Valid());
    if (!it->Valid()) break;
    EXPECT_EQ(it->key(), kl.first);
    EXPECT_EQ(it->lsn(), kl.second);
    EXPECT_EQ(*it->value(), v.data);
    EXPECT_TRUE(it->Next().ok());
  }
  EXPECT_FALSE(it->Valid());
  return absl::OkStatus();
}

TEST(LayerFileCrashTest, CrashAtEveryOperation) {
  const Model m = layer_test::RandomDeltaModel(21, 150, 5, 3000, kLo, kHi, false);
  LayerWriterOptions opts;
  opts.max_buffered_bytes = 64 << 10;  // exercise the spill file too
  // A clean run counts the operations.
  int64_t total_ops = 0;
  {
    FaultInjectionFileSystem fs(NewMemFileSystem());
    ASSERT_TRUE(fs.CreateDirs("/t").ok());
    const int64_t before = fs.mutating_ops();
    ASSERT_TRUE(WriteAndInstall(&fs, m, opts));
    total_ops = fs.mutating_ops() - before;
  }
  ASSERT_GT(total_ops, 10);
  int installed = 0;
  for (int64_t n = 0; n <= total_ops; n++) {
    SCOPED_TRACE(n);
    FaultInjectionFileSystem fs(NewMemFileSystem());
    ASSERT_TRUE(fs.CreateDirs("/t").ok());
    ASSERT_TRUE(fs.SyncDir("/").ok());
    fs.CrashAfterOps(n);
    const bool completed = WriteAndInstall(&fs, m, opts);
    EXPECT_EQ(completed, n == total_ops);
    ASSERT_TRUE(fs.SimulateCrash().ok());
    if (completed) {
      ASSERT_TRUE(fs.FileExists("/t/layer"));
    }
    if (fs.FileExists("/t/layer")) {
      EXPECT_TRUE(ReadBack(&fs, "/t/layer", m).ok());
      installed++;
    }
    if (fs.FileExists("/t/tmp")) {
      absl::Status s = ReadBack(&fs, "/t/tmp", m);
      EXPECT_TRUE(s.ok() || absl::IsDataLoss(s)) << s;
    }
  }
  EXPECT_GE(installed, 1);
}

TEST(LayerFileCrashTest, RandomErrorsAreStatusesNotCrashes) {
  const Model m = layer_test::RandomDeltaModel(22, 100, 5, 3000, kLo, kHi, true);
  LayerWriterOptions opts;
  opts.max_buffered_bytes = 32 << 10;
  int failures = 0;
  for (uint64_t seed = 0; seed < 40; seed++) {
    FaultInjectionFileSystem fs(NewMemFileSystem());
    ASSERT_TRUE(fs.CreateDirs("/t").ok());
    fs.SetErrorRate(seed, 8);
    if (!WriteAndInstall(&fs, m, opts)) {
      failures++;
      continue;
    }
    fs.SetErrorRate(seed, 0);
    EXPECT_TRUE(ReadBack(&fs, "/t/layer", m).ok());
  }
  EXPECT_GT(failures, 0);
}

}  // namespace
}  // namespace neon
