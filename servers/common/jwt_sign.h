// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Ed25519 key pairs and signed JWTs ("alg": "EdDSA"), the counterpart of jwt.h's verifier.
// neon_local mints its repository's key pair and tokens with it; the tests mint theirs.
//
// Thread safety: an Ed25519Signer is immutable after construction; its methods may be called
// from any number of threads.

#ifndef NEON_SERVERS_COMMON_JWT_SIGN_H_
#define NEON_SERVERS_COMMON_JWT_SIGN_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace neon::server {

class Ed25519Signer {
 public:
  // A fresh random key pair. Internal if OpenSSL cannot make one.
  static absl::StatusOr<std::unique_ptr<Ed25519Signer>> Generate();
  // A PEM "PRIVATE KEY" (PKCS#8) holding an Ed25519 key, as `openssl genpkey -algorithm
  // ed25519` writes it. InvalidArgument for anything else.
  static absl::StatusOr<std::unique_ptr<Ed25519Signer>> FromPrivatePem(std::string_view pem);

  ~Ed25519Signer();
  Ed25519Signer(const Ed25519Signer&) = delete;
  Ed25519Signer& operator=(const Ed25519Signer&) = delete;

  // The private key as PEM (PKCS#8) and the public key as PEM (SubjectPublicKeyInfo), the
  // form JwtVerifier::FromPem reads.
  std::string PrivatePem() const;
  std::string PublicPem() const;

  // A JWT with header {"alg":"EdDSA","typ":"JWT"} and `payload_json` (not checked), signed
  // with this key.
  absl::StatusOr<std::string> Sign(std::string_view payload_json) const;
  // Same, with an arbitrary header (tests forge bad ones).
  absl::StatusOr<std::string> SignWithHeader(std::string_view header_json,
                                             std::string_view payload_json) const;

 private:
  explicit Ed25519Signer(EVP_PKEY* key) : key_(key) {}
  EVP_PKEY* key_;  // owned
};

}  // namespace neon::server

#endif  // NEON_SERVERS_COMMON_JWT_SIGN_H_
