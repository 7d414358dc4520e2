// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// HttpClient: blocking HTTP/1.1 requests over libcurl, for the S3 store.
// Each request borrows a CURL easy handle from a small pool and returns it
// afterwards, so connections (and TLS sessions, DNS entries) are reused by
// the next request; at most max_idle_handles idle handles are kept. The
// request runs on the calling thread; libcurl starts no threads here except
// its DNS resolver's.
//
// Bodies: a request body is a caller-owned buffer (bounded by the caller:
// one part or one small document). A 2xx response body is streamed to
// `on_body` when set, else buffered; a non-2xx body (S3's error document) is
// always buffered, up to kMaxBufferedBodyBytes (ResourceExhausted beyond).
//
// Errors: a transport failure (connect, DNS, reset, timeout, truncated
// transfer) is Unavailable; a malformed URL is InvalidArgument; TLS
// verification failures are FailedPrecondition; an error returned by
// on_body is returned unchanged. HTTP statuses are not errors here.
//
// Thread safety: Execute may be called concurrently.

#ifndef NEON_LIB_REMOTE_HTTP_CLIENT_H_
#define NEON_LIB_REMOTE_HTTP_CLIENT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace neon {

inline constexpr size_t kMaxBufferedBodyBytes = 16ull << 20;

struct HttpResponse;

struct HttpRequest {
  std::string method;  // GET, HEAD, PUT, POST, DELETE
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;  // must outlive Execute; empty: no body
  bool has_body = false;  // send `body` (even when empty) with Content-Length
  std::function<absl::Status(std::string_view)> on_body;  // 2xx bodies; null: buffer
  // Called with the status and headers just before the first 2xx body byte
  // goes to on_body (not called for an empty body); an error aborts.
  std::function<absl::Status(const HttpResponse&)> on_headers;
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;  // when buffered
  // The first header named `name` (lowercase), or "".
  std::string Header(std::string_view name) const;
};

struct HttpClientOptions {
  int64_t connect_timeout_ms = 10'000;
  int64_t low_speed_timeout_ms = 30'000;  // abort below 1 KiB/s for this long
  int max_idle_handles = 8;
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  absl::StatusOr<HttpResponse> Execute(const HttpRequest& request);

 private:
  void* Acquire();
  void Release(void* handle);

  const HttpClientOptions options_;
  absl::Mutex mu_;
  std::vector<void*> idle_ ABSL_GUARDED_BY(mu_);  // CURL*
};

// Calls curl_global_init once per process (before any other thread uses curl).
void InitCurlOnce();

}  // namespace neon

#endif  // NEON_LIB_REMOTE_HTTP_CLIENT_H_
