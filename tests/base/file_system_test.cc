// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// FileSystem conformance suite: the same tests run against the POSIX file
// system (in a fresh directory under /tmp, removed afterwards) and the
// in-memory one, so both honour the contract in include/neon/file_system.h.

#include "neon/file_system.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace neon {
namespace {

enum class Kind { kPosix, kMem };

class FileSystemTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam() == Kind::kPosix) {
      fs_ = NewPosixFileSystem();
      char tmpl[] = "/tmp/neon_fs_test_XXXXXX";
      ASSERT_NE(::mkdtemp(tmpl), nullptr);
      root_ = tmpl;
    } else {
      fs_ = NewMemFileSystem();
      root_ = "/test";
      ASSERT_TRUE(fs_->CreateDirs(root_).ok());
    }
  }
  void TearDown() override {
    if (!root_.empty()) {
      EXPECT_TRUE(DeleteRecursively(*fs_, root_).ok());
    }
    if (GetParam() == Kind::kPosix) {
      EXPECT_FALSE(fs_->FileExists(root_));
    }
  }

  std::string P(std::string_view name) const { return JoinPath(root_, name); }

  void Write(const std::string& path, std::string_view data) {
    auto f = fs_->NewWritableFile(path);
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_TRUE((*f)->Append(data).ok());
    ASSERT_TRUE((*f)->Sync().ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  std::string Read(const std::string& path) {
    auto s = ReadFileToString(*fs_, path);
    EXPECT_TRUE(s.ok()) << path << ": " << s.status();
    return s.ok() ? *s : "<error>";
  }
  std::vector<std::string> Children(const std::string& dir) {
    auto c = fs_->GetChildren(dir);
    EXPECT_TRUE(c.ok()) << dir << ": " << c.status();
    if (!c.ok()) return {};
    std::sort(c->begin(), c->end());
    return *c;
  }

  std::shared_ptr<FileSystem> fs_;
  std::string root_;
};

TEST_P(FileSystemTest, CreateAppendReadSize) {
  auto f = fs_->NewWritableFile(P("a"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->Size(), 0u);
  ASSERT_TRUE((*f)->Append("hello ").ok());
  ASSERT_TRUE((*f)->Append("world").ok());
  ASSERT_TRUE((*f)->Append("").ok());
  EXPECT_EQ((*f)->Size(), 11u);
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE((*f)->Close().ok());

  EXPECT_TRUE(fs_->FileExists(P("a")));
  EXPECT_FALSE(fs_->IsDirectory(P("a")));
  auto size = fs_->GetFileSize(P("a"));
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, 11u);
  EXPECT_EQ(Read(P("a")), "hello world");

  auto r = fs_->NewRandomAccessFile(P("a"));
  ASSERT_TRUE(r.ok()) << r.status();
  auto rsize = (*r)->Size();
  ASSERT_TRUE(rsize.ok());
  EXPECT_EQ(*rsize, 11u);
  char buf[32];
  auto n = (*r)->Read(6, 5, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "world");
  n = (*r)->Read(8, 20, buf);  // short read at end of file
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "rld");
  n = (*r)->Read(11, 4, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  n = (*r)->Read(1000, 4, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
}

TEST_P(FileSystemTest, ReadsSeeAppendsThroughOpenHandles) {
  auto w = fs_->NewWritableFile(P("grow"));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append("abc").ok());
  auto r = fs_->NewRandomAccessFile(P("grow"));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE((*w)->Append("def").ok());
  ASSERT_TRUE((*w)->Sync().ok());
  char buf[8];
  auto n = (*r)->Read(0, 8, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "abcdef");
}

TEST_P(FileSystemTest, NewWritableFileTruncates) {
  Write(P("t"), "old content");
  Write(P("t"), "new");
  EXPECT_EQ(Read(P("t")), "new");
}

TEST_P(FileSystemTest, AppendableFileContinuesAtEnd) {
  Write(P("log"), "one,");
  auto f = fs_->NewAppendableFile(P("log"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->Size(), 4u);
  ASSERT_TRUE((*f)->Append("two").ok());
  EXPECT_EQ((*f)->Size(), 7u);
  ASSERT_TRUE((*f)->Close().ok());
  EXPECT_EQ(Read(P("log")), "one,two");

  // Creates a missing file.
  auto g = fs_->NewAppendableFile(P("fresh"));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ((*g)->Size(), 0u);
  ASSERT_TRUE((*g)->Append("x").ok());
  ASSERT_TRUE((*g)->Close().ok());
  EXPECT_EQ(Read(P("fresh")), "x");
}

TEST_P(FileSystemTest, RenameReplacesTarget) {
  Write(P("src"), "source");
  Write(P("dst"), "target");
  ASSERT_TRUE(fs_->RenameFile(P("src"), P("dst")).ok());
  EXPECT_FALSE(fs_->FileExists(P("src")));
  EXPECT_EQ(Read(P("dst")), "source");

  // To a new name, across directories.
  ASSERT_TRUE(fs_->CreateDirs(P("sub")).ok());
  ASSERT_TRUE(fs_->RenameFile(P("dst"), P("sub/moved")).ok());
  EXPECT_FALSE(fs_->FileExists(P("dst")));
  EXPECT_EQ(Read(P("sub/moved")), "source");
}

TEST_P(FileSystemTest, RenameErrors) {
  EXPECT_EQ(fs_->RenameFile(P("missing"), P("x")).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs_->FileExists(P("x")));
  Write(P("f"), "data");
  EXPECT_EQ(fs_->RenameFile(P("f"), P("nodir/x")).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Read(P("f")), "data");
}

TEST_P(FileSystemTest, DeleteFile) {
  Write(P("d"), "x");
  ASSERT_TRUE(fs_->DeleteFile(P("d")).ok());
  EXPECT_FALSE(fs_->FileExists(P("d")));
  EXPECT_EQ(fs_->DeleteFile(P("d")).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(fs_->CreateDirs(P("dir")).ok());
  EXPECT_FALSE(fs_->DeleteFile(P("dir")).ok());  // not a file
  EXPECT_TRUE(fs_->IsDirectory(P("dir")));
}

TEST_P(FileSystemTest, OpenHandleOutlivesDelete) {
  Write(P("gone"), "still here");
  auto r = fs_->NewRandomAccessFile(P("gone"));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(fs_->DeleteFile(P("gone")).ok());
  char buf[16];
  auto n = (*r)->Read(0, sizeof(buf), buf);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(std::string(buf, *n), "still here");

  // Recreating the name does not change what the old handle sees.
  Write(P("gone"), "new");
  n = (*r)->Read(0, sizeof(buf), buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "still here");
}

TEST_P(FileSystemTest, OpenHandleFollowsRename) {
  Write(P("a"), "content");
  auto r = fs_->NewRandomAccessFile(P("a"));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(fs_->RenameFile(P("a"), P("b")).ok());
  char buf[16];
  auto n = (*r)->Read(0, sizeof(buf), buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "content");
}

TEST_P(FileSystemTest, DirectoriesAndChildren) {
  ASSERT_TRUE(fs_->CreateDirs(P("x/y/z")).ok());
  ASSERT_TRUE(fs_->CreateDirs(P("x/y/z")).ok());  // idempotent
  ASSERT_TRUE(fs_->CreateDirs(P("x/y")).ok());
  EXPECT_TRUE(fs_->IsDirectory(P("x")));
  EXPECT_TRUE(fs_->IsDirectory(P("x/y/z")));
  EXPECT_TRUE(fs_->FileExists(P("x/y")));
  Write(P("x/f1"), "1");
  Write(P("x/f2"), "2");
  Write(P("x/y/deep"), "3");

  EXPECT_EQ(Children(P("x")), (std::vector<std::string>{"f1", "f2", "y"}));
  EXPECT_EQ(Children(P("x/y")), (std::vector<std::string>{"deep", "z"}));
  EXPECT_EQ(Children(P("x/y/z")), (std::vector<std::string>{}));
  // A trailing slash names the same directory.
  EXPECT_EQ(Children(P("x/")), (std::vector<std::string>{"f1", "f2", "y"}));

  EXPECT_EQ(fs_->GetChildren(P("nope")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs_->IsDirectory(P("nope")));
  EXPECT_FALSE(fs_->IsDirectory(P("x/f1")));
}

TEST_P(FileSystemTest, CreateDirsOverAFileFails) {
  Write(P("file"), "x");
  EXPECT_FALSE(fs_->CreateDirs(P("file")).ok());
  EXPECT_FALSE(fs_->IsDirectory(P("file")));
  EXPECT_FALSE(fs_->CreateDirs(P("file/sub")).ok());
  EXPECT_FALSE(fs_->FileExists(P("file/sub")));
  EXPECT_EQ(Read(P("file")), "x");
}

TEST_P(FileSystemTest, DeleteDir) {
  ASSERT_TRUE(fs_->CreateDirs(P("d/e")).ok());
  EXPECT_FALSE(fs_->DeleteDir(P("d")).ok());  // has a subdirectory
  EXPECT_TRUE(fs_->IsDirectory(P("d/e")));
  ASSERT_TRUE(fs_->DeleteDir(P("d/e")).ok());
  EXPECT_FALSE(fs_->FileExists(P("d/e")));
  Write(P("d/file"), "x");
  EXPECT_FALSE(fs_->DeleteDir(P("d")).ok());  // has a file
  EXPECT_EQ(Read(P("d/file")), "x");
  ASSERT_TRUE(fs_->DeleteFile(P("d/file")).ok());
  ASSERT_TRUE(fs_->DeleteDir(P("d")).ok());
  EXPECT_FALSE(fs_->FileExists(P("d")));
  EXPECT_EQ(fs_->DeleteDir(P("d")).code(), absl::StatusCode::kNotFound);
}

TEST_P(FileSystemTest, Truncate) {
  Write(P("t"), "0123456789");
  ASSERT_TRUE(fs_->Truncate(P("t"), 4).ok());
  EXPECT_EQ(Read(P("t")), "0123");
  ASSERT_TRUE(fs_->Truncate(P("t"), 6).ok());  // extends with zeros
  EXPECT_EQ(Read(P("t")), std::string("0123\0\0", 6));
  ASSERT_TRUE(fs_->Truncate(P("t"), 0).ok());
  EXPECT_EQ(Read(P("t")), "");
  EXPECT_EQ(fs_->Truncate(P("missing"), 0).code(), absl::StatusCode::kNotFound);
}

TEST_P(FileSystemTest, NotFoundErrors) {
  EXPECT_EQ(fs_->NewRandomAccessFile(P("missing")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(fs_->GetFileSize(P("missing")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(fs_->NewWritableFile(P("nodir/f")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(fs_->NewAppendableFile(P("nodir/f")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadFileToString(*fs_, P("missing")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs_->FileExists(P("missing")));
  EXPECT_FALSE(fs_->SyncDir(P("nodir")).ok());
  EXPECT_FALSE(fs_->FileExists(P("nodir")));
}

TEST_P(FileSystemTest, SyncDir) {
  Write(P("f"), "x");
  EXPECT_TRUE(fs_->SyncDir(root_).ok());
}

TEST_P(FileSystemTest, WriteFileAtomicAndDeleteRecursively) {
  ASSERT_TRUE(fs_->CreateDirs(P("w/sub")).ok());
  ASSERT_TRUE(WriteFileAtomic(*fs_, P("w/CURRENT"), "v1").ok());
  ASSERT_TRUE(WriteFileAtomic(*fs_, P("w/CURRENT"), "version 2").ok());
  EXPECT_EQ(Read(P("w/CURRENT")), "version 2");
  EXPECT_FALSE(fs_->FileExists(P("w/CURRENT.tmp")));
  Write(P("w/sub/x"), "x");

  ASSERT_TRUE(DeleteRecursively(*fs_, P("w")).ok());
  EXPECT_FALSE(fs_->FileExists(P("w")));
  EXPECT_FALSE(fs_->FileExists(P("w/sub/x")));
  EXPECT_TRUE(DeleteRecursively(*fs_, P("w")).ok());  // already gone
  EXPECT_TRUE(fs_->IsDirectory(root_));
}

TEST_P(FileSystemTest, ConcurrentWritersOnDistinctFiles) {
  constexpr int kThreads = 4;
  constexpr int kAppends = 200;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      auto f = fs_->NewWritableFile(P("c" + std::to_string(t)));
      if (!f.ok()) {
        failures++;
        return;
      }
      for (int i = 0; i < kAppends; i++) {
        if (!(*f)->Append(std::string(1, char('a' + t))).ok()) failures++;
      }
      if (!(*f)->Close().ok()) failures++;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (int t = 0; t < kThreads; t++) {
    EXPECT_EQ(Read(P("c" + std::to_string(t))), std::string(kAppends, char('a' + t)));
  }
  EXPECT_EQ(Children(root_).size(), size_t(kThreads));
}

INSTANTIATE_TEST_SUITE_P(AllFileSystems, FileSystemTest,
                         ::testing::Values(Kind::kPosix, Kind::kMem),
                         [](const ::testing::TestParamInfo<Kind>& info) {
                           return info.param == Kind::kPosix ? std::string("Posix")
                                                             : std::string("Mem");
                         });

TEST(PathTest, JoinDirBase) {
  EXPECT_EQ(JoinPath("/a", "b"), "/a/b");
  EXPECT_EQ(JoinPath("/a/", "b"), "/a/b");
  EXPECT_EQ(JoinPath("", "b"), "b");
  EXPECT_EQ(DirName("/a/b"), "/a");
  EXPECT_EQ(DirName("/a/b/"), "/a");
  EXPECT_EQ(DirName("/a"), "/");
  EXPECT_EQ(DirName("a"), "");
  EXPECT_EQ(BaseName("/a/b"), "b");
  EXPECT_EQ(BaseName("/a/b/"), "b");
  EXPECT_EQ(BaseName("b"), "b");
}

}  // namespace
}  // namespace neon
