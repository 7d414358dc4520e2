// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// JWT verification for Ed25519 ("alg": "EdDSA") tokens, as Neon's services use them.
//
// A token is `base64url(header).base64url(payload).base64url(signature)`; the signature is
// Ed25519 over the first two parts. The payload's claims (Neon's):
//   scope      "tenant", "pageserverapi", "safekeeperdata", "generations_api", "admin", ...
//   tenant_id  32 hex characters; required with scope "tenant"
//   exp        optional expiry, seconds since the Unix epoch; checked when present
//
// Thread safety: a JwtVerifier is immutable after construction; Verify() may be called from
// any number of threads.

#ifndef NEON_SERVERS_COMMON_JWT_H_
#define NEON_SERVERS_COMMON_JWT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace neon::server {

struct JwtClaims {
  std::string scope;
  std::optional<std::string> tenant_id;
  std::optional<int64_t> exp;
};

class JwtVerifier {
 public:
  // A PEM "PUBLIC KEY" (SubjectPublicKeyInfo) holding an Ed25519 key. InvalidArgument for
  // anything else, NotFound/PermissionDenied when the file cannot be read.
  static absl::StatusOr<std::unique_ptr<JwtVerifier>> FromPemFile(const std::string& path);
  static absl::StatusOr<std::unique_ptr<JwtVerifier>> FromPem(std::string_view pem);

  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // Checks the token's form, its EdDSA signature and its expiry against `now_unix_seconds`.
  // Unauthenticated with a reason on any failure; the claims on success.
  absl::StatusOr<JwtClaims> Verify(std::string_view token, int64_t now_unix_seconds) const;

 private:
  explicit JwtVerifier(EVP_PKEY* key) : key_(key) {}
  EVP_PKEY* key_;  // owned
};

// Whether verified claims allow a request. `allowed_scopes` lists the scopes the endpoint
// accepts. Scope "tenant" is limited to its tenant_id, which must equal `tenant_id` (a tenant
// token cannot call an endpoint that names no tenant). A token of any scope that names a
// tenant other than `tenant_id` is refused. PermissionDenied when not allowed.
absl::Status Authorize(const JwtClaims& claims, const std::vector<std::string_view>& allowed_scopes,
                       std::optional<std::string_view> tenant_id);

// The token of an `authorization: Bearer <token>` header value; Unauthenticated otherwise.
absl::StatusOr<std::string_view> BearerToken(std::string_view header_value);

// RFC 4648 base64url without padding (padding accepted when decoding). Exposed for tests.
std::string Base64UrlEncode(std::string_view bytes);
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace neon::server

#endif  // NEON_SERVERS_COMMON_JWT_H_
