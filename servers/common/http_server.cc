// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "common/http_server.h"

#include <charconv>
#include <ctime>

#include "base/str_cat.h"
#include "common/log.h"

namespace neon::server {

absl::Status ParseHostPort(const std::string& addr, std::string* host, int* port) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(StrCat("address '", addr, "' is not host:port"));
  }
  const std::string p = addr.substr(colon + 1);
  int v = -1;
  auto r = std::from_chars(p.data(), p.data() + p.size(), v);
  if (p.empty() || r.ec != std::errc() || r.ptr != p.data() + p.size() || v < 0 || v > 65535) {
    return absl::InvalidArgumentError(StrCat("address '", addr, "': bad port '", p, "'"));
  }
  *host = addr.substr(0, colon);
  *port = v;
  return absl::OkStatus();
}

HttpServer::HttpServer(MetricsRegistry* metrics) : server_(std::make_unique<httplib::Server>()) {
  requests_ = metrics->AddCounter("http_requests_total", "HTTP requests served");
  errors_ =
      metrics->AddCounter("http_request_errors_total", "HTTP requests answered with status >= 500");
  server_->new_task_queue = [] { return new httplib::ThreadPool(kHttpWorkerThreads); };
  // httplib's default also sets SO_REUSEPORT, which lets a second server bind the same port.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server_->Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics->Render(), "text/plain; version=0.0.4");
  });
  server_->set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        LogError("http_handler_exception", {{"path", req.path}, {"error", what}});
        SendError(res, 500, what);
      });
  server_->set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    requests_->Increment();
    if (res.status >= 500) errors_->Increment();
    Log(LogLevel::kDebug, "http_request",
        {{"method", req.method}, {"path", req.path}, {"status", res.status}});
  });
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Get(const std::string& pattern, Handler h) { server_->Get(pattern, std::move(h)); }
void HttpServer::Post(const std::string& pattern, Handler h) {
  server_->Post(pattern, std::move(h));
}
void HttpServer::Put(const std::string& pattern, Handler h) { server_->Put(pattern, std::move(h)); }
void HttpServer::Delete(const std::string& pattern, Handler h) {
  server_->Delete(pattern, std::move(h));
}

absl::Status HttpServer::Start(const std::string& addr) {
  std::string host;
  int port = 0;
  if (absl::Status s = ParseHostPort(addr, &host, &port); !s.ok()) return s;
  const int bound =
      port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) return absl::UnavailableError(StrCat("cannot listen for HTTP on ", addr));
  port_ = bound;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

void SendJson(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void SendError(httplib::Response& res, int status, absl::string_view msg) {
  SendJson(res, status, nlohmann::json{{"msg", std::string(msg.data(), msg.size())}});
}

int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

bool CheckHttpAuth(const JwtVerifier* verifier, const httplib::Request& req, httplib::Response& res,
                   const std::vector<std::string_view>& allowed_scopes,
                   std::optional<std::string_view> tenant_id) {
  if (verifier == nullptr) return true;
  // get_header_value returns a copy: keep it alive while the token (a view into it) is used.
  const std::string header = req.get_header_value("Authorization");
  absl::StatusOr<std::string_view> token = BearerToken(header);
  absl::Status s = token.status();
  if (s.ok()) {
    absl::StatusOr<JwtClaims> claims = verifier->Verify(*token, std::time(nullptr));
    s = claims.ok() ? Authorize(*claims, allowed_scopes, tenant_id) : claims.status();
  }
  if (s.ok()) return true;
  SendError(res, HttpStatusFor(s), s.message());
  return false;
}

}  // namespace neon::server
