// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "common/jwt_sign.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "absl/status/status.h"
#include "common/jwt.h"

namespace neon::server {
namespace {

// The contents of a memory BIO filled by `write`, or "" if it fails.
template <typename WriteFn>
std::string PemText(WriteFn write) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "";
  std::string pem;
  if (write(bio) == 1) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    if (n > 0) pem.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  return pem;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Ed25519Signer>> Ed25519Signer::Generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (key == nullptr) return absl::InternalError("OpenSSL could not generate an Ed25519 key");
  return std::unique_ptr<Ed25519Signer>(new Ed25519Signer(key));
}

absl::StatusOr<std::unique_ptr<Ed25519Signer>> Ed25519Signer::FromPrivatePem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return absl::InternalError("BIO_new_mem_buf failed");
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return absl::InvalidArgumentError("not a PEM private key");
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    return absl::InvalidArgumentError("the private key is not an Ed25519 key");
  }
  return std::unique_ptr<Ed25519Signer>(new Ed25519Signer(key));
}

Ed25519Signer::~Ed25519Signer() { EVP_PKEY_free(key_); }

std::string Ed25519Signer::PrivatePem() const {
  return PemText([this](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key_, nullptr, nullptr, 0, nullptr, nullptr);
  });
}

std::string Ed25519Signer::PublicPem() const {
  return PemText([this](BIO* bio) { return PEM_write_bio_PUBKEY(bio, key_); });
}

absl::StatusOr<std::string> Ed25519Signer::Sign(std::string_view payload_json) const {
  return SignWithHeader(R"({"alg":"EdDSA","typ":"JWT"})", payload_json);
}

absl::StatusOr<std::string> Ed25519Signer::SignWithHeader(std::string_view header_json,
                                                          std::string_view payload_json) const {
  const std::string signing_input =
      Base64UrlEncode(header_json) + "." + Base64UrlEncode(payload_json);
  unsigned char sig[64];
  size_t sig_len = sizeof(sig);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return absl::InternalError("EVP_MD_CTX_new failed");
  const bool ok = EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
                  EVP_DigestSign(ctx, sig, &sig_len,
                                 reinterpret_cast<const unsigned char*>(signing_input.data()),
                                 signing_input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return absl::InternalError("Ed25519 signing failed");
  return signing_input + "." +
         Base64UrlEncode(std::string_view(reinterpret_cast<char*>(sig), sig_len));
}

}  // namespace neon::server
