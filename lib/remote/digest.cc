// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "remote/digest.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/check.h"

namespace neon {

struct Digest::Ctx {
  EVP_MD_CTX* md = nullptr;
};

Digest::Digest(Kind kind) : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  NEON_CHECK(ctx_->md != nullptr);
  const EVP_MD* type = kind == Kind::kMd5 ? EVP_md5() : EVP_sha256();
  NEON_CHECK(EVP_DigestInit_ex(ctx_->md, type, nullptr) == 1);
}

Digest::~Digest() { EVP_MD_CTX_free(ctx_->md); }

void Digest::Update(std::string_view data) {
  NEON_CHECK(EVP_DigestUpdate(ctx_->md, data.data(), data.size()) == 1);
}

std::string Digest::Finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  NEON_CHECK(EVP_DigestFinal_ex(ctx_->md, out, &len) == 1);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string LowerHex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string Sha256(std::string_view data) {
  Digest d(Digest::Kind::kSha256);
  d.Update(data);
  return d.Finish();
}

std::string Sha256Hex(std::string_view data) { return LowerHex(Sha256(data)); }

std::string Md5Hex(std::string_view data) {
  Digest d(Digest::Kind::kMd5);
  d.Update(data);
  return d.FinishHex();
}

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(n);
  return out;
}

std::string Md5Base64(std::string_view data) {
  Digest d(Digest::Kind::kMd5);
  d.Update(data);
  return Base64(d.Finish());
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  NEON_CHECK(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                  reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
                  &len) != nullptr);
  return std::string(reinterpret_cast<const char*>(out), len);
}

}  // namespace neon
