// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// HttpServer: the servers' HTTP listener (cpp-httplib), with /metrics built in, JSON helpers
// and JWT checks.
//
// Routes are registered before Start(). Handlers run on the listener's worker threads (a
// bounded pool: kHttpWorkerThreads), so they must be thread-safe. An exception escaping a
// handler becomes a 500 with a JSON {"msg": ...} body. Stop() (also run by the destructor)
// closes the listener and joins its thread.

#ifndef NEON_SERVERS_COMMON_HTTP_SERVER_H_
#define NEON_SERVERS_COMMON_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "common/jwt.h"
#include "common/metrics.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace neon::server {

// Worker threads per HTTP listener. Management traffic is light.
inline constexpr int kHttpWorkerThreads = 4;

// Splits "host:port" (port 0 = any free port). InvalidArgument on bad input.
absl::Status ParseHostPort(const std::string& addr, std::string* host, int* port);

class HttpServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  // `metrics` (not owned, outlives the server) is rendered on GET /metrics.
  explicit HttpServer(MetricsRegistry* metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void Get(const std::string& pattern, Handler h);
  void Post(const std::string& pattern, Handler h);
  void Put(const std::string& pattern, Handler h);
  void Delete(const std::string& pattern, Handler h);

  // Binds `addr` ("host:port") and starts serving on a background thread.
  absl::Status Start(const std::string& addr);
  // The bound port (after Start()).
  int port() const { return port_; }
  void Stop();

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  Counter* requests_;
  Counter* errors_;
};

// Sends `body` as application/json with `status`.
void SendJson(httplib::Response& res, int status, const nlohmann::json& body);
// Sends {"msg": msg} with `status`.
void SendError(httplib::Response& res, int status, absl::string_view msg);
// The HTTP status for a Status code (InvalidArgument 400, NotFound 404, Unauthenticated 401,
// PermissionDenied 403, AlreadyExists/FailedPrecondition 409, Unavailable 503, else 500).
int HttpStatusFor(const absl::Status& status);

// Checks the request's `Authorization: Bearer` token. With no verifier (auth off) every request
// passes. Otherwise on failure answers 401 (no or bad token) or 403 (wrong scope or tenant)
// and returns false.
bool CheckHttpAuth(const JwtVerifier* verifier, const httplib::Request& req, httplib::Response& res,
                   const std::vector<std::string_view>& allowed_scopes,
                   std::optional<std::string_view> tenant_id = std::nullopt);

}  // namespace neon::server

#endif  // NEON_SERVERS_COMMON_HTTP_SERVER_H_
