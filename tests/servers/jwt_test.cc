// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "common/jwt.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <ctime>

#include "common/jwt_sign.h"
#include "servers/jwt_util.h"

namespace neon::server {
namespace {

constexpr char kTenant[] = "7c4a1f9e3bd6470c8f3e21a65bd2e980";
constexpr char kOtherTenant[] = "f08c4e9a2d5f76b1e3a7c2d8910f4b3e";
const int64_t kNow = 1700000000;

class JwtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto v = JwtVerifier::FromPem(key_.PublicPem());
    ASSERT_TRUE(v.ok()) << v.status();
    verifier_ = std::move(*v);
  }
  testing::Ed25519Key key_;
  std::unique_ptr<JwtVerifier> verifier_;
};

// neon_local writes the private key at init and signs tokens with it later.
TEST(Ed25519SignerTest, PrivatePemRoundTripSignsVerifiableTokens) {
  auto key = Ed25519Signer::Generate();
  ASSERT_TRUE(key.ok()) << key.status();
  const std::string pem = (*key)->PrivatePem();
  EXPECT_NE(pem.find("BEGIN PRIVATE KEY"), std::string::npos) << pem;
  auto reloaded = Ed25519Signer::FromPrivatePem(pem);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ((*reloaded)->PublicPem(), (*key)->PublicPem());
  auto token =
      (*reloaded)->Sign(R"({"scope":"tenant","tenant_id":"7c4a1f9e3bd6470c8f3e21a65bd2e980"})");
  ASSERT_TRUE(token.ok()) << token.status();
  auto verifier = JwtVerifier::FromPem((*key)->PublicPem());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  auto claims = (*verifier)->Verify(*token, kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->scope, "tenant");
  EXPECT_EQ(claims->tenant_id, kTenant);
  // Not a key, or not an Ed25519 key.
  EXPECT_EQ(Ed25519Signer::FromPrivatePem("junk").status().code(),
            absl::StatusCode::kInvalidArgument);
  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(ec, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, ec, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  const std::string ec_pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  EVP_PKEY_free(ec);
  EXPECT_EQ(Ed25519Signer::FromPrivatePem(ec_pem).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Base64UrlTest, RoundTripsAllLengths) {
  std::string bytes;
  for (int n = 0; n < 70; ++n) {
    const std::string enc = Base64UrlEncode(bytes);
    EXPECT_EQ(enc.find_first_of("+/="), std::string::npos);
    auto dec = Base64UrlDecode(enc);
    ASSERT_TRUE(dec.has_value()) << n;
    EXPECT_EQ(*dec, bytes);
    bytes.push_back(static_cast<char>(n * 37 + 250));
  }
  EXPECT_EQ(Base64UrlEncode("hello"), "aGVsbG8");
  EXPECT_FALSE(Base64UrlDecode("a").has_value());
  EXPECT_FALSE(Base64UrlDecode("ab+c").has_value());
}

TEST_F(JwtTest, ValidTokenGivesClaims) {
  const std::string token = key_.Sign(std::string(R"({"scope":"tenant","tenant_id":")") + kTenant +
                                      R"(","exp":)" + std::to_string(kNow + 60) + "}");
  auto claims = verifier_->Verify(token, kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->scope, "tenant");
  EXPECT_EQ(claims->tenant_id, kTenant);
  EXPECT_EQ(claims->exp, kNow + 60);
  EXPECT_TRUE(Authorize(*claims, {"tenant"}, kTenant).ok());
}

TEST_F(JwtTest, TokenWithoutExpiryIsAccepted) {
  auto claims = verifier_->Verify(key_.Sign(R"({"scope":"pageserverapi"})"), kNow);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_FALSE(claims->exp.has_value());
  EXPECT_FALSE(claims->tenant_id.has_value());
  EXPECT_TRUE(Authorize(*claims, {"pageserverapi", "tenant"}, kTenant).ok());
  EXPECT_TRUE(Authorize(*claims, {"pageserverapi"}, std::nullopt).ok());
}

TEST_F(JwtTest, ExpiredTokenIsRefused) {
  const std::string token = key_.Sign(R"({"scope":"admin","exp":)" + std::to_string(kNow) + "}");
  auto claims = verifier_->Verify(token, kNow);
  ASSERT_FALSE(claims.ok());
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(claims.status().message().find("expired"), absl::string_view::npos);
  EXPECT_TRUE(verifier_->Verify(token, kNow - 1).ok());
}

TEST_F(JwtTest, WrongSignatureIsRefused) {
  testing::Ed25519Key other;
  auto claims = verifier_->Verify(other.Sign(R"({"scope":"admin"})"), kNow);
  ASSERT_FALSE(claims.ok());
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);

  // A payload swapped under a valid signature.
  const std::string good = key_.Sign(R"({"scope":"tenant","tenant_id":"aa"})");
  const size_t d1 = good.find('.'), d2 = good.rfind('.');
  const std::string forged =
      good.substr(0, d1 + 1) + Base64UrlEncode(R"({"scope":"admin"})") + good.substr(d2);
  EXPECT_EQ(verifier_->Verify(forged, kNow).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(JwtTest, MalformedTokensAreRefused) {
  for (const std::string& t :
       {std::string(""), std::string("abc"), std::string("a.b"), std::string("a.b.c.d"),
        std::string("!!.??.##"), key_.Sign("not json"), key_.Sign(R"({"tenant_id":"x"})"),
        key_.Sign(R"({"scope":5})"), key_.Sign(R"({"scope":"admin","exp":"soon"})"),
        key_.SignWithHeader(R"({"alg":"HS256"})", R"({"scope":"admin"})"),
        key_.SignWithHeader(R"({"alg":"none"})", R"({"scope":"admin"})")}) {
    EXPECT_EQ(verifier_->Verify(t, kNow).status().code(), absl::StatusCode::kUnauthenticated) << t;
  }
}

TEST_F(JwtTest, WrongScopeIsDenied) {
  auto claims = verifier_->Verify(key_.Sign(R"({"scope":"safekeeperdata"})"), kNow);
  ASSERT_TRUE(claims.ok());
  absl::Status s = Authorize(*claims, {"pageserverapi", "tenant"}, kTenant);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(JwtTest, WrongTenantIsDenied) {
  auto claims = verifier_->Verify(
      key_.Sign(std::string(R"({"scope":"tenant","tenant_id":")") + kTenant + "\"}"), kNow);
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(Authorize(*claims, {"tenant"}, kOtherTenant).code(),
            absl::StatusCode::kPermissionDenied);
  // A tenant token cannot call a tenant-less endpoint.
  EXPECT_EQ(Authorize(*claims, {"tenant"}, std::nullopt).code(),
            absl::StatusCode::kPermissionDenied);
  // A tenant-scoped token must name its tenant.
  auto no_tenant = verifier_->Verify(key_.Sign(R"({"scope":"tenant"})"), kNow);
  ASSERT_TRUE(no_tenant.ok());
  EXPECT_EQ(Authorize(*no_tenant, {"tenant"}, kTenant).code(), absl::StatusCode::kPermissionDenied);
}

TEST(JwtKeyTest, RejectsNonEd25519AndMissingKeys) {
  EXPECT_EQ(JwtVerifier::FromPem("garbage").status().code(), absl::StatusCode::kInvalidArgument);
  EVP_PKEY* rsa = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
  ASSERT_NE(rsa, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, rsa);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  const std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  EVP_PKEY_free(rsa);
  auto v = JwtVerifier::FromPem(pem);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("Ed25519"), absl::string_view::npos);
  EXPECT_EQ(JwtVerifier::FromPemFile("/nonexistent/key.pem").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(BearerTokenTest, ParsesHeader) {
  auto t = BearerToken("Bearer abc.def.ghi");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "abc.def.ghi");
  EXPECT_EQ(BearerToken("").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(BearerToken("Basic xyz").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(BearerToken("Bearer ").status().code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace neon::server
