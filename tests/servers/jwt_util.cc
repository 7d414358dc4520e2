// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "servers/jwt_util.h"

#include <cstdlib>
#include <utility>

namespace neon::testing {
namespace {

template <typename T>
T ValueOrAbort(absl::StatusOr<T> v) {
  if (!v.ok()) std::abort();
  return *std::move(v);
}

}  // namespace

Ed25519Key::Ed25519Key() : signer_(ValueOrAbort(server::Ed25519Signer::Generate())) {}

Ed25519Key::~Ed25519Key() = default;

std::string Ed25519Key::PublicPem() const { return signer_->PublicPem(); }

std::string Ed25519Key::Sign(const std::string& payload_json) const {
  return ValueOrAbort(signer_->Sign(payload_json));
}

std::string Ed25519Key::SignWithHeader(const std::string& header_json,
                                       const std::string& payload_json) const {
  return ValueOrAbort(signer_->SignWithHeader(header_json, payload_json));
}

}  // namespace neon::testing
