// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "servers/jwt_util.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>

#include "common/jwt.h"

namespace neon::testing {

Ed25519Key::Ed25519Key() : key_(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")) {
  if (key_ == nullptr) std::abort();
}

Ed25519Key::~Ed25519Key() { EVP_PKEY_free(key_); }

std::string Ed25519Key::PublicPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key_);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  return pem;
}

std::string Ed25519Key::Sign(const std::string& payload_json) const {
  return SignWithHeader(R"({"alg":"EdDSA","typ":"JWT"})", payload_json);
}

std::string Ed25519Key::SignWithHeader(const std::string& header_json,
                                       const std::string& payload_json) const {
  const std::string signing_input =
      server::Base64UrlEncode(header_json) + "." + server::Base64UrlEncode(payload_json);
  unsigned char sig[64];
  size_t sig_len = sizeof(sig);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_) != 1 ||
      EVP_DigestSign(ctx, sig, &sig_len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    std::abort();
  }
  EVP_MD_CTX_free(ctx);
  return signing_input + "." +
         server::Base64UrlEncode(std::string(reinterpret_cast<char*>(sig), sig_len));
}

}  // namespace neon::testing
