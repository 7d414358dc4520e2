// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// RocksDB on a neon::FileSystem (lib/engine/rocksdb_env.h): the Env's file
// operations, a DB on MemFileSystem, and crash tests on
// FaultInjectionFileSystem: synced writes survive a crash, unsynced ones may
// be lost but the DB reopens, and with the "process" killed after a random
// number of file operations every acknowledged WriteBatch is present and
// every batch is all-or-nothing.

#include "engine/rocksdb_env.h"

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/fault_injection_fs.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"

namespace neon {
namespace {

constexpr const char* kDbDir = "/neon_rocksdb_env_test/db";

std::string ReadAll(rocksdb::SequentialFile* f) {
  std::string out;
  char buf[7];
  for (;;) {
    rocksdb::Slice s;
    rocksdb::Status st = f->Read(sizeof(buf), &s, buf);
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok() || s.empty()) break;
    out.append(s.data(), s.size());
  }
  return out;
}

// ---- The Env's file operations -------------------------------------------

class RocksEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs_->CreateDirs("/d").ok());
  }
  void WriteFile(const std::string& path, const std::string& data, bool sync = true) {
    std::unique_ptr<rocksdb::WritableFile> f;
    ASSERT_TRUE(env_->NewWritableFile(path, &f, rocksdb::EnvOptions()).ok());
    ASSERT_TRUE(f->Append(data).ok());
    ASSERT_TRUE(f->Flush().ok());
    if (sync) {
      ASSERT_TRUE(f->Sync().ok());
    }
    ASSERT_TRUE(f->Close().ok());
  }
  std::string Contents(const std::string& path) {
    auto s = ReadFileToString(*fs_, path);
    return s.ok() ? *s : "<" + s.status().ToString() + ">";
  }

  std::shared_ptr<FileSystem> fs_ = NewMemFileSystem();
  std::unique_ptr<rocksdb::Env> env_ = NewRocksEnv(fs_);
};

TEST_F(RocksEnvTest, WritableFileGoesToTheFileSystem) {
  std::unique_ptr<rocksdb::WritableFile> f;
  ASSERT_TRUE(env_->NewWritableFile("/d/a", &f, rocksdb::EnvOptions()).ok());
  ASSERT_TRUE(f->Append("hello ").ok());
  ASSERT_TRUE(f->Append("world").ok());
  EXPECT_EQ(f->GetFileSize(), 11u);
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->Fsync().ok());
  ASSERT_TRUE(f->Close().ok());
  EXPECT_EQ(Contents("/d/a"), "hello world");

  uint64_t size = 0;
  ASSERT_TRUE(env_->GetFileSize("/d/a", &size).ok());
  EXPECT_EQ(size, 11u);
  EXPECT_TRUE(env_->FileExists("/d/a").ok());
  EXPECT_TRUE(env_->FileExists("/d/b").IsNotFound());
  // Nothing reached the real disk.
  EXPECT_FALSE(NewPosixFileSystem()->FileExists("/d/a"));
}

TEST_F(RocksEnvTest, SequentialAndRandomReads) {
  WriteFile("/d/r", "0123456789abcdefghij");
  std::unique_ptr<rocksdb::SequentialFile> seq;
  ASSERT_TRUE(env_->NewSequentialFile("/d/r", &seq, rocksdb::EnvOptions()).ok());
  char buf[32];
  rocksdb::Slice s;
  ASSERT_TRUE(seq->Read(4, &s, buf).ok());
  EXPECT_EQ(s.ToString(), "0123");
  ASSERT_TRUE(seq->Skip(6).ok());
  EXPECT_EQ(ReadAll(seq.get()), "abcdefghij");

  std::unique_ptr<rocksdb::RandomAccessFile> ra;
  ASSERT_TRUE(env_->NewRandomAccessFile("/d/r", &ra, rocksdb::EnvOptions()).ok());
  ASSERT_TRUE(ra->Read(10, 5, &s, buf).ok());
  EXPECT_EQ(s.ToString(), "abcde");
  ASSERT_TRUE(ra->Read(18, 10, &s, buf).ok());
  EXPECT_EQ(s.ToString(), "ij");
  ASSERT_TRUE(ra->Read(100, 10, &s, buf).ok());
  EXPECT_TRUE(s.empty());
}

TEST_F(RocksEnvTest, MissingFilesMapToNotFound) {
  std::unique_ptr<rocksdb::SequentialFile> seq;
  rocksdb::Status s = env_->NewSequentialFile("/d/missing", &seq, rocksdb::EnvOptions());
  EXPECT_TRUE(s.IsPathNotFound()) << s.ToString();
  std::unique_ptr<rocksdb::RandomAccessFile> ra;
  s = env_->NewRandomAccessFile("/d/missing", &ra, rocksdb::EnvOptions());
  EXPECT_TRUE(s.IsPathNotFound()) << s.ToString();
  uint64_t size;
  s = env_->GetFileSize("/d/missing", &size);
  EXPECT_TRUE(s.IsPathNotFound()) << s.ToString();
  s = env_->DeleteFile("/d/missing");
  EXPECT_TRUE(s.IsPathNotFound()) << s.ToString();
  s = env_->RenameFile("/d/missing", "/d/x");
  EXPECT_TRUE(s.IsPathNotFound()) << s.ToString();
  std::vector<std::string> children;
  s = env_->GetChildren("/nodir", &children);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  std::unique_ptr<rocksdb::WritableFile> w;
  s = env_->NewWritableFile("/nodir/f", &w, rocksdb::EnvOptions());
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.IsIOError() || s.IsNotFound()) << s.ToString();
  std::unique_ptr<rocksdb::Directory> dir;
  EXPECT_FALSE(env_->NewDirectory("/nodir", &dir).ok());
}

TEST_F(RocksEnvTest, DirectoryOperations) {
  ASSERT_TRUE(env_->CreateDirIfMissing("/d/sub").ok());
  ASSERT_TRUE(env_->CreateDirIfMissing("/d/sub").ok());
  EXPECT_FALSE(env_->CreateDir("/d/sub").ok());  // exists
  ASSERT_TRUE(env_->CreateDir("/d/sub2").ok());
  bool is_dir = false;
  ASSERT_TRUE(env_->IsDirectory("/d/sub", &is_dir).ok());
  EXPECT_TRUE(is_dir);
  WriteFile("/d/f1", "abc");
  ASSERT_TRUE(env_->IsDirectory("/d/f1", &is_dir).ok());
  EXPECT_FALSE(is_dir);

  std::vector<std::string> children;
  ASSERT_TRUE(env_->GetChildren("/d", &children).ok());
  std::sort(children.begin(), children.end());
  EXPECT_EQ(children, (std::vector<std::string>{"f1", "sub", "sub2"}));

  std::vector<rocksdb::Env::FileAttributes> attrs;
  ASSERT_TRUE(env_->GetChildrenFileAttributes("/d", &attrs).ok());
  ASSERT_EQ(attrs.size(), 1u);
  EXPECT_EQ(attrs[0].name, "f1");
  EXPECT_EQ(attrs[0].size_bytes, 3u);

  std::unique_ptr<rocksdb::Directory> dir;
  ASSERT_TRUE(env_->NewDirectory("/d", &dir).ok());
  EXPECT_TRUE(dir->Fsync().ok());
  EXPECT_TRUE(dir->Close().ok());

  WriteFile("/d/sub/x", "x");
  EXPECT_FALSE(env_->DeleteDir("/d/sub").ok());  // not empty
  ASSERT_TRUE(env_->DeleteFile("/d/sub/x").ok());
  ASSERT_TRUE(env_->DeleteDir("/d/sub").ok());
  EXPECT_TRUE(env_->FileExists("/d/sub").IsNotFound());
}

TEST_F(RocksEnvTest, RenameReopenReuseTruncate) {
  WriteFile("/d/a", "aaa");
  WriteFile("/d/b", "bbb");
  ASSERT_TRUE(env_->RenameFile("/d/a", "/d/b").ok());
  EXPECT_EQ(Contents("/d/b"), "aaa");
  EXPECT_TRUE(env_->FileExists("/d/a").IsNotFound());

  std::unique_ptr<rocksdb::WritableFile> f;
  ASSERT_TRUE(env_->ReopenWritableFile("/d/b", &f, rocksdb::EnvOptions()).ok());
  EXPECT_EQ(f->GetFileSize(), 3u);
  ASSERT_TRUE(f->Append("+more").ok());
  ASSERT_TRUE(f->Close().ok());
  EXPECT_EQ(Contents("/d/b"), "aaa+more");

  ASSERT_TRUE(env_->ReuseWritableFile("/d/c", "/d/b", &f, rocksdb::EnvOptions()).ok());
  ASSERT_TRUE(f->Append("recycled").ok());
  ASSERT_TRUE(f->Close().ok());
  EXPECT_EQ(Contents("/d/c"), "recycled");
  EXPECT_TRUE(env_->FileExists("/d/b").IsNotFound());

  ASSERT_TRUE(env_->Truncate("/d/c", 4).ok());
  EXPECT_EQ(Contents("/d/c"), "recy");

  uint64_t mtime = 1;
  ASSERT_TRUE(env_->GetFileModificationTime("/d/c", &mtime).ok());
  EXPECT_EQ(mtime, 0u);
  EXPECT_TRUE(env_->LinkFile("/d/c", "/d/link").IsNotSupported());
  EXPECT_TRUE(env_->FileExists("/d/link").IsNotFound());
}

TEST_F(RocksEnvTest, LocksAreExclusiveWithinTheProcess) {
  rocksdb::FileLock* a = nullptr;
  rocksdb::FileLock* b = nullptr;
  ASSERT_TRUE(env_->LockFile("/d/LOCK", &a).ok());
  EXPECT_TRUE(env_->FileExists("/d/LOCK").ok());
  EXPECT_FALSE(env_->LockFile("/d/LOCK", &b).ok());
  // A second Env over the same file system sees the same lock.
  auto env2 = NewRocksEnv(fs_);
  EXPECT_FALSE(env2->LockFile("/d/LOCK", &b).ok());
  // Another file system is independent.
  auto other_fs = NewMemFileSystem();
  ASSERT_TRUE(other_fs->CreateDirs("/d").ok());
  auto env3 = NewRocksEnv(other_fs);
  rocksdb::FileLock* c = nullptr;
  ASSERT_TRUE(env3->LockFile("/d/LOCK", &c).ok());
  ASSERT_TRUE(env3->UnlockFile(c).ok());

  ASSERT_TRUE(env_->UnlockFile(a).ok());
  ASSERT_TRUE(env2->LockFile("/d/LOCK", &b).ok());
  ASSERT_TRUE(env2->UnlockFile(b).ok());
}

TEST_F(RocksEnvTest, StatusMappingOfInjectedFailures) {
  auto fault = std::make_shared<FaultInjectionFileSystem>(fs_);
  auto env = NewRocksEnv(fault);
  fault->SetActive(false);
  std::unique_ptr<rocksdb::WritableFile> f;
  rocksdb::Status s = env->NewWritableFile("/d/x", &f, rocksdb::EnvOptions());
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.ToString().find("UNAVAILABLE"), std::string::npos) << s.ToString();
  fault->SetActive(true);
}

// ---- A DB on MemFileSystem ----------------------------------------------------

rocksdb::Options DbOptions(rocksdb::Env* env) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.env = env;
  ConfigureRocksOptionsForNeonFs(&options);
  return options;
}

std::unique_ptr<rocksdb::DB> OpenDb(const rocksdb::Options& options, rocksdb::Status* status) {
  rocksdb::DB* db = nullptr;
  *status = rocksdb::DB::Open(options, kDbDir, &db);
  return std::unique_ptr<rocksdb::DB>(db);
}

std::string Get(rocksdb::DB* db, const std::string& key) {
  std::string v;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), key, &v);
  if (s.IsNotFound()) return "<absent>";
  EXPECT_TRUE(s.ok()) << s.ToString();
  return s.ok() ? v : "<" + s.ToString() + ">";
}

TEST(RocksDbOnMemFsTest, PutGetReopen) {
  auto fs = NewMemFileSystem();
  auto env = NewRocksEnv(fs);
  rocksdb::Options options = DbOptions(env.get());
  rocksdb::Status s;
  {
    auto db = OpenDb(options, &s);
    ASSERT_TRUE(s.ok()) << s.ToString();
    for (int i = 0; i < 100; i++) {
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "k" + std::to_string(i), "v" + std::to_string(i)).ok());
    }
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), "k7").ok());
    EXPECT_EQ(Get(db.get(), "k5"), "v5");
    EXPECT_EQ(Get(db.get(), "k7"), "<absent>");
    ASSERT_TRUE(db->Close().ok());
  }
  // The DB lives in the in-memory file system, not on disk.
  EXPECT_TRUE(fs->FileExists(JoinPath(kDbDir, "CURRENT")));
  EXPECT_FALSE(NewPosixFileSystem()->FileExists(kDbDir));
  auto children = fs->GetChildren(kDbDir);
  ASSERT_TRUE(children.ok());
  for (const auto& c : *children) EXPECT_EQ(c.rfind("LOG", 0), std::string::npos) << c;

  auto db = OpenDb(options, &s);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (int i = 0; i < 100; i++) {
    EXPECT_EQ(Get(db.get(), "k" + std::to_string(i)), i == 7 ? "<absent>" : "v" + std::to_string(i));
  }
}

TEST(RocksDbOnMemFsTest, FlushCompactAndReopen) {
  auto fs = NewMemFileSystem();
  auto env = NewRocksEnv(fs);
  rocksdb::Options options = DbOptions(env.get());
  options.write_buffer_size = 64 << 10;
  rocksdb::Status s;
  std::string big(1000, 'x');
  {
    auto db = OpenDb(options, &s);
    ASSERT_TRUE(s.ok()) << s.ToString();
    for (int i = 0; i < 1000; i++) {
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "key" + std::to_string(i), big + std::to_string(i)).ok());
    }
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
    ASSERT_TRUE(db->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr).ok());
    EXPECT_EQ(Get(db.get(), "key999"), big + "999");
  }
  bool has_sst = false;
  auto children = fs->GetChildren(kDbDir);
  ASSERT_TRUE(children.ok());
  for (const auto& c : *children) has_sst |= c.size() > 4 && c.substr(c.size() - 4) == ".sst";
  EXPECT_TRUE(has_sst);
  auto db = OpenDb(options, &s);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (int i = 0; i < 1000; i += 37) {
    EXPECT_EQ(Get(db.get(), "key" + std::to_string(i)), big + std::to_string(i));
  }
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  int n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) n++;
  EXPECT_TRUE(it->status().ok());
  EXPECT_EQ(n, 1000);
}

TEST(RocksDbOnMemFsTest, SecondOpenInTheProcessFails) {
  auto fs = NewMemFileSystem();
  auto env = NewRocksEnv(fs);
  rocksdb::Options options = DbOptions(env.get());
  rocksdb::Status s;
  auto db = OpenDb(options, &s);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto env2 = NewRocksEnv(fs);
  auto db2 = OpenDb(DbOptions(env2.get()), &s);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(db2, nullptr);
  db.reset();
  db2 = OpenDb(DbOptions(env2.get()), &s);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(RocksDbOnMemFsTest, DestroyDb) {
  auto fs = NewMemFileSystem();
  auto env = NewRocksEnv(fs);
  rocksdb::Options options = DbOptions(env.get());
  rocksdb::Status s;
  {
    auto db = OpenDb(options, &s);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "a", "b").ok());
  }
  s = rocksdb::DestroyDB(kDbDir, options);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(fs->FileExists(JoinPath(kDbDir, "CURRENT")));
}

// ---- Crash tests on FaultInjectionFileSystem ----------------------------------

// RocksDB sleeps a hard-coded second after a failed background flush or
// compaction before it retries; after an injected crash every one fails.
// Forwards everything to the neon Env but caps sleeps at 1 ms.
class FastSleepEnv final : public rocksdb::EnvWrapper {
 public:
  explicit FastSleepEnv(rocksdb::Env* target) : rocksdb::EnvWrapper(target) {}
  const char* Name() const override { return "FastSleepEnv"; }
  void SleepForMicroseconds(int micros) override {
    rocksdb::EnvWrapper::SleepForMicroseconds(std::min(micros, 1000));
  }
};

struct CrashEnv {
  std::shared_ptr<FileSystem> mem = NewMemFileSystem();
  std::shared_ptr<FaultInjectionFileSystem> fault = std::make_shared<FaultInjectionFileSystem>(mem);
  std::unique_ptr<rocksdb::Env> neon_env = NewRocksEnv(fault);
  FastSleepEnv env{neon_env.get()};

  rocksdb::Options Options() {
    rocksdb::Options o = DbOptions(&env);
    o.write_buffer_size = 64 << 10;  // flushes and compactions on small data
    return o;
  }
  std::unique_ptr<rocksdb::DB> Open() {
    rocksdb::Status s;
    auto db = OpenDb(Options(), &s);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return db;
  }
};

rocksdb::WriteOptions Synced() {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return wo;
}

TEST(RocksDbCrashTest, SyncedWritesSurviveACrash) {
  CrashEnv c;
  {
    auto db = c.Open();
    ASSERT_NE(db, nullptr);
    for (int i = 0; i < 50; i++) {
      ASSERT_TRUE(db->Put(Synced(), "k" + std::to_string(i), "v" + std::to_string(i)).ok());
    }
    // The "power" goes out with the DB still open: nothing more reaches disk.
    c.fault->SetActive(false);
  }
  ASSERT_TRUE(c.fault->SimulateCrash().ok());
  auto db = c.Open();
  ASSERT_NE(db, nullptr);
  for (int i = 0; i < 50; i++) EXPECT_EQ(Get(db.get(), "k" + std::to_string(i)), "v" + std::to_string(i));
  // And it keeps working after recovery.
  ASSERT_TRUE(db->Put(Synced(), "after", "crash").ok());
  EXPECT_EQ(Get(db.get(), "after"), "crash");
}

TEST(RocksDbCrashTest, UnsyncedWriteMayBeLostButDbReopens) {
  CrashEnv c;
  {
    auto db = c.Open();
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Put(Synced(), "durable", "yes").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "volatile", "maybe").ok());
    c.fault->SetActive(false);
  }
  ASSERT_TRUE(c.fault->SimulateCrash().ok());
  auto db = c.Open();
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(Get(db.get(), "durable"), "yes");
  std::string v = Get(db.get(), "volatile");
  EXPECT_TRUE(v == "maybe" || v == "<absent>") << v;
  // With the model of this file system the unsynced WAL tail is dropped.
  EXPECT_EQ(v, "<absent>");
}

TEST(RocksDbCrashTest, CleanCloseThenCrashKeepsSyncedData) {
  CrashEnv c;
  {
    auto db = c.Open();
    ASSERT_NE(db, nullptr);
    for (int i = 0; i < 2000; i++) {
      ASSERT_TRUE(db->Put(Synced(), "k" + std::to_string(i), std::string(200, 'v')).ok());
    }
    ASSERT_TRUE(db->Close().ok());
  }
  ASSERT_TRUE(c.fault->SimulateCrash().ok());
  auto db = c.Open();
  ASSERT_NE(db, nullptr);
  for (int i = 0; i < 2000; i += 7) EXPECT_EQ(Get(db.get(), "k" + std::to_string(i)), std::string(200, 'v'));
}

// Batch i writes kKeysPerBatch keys "b<i>.<j>" and overwrites "last" = i.
constexpr int kKeysPerBatch = 5;
constexpr int kBatches = 300;

std::string BatchKey(int i, int j) { return "b" + std::to_string(i) + "." + std::to_string(j); }
std::string BatchValue(int i, int j) {
  return std::to_string(i) + "/" + std::to_string(j) + std::string(1000, char('a' + (i + j) % 26));
}

rocksdb::WriteBatch MakeBatch(int i) {
  rocksdb::WriteBatch b;
  for (int j = 0; j < kKeysPerBatch; j++) (void)b.Put(BatchKey(i, j), BatchValue(i, j));
  (void)b.Put("last", std::to_string(i));
  if (i > 0) (void)b.Delete(BatchKey(i - 1, 0));  // deletes are part of the batch too
  return b;
}

// Writes synced batches starting at `first` until one fails; returns how
// many were acknowledged in total.
int WriteBatches(rocksdb::DB* db, int first) {
  int i = first;
  for (; i < kBatches; i++) {
    rocksdb::WriteBatch b = MakeBatch(i);
    if (!db->Write(Synced(), &b).ok()) break;
  }
  return i;
}

// Checks the recovered DB: batches [0, n) are present, all-or-nothing, with
// acked <= n <= acked + 1 (the batch in flight at the crash may land).
// Returns n.
int CheckBatches(rocksdb::DB* db, int acked, uint64_t seed) {
  int present = 0;
  bool gap = false;
  for (int i = 0; i < kBatches; i++) {
    int found = 0;
    for (int j = 1; j < kKeysPerBatch; j++) {
      std::string v = Get(db, BatchKey(i, j));
      if (v != "<absent>") {
        EXPECT_EQ(v, BatchValue(i, j)) << "seed " << seed;
        found++;
      }
    }
    EXPECT_TRUE(found == 0 || found == kKeysPerBatch - 1)
        << "seed " << seed << ": batch " << i << " is partial (" << found << " keys)";
    if (found == 0) {
      gap = true;
    } else {
      EXPECT_FALSE(gap) << "seed " << seed << ": batch " << i << " present after a missing one";
      present = i + 1;
    }
  }
  EXPECT_GE(present, acked) << "seed " << seed << ": acknowledged batches lost";
  EXPECT_LE(present, acked + 1) << "seed " << seed;
  // Batch i deleted key 0 of batch i-1; "last" names the newest batch.
  if (present > 0) {
    EXPECT_EQ(Get(db, "last"), std::to_string(present - 1)) << "seed " << seed;
    EXPECT_EQ(Get(db, BatchKey(present - 1, 0)), BatchValue(present - 1, 0)) << "seed " << seed;
    if (present > 1) {
      EXPECT_EQ(Get(db, BatchKey(present - 2, 0)), "<absent>") << "seed " << seed;
    }
  } else {
    EXPECT_EQ(Get(db, "last"), "<absent>") << "seed " << seed;
  }
  return present;
}

// Counts the file-system operations one full run of kBatches takes, to pick
// crash points across the whole run (flushes and compactions included).
int64_t CalibrateOps() {
  CrashEnv c;
  auto db = c.Open();
  if (db == nullptr) return 0;
  int64_t before = c.fault->mutating_ops();
  EXPECT_EQ(WriteBatches(db.get(), 0), kBatches);
  return c.fault->mutating_ops() - before;
}

TEST(RocksDbCrashTest, AcknowledgedBatchesSurviveCrashesAtRandomPoints) {
  int64_t total_ops = CalibrateOps();
  ASSERT_GT(total_ops, 2 * kBatches);
  const int kSeeds = 40;
  for (uint64_t seed = 1; seed <= kSeeds && !::testing::Test::HasFailure(); seed++) {
    std::mt19937_64 rng(seed);
    CrashEnv c;
    int acked = 0;
    {
      auto db = c.Open();
      ASSERT_NE(db, nullptr);
      c.fault->CrashAfterOps(int64_t(rng() % uint64_t(total_ops)));
      acked = WriteBatches(db.get(), 0);
    }  // closing after the crash point: every file operation fails
    ASSERT_TRUE(c.fault->SimulateCrash().ok());
    auto db = c.Open();
    ASSERT_NE(db, nullptr) << "seed " << seed << " (acked " << acked << ")";
    int present = CheckBatches(db.get(), acked, seed);
    // The recovered DB accepts and keeps new batches.
    if (present < kBatches) {
      rocksdb::WriteBatch b = MakeBatch(present);
      EXPECT_TRUE(db->Write(Synced(), &b).ok()) << "seed " << seed;
      EXPECT_EQ(Get(db.get(), "last"), std::to_string(present)) << "seed " << seed;
    }
  }
}

TEST(RocksDbCrashTest, RepeatedCrashesIncludingDuringRecovery) {
  // One DB through several crash/recover cycles; some crash points fall
  // inside DB::Open itself (recovery writes a new MANIFEST, WAL, OPTIONS).
  CrashEnv c;
  std::mt19937_64 rng(77);
  int acked = 0;
  for (int round = 0; round < 8 && !::testing::Test::HasFailure(); round++) {
    {
      if (round % 2 == 1) {
        // Crash during recovery: Open may fail; then crash again.
        c.fault->CrashAfterOps(int64_t(rng() % 40));
        rocksdb::Status s;
        auto db = OpenDb(c.Options(), &s);
        db.reset();
        ASSERT_TRUE(c.fault->SimulateCrash().ok());
      }
      auto db = c.Open();
      ASSERT_NE(db, nullptr) << "round " << round;
      int present = CheckBatches(db.get(), acked, 1000 + round);
      c.fault->CrashAfterOps(int64_t(rng() % 400));
      acked = WriteBatches(db.get(), present);
    }
    ASSERT_TRUE(c.fault->SimulateCrash().ok());
  }
}

}  // namespace
}  // namespace neon
