// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "neon_local/api_client.h"

#include "base/str_cat.h"
#include "httplib.h"

namespace neon::neon_local {
namespace {

// Root timeline creation runs initdb and waits for the first upload.
constexpr int kReadTimeoutSeconds = 300;

}  // namespace

absl::StatusOr<nlohmann::json> ApiClient::Get(const std::string& path) const {
  return Call("GET", path, std::nullopt);
}

absl::StatusOr<nlohmann::json> ApiClient::Post(const std::string& path,
                                               const nlohmann::json& body) const {
  return Call("POST", path, body);
}

absl::StatusOr<nlohmann::json> ApiClient::Call(const std::string& method, const std::string& path,
                                               const std::optional<nlohmann::json>& body) const {
  httplib::Client client("127.0.0.1", port_);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(kReadTimeoutSeconds, 0);
  httplib::Headers headers;
  if (!token_.empty()) headers.emplace("Authorization", "Bearer " + token_);
  const std::string where = StrCat(what_, " at http://127.0.0.1:", port_);
  httplib::Result res =
      method == "GET" ? client.Get(path, headers)
                      : client.Post(path, headers, body ? body->dump() : "", "application/json");
  if (!res) {
    return absl::UnavailableError(StrCat("cannot reach the ", where, " (",
                                         httplib::to_string(res.error()),
                                         "); is the cluster running? (neon_local status)"));
  }
  nlohmann::json reply = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (res->status >= 200 && res->status < 300) {
    if (reply.is_discarded()) {
      return absl::DataLossError(StrCat("the ", where, " answered ", method, " ", path,
                                        " with something that is not JSON"));
    }
    return reply;
  }
  std::string msg = res->body;
  if (!reply.is_discarded() && reply.is_object() && reply.contains("msg") &&
      reply["msg"].is_string()) {
    msg = reply["msg"].get<std::string>();
  }
  const std::string text =
      StrCat("the ", where, " refused ", method, " ", path, " (HTTP ", res->status, "): ", msg);
  switch (res->status) {
    case 404:
      return absl::NotFoundError(text);
    case 409:
      return absl::AlreadyExistsError(text);
    case 401:
    case 403:
      return absl::PermissionDeniedError(
          StrCat(text, "; check the tokens in the repository (tokens/*.jwt)"));
    default:
      return absl::FailedPreconditionError(text);
  }
}

}  // namespace neon::neon_local
