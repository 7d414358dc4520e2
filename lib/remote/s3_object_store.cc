// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// S3ObjectStore: requests, signing, retries, and every operation but Put
// (s3_put.cc) and Get (s3_get.cc).

#include "remote/s3_object_store.h"

#include <stdlib.h>

#include <algorithm>
#include <cstdlib>

#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "remote/digest.h"
#include "remote/sigv4.h"

namespace neon {
namespace {

std::string Env(const char* name) {
  const char* v = getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

bool ParseUint(const std::string& v, uint64_t* out) {
  if (v.empty()) return false;
  char* end = nullptr;
  *out = std::strtoull(v.c_str(), &end, 10);
  return *end == '\0';
}

}  // namespace

S3Options S3OptionsFromEnvironment(S3Options base) {
  if (std::string v = Env("AWS_ACCESS_KEY_ID"); !v.empty()) base.access_key_id = v;
  if (std::string v = Env("AWS_SECRET_ACCESS_KEY"); !v.empty()) base.secret_access_key = v;
  if (std::string v = Env("AWS_SESSION_TOKEN"); !v.empty()) base.session_token = v;
  if (std::string v = Env("AWS_DEFAULT_REGION"); !v.empty()) base.region = v;
  if (std::string v = Env("AWS_REGION"); !v.empty()) base.region = v;
  if (std::string v = Env("AWS_ENDPOINT_URL"); !v.empty()) base.endpoint = v;
  return base;
}

absl::StatusOr<std::shared_ptr<ObjectStore>> NewS3ObjectStore(S3Options options) {
  NEON_ASSIGN_OR_RETURN(auto store, S3ObjectStore::Create(std::move(options)));
  return std::shared_ptr<ObjectStore>(std::move(store));
}

absl::StatusOr<std::unique_ptr<S3ObjectStore>> S3ObjectStore::Create(S3Options o) {
  auto bad = [](std::string_view why) { return absl::InvalidArgumentError(StrCat("s3 options: ", why)); };
  if (o.bucket.empty()) return bad("no bucket");
  if (o.region.empty()) return bad("no region");
  if (o.access_key_id.empty() || o.secret_access_key.empty()) return bad("no credentials");
  if (o.multipart_part_bytes < kMinMultipartPartBytes || o.multipart_part_bytes > kMaxMultipartPartBytes) {
    return bad(StrCat("multipart_part_bytes must be in ", kMinMultipartPartBytes, "..", kMaxMultipartPartBytes));
  }
  if (o.multipart_threshold_bytes < 1 || o.multipart_threshold_bytes > kMaxMultipartPartBytes) {
    return bad(StrCat("multipart_threshold_bytes must be in 1..", kMaxMultipartPartBytes));
  }
  if (o.max_attempts < 1 || o.base_backoff_ms < 0 || o.max_backoff_ms < o.base_backoff_ms) {
    return bad("retry settings");
  }
  if (!o.key_prefix.empty() && !ValidateObjectKey(o.key_prefix + "x").ok()) return bad("key_prefix");
  std::string endpoint = o.endpoint.empty() ? StrCat("https://s3.", o.region, ".amazonaws.com") : o.endpoint;
  size_t sep = endpoint.find("://");
  if (sep == std::string::npos) return bad(StrCat("endpoint '", endpoint, "' has no scheme"));
  std::string scheme = endpoint.substr(0, sep);
  if (scheme != "http" && scheme != "https") return bad(StrCat("endpoint scheme '", scheme, "'"));
  std::string host = endpoint.substr(sep + 3);
  while (!host.empty() && host.back() == '/') host.pop_back();
  if (host.empty() || host.find('/') != std::string::npos) {
    return bad(StrCat("endpoint '", endpoint, "' must be scheme://host[:port]"));
  }
  if (!o.clock) o.clock = NewRealClock();
  if (o.jitter_seed == 0) o.jitter_seed = static_cast<uint64_t>(o.clock->NowMicros());
  return std::unique_ptr<S3ObjectStore>(new S3ObjectStore(std::move(o), scheme, host));
}

S3ObjectStore::S3ObjectStore(S3Options options, std::string scheme, std::string host)
    : options_(std::move(options)),
      scheme_(std::move(scheme)),
      host_(std::move(host)),
      policy_{options_.max_attempts, options_.base_backoff_ms, options_.max_backoff_ms,
              options_.retry_deadline_ms},
      clock_(options_.clock),
      http_(HttpClientOptions{options_.connect_timeout_ms, options_.low_speed_timeout_ms,
                              options_.max_idle_connections}) {}

void S3ObjectStore::SetFaultHookForTesting(FaultHook hook) {
  absl::MutexLock l(&hook_mu_);
  hook_ = std::move(hook);
}

Retrier S3ObjectStore::NewRetrier() {
  return Retrier(policy_, *clock_, options_.jitter_seed + retry_seq_.fetch_add(1));
}

absl::StatusOr<HttpResponse> S3ObjectStore::SendOnce(const Call& call) {
  attempts_.fetch_add(1);
  std::string query = CanonicalQuery(call.query);
  {
    absl::MutexLock l(&hook_mu_);
    if (hook_) {
      int injected = hook_(call.method, call.key, query);
      if (injected < 0) return absl::UnavailableError(StrCat("injected transport failure: ", call.method));
      if (injected > 0) return HttpResponse{injected, {}, ""};
    }
  }
  std::string full_key = call.key.empty() ? std::string() : StrCat(options_.key_prefix, call.key);
  std::string host = options_.path_style ? host_ : StrCat(options_.bucket, ".", host_);
  std::string uri = options_.path_style ? StrCat("/", options_.bucket) : std::string();
  if (!full_key.empty() || !options_.path_style) uri += StrCat("/", UriEncode(full_key, false));

  SigV4Request sig;
  sig.method = call.method;
  sig.canonical_uri = uri;
  sig.query = call.query;
  sig.payload_hash = Sha256Hex(call.body);
  std::string amz_date = AmzDate(clock_->NowMicros());
  sig.headers = call.headers;
  sig.headers.emplace_back("host", host);
  sig.headers.emplace_back("x-amz-date", amz_date);
  sig.headers.emplace_back("x-amz-content-sha256", sig.payload_hash);
  if (!options_.session_token.empty()) sig.headers.emplace_back("x-amz-security-token", options_.session_token);
  SigV4Result signed_req = SignV4(SigV4Signer{options_.access_key_id, options_.secret_access_key,
                                              options_.region, "s3"},
                                  sig, amz_date);
  HttpRequest req;
  req.method = call.method;
  req.url = StrCat(scheme_, "://", host, uri, query.empty() ? "" : "?", query);
  req.headers = std::move(sig.headers);
  req.headers.emplace_back("authorization", signed_req.authorization);
  req.body = call.body;
  req.has_body = call.has_body;
  req.on_body = call.on_body;
  req.on_headers = call.on_headers;
  return http_.Execute(req);
}

absl::StatusOr<HttpResponse> S3ObjectStore::Send(const Call& call, std::string_view what) {
  Retrier retrier = NewRetrier();
  while (true) {
    auto r = SendOnce(call);
    absl::Status s = r.ok() ? S3StatusFromHttp(r->status, r->body, what) : Annotate(r.status(), what);
    if (s.ok()) return r;
    if (!retrier.ShouldRetry(s)) {
      if (retrier.attempts() > 1 && IsRetryable(s)) {
        return Annotate(s, StrCat("after ", retrier.attempts(), " attempts"));
      }
      return s;
    }
  }
}

absl::StatusOr<ObjectInfo> S3ObjectStore::Head(std::string_view key) {
  NEON_RETURN_IF_ERROR(ValidateObjectKey(key));
  Call call{"HEAD", std::string(key)};
  NEON_ASSIGN_OR_RETURN(HttpResponse r, Send(call, StrCat("head '", key, "'")));
  ObjectInfo info{std::string(key), 0, r.Header("etag")};
  if (!ParseUint(r.Header("content-length"), &info.size_bytes)) {
    return absl::InvalidArgumentError(StrCat("head '", key, "': no Content-Length in the response"));
  }
  return info;
}

absl::StatusOr<ListResult> S3ObjectStore::List(const ListRequest& request) {
  if (request.max_keys < 1 || request.max_keys > kMaxListKeys) {
    return absl::InvalidArgumentError(StrCat("list: max_keys ", request.max_keys, " not in 1..", kMaxListKeys));
  }
  Call call{"GET", ""};
  call.query = {{"list-type", "2"},
                {"prefix", StrCat(options_.key_prefix, request.prefix)},
                {"max-keys", StrCat(request.max_keys)}};
  if (!request.delimiter.empty()) call.query.emplace_back("delimiter", request.delimiter);
  if (!request.continuation_token.empty()) {
    call.query.emplace_back("continuation-token", request.continuation_token);
  }
  std::string what = StrCat("list '", request.prefix, "'");
  NEON_ASSIGN_OR_RETURN(HttpResponse r, Send(call, what));
  auto result = ParseListObjectsV2(r.body, options_.key_prefix);
  if (!result.ok()) return Annotate(result.status(), what);
  return result;
}

absl::Status S3ObjectStore::DeleteBatch(std::span<const std::string> keys) {
  if (keys.size() > kMaxDeleteBatchKeys) {
    return absl::InvalidArgumentError(StrCat("delete: ", keys.size(), " keys, at most ", kMaxDeleteBatchKeys));
  }
  if (keys.empty()) return absl::OkStatus();
  std::vector<std::string> full;
  for (const std::string& k : keys) {
    NEON_RETURN_IF_ERROR(ValidateObjectKey(k));
    full.push_back(StrCat(options_.key_prefix, k));
  }
  std::string body = DeleteObjectsXml(full);
  Call call{"POST", ""};
  call.query = {{"delete", ""}};
  call.headers = {{"content-md5", Md5Base64(body)}};
  call.body = body;
  call.has_body = true;
  NEON_ASSIGN_OR_RETURN(HttpResponse r, Send(call, StrCat("delete ", keys.size(), " keys")));
  return ParseDeleteResult(r.body);
}

absl::Status S3ObjectStore::Copy(std::string_view from, std::string_view to) {
  NEON_RETURN_IF_ERROR(ValidateObjectKey(from));
  NEON_RETURN_IF_ERROR(ValidateObjectKey(to));
  Call call{"PUT", std::string(to)};
  call.headers = {
      {"x-amz-copy-source", StrCat("/", options_.bucket, "/", UriEncode(StrCat(options_.key_prefix, from), false))}};
  call.has_body = true;
  std::string what = StrCat("copy '", from, "' to '", to, "'");
  NEON_ASSIGN_OR_RETURN(HttpResponse r, Send(call, what));
  return S3ErrorInBody(r.body, what);
}

}  // namespace neon
