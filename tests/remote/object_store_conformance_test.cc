// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// ObjectStore conformance: one suite, run against LocalObjectStore on the
// in-memory file system and on a POSIX temp directory, and against
// S3ObjectStore talking to a real s3rver process (tests/remote/peer_util.h).
// Every test uses its own key prefix (S3) or directory (local).

#include <algorithm>
#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/manual_clock.h"
#include "gtest/gtest.h"
#include "neon/file_system.h"
#include "neon/object_store.h"
#include "remote/digest.h"
#include "remote/fault_injecting_object_store.h"
#include "remote/peer_util.h"
#include "remote/retrying_object_store.h"

namespace neon {
namespace {

enum class Backend { kMem, kPosix, kS3 };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  switch (info.param) {
    case Backend::kMem: return "LocalOnMemFs";
    case Backend::kPosix: return "LocalOnPosix";
    case Backend::kS3: return "S3rver";
  }
  return "?";
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) s[i + j] = static_cast<char>(v >> (8 * j));
  }
  return s;
}

std::vector<std::string> Keys(const ListResult& r) {
  std::vector<std::string> keys;
  for (const auto& o : r.objects) keys.push_back(o.key);
  return keys;
}

// Equality of byte strings without printing megabytes on failure.
::testing::AssertionResult SameBytes(const std::string& got, const std::string& want) {
  if (got == want) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return ::testing::AssertionFailure() << "got " << got.size() << " bytes, want " << want.size()
                                       << "; first difference at byte " << i;
}

std::string Unquote(std::string etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return etag;
}

class ObjectStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->name());
    std::replace(name.begin(), name.end(), '/', '_');
    switch (GetParam()) {
      case Backend::kMem: {
        fs_ = NewMemFileSystem();
        auto s = NewLocalObjectStore(fs_, "/objects");
        ASSERT_TRUE(s.ok()) << s.status();
        store_ = *s;
        break;
      }
      case Backend::kPosix: {
        fs_ = NewPosixFileSystem();
        dir_ = std::make_unique<testing::TempDir>("objstore");
        ASSERT_FALSE(dir_->path().empty());
        auto s = NewLocalObjectStore(fs_, dir_->path() + "/objects");
        ASSERT_TRUE(s.ok()) << s.status();
        store_ = *s;
        break;
      }
      case Backend::kS3: {
        fs_ = NewMemFileSystem();
        auto server = testing::S3rver::Shared();
        ASSERT_TRUE(server.ok()) << server.status();
        S3Options o = (*server)->Options("conformance/" + name + "/");
        o.multipart_threshold_bytes = 8ull << 20;
        o.multipart_part_bytes = kMinMultipartPartBytes;
        auto s = NewS3ObjectStore(o);
        ASSERT_TRUE(s.ok()) << s.status();
        store_ = *s;
        break;
      }
    }
    ASSERT_TRUE(fs_->CreateDirs("/scratch").ok() || GetParam() == Backend::kPosix);
  }

  // A scratch path on fs_ for PutFile/GetFile.
  std::string Scratch(const std::string& name) {
    if (GetParam() == Backend::kPosix) return dir_->path() + "/" + name;
    return "/scratch/" + name;
  }

  void Put(const std::string& key, const std::string& data) {
    absl::Status s = PutString(*store_, key, data);
    ASSERT_TRUE(s.ok()) << key << ": " << s;
  }
  std::string Get(const std::string& key, ByteRange range = {}) {
    auto r = GetString(*store_, key, range);
    EXPECT_TRUE(r.ok()) << key << ": " << r.status();
    return r.ok() ? *r : "<error>";
  }

  std::shared_ptr<FileSystem> fs_;
  std::unique_ptr<testing::TempDir> dir_;
  std::shared_ptr<ObjectStore> store_;
};

TEST_P(ObjectStoreTest, RoundTripHeadAndOverwrite) {
  std::string data = RandomBytes(100'000, 1);
  Put("tenants/t1/timelines/tl/layer-00000001", data);
  EXPECT_TRUE(SameBytes(Get("tenants/t1/timelines/tl/layer-00000001"), data));
  auto head = store_->Head("tenants/t1/timelines/tl/layer-00000001");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->size_bytes, data.size());
  EXPECT_EQ(Unquote(head->etag), Md5Hex(data));

  Put("tenants/t1/timelines/tl/layer-00000001", "replaced");
  EXPECT_EQ(Get("tenants/t1/timelines/tl/layer-00000001"), "replaced");
  auto head2 = store_->Head("tenants/t1/timelines/tl/layer-00000001");
  ASSERT_TRUE(head2.ok());
  EXPECT_EQ(head2->size_bytes, 8u);
  EXPECT_NE(head2->etag, head->etag);

  Put("empty", "");
  EXPECT_EQ(Get("empty"), "");
  auto h = store_->Head("empty");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->size_bytes, 0u);
}

TEST_P(ObjectStoreTest, MissingObjectsAreNotFound) {
  EXPECT_TRUE(absl::IsNotFound(store_->Head("no/such/key").status()));
  EXPECT_TRUE(absl::IsNotFound(GetString(*store_, "no/such/key").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Copy("no/such/key", "other")));
  Put("dir/obj", "x");
  EXPECT_TRUE(absl::IsNotFound(store_->Head("dir").status()));  // a prefix is not an object
  std::vector<std::string> missing = {"never/was", "dir/other"};
  EXPECT_TRUE(store_->DeleteBatch(missing).ok());
}

TEST_P(ObjectStoreTest, InvalidKeysAreRejected) {
  for (const char* key : {"", "/abs", "a/../b", "..", "a//b", "./a"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(PutString(*store_, key, "x"))) << key;
    EXPECT_TRUE(absl::IsInvalidArgument(store_->Head(key).status())) << key;
  }
  EXPECT_TRUE(absl::IsInvalidArgument(PutString(*store_, std::string(kMaxObjectKeyBytes + 1, 'k'), "x")));
}

TEST_P(ObjectStoreTest, ByteRanges) {
  std::string data = RandomBytes(3 * kObjectStreamChunkBytes + 17, 2);
  Put("ranged", data);
  EXPECT_TRUE(SameBytes(Get("ranged", {0, 1}), data.substr(0, 1)));
  EXPECT_TRUE(SameBytes(Get("ranged", {10, 100}), data.substr(10, 100)));
  EXPECT_TRUE(SameBytes(Get("ranged", {data.size() - 1, std::nullopt}), data.substr(data.size() - 1)));
  EXPECT_TRUE(SameBytes(Get("ranged", {kObjectStreamChunkBytes - 5, kObjectStreamChunkBytes + 10}),
                        data.substr(kObjectStreamChunkBytes - 5, kObjectStreamChunkBytes + 10)));
  // A range running past the end is cut at the end.
  EXPECT_TRUE(SameBytes(Get("ranged", {data.size() - 10, 1000}), data.substr(data.size() - 10)));
  EXPECT_TRUE(absl::IsInvalidArgument(GetString(*store_, "ranged", {0, 0}).status()));
  // One starting at the end is OutOfRange.
  auto past = GetString(*store_, "ranged", {data.size(), 5});
  EXPECT_TRUE(absl::IsOutOfRange(past.status())) << past.status();
  // The info reports the whole object's size.
  std::string got;
  auto info = store_->Get("ranged", {5, 5}, [&](std::string_view c) {
    got.append(c);
    return absl::OkStatus();
  });
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->size_bytes, data.size());
  EXPECT_TRUE(SameBytes(got, data.substr(5, 5)));
}

TEST_P(ObjectStoreTest, ListWithDelimiterAndPagination) {
  // 2500 keys in one "directory", plus nested ones and a sibling.
  constexpr int kFlat = 2500;
  std::vector<std::string> flat;
  for (int i = 0; i < kFlat; ++i) {
    char name[64];
    snprintf(name, sizeof(name), "p/flat/k%05d", i);
    flat.push_back(name);
    Put(name, std::to_string(i));
  }
  // (p/nested/x: s3rver 3.7.1 reports a common prefix only when an object
  // sits directly below it.)
  Put("p/nested/x", "0");
  Put("p/nested/a/1", "1");
  Put("p/nested/a/2", "2");
  Put("p/nested/b/1", "3");
  Put("p/top", "4");
  Put("q/other", "5");

  // Paging through 2500 keys, 1000 per page.
  ListRequest req;
  req.prefix = "p/flat/";
  std::vector<std::string> seen;
  int pages = 0;
  do {
    auto r = store_->List(req);
    ASSERT_TRUE(r.ok()) << r.status();
    ++pages;
    EXPECT_LE(r->objects.size(), 1000u);
    for (const auto& o : r->objects) {
      seen.push_back(o.key);
      EXPECT_EQ(o.size_bytes, std::to_string(std::stoi(o.key.substr(8))).size());
    }
    req.continuation_token = r->next_continuation_token;
  } while (!req.continuation_token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, flat);

  // Delimiter: keys directly under p/ and the "directories" below it.
  auto top = ListAll(*store_, "p/", "/");
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(Keys(*top), std::vector<std::string>({"p/top"}));
  EXPECT_EQ(top->common_prefixes, std::vector<std::string>({"p/flat/", "p/nested/"}));

  auto nested = ListAll(*store_, "p/nested/", "/");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(Keys(*nested), std::vector<std::string>({"p/nested/x"}));
  EXPECT_EQ(nested->common_prefixes, std::vector<std::string>({"p/nested/a/", "p/nested/b/"}));

  // A prefix that is not a whole path component.
  auto partial = ListAll(*store_, "p/nested/a/", "");
  ASSERT_TRUE(partial.ok());
  EXPECT_EQ(Keys(*partial), std::vector<std::string>({"p/nested/a/1", "p/nested/a/2"}));
  auto partial2 = ListAll(*store_, "p/fl", "/");
  ASSERT_TRUE(partial2.ok());
  EXPECT_EQ(partial2->common_prefixes, std::vector<std::string>({"p/flat/"}));

  // Small pages mixing keys and common prefixes.
  req = ListRequest();
  req.prefix = "p/";
  req.delimiter = "/";
  req.max_keys = 1;
  std::vector<std::string> entries;
  for (int i = 0; i < 10; ++i) {
    auto r = store_->List(req);
    ASSERT_TRUE(r.ok()) << r.status();
    // s3rver 3.7.1 counts only keys against max-keys (S3 counts prefixes too).
    if (GetParam() != Backend::kS3) {
      EXPECT_EQ(r->objects.size() + r->common_prefixes.size(), 1u);
    }
    for (const auto& o : r->objects) entries.push_back(o.key);
    for (const auto& p : r->common_prefixes) entries.push_back(p);
    req.continuation_token = r->next_continuation_token;
    if (req.continuation_token.empty()) break;
  }
  std::sort(entries.begin(), entries.end());
  EXPECT_EQ(entries, std::vector<std::string>({"p/flat/", "p/nested/", "p/top"}));

  auto none = ListAll(*store_, "nothing/here/", "/");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->objects.empty() && none->common_prefixes.empty());
}

TEST_P(ObjectStoreTest, MultipartUploadFromFileAndStream) {
  // 12 MiB: above the S3 store's 8 MiB threshold, three 5 MiB-bounded parts.
  std::string data = RandomBytes(12ull << 20, 3);
  std::string src = Scratch("upload.bin");
  ASSERT_TRUE(WriteFileAtomic(*fs_, src, data).ok());
  ASSERT_TRUE(PutFile(*store_, "big/file", *fs_, src).ok());
  auto head = store_->Head("big/file");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->size_bytes, data.size());

  std::string dst = Scratch("download.bin");
  auto got = GetFile(*store_, "big/file", *fs_, dst);
  ASSERT_TRUE(got.ok()) << got.status();
  auto back = ReadFileToString(*fs_, dst);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(SameBytes(*back, data));

  // A non-rewindable reader producing odd-sized chunks.
  size_t pos = 0;
  auto reader = NewReaderSource([&](char* buf, size_t n) -> absl::StatusOr<size_t> {
    size_t take = std::min({n, data.size() - pos, size_t{777'777}});
    memcpy(buf, data.data() + pos, take);
    pos += take;
    return take;
  });
  ASSERT_TRUE(store_->Put("big/stream", *reader).ok());
  EXPECT_TRUE(SameBytes(Get("big/stream"), data));
  EXPECT_TRUE(SameBytes(Get("big/stream", {(10ull << 20) - 3, 6}), data.substr((10ull << 20) - 3, 6)));

  // A source that fails midway publishes nothing.
  size_t fed = 0;
  auto failing = NewReaderSource([&](char* buf, size_t n) -> absl::StatusOr<size_t> {
    if (fed >= (9ull << 20)) return absl::DataLossError("source broke");
    size_t take = std::min(n, size_t{1} << 20);
    memset(buf, 'z', take);
    fed += take;
    return take;
  });
  absl::Status s = store_->Put("big/broken", *failing);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_TRUE(absl::IsNotFound(store_->Head("big/broken").status()));
}

TEST_P(ObjectStoreTest, BatchDeleteAndCopy) {
  std::vector<std::string> keys;
  for (int i = 0; i < 1200; ++i) keys.push_back("del/k" + std::to_string(i));
  for (int i = 0; i < 1200; i += 1) Put(keys[i], "v");
  Put("keep/me", "kept");
  std::vector<std::string> too_many(kMaxDeleteBatchKeys + 1, "del/k1");
  EXPECT_TRUE(absl::IsInvalidArgument(store_->DeleteBatch(too_many)));

  keys.push_back("del/never-existed");
  ASSERT_TRUE(DeleteKeys(*store_, keys).ok());
  auto left = ListAll(*store_, "del/");
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->objects.empty()) << left->objects.size() << " left";
  EXPECT_EQ(Get("keep/me"), "kept");

  ASSERT_TRUE(store_->Copy("keep/me", "copied/here").ok());
  EXPECT_EQ(Get("copied/here"), "kept");
  EXPECT_EQ(Get("keep/me"), "kept");
}

TEST_P(ObjectStoreTest, RetriesThroughFaultInjection) {
  auto clock = std::make_shared<ManualClock>();
  ObjectFaultOptions faults;
  faults.fail_first_attempts = 2;
  faults.consume_source_before_failing = true;
  faults.midstream_bytes = 1000;
  auto flaky = std::make_shared<FaultInjectingObjectStore>(store_, faults);
  RetryPolicy policy;
  policy.max_attempts = 8;
  RetryingObjectStore retrying(flaky, policy, clock, /*seed=*/7);

  std::string data = RandomBytes(3 * kObjectStreamChunkBytes, 4);
  ASSERT_TRUE(PutString(retrying, "flaky/a", data).ok());
  auto got = GetString(retrying, "flaky/a");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(SameBytes(*got, data));
  auto ranged = GetString(retrying, "flaky/a", {100, 5000});
  ASSERT_TRUE(ranged.ok()) << ranged.status();
  EXPECT_TRUE(SameBytes(*ranged, data.substr(100, 5000)));
  ASSERT_TRUE(retrying.Head("flaky/a").ok());
  ASSERT_TRUE(retrying.Copy("flaky/a", "flaky/b").ok());
  ASSERT_TRUE(ListAll(retrying, "flaky/").ok());
  std::vector<std::string> both = {"flaky/a", "flaky/b"};
  ASSERT_TRUE(retrying.DeleteBatch(both).ok());
  EXPECT_GE(flaky->injected_failures(), 12);
  EXPECT_GT(clock->NowMicros(), ManualClock().NowMicros());  // it backed off

  // NotFound is final: one call, no retry.
  int64_t before = flaky->calls();
  faults.fail_first_attempts = 0;
  flaky->SetOptions(faults);
  EXPECT_TRUE(absl::IsNotFound(retrying.Head("flaky/missing").status()));
  EXPECT_EQ(flaky->calls(), before + 1);

  // More failures than attempts: Unavailable surfaces after max_attempts.
  faults.fail_first_attempts = 100;
  flaky->SetOptions(faults);
  before = flaky->calls();
  EXPECT_TRUE(absl::IsUnavailable(PutString(retrying, "flaky/c", "x")));
  EXPECT_EQ(flaky->calls(), before + policy.max_attempts);
  // A source that cannot rewind is not retried after a consuming failure.
  auto once = NewReaderSource([](char*, size_t) -> absl::StatusOr<size_t> { return 0; });
  before = flaky->calls();
  EXPECT_TRUE(absl::IsUnavailable(retrying.Put("flaky/d", *once)));
  EXPECT_EQ(flaky->calls(), before + 1);
}

TEST_P(ObjectStoreTest, ConcurrentCallers) {
  constexpr int kThreads = 4, kPerThread = 15;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string key = "conc/t" + std::to_string(t) + "/o" + std::to_string(i);
        std::string data = RandomBytes(1000 + 997 * i, t * 100 + i);
        if (!PutString(*store_, key, data).ok()) ++failures;
        auto got = GetString(*store_, key);
        if (!got.ok() || *got != data) ++failures;
        if (!ListAll(*store_, "conc/", "/").ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto all = ListAll(*store_, "conc/");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->objects.size(), size_t{kThreads * kPerThread});
}

TEST_P(ObjectStoreTest, SeededRandomFailuresAreRecovered) {
  auto clock = std::make_shared<ManualClock>();
  ObjectFaultOptions faults;
  faults.failure_probability = 0.3;
  faults.seed = 42;
  auto flaky = std::make_shared<FaultInjectingObjectStore>(store_, faults);
  RetryPolicy policy;
  policy.max_attempts = 30;
  policy.deadline_ms = 3'600'000;
  RetryingObjectStore retrying(flaky, policy, clock, 1);
  for (int i = 0; i < 40; ++i) {
    std::string key = "rnd/" + std::to_string(i);
    ASSERT_TRUE(PutString(retrying, key, key).ok()) << "seed 42, i=" << i;
    auto got = GetString(retrying, key);
    ASSERT_TRUE(got.ok()) << "seed 42, i=" << i << ": " << got.status();
    EXPECT_EQ(*got, key);
  }
  auto all = ListAll(retrying, "rnd/");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->objects.size(), 40u);
  EXPECT_GT(flaky->injected_failures(), 0);
}

INSTANTIATE_TEST_SUITE_P(Local, ObjectStoreTest, ::testing::Values(Backend::kMem, Backend::kPosix),
                         BackendName);
INSTANTIATE_TEST_SUITE_P(S3, ObjectStoreTest, ::testing::Values(Backend::kS3), BackendName);

}  // namespace
}  // namespace neon
