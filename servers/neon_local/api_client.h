// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// A small JSON-over-HTTP client for the local servers' management APIs (loopback only).
// Errors name the server and say what to do: unreachable = Unavailable ("is the cluster
// running?"), 404 = NotFound, 409 = AlreadyExists, 401/403 = PermissionDenied, other
// answers = FailedPrecondition, each with the server's {"msg"}.
//
// Thread safety: one client per thread.

#ifndef NEON_SERVERS_NEON_LOCAL_API_CLIENT_H_
#define NEON_SERVERS_NEON_LOCAL_API_CLIENT_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace neon::neon_local {

class ApiClient {
 public:
  // `what` names the server in messages ("pageserver"); `token` is sent as a bearer token
  // when not empty.
  ApiClient(std::string what, int port, std::string token)
      : what_(std::move(what)), port_(port), token_(std::move(token)) {}

  absl::StatusOr<nlohmann::json> Get(const std::string& path) const;
  absl::StatusOr<nlohmann::json> Post(const std::string& path, const nlohmann::json& body) const;

 private:
  absl::StatusOr<nlohmann::json> Call(const std::string& method, const std::string& path,
                                      const std::optional<nlohmann::json>& body) const;

  std::string what_;
  int port_;
  std::string token_;
};

}  // namespace neon::neon_local

#endif  // NEON_SERVERS_NEON_LOCAL_API_CLIENT_H_
