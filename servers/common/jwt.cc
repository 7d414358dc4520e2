// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "common/jwt.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "base/str_cat.h"
#include "nlohmann/json.hpp"

namespace neon::server {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
// Tokens are a few hundred bytes; anything far larger is refused before decoding.
constexpr size_t kMaxTokenBytes = 16 * 1024;

int DecodeChar(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

absl::Status Unauthenticated(std::string_view why) {
  return absl::UnauthenticatedError(StrCat("invalid token: ", why));
}

absl::StatusOr<nlohmann::json> DecodeJsonPart(std::string_view part, std::string_view what) {
  std::optional<std::string> raw = Base64UrlDecode(part);
  if (!raw) return Unauthenticated(StrCat(what, " is not base64url"));
  nlohmann::json j = nlohmann::json::parse(*raw, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Unauthenticated(StrCat(what, " is not a JSON object"));
  return j;
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v =
        (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  const size_t rest = bytes.size() - i;
  if (rest == 1) {
    const uint32_t v = uint8_t(bytes[i]) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
  } else if (rest == 2) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int d = DecodeChar(c);
    if (d < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<JwtVerifier>> JwtVerifier::FromPemFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat("cannot read public key file '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<std::unique_ptr<JwtVerifier>> v = FromPem(ss.str());
  if (!v.ok()) {
    return absl::InvalidArgumentError(
        StrCat("public key file '", path, "': ", v.status().message()));
  }
  return v;
}

absl::StatusOr<std::unique_ptr<JwtVerifier>> JwtVerifier::FromPem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return absl::ResourceExhaustedError("BIO_new_mem_buf failed");
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return absl::InvalidArgumentError("not a PEM public key");
  if (EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    return absl::InvalidArgumentError("public key is not Ed25519");
  }
  return std::unique_ptr<JwtVerifier>(new JwtVerifier(key));
}

JwtVerifier::~JwtVerifier() { EVP_PKEY_free(key_); }

absl::StatusOr<JwtClaims> JwtVerifier::Verify(std::string_view token,
                                              int64_t now_unix_seconds) const {
  if (token.size() > kMaxTokenBytes) return Unauthenticated("too long");
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Unauthenticated("not three dot-separated parts");
  }
  const std::string_view signed_part = token.substr(0, dot2);
  auto header = DecodeJsonPart(token.substr(0, dot1), "header");
  if (!header.ok()) return header.status();
  const auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string() || alg->get<std::string>() != "EdDSA") {
    return Unauthenticated("alg is not EdDSA");
  }
  std::optional<std::string> sig = Base64UrlDecode(token.substr(dot2 + 1));
  if (!sig || sig->size() != 64) return Unauthenticated("signature is not 64 bytes of base64url");

  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return absl::ResourceExhaustedError("EVP_MD_CTX_new failed");
  const bool good =
      EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                       reinterpret_cast<const unsigned char*>(signed_part.data()),
                       signed_part.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!good) return Unauthenticated("bad signature");

  auto payload = DecodeJsonPart(token.substr(dot1 + 1, dot2 - dot1 - 1), "payload");
  if (!payload.ok()) return payload.status();
  JwtClaims claims;
  const auto scope = payload->find("scope");
  if (scope == payload->end() || !scope->is_string()) return Unauthenticated("no scope claim");
  claims.scope = scope->get<std::string>();
  const auto tenant = payload->find("tenant_id");
  if (tenant != payload->end() && !tenant->is_null()) {
    if (!tenant->is_string()) return Unauthenticated("tenant_id is not a string");
    claims.tenant_id = tenant->get<std::string>();
  }
  const auto exp = payload->find("exp");
  if (exp != payload->end()) {
    if (!exp->is_number()) return Unauthenticated("exp is not a number");
    const double e = exp->get<double>();
    if (!std::isfinite(e)) return Unauthenticated("exp is not finite");
    claims.exp = static_cast<int64_t>(e);
    if (*claims.exp <= now_unix_seconds) return Unauthenticated("expired");
  }
  return claims;
}

absl::Status Authorize(const JwtClaims& claims, const std::vector<std::string_view>& allowed_scopes,
                       std::optional<std::string_view> tenant_id) {
  bool allowed = false;
  for (std::string_view s : allowed_scopes) allowed |= (s == claims.scope);
  if (!allowed) {
    return absl::PermissionDeniedError(StrCat("scope '", claims.scope, "' is not allowed here"));
  }
  if (claims.scope == "tenant") {
    if (!claims.tenant_id) return absl::PermissionDeniedError("tenant token without tenant_id");
    if (!tenant_id)
      return absl::PermissionDeniedError("tenant token for a request without a tenant");
  }
  if (claims.tenant_id && tenant_id && *claims.tenant_id != *tenant_id) {
    return absl::PermissionDeniedError(
        StrCat("token is for tenant ", *claims.tenant_id, ", not ", *tenant_id));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string_view> BearerToken(std::string_view header_value) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (header_value.size() <= kPrefix.size() || header_value.substr(0, kPrefix.size()) != kPrefix) {
    return absl::UnauthenticatedError("missing 'authorization: Bearer <token>'");
  }
  return header_value.substr(kPrefix.size());
}

}  // namespace neon::server
