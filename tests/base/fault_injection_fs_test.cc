// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// FaultInjectionFileSystem: what survives SimulateCrash(), and the injected
// failures (CrashAfterOps, SetErrorRate). Runs over both base file systems.

#include "base/fault_injection_fs.h"

#include <stdlib.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace neon {
namespace {

enum class Base { kMem, kPosix };

class FaultInjectionTest : public ::testing::TestWithParam<Base> {
 protected:
  void SetUp() override {
    if (GetParam() == Base::kPosix) {
      base_ = NewPosixFileSystem();
      char tmpl[] = "/tmp/neon_fault_fs_test_XXXXXX";
      ASSERT_NE(::mkdtemp(tmpl), nullptr);
      root_ = tmpl;
    } else {
      base_ = NewMemFileSystem();
      root_ = "/db";
      ASSERT_TRUE(base_->CreateDirs(root_).ok());
    }
    fs_ = std::make_shared<FaultInjectionFileSystem>(base_);
  }
  void TearDown() override {
    if (!root_.empty()) {
      EXPECT_TRUE(DeleteRecursively(*base_, root_).ok());
    }
  }

  std::string P(std::string_view name) const { return JoinPath(root_, name); }

  // Creates `name` with `data`; syncs the file and/or its directory.
  void Create(const std::string& path, std::string_view data, bool sync, bool sync_dir) {
    auto f = fs_->NewWritableFile(path);
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_TRUE((*f)->Append(data).ok());
    if (sync) {
      ASSERT_TRUE((*f)->Sync().ok());
    }
    ASSERT_TRUE((*f)->Close().ok());
    if (sync_dir) {
      ASSERT_TRUE(fs_->SyncDir(DirName(path)).ok());
    }
  }
  // File content, or "<absent>".
  std::string Content(const std::string& path) {
    if (!base_->FileExists(path)) return "<absent>";
    auto s = ReadFileToString(*base_, path);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : "<error>";
  }
  void Crash() { ASSERT_TRUE(fs_->SimulateCrash().ok()); }

  std::shared_ptr<FileSystem> base_;
  std::shared_ptr<FaultInjectionFileSystem> fs_;
  std::string root_;
};

TEST_P(FaultInjectionTest, SyncedDataSurvives) {
  Create(P("a"), "durable", /*sync=*/true, /*sync_dir=*/true);
  Crash();
  EXPECT_EQ(Content(P("a")), "durable");
}

TEST_P(FaultInjectionTest, UnsyncedAppendsAreDropped) {
  auto f = fs_->NewWritableFile(P("log"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("one,").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE(fs_->SyncDir(root_).ok());
  ASSERT_TRUE((*f)->Append("two,").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE((*f)->Append("three").ok());  // never synced
  EXPECT_EQ(Content(P("log")), "one,two,three");
  Crash();
  EXPECT_EQ(Content(P("log")), "one,two,");
}

TEST_P(FaultInjectionTest, AppendsToPreexistingFileAreDroppedUnlessSynced) {
  // A file that existed before the wrapper saw it counts as durable.
  {
    auto f = base_->NewWritableFile(P("old"));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append("base").ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  auto f = fs_->NewAppendableFile(P("old"));
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE((*f)->Append("+lost").ok());
  Crash();
  EXPECT_EQ(Content(P("old")), "base");

  auto g = fs_->NewAppendableFile(P("old"));
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE((*g)->Append("+kept").ok());
  ASSERT_TRUE((*g)->Sync().ok());
  Crash();
  EXPECT_EQ(Content(P("old")), "base+kept");
}

TEST_P(FaultInjectionTest, NewFileWithoutDirSyncVanishes) {
  Create(P("f"), "synced but not linked", /*sync=*/true, /*sync_dir=*/false);
  EXPECT_TRUE(base_->FileExists(P("f")));
  Crash();
  EXPECT_EQ(Content(P("f")), "<absent>");
}

TEST_P(FaultInjectionTest, DirSyncWithoutFileSyncKeepsEmptyFile) {
  Create(P("f"), "data", /*sync=*/false, /*sync_dir=*/true);
  Crash();
  EXPECT_EQ(Content(P("f")), "");
}

TEST_P(FaultInjectionTest, DirSyncOfAnotherDirectoryDoesNotHelp) {
  ASSERT_TRUE(fs_->CreateDirs(P("sub")).ok());
  Create(P("sub/f"), "data", /*sync=*/true, /*sync_dir=*/false);
  ASSERT_TRUE(fs_->SyncDir(root_).ok());
  Crash();
  EXPECT_EQ(Content(P("sub/f")), "<absent>");
}

TEST_P(FaultInjectionTest, RenameWithoutDirSyncIsUndone) {
  Create(P("target"), "old target", true, true);
  Create(P("source"), "new content", true, true);
  ASSERT_TRUE(fs_->RenameFile(P("source"), P("target")).ok());
  EXPECT_EQ(Content(P("target")), "new content");
  EXPECT_EQ(Content(P("source")), "<absent>");
  Crash();
  EXPECT_EQ(Content(P("target")), "old target");
  EXPECT_EQ(Content(P("source")), "new content");  // it was durable
}

TEST_P(FaultInjectionTest, RenameOfNonDurableSourceLeavesNothing) {
  Create(P("tmp"), "content", /*sync=*/true, /*sync_dir=*/false);
  ASSERT_TRUE(fs_->RenameFile(P("tmp"), P("final")).ok());
  Crash();
  EXPECT_EQ(Content(P("tmp")), "<absent>");
  EXPECT_EQ(Content(P("final")), "<absent>");
}

TEST_P(FaultInjectionTest, RenameThenDirSyncIsDurable) {
  Create(P("target"), "old", true, true);
  Create(P("tmp"), "new", /*sync=*/true, /*sync_dir=*/false);
  ASSERT_TRUE(fs_->RenameFile(P("tmp"), P("target")).ok());
  ASSERT_TRUE(fs_->SyncDir(root_).ok());
  Crash();
  EXPECT_EQ(Content(P("target")), "new");
  EXPECT_EQ(Content(P("tmp")), "<absent>");
}

TEST_P(FaultInjectionTest, RenameKeepsOnlyTheSyncedPrefix) {
  auto f = fs_->NewWritableFile(P("tmp"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("synced").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE((*f)->Append("+unsynced").ok());
  ASSERT_TRUE(fs_->RenameFile(P("tmp"), P("final")).ok());
  ASSERT_TRUE(fs_->SyncDir(root_).ok());
  Crash();
  EXPECT_EQ(Content(P("final")), "synced");
}

TEST_P(FaultInjectionTest, DeleteWithoutDirSyncIsUndone) {
  Create(P("victim"), "precious", true, true);
  ASSERT_TRUE(fs_->DeleteFile(P("victim")).ok());
  EXPECT_EQ(Content(P("victim")), "<absent>");
  Crash();
  EXPECT_EQ(Content(P("victim")), "precious");

  ASSERT_TRUE(fs_->DeleteFile(P("victim")).ok());
  ASSERT_TRUE(fs_->SyncDir(root_).ok());
  Crash();
  EXPECT_EQ(Content(P("victim")), "<absent>");
}

TEST_P(FaultInjectionTest, DeleteOfUnsyncedTailRestoresSyncedPrefix) {
  auto f = fs_->NewWritableFile(P("v"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("abc").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE(fs_->SyncDir(root_).ok());
  ASSERT_TRUE((*f)->Append("def").ok());
  ASSERT_TRUE((*f)->Close().ok());
  ASSERT_TRUE(fs_->DeleteFile(P("v")).ok());
  Crash();
  EXPECT_EQ(Content(P("v")), "abc");
}

TEST_P(FaultInjectionTest, DeleteAndRecreateWithoutDirSyncRestoresOld) {
  Create(P("x"), "old", true, true);
  ASSERT_TRUE(fs_->DeleteFile(P("x")).ok());
  Create(P("x"), "new", /*sync=*/true, /*sync_dir=*/false);
  Crash();
  EXPECT_EQ(Content(P("x")), "old");
}

TEST_P(FaultInjectionTest, RewriteInPlaceKeepsWhatWasSyncedAfterTheRewrite) {
  // NewWritableFile over a durable file truncates the same directory entry:
  // content synced after that is durable without a SyncDir.
  Create(P("r"), "old content", true, true);
  Create(P("r"), "new", /*sync=*/true, /*sync_dir=*/false);
  Crash();
  EXPECT_EQ(Content(P("r")), "new");

  // Unsynced rewrite: the old content is gone, nothing new is durable.
  Create(P("r"), "newer", /*sync=*/false, /*sync_dir=*/false);
  Crash();
  EXPECT_EQ(Content(P("r")), "");
}

TEST_P(FaultInjectionTest, TruncateIsBoundedBySyncedSize) {
  Create(P("t"), "0123456789", true, true);
  ASSERT_TRUE(fs_->Truncate(P("t"), 4).ok());
  auto f = fs_->NewAppendableFile(P("t"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("xy").ok());
  Crash();
  EXPECT_EQ(Content(P("t")), "0123");
}

TEST_P(FaultInjectionTest, UntouchedFilesSurvive) {
  {
    auto f = base_->NewWritableFile(P("untouched"));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append("as is").ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  Create(P("other"), "x", false, false);
  Crash();
  EXPECT_EQ(Content(P("untouched")), "as is");
  EXPECT_EQ(Content(P("other")), "<absent>");
}

TEST_P(FaultInjectionTest, CrashAfterOpsFailsTheNextOp) {
  for (int64_t n : {0, 1, 2, 5}) {
    fs_->CrashAfterOps(n);
    int64_t before = fs_->mutating_ops();
    for (int64_t i = 0; i < n; i++) {
      ASSERT_TRUE(fs_->CreateDirs(P("d" + std::to_string(i))).ok()) << n << " op " << i;
    }
    EXPECT_TRUE(fs_->active());
    absl::Status s = fs_->CreateDirs(P("doomed"));
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << n << ": " << s;
    EXPECT_FALSE(fs_->active());
    EXPECT_EQ(fs_->mutating_ops(), before + n);
    // Everything mutating fails from now on, and so do new reads.
    EXPECT_EQ(fs_->NewWritableFile(P("w")).status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(fs_->DeleteFile(P("d0")).code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(fs_->SyncDir(root_).code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(fs_->NewRandomAccessFile(P("w")).status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(fs_->mutating_ops(), before + n);
    Crash();
    EXPECT_TRUE(fs_->active());
    EXPECT_TRUE(fs_->SyncDir(root_).ok());
  }
}

TEST_P(FaultInjectionTest, CrashAfterOpsCountsAppendsAndSyncs) {
  auto f = fs_->NewWritableFile(P("log"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("a").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE(fs_->SyncDir(root_).ok());
  fs_->CrashAfterOps(2);
  EXPECT_TRUE((*f)->Append("b").ok());
  EXPECT_TRUE((*f)->Append("c").ok());
  EXPECT_EQ((*f)->Sync().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*f)->Append("d").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Content(P("log")), "abc");  // "d" never reached the base
  Crash();
  EXPECT_EQ(Content(P("log")), "a");
}

TEST_P(FaultInjectionTest, HandlesFromBeforeACrashAreDead) {
  auto f = fs_->NewWritableFile(P("log"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("a").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE(fs_->SyncDir(root_).ok());
  Crash();
  EXPECT_EQ((*f)->Append("zombie").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*f)->Sync().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Content(P("log")), "a");
}

TEST_P(FaultInjectionTest, SetActiveFalseFailsEverything) {
  fs_->SetActive(false);
  EXPECT_EQ(fs_->NewWritableFile(P("x")).status().code(), absl::StatusCode::kUnavailable);
  fs_->SetActive(true);
  EXPECT_TRUE(fs_->NewWritableFile(P("x")).ok());
}

// Which of `n` CreateDirs calls fail under SetErrorRate(seed, one_in).
std::vector<bool> FailurePattern(FaultInjectionFileSystem& fs, const std::string& dir,
                                 uint64_t seed, uint32_t one_in, int n) {
  fs.SetErrorRate(seed, one_in);
  std::vector<bool> failed;
  for (int i = 0; i < n; i++) {
    absl::Status s = fs.CreateDirs(dir);
    if (!s.ok()) {
      EXPECT_NE(s.code(), absl::StatusCode::kUnavailable) << s;
    }
    failed.push_back(!s.ok());
  }
  fs.SetErrorRate(0, 0);
  return failed;
}

TEST_P(FaultInjectionTest, ErrorRateIsReproducible) {
  std::string dir = P("e");
  std::vector<bool> a = FailurePattern(*fs_, dir, 17, 4, 400);
  std::vector<bool> b = FailurePattern(*fs_, dir, 17, 4, 400);
  std::vector<bool> c = FailurePattern(*fs_, dir, 18, 4, 400);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  int failures = int(std::count(a.begin(), a.end(), true));
  EXPECT_GT(failures, 60);  // ~100 expected
  EXPECT_LT(failures, 140);
  std::vector<bool> none = FailurePattern(*fs_, dir, 17, 0, 100);
  EXPECT_EQ(std::count(none.begin(), none.end(), true), 0);
  // The file system stays usable after injected errors.
  EXPECT_TRUE(fs_->active());
  EXPECT_TRUE(fs_->CreateDirs(dir).ok());
}

TEST_P(FaultInjectionTest, ErrorRateFailsAppendsWithoutWriting) {
  auto f = fs_->NewWritableFile(P("log"));
  ASSERT_TRUE(f.ok());
  fs_->SetErrorRate(3, 2);
  std::string expected;
  int failed = 0;
  for (int i = 0; i < 100; i++) {
    std::string piece = std::to_string(i) + ",";
    if ((*f)->Append(piece).ok()) {
      expected += piece;
    } else {
      failed++;
    }
  }
  fs_->SetErrorRate(0, 0);
  EXPECT_GT(failed, 20);
  EXPECT_EQ(Content(P("log")), expected);
}

// WriteFileAtomic crashed after every possible number of operations leaves
// either the old or the new content, never a mixture or nothing.
TEST_P(FaultInjectionTest, WriteFileAtomicIsAtomicAtEveryCrashPoint) {
  std::string path = P("CURRENT");
  ASSERT_TRUE(WriteFileAtomic(*fs_, path, "generation-1").ok());
  Crash();
  ASSERT_EQ(Content(path), "generation-1");
  int64_t before = fs_->mutating_ops();
  ASSERT_TRUE(WriteFileAtomic(*fs_, path, "generation-2").ok());
  int64_t ops = fs_->mutating_ops() - before;
  ASSERT_GE(ops, 5);  // create, append, sync, rename, syncdir
  Crash();
  ASSERT_EQ(Content(path), "generation-2");

  std::string current = "generation-2";
  for (int64_t n = 0; n <= ops; n++) {
    std::string next = "generation-" + std::to_string(3 + n);
    fs_->CrashAfterOps(n);
    absl::Status s = WriteFileAtomic(*fs_, path, next);
    EXPECT_EQ(s.ok(), n == ops) << n << ": " << s;
    Crash();
    std::string got = Content(path);
    if (s.ok()) {
      EXPECT_EQ(got, next) << n;
    } else {
      EXPECT_TRUE(got == current || got == next) << n << ": " << got;
    }
    current = got;
  }
}

// Model-based: random creates, appends, syncs, renames, deletes and
// directory syncs on a handful of names; after the crash every name must
// hold exactly what the model says was made durable:
//   * a name linked at the last SyncDir and not removed or replaced since
//     holds its file's synced content (as of the crash);
//   * a name removed or replaced since the last SyncDir comes back with the
//     synced content its durable file had when that first happened;
//   * any other name is absent.
TEST_P(FaultInjectionTest, RandomOpsMatchDurableModel) {
  const std::vector<std::string> names = {"a", "b", "c", "d"};
  for (uint64_t seed = 1; seed <= 30; seed++) {
    std::mt19937_64 rng(seed);
    struct Inode {
      std::string content;
      std::string synced;
    };
    std::map<int, Inode> inodes;
    std::map<std::string, int> live, durable;  // name -> inode
    std::map<std::string, std::string> ghosts;
    std::map<int, std::unique_ptr<WritableFile>> open;
    int next_inode = 1;
    auto remove_name = [&](const std::string& n) {
      if (durable.count(n) && !ghosts.count(n)) ghosts[n] = inodes[durable[n]].synced;
    };

    ASSERT_TRUE(DeleteRecursively(*base_, root_).ok());
    ASSERT_TRUE(base_->CreateDirs(root_).ok());
    Crash();

    for (int step = 0; step < 150; step++) {
      const std::string& name = names[rng() % names.size()];
      std::string path = P(name);
      switch (rng() % 8) {
        case 0: {  // create, or truncate an existing file in place
          auto f = fs_->NewWritableFile(path);
          ASSERT_TRUE(f.ok()) << f.status();
          int id;
          if (live.count(name)) {
            id = live[name];
            inodes[id] = Inode{};
          } else {
            id = next_inode++;
            live[name] = id;
            inodes[id] = Inode{};
          }
          open[id] = std::move(*f);
          break;
        }
        case 1:
        case 2: {  // append
          if (!live.count(name) || !open.count(live[name])) break;
          int id = live[name];
          std::string piece = std::to_string(step) + ";";
          ASSERT_TRUE(open[id]->Append(piece).ok());
          inodes[id].content += piece;
          break;
        }
        case 3: {  // sync
          if (!live.count(name) || !open.count(live[name])) break;
          int id = live[name];
          ASSERT_TRUE(open[id]->Sync().ok());
          inodes[id].synced = inodes[id].content;
          break;
        }
        case 4: {  // rename, possibly over another file
          const std::string& to = names[rng() % names.size()];
          if (!live.count(name) || to == name) break;
          ASSERT_TRUE(fs_->RenameFile(path, P(to)).ok());
          remove_name(name);
          remove_name(to);
          live[to] = live[name];
          live.erase(name);
          break;
        }
        case 5: {  // delete
          if (!live.count(name)) break;
          ASSERT_TRUE(fs_->DeleteFile(path).ok());
          remove_name(name);
          live.erase(name);
          break;
        }
        case 6:
        case 7:
          if (rng() % 3 != 0) break;
          ASSERT_TRUE(fs_->SyncDir(root_).ok());
          durable = live;
          ghosts.clear();
          break;
      }
    }
    open.clear();
    Crash();
    for (const auto& n : names) {
      std::string want = "<absent>";
      if (ghosts.count(n)) {
        want = ghosts[n];
      } else if (durable.count(n)) {
        want = inodes[durable[n]].synced;
      }
      EXPECT_EQ(Content(P(n)), want) << "seed " << seed << " name " << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Bases, FaultInjectionTest, ::testing::Values(Base::kMem, Base::kPosix),
                         [](const ::testing::TestParamInfo<Base>& info) {
                           return info.param == Base::kMem ? std::string("Mem")
                                                           : std::string("Posix");
                         });

}  // namespace
}  // namespace neon
