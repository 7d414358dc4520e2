// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// The XML reader and S3 response handling on canned documents, including
// malformed ones (which must be errors, never crashes).

#include "remote/s3_responses.h"

#include <random>

#include "gtest/gtest.h"
#include "remote/xml.h"

namespace neon {
namespace {

TEST(XmlTest, ParsesElementsEntitiesAndNamespaces) {
  auto doc = ParseXml(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c -->"
      "<s3:Root xmlns:s3=\"http://x/\" a='1>2'><Key>a&amp;b&lt;&#x41;&#66;&#xe9;</Key>"
      "<Empty/><Key><![CDATA[<raw>]]></Key>\n</s3:Root>\n");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->name, "Root");
  auto keys = doc->Children("Key");
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0]->text, "a&b<AB\xc3\xa9");
  EXPECT_EQ(keys[1]->text, "<raw>");
  EXPECT_NE(doc->Child("Empty"), nullptr);
  EXPECT_EQ(doc->ChildText("Missing"), "");
  EXPECT_EQ(XmlEscape("a&<>\"'"), "a&amp;&lt;&gt;&quot;&apos;");
}

TEST(XmlTest, RejectsMalformedAndBoundsDepth) {
  for (const char* bad : {"", "text", "<a>", "<a></b>", "<a><b></a>", "<a>&bogus;</a>", "<a>&#xZZ;</a>",
                          "<a></a><b/>", "<a x='1></a>", "<a><![CDATA[x</a>", "<>"}) {
    EXPECT_FALSE(ParseXml(bad).ok()) << bad;
  }
  std::string deep;
  for (int i = 0; i < kMaxXmlDepth + 1; ++i) deep += "<a>";
  for (int i = 0; i < kMaxXmlDepth + 1; ++i) deep += "</a>";
  EXPECT_TRUE(absl::IsResourceExhausted(ParseXml(deep).status()));
}

TEST(XmlTest, MutatedDocumentsNeverCrash) {
  std::string good =
      "<ListBucketResult><Contents><Key>k</Key><Size>3</Size></Contents><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>t</NextContinuationToken></ListBucketResult>";
  std::mt19937 rng(5);
  for (int i = 0; i < 5000; ++i) {
    std::string m = good;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t at = rng() % m.size();
      switch (rng() % 3) {
        case 0: m[at] = static_cast<char>(rng()); break;
        case 1: m.erase(at, 1 + rng() % 5); break;
        default: m.insert(at, 1, "<>/&;!"[rng() % 6]);
      }
      if (m.empty()) m = "<";
    }
    auto r = ParseListObjectsV2(m, "");
    if (r.ok()) {
      EXPECT_LE(r->objects.size(), 2u);
    }
  }
}

TEST(S3ResponsesTest, ListObjectsV2) {
  auto r = ParseListObjectsV2(
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
      "<Prefix>pre/p/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys><Delimiter>/</Delimiter>"
      "<IsTruncated>true</IsTruncated>"
      "<Contents><Key>pre/p/a</Key><LastModified>2020-01-01T00:00:00.000Z</LastModified>"
      "<ETag>&quot;abc&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>"
      "<Contents><Key>pre/p/b</Key><Size>0</Size></Contents>"
      "<CommonPrefixes><Prefix>pre/p/d/</Prefix></CommonPrefixes>"
      "<NextContinuationToken>tok==</NextContinuationToken></ListBucketResult>",
      "pre/");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->objects.size(), 2u);
  EXPECT_EQ(r->objects[0].key, "p/a");
  EXPECT_EQ(r->objects[0].size_bytes, 12u);
  EXPECT_EQ(r->objects[0].etag, "\"abc\"");
  EXPECT_EQ(r->common_prefixes, std::vector<std::string>({"p/d/"}));
  EXPECT_EQ(r->next_continuation_token, "tok==");

  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", "").ok());
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><Contents><Key>k</Key><Size>x</Size></Contents>"
                                  "</ListBucketResult>", "").ok());
  EXPECT_FALSE(ParseListObjectsV2("<Error><Code>AccessDenied</Code></Error>", "").ok());
}

TEST(S3ResponsesTest, HttpStatusMapping) {
  EXPECT_TRUE(S3StatusFromHttp(200, "", "x").ok());
  EXPECT_TRUE(S3StatusFromHttp(206, "", "x").ok());
  EXPECT_TRUE(absl::IsNotFound(S3StatusFromHttp(404, "", "x")));
  EXPECT_TRUE(absl::IsPermissionDenied(S3StatusFromHttp(403, "", "x")));
  EXPECT_TRUE(absl::IsOutOfRange(S3StatusFromHttp(416, "", "x")));
  EXPECT_TRUE(absl::IsInvalidArgument(S3StatusFromHttp(400, "", "x")));
  EXPECT_TRUE(absl::IsUnavailable(S3StatusFromHttp(429, "", "x")));
  EXPECT_TRUE(absl::IsUnavailable(S3StatusFromHttp(500, "", "x")));
  EXPECT_TRUE(absl::IsUnavailable(S3StatusFromHttp(503, "", "x")));
  EXPECT_TRUE(absl::IsUnimplemented(S3StatusFromHttp(501, "", "x")));
  absl::Status s = S3StatusFromHttp(
      403, "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>no</Message></Error>", "get 'k'");
  EXPECT_EQ(s.message(), "get 'k': HTTP 403: AccessDenied no");
  EXPECT_TRUE(absl::IsUnavailable(S3ErrorInBody("<Error><Code>InternalError</Code></Error>", "c")));
  EXPECT_TRUE(S3ErrorInBody("<CopyObjectResult><ETag>x</ETag></CopyObjectResult>", "c").ok());
}

TEST(S3ResponsesTest, MultipartAndDeleteDocuments) {
  auto id = ParseUploadId(
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u-1</UploadId>"
      "</InitiateMultipartUploadResult>");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "u-1");
  EXPECT_FALSE(ParseUploadId("<InitiateMultipartUploadResult/>").ok());
  EXPECT_EQ(CompleteMultipartXml({{1, "\"a\""}, {2, "\"b\""}}),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag></Part></CompleteMultipartUpload>");
  EXPECT_EQ(DeleteObjectsXml({"a&b"}), "<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object></Delete>");
  EXPECT_TRUE(ParseDeleteResult("<DeleteResult></DeleteResult>").ok());
  EXPECT_TRUE(ParseDeleteResult("").ok());
  EXPECT_TRUE(absl::IsPermissionDenied(ParseDeleteResult(
      "<DeleteResult><Error><Key>k</Key><Code>AccessDenied</Code><Message>m</Message></Error></DeleteResult>")));
  EXPECT_TRUE(absl::IsUnavailable(ParseDeleteResult(
      "<DeleteResult><Error><Key>k</Key><Code>InternalError</Code></Error></DeleteResult>")));
}

}  // namespace
}  // namespace neon
