// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Cross-check with an independent S3 client: objects our S3ObjectStore writes
// to s3rver are listed and read back byte for byte by the AWS CLI, and
// objects the AWS CLI writes (one PUT, and a multipart upload) are listed and
// read by ours. The AWS CLI is installed by scripts/install-test-peers.sh;
// the test fails when it is missing.

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "neon/object_store.h"
#include "remote/digest.h"
#include "remote/peer_util.h"

namespace neon {
namespace {

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

void WriteLocal(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
}

std::string ReadLocal(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class AwsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    aws_ = testing::FindInPath("aws");
    ASSERT_FALSE(aws_.empty()) << "the AWS CLI ('aws') is not in PATH: run scripts/install-test-peers.sh";
    auto server = testing::S3rver::Shared();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *server;
    dir_ = std::make_unique<testing::TempDir>("awscli");
    ASSERT_FALSE(dir_->path().empty());
    S3Options o = server_->Options("");
    o.multipart_threshold_bytes = 8ull << 20;
    o.multipart_part_bytes = kMinMultipartPartBytes;
    auto store = NewS3ObjectStore(o);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *store;
  }

  // Runs `aws --endpoint-url <s3rver> args...` with s3rver's credentials and
  // no user configuration; returns stdout, failing the test on errors.
  std::string Aws(std::vector<std::string> args) {
    std::vector<std::string> argv = {aws_, "--endpoint-url", server_->endpoint()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> env = {
        std::string("AWS_ACCESS_KEY_ID=") + testing::S3rver::kAccessKey,
        std::string("AWS_SECRET_ACCESS_KEY=") + testing::S3rver::kSecretKey,
        "AWS_DEFAULT_REGION=us-east-1",
        "AWS_CONFIG_FILE=" + dir_->path() + "/no-config",
        "AWS_SHARED_CREDENTIALS_FILE=" + dir_->path() + "/no-credentials",
        "AWS_EC2_METADATA_DISABLED=true",
        "AWS_PAGER=",
        // Newer CLIs add streaming checksum trailers s3rver does not parse.
        "AWS_REQUEST_CHECKSUM_CALCULATION=when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION=when_required",
    };
    auto r = testing::RunCommand(argv, env, 300);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    EXPECT_EQ(r->exit_code, 0) << "aws " << args[0] << " " << (args.size() > 1 ? args[1] : "") << ": " << r->err;
    return r->out;
  }

  std::string aws_;
  testing::S3rver* server_ = nullptr;
  std::unique_ptr<testing::TempDir> dir_;
  std::shared_ptr<ObjectStore> store_;
};

TEST_F(AwsCliTest, CliReadsWhatWeWrite) {
  std::string small = RandomBytes(1000, 1);
  std::string big = RandomBytes(12ull << 20, 2);  // multipart: 5 + 5 + 2 MiB
  ASSERT_TRUE(PutString(*store_, "xcheck/ours/small", small).ok());
  ASSERT_TRUE(PutString(*store_, "xcheck/ours/dir/big", big).ok());

  std::string listing = Aws({"s3api", "list-objects-v2", "--bucket", testing::S3rver::kBucket, "--prefix",
                             "xcheck/ours/", "--output", "text", "--query", "Contents[].[Key,Size]"});
  EXPECT_NE(listing.find("xcheck/ours/small\t1000"), std::string::npos) << listing;
  EXPECT_NE(listing.find("xcheck/ours/dir/big\t" + std::to_string(big.size())), std::string::npos) << listing;

  std::string bucket = std::string("s3://") + testing::S3rver::kBucket;
  Aws({"s3", "cp", bucket + "/xcheck/ours/small", dir_->path() + "/small"});
  Aws({"s3", "cp", bucket + "/xcheck/ours/dir/big", dir_->path() + "/big"});
  EXPECT_TRUE(ReadLocal(dir_->path() + "/small") == small);
  EXPECT_TRUE(ReadLocal(dir_->path() + "/big") == big) << "aws read back different bytes";
  // A byte range through the CLI.
  Aws({"s3api", "get-object", "--bucket", testing::S3rver::kBucket, "--key", "xcheck/ours/dir/big", "--range",
       "bytes=6291456-6291555", dir_->path() + "/range"});
  EXPECT_TRUE(ReadLocal(dir_->path() + "/range") == big.substr(6291456, 100));
}

TEST_F(AwsCliTest, WeReadWhatCliWrites) {
  std::string small = RandomBytes(4321, 3);
  std::string big = RandomBytes(20ull << 20, 4);  // above the CLI's 8 MiB multipart threshold
  WriteLocal(dir_->path() + "/small", small);
  WriteLocal(dir_->path() + "/big", big);
  std::string bucket = std::string("s3://") + testing::S3rver::kBucket;
  Aws({"s3api", "put-object", "--bucket", testing::S3rver::kBucket, "--key", "xcheck/theirs/small", "--body",
       dir_->path() + "/small"});
  Aws({"s3", "cp", dir_->path() + "/big", bucket + "/xcheck/theirs/sub/big"});

  auto list = ListAll(*store_, "xcheck/theirs/");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->objects.size(), 2u);
  EXPECT_EQ(list->objects[0].key, "xcheck/theirs/small");
  EXPECT_EQ(list->objects[0].size_bytes, small.size());
  EXPECT_EQ(list->objects[1].key, "xcheck/theirs/sub/big");
  EXPECT_EQ(list->objects[1].size_bytes, big.size());
  auto top = ListAll(*store_, "xcheck/theirs/", "/");
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->common_prefixes, std::vector<std::string>({"xcheck/theirs/sub/"}));

  auto got_small = GetString(*store_, "xcheck/theirs/small");
  ASSERT_TRUE(got_small.ok()) << got_small.status();
  EXPECT_TRUE(*got_small == small);
  auto head = store_->Head("xcheck/theirs/small");
  ASSERT_TRUE(head.ok());
  EXPECT_NE(head->etag.find(Md5Hex(small)), std::string::npos) << head->etag;
  auto got_big = GetString(*store_, "xcheck/theirs/sub/big");
  ASSERT_TRUE(got_big.ok()) << got_big.status();
  EXPECT_TRUE(*got_big == big) << "we read back different bytes";

  // Our delete, their listing.
  std::vector<std::string> keys = {"xcheck/theirs/small", "xcheck/theirs/sub/big"};
  ASSERT_TRUE(store_->DeleteBatch(keys).ok());
  std::string after = Aws({"s3api", "list-objects-v2", "--bucket", testing::S3rver::kBucket, "--prefix",
                           "xcheck/theirs/", "--output", "text", "--query", "length(Contents || `[]`)"});
  EXPECT_EQ(after, "0\n");
}

}  // namespace
}  // namespace neon
