// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "common/json_fields.h"

#include <cctype>

#include "base/str_cat.h"

namespace neon::server {

using nlohmann::json;

absl::Status FieldError(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(StrCat(field, ": ", what));
}

absl::StatusOr<json> ParseBody(const std::string& body, bool empty_ok) {
  bool blank = true;
  for (char c : body) blank = blank && std::isspace(static_cast<unsigned char>(c));
  if (blank) {
    if (empty_ok) return json::object();
    return absl::InvalidArgumentError("request body: expected a JSON object, got nothing");
  }
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("request body: malformed JSON");
  if (!j.is_object()) return absl::InvalidArgumentError("request body: expected a JSON object");
  return j;
}

absl::StatusOr<std::optional<std::string>> OptString(const json& obj, const std::string& name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return FieldError(name, "must be a string");
  return std::optional<std::string>(it->get<std::string>());
}

absl::StatusOr<std::optional<uint64_t>> OptUint(const json& obj, const std::string& name,
                                                uint64_t max) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return std::optional<uint64_t>();
  const bool negative =
      it->is_number_integer() && !it->is_number_unsigned() && it->get<int64_t>() < 0;
  if (!it->is_number_integer() || negative || it->get<uint64_t>() > max) {
    return FieldError(name, StrCat("must be an integer between 0 and ", max));
  }
  return std::optional<uint64_t>(it->get<uint64_t>());
}

}  // namespace neon::server
