// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Request bodies of the servers' HTTP APIs: the body as a JSON object and its optional
// members, with InvalidArgument errors that name the field (the HTTP layer turns them into
// 400 {"msg": ...}).
//
// Thread safety: free functions without shared state.

#ifndef NEON_SERVERS_COMMON_JSON_FIELDS_H_
#define NEON_SERVERS_COMMON_JSON_FIELDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace neon::server {

// InvalidArgument "<field>: <what>".
absl::Status FieldError(std::string_view field, std::string_view what);
// The body as a JSON object ("" is an empty object when `empty_ok`). InvalidArgument for
// malformed JSON or a non-object.
absl::StatusOr<nlohmann::json> ParseBody(const std::string& body, bool empty_ok);
// Optional members of `obj`; InvalidArgument when present with the wrong type or range.
// null = absent.
absl::StatusOr<std::optional<std::string>> OptString(const nlohmann::json& obj,
                                                     const std::string& name);
absl::StatusOr<std::optional<uint64_t>> OptUint(const nlohmann::json& obj, const std::string& name,
                                                uint64_t max);

}  // namespace neon::server

#endif  // NEON_SERVERS_COMMON_JSON_FIELDS_H_
