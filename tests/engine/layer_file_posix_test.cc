// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Layer files on the real file system (the other layer tests use the
// in-memory one).

#include <unistd.h>

#include "engine/layer_file.h"
#include "engine/layer_test_util.h"
#include "gtest/gtest.h"

namespace neon {
namespace {

TEST(LayerFilePosixTest, RoundTripWithSpill) {
  auto fs = NewPosixFileSystem();
  const std::string dir = "/tmp/layer_file_posix_test." + std::to_string(::getpid());
  ASSERT_TRUE(fs->CreateDirs(dir).ok());
  const Lsn lo(0x1000), hi(0x100000);
  layer_test::Model m = layer_test::RandomDeltaModel(13, 300, 5, 400, lo, hi, true);
  LayerWriterOptions opts;
  opts.max_buffered_bytes = 64 << 10;
  const std::string path = dir + "/layer";
  layer_test::WriteDelta(fs.get(), path, layer_test::DeltaDesc(KeyRange::All(), {lo, hi}), m,
                         opts);
  EXPECT_FALSE(fs->FileExists(BlockFileWriter::SpillPath(path)));
  PageCache cache(1 << 20);
  auto r = LayerReader::Open(fs.get(), path, &cache);
  ASSERT_TRUE(r.ok()) << r.status();
  auto it = (*r)->NewIterator();
  ASSERT_TRUE(it->SeekToFirst().ok());
  for (const auto& [kl, v] : m) {
    ASSERT_TRUE(it->Valid());
    EXPECT_EQ(it->key(), kl.first);
    EXPECT_EQ(*it->value(), v.data);
    ASSERT_TRUE(it->Next().ok());
  }
  EXPECT_FALSE(it->Valid());
  EXPECT_TRUE((*r)->VerifyAll().ok());
  EXPECT_TRUE(DeleteRecursively(*fs, dir).ok());
}

}  // namespace
}  // namespace neon
