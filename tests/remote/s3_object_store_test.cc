// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// S3ObjectStore against s3rver, beyond the conformance suite: the retry
// policy (5xx, 429 and transport failures retried within the attempt cap;
// 4xx never), multipart abort on failure, virtual-hosted addressing,
// credentials errors, an unreachable endpoint.

#include "remote/s3_object_store.h"

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "remote/peer_util.h"

namespace neon {
namespace {

struct Seen {
  absl::Mutex mu;
  std::vector<std::string> calls;  // "METHOD key query"
  void Add(std::string_view m, std::string_view k, std::string_view q) {
    absl::MutexLock l(&mu);
    calls.push_back(std::string(m) + " " + std::string(k) + " " + std::string(q));
  }
  int Count(std::string_view needle) {
    absl::MutexLock l(&mu);
    int n = 0;
    for (const auto& c : calls) n += c.find(needle) != std::string::npos;
    return n;
  }
};

class S3StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::S3rver::Shared();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *server;
    clock_ = std::make_shared<testing::NoSleepClock>();
    store_ = Make(Options());
    ASSERT_NE(store_, nullptr);
  }
  S3Options Options() {
    S3Options o = server_->Options(std::string("s3store/") +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name() + "/");
    o.clock = clock_;
    o.max_attempts = 4;
    o.multipart_threshold_bytes = kMinMultipartPartBytes;
    o.multipart_part_bytes = kMinMultipartPartBytes;
    return o;
  }
  std::unique_ptr<S3ObjectStore> Make(S3Options o) {
    auto s = S3ObjectStore::Create(std::move(o));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  // Fails the first `n` attempts of requests whose "METHOD key query"
  // contains `match` with `status` (negative: a transport failure).
  void FailFirst(const std::string& match, int n, int status) {
    auto left = std::make_shared<int>(n);
    store_->SetFaultHookForTesting([this, match, left, status](std::string_view m, std::string_view k,
                                                               std::string_view q) {
      seen_.Add(m, k, q);
      std::string call = std::string(m) + " " + std::string(k) + " " + std::string(q);
      if (call.find(match) != std::string::npos && *left > 0) {
        --*left;
        return status;
      }
      return 0;
    });
  }

  testing::S3rver* server_ = nullptr;
  std::shared_ptr<testing::NoSleepClock> clock_;
  std::unique_ptr<S3ObjectStore> store_;
  Seen seen_;
};

TEST_F(S3StoreTest, RetriesServerErrorsThrottlingAndTransportFailures) {
  for (int status : {500, 503, 429, -1}) {
    SCOPED_TRACE(status);
    FailFirst("PUT obj", 3, status);
    int64_t before = store_->http_attempts();
    int64_t slept = clock_->slept_micros();
    ASSERT_TRUE(PutString(*store_, "obj", "data").ok());
    EXPECT_EQ(store_->http_attempts() - before, 4);
    EXPECT_GE(clock_->slept_micros() - slept, (50 + 100 + 200) * 1000);  // backed off between attempts
  }
  // One more failure than attempts: Unavailable.
  FailFirst("GET obj", 4, 503);
  int64_t before = store_->http_attempts();
  auto r = GetString(*store_, "obj");
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_EQ(store_->http_attempts() - before, 4);
  FailFirst("", 0, 0);
  EXPECT_EQ(*GetString(*store_, "obj"), "data");
}

TEST_F(S3StoreTest, ClientErrorsAreNeverRetried) {
  ASSERT_TRUE(PutString(*store_, "obj", "data").ok());
  struct Case {
    int status;
    absl::StatusCode code;
  };
  for (Case c : {Case{400, absl::StatusCode::kInvalidArgument}, Case{403, absl::StatusCode::kPermissionDenied},
                 Case{404, absl::StatusCode::kNotFound}, Case{409, absl::StatusCode::kAborted}}) {
    SCOPED_TRACE(c.status);
    FailFirst("HEAD obj", 1, c.status);
    int64_t before = store_->http_attempts();
    auto r = store_->Head("obj");
    EXPECT_EQ(r.status().code(), c.code) << r.status();
    EXPECT_EQ(store_->http_attempts() - before, 1);
  }
}

TEST_F(S3StoreTest, FailedMultipartUploadIsAbortedAndInvisible) {
  std::string data(3 * kMinMultipartPartBytes - 5, 'm');
  // Part 2 is refused with a client error: no retry, abort, nothing visible.
  FailFirst("partNumber=2", 1, 400);
  absl::Status s = PutString(*store_, "mp", data);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(seen_.Count("DELETE mp uploadId="), 1);
  EXPECT_EQ(seen_.Count("partNumber=3"), 0);
  EXPECT_TRUE(absl::IsNotFound(store_->Head("mp").status()));

  // Part 2 fails transiently: retried, and the upload completes.
  FailFirst("partNumber=2", 2, 503);
  ASSERT_TRUE(PutString(*store_, "mp", data).ok());
  EXPECT_EQ(seen_.Count("partNumber=3"), 1);
  auto back = GetString(*store_, "mp");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(*back == data);
  auto head = store_->Head("mp");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->size_bytes, data.size());
}

TEST_F(S3StoreTest, DroppedConnectionsAreRetriedAndDownloadsResume) {
  std::string data(3ull << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 2654435761u) >> 13);
  ASSERT_TRUE(PutString(*store_, "dropped", data).ok());

  // Downloads: the first two connections break after 1 MiB each; each retry
  // resumes after the bytes already delivered (a restart from zero would
  // hand the sink duplicate bytes and fail the comparison).
  testing::FlakyProxy proxy(server_->port(), 2, 1ull << 20);
  ASSERT_TRUE(proxy.Start().ok());
  S3Options o = Options();
  o.endpoint = proxy.endpoint();
  auto flaky = Make(o);
  ASSERT_NE(flaky, nullptr);
  std::string got;
  auto info = flaky->Get("dropped", ByteRange{}, [&](std::string_view c) {
    got.append(c);
    return absl::OkStatus();
  });
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->size_bytes, data.size());
  EXPECT_EQ(proxy.cuts(), 2);
  EXPECT_EQ(flaky->http_attempts(), 3);
  EXPECT_TRUE(got == data) << "got " << got.size() << " bytes";

  // Uploads: a connection cut mid-body is retried from the buffered part.
  testing::FlakyProxy up(server_->port(), 1, 2ull << 20);
  ASSERT_TRUE(up.Start().ok());
  o.endpoint = up.endpoint();
  auto flaky_up = Make(o);
  ASSERT_NE(flaky_up, nullptr);
  ASSERT_TRUE(PutString(*flaky_up, "dropped-up", data).ok());
  EXPECT_EQ(up.cuts(), 1);
  EXPECT_EQ(flaky_up->http_attempts(), 2);
  auto back = GetString(*store_, "dropped-up");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(*back == data);
}

TEST_F(S3StoreTest, VirtualHostedAddressing) {
  S3Options o = Options();
  o.endpoint = server_->vhost_endpoint();
  o.path_style = false;
  auto vhost = Make(o);
  ASSERT_NE(vhost, nullptr);
  ASSERT_TRUE(PutString(*vhost, "v/one", "1").ok());
  ASSERT_TRUE(PutString(*vhost, "v/two", "22").ok());
  auto list = ListAll(*vhost, "v/");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->objects.size(), 2u);
  EXPECT_EQ(list->objects[1].size_bytes, 2u);
  // The same objects through path-style requests.
  EXPECT_EQ(*GetString(*store_, "v/two"), "22");
  std::vector<std::string> keys = {"v/one", "v/two"};
  ASSERT_TRUE(vhost->DeleteBatch(keys).ok());
  EXPECT_TRUE(absl::IsNotFound(store_->Head("v/one").status()));
}

TEST_F(S3StoreTest, BadCredentialsAndMissingBucket) {
  S3Options o = Options();
  o.access_key_id = "NOT-A-KEY";
  auto bad = Make(o);
  ASSERT_NE(bad, nullptr);
  absl::Status s = PutString(*bad, "x", "y");
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  EXPECT_EQ(bad->http_attempts(), 1);

  o = Options();
  o.bucket = "no-such-bucket";
  auto nobucket = Make(o);
  ASSERT_NE(nobucket, nullptr);
  EXPECT_TRUE(absl::IsNotFound(PutString(*nobucket, "x", "y")));
}

TEST_F(S3StoreTest, UnreachableEndpointIsUnavailableAfterRetries) {
  S3Options o = Options();
  o.endpoint = "http://127.0.0.1:1";  // nothing listens on port 1
  o.connect_timeout_ms = 2000;
  auto down = Make(o);
  ASSERT_NE(down, nullptr);
  auto r = down->Head("x");
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_EQ(down->http_attempts(), o.max_attempts);
}

TEST_F(S3StoreTest, OptionsAreValidated) {
  S3Options o = Options();
  o.multipart_part_bytes = 1 << 20;
  EXPECT_TRUE(absl::IsInvalidArgument(S3ObjectStore::Create(o).status()));
  o = Options();
  o.bucket.clear();
  EXPECT_TRUE(absl::IsInvalidArgument(S3ObjectStore::Create(o).status()));
  o = Options();
  o.endpoint = "127.0.0.1:9000";
  EXPECT_TRUE(absl::IsInvalidArgument(S3ObjectStore::Create(o).status()));
  o = Options();
  o.secret_access_key.clear();
  EXPECT_TRUE(absl::IsInvalidArgument(S3ObjectStore::Create(o).status()));
}

TEST(S3OptionsTest, FromEnvironment) {
  setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "SECRET", 1);
  setenv("AWS_SESSION_TOKEN", "TOKEN", 1);
  setenv("AWS_REGION", "eu-west-1", 1);
  S3Options base;
  base.bucket = "b";
  S3Options o = S3OptionsFromEnvironment(base);
  EXPECT_EQ(o.access_key_id, "AKID");
  EXPECT_EQ(o.secret_access_key, "SECRET");
  EXPECT_EQ(o.session_token, "TOKEN");
  EXPECT_EQ(o.region, "eu-west-1");
  EXPECT_EQ(o.bucket, "b");
  for (const char* v : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION"}) {
    unsetenv(v);
  }
}

}  // namespace
}  // namespace neon
