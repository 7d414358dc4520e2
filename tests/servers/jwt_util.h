// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Test helpers: Ed25519 key pairs and signed JWTs (servers/common/jwt_sign.h), aborting on
// OpenSSL failures so that tests can use them as plain values.

#ifndef NEON_TESTS_SERVERS_JWT_UTIL_H_
#define NEON_TESTS_SERVERS_JWT_UTIL_H_

#include <memory>
#include <string>

#include "common/jwt_sign.h"

namespace neon::testing {

class Ed25519Key {
 public:
  Ed25519Key();  // a fresh random key pair
  ~Ed25519Key();
  Ed25519Key(const Ed25519Key&) = delete;
  Ed25519Key& operator=(const Ed25519Key&) = delete;

  // The public key as PEM (SubjectPublicKeyInfo).
  std::string PublicPem() const;
  // A JWT with header {"alg":"EdDSA","typ":"JWT"} and `payload_json`, signed with this key.
  std::string Sign(const std::string& payload_json) const;
  // Same, with an arbitrary header.
  std::string SignWithHeader(const std::string& header_json, const std::string& payload_json) const;

 private:
  std::unique_ptr<server::Ed25519Signer> signer_;
};

}  // namespace neon::testing

#endif  // NEON_TESTS_SERVERS_JWT_UTIL_H_
