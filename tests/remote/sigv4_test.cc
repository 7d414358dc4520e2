// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Signature V4 against AWS's published examples: "get-vanilla" from the SigV4
// test suite, and the S3 GET Object / PUT Object / ListObjects examples of
// the S3 API reference ("Examples of Signature Calculations").

#include "remote/sigv4.h"

#include "gtest/gtest.h"
#include "remote/digest.h"

namespace neon {
namespace {

constexpr char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

TEST(SigV4Test, GetVanilla) {
  SigV4Signer signer{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service"};
  SigV4Request req;
  req.method = "GET";
  req.canonical_uri = "/";
  req.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
  req.payload_hash = Sha256Hex("");
  SigV4Result r = SignV4(signer, req, "20150830T123600Z");
  EXPECT_EQ(r.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
                std::string(kEmptySha256));
  EXPECT_EQ(r.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(r.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_EQ(r.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

const SigV4Signer kS3Example{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1",
                             "s3"};

TEST(SigV4Test, S3GetObjectExample) {
  SigV4Request req;
  req.method = "GET";
  req.canonical_uri = "/test.txt";
  req.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                 {"Range", "bytes=0-9"},
                 {"x-amz-content-sha256", kEmptySha256},
                 {"x-amz-date", "20130524T000000Z"}};
  req.payload_hash = kEmptySha256;
  SigV4Result r = SignV4(kS3Example, req, "20130524T000000Z");
  EXPECT_EQ(Sha256Hex(r.canonical_request), "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(r.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Test, S3PutObjectExample) {
  std::string body = "Welcome to Amazon S3.";
  SigV4Request req;
  req.method = "PUT";
  req.canonical_uri = "/" + UriEncode("test$file.text", false);
  EXPECT_EQ(req.canonical_uri, "/test%24file.text");
  req.payload_hash = Sha256Hex(body);
  EXPECT_EQ(req.payload_hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  req.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                 {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                 {"x-amz-date", "20130524T000000Z"},
                 {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                 {"x-amz-content-sha256", req.payload_hash}};
  SigV4Result r = SignV4(kS3Example, req, "20130524T000000Z");
  EXPECT_EQ(r.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4Test, S3ListObjectsExample) {
  SigV4Request req;
  req.method = "GET";
  req.canonical_uri = "/";
  req.query = {{"prefix", "J"}, {"max-keys", "2"}};  // sorted by the signer
  req.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                 {"x-amz-date", "20130524T000000Z"},
                 {"x-amz-content-sha256", kEmptySha256}};
  req.payload_hash = kEmptySha256;
  SigV4Result r = SignV4(kS3Example, req, "20130524T000000Z");
  EXPECT_NE(r.canonical_request.find("\nmax-keys=2&prefix=J\n"), std::string::npos);
  EXPECT_EQ(r.signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4Test, EncodingAndDates) {
  EXPECT_EQ(UriEncode("a b/c~d_e.f-g+h=", false), "a%20b/c~d_e.f-g%2Bh%3D");
  EXPECT_EQ(UriEncode("a/b", true), "a%2Fb");
  EXPECT_EQ(UriEncode("\xc3\xa9", true), "%C3%A9");
  EXPECT_EQ(CanonicalQuery({{"uploads", ""}, {"b", "x y"}, {"a", "1"}}), "a=1&b=x%20y&uploads=");
  EXPECT_EQ(AmzDate(1440938160LL * 1'000'000), "20150830T123600Z");
  // Header values: trimmed, inner space runs collapsed.
  SigV4Request req;
  req.method = "GET";
  req.canonical_uri = "/";
  req.headers = {{"X-Custom", "  a   b  "}, {"Host", "h"}};
  req.payload_hash = kEmptySha256;
  SigV4Result r = SignV4(kS3Example, req, "20130524T000000Z");
  EXPECT_NE(r.canonical_request.find("host:h\nx-custom:a b\n\nhost;x-custom\n"), std::string::npos);
}

TEST(DigestTest, KnownValues) {
  EXPECT_EQ(Md5Hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Md5Base64(""), "1B2M2Y8AsgTpgAmY7PhCfg==");
  // RFC 4231 test case 2.
  EXPECT_EQ(LowerHex(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

}  // namespace
}  // namespace neon
