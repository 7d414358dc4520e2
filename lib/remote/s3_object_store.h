// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// S3ObjectStore: the ObjectStore over the S3 REST API (libcurl, Signature V4).
// Works with AWS S3 and S3-compatible servers (endpoint override, path-style
// or virtual-hosted addressing). See S3Options in include/neon/object_store.h.
//
// Requests: every request is signed (x-amz-content-sha256 carries the
// payload's SHA-256, so S3 checks the body) and retried on transport errors,
// HTTP 5xx and 429 with capped exponential backoff and jitter, at most
// max_attempts times and not after retry_deadline_ms; other 4xx are final.
//
// Put: objects up to multipart_threshold_bytes are one PUT; larger ones are a
// multipart upload of multipart_part_bytes parts, each read into one buffer,
// uploaded (and retried) from it, so memory is bounded by threshold + part
// whatever the object size. Any failure aborts the multipart upload.
// Get: streamed to the sink as it arrives; a retried download resumes after
// the bytes already delivered, pinned to the first response's ETag
// (If-Match), so a replaced object fails (FailedPrecondition) rather than
// mixing versions. Copy is CopyObject (objects up to 5 GiB).
//
// Thread safety: all methods may be called concurrently; each in-flight
// request holds one pooled curl handle.

#ifndef NEON_LIB_REMOTE_S3_OBJECT_STORE_H_
#define NEON_LIB_REMOTE_S3_OBJECT_STORE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "neon/object_store.h"
#include "remote/backoff.h"
#include "remote/http_client.h"
#include "remote/s3_responses.h"

namespace neon {

class S3ObjectStore final : public ObjectStore {
 public:
  // InvalidArgument for inconsistent options.
  static absl::StatusOr<std::unique_ptr<S3ObjectStore>> Create(S3Options options);

  absl::Status Put(std::string_view key, ObjectSource& source) override;
  absl::StatusOr<ObjectInfo> Get(std::string_view key, const ByteRange& range,
                                 const ObjectSink& sink) override;
  absl::StatusOr<ObjectInfo> Head(std::string_view key) override;
  absl::StatusOr<ListResult> List(const ListRequest& request) override;
  absl::Status DeleteBatch(std::span<const std::string> keys) override;
  absl::Status Copy(std::string_view from, std::string_view to) override;

  // Tests: called before every HTTP attempt with the method, the object key
  // ("" for bucket requests), and a query summary; a nonzero return is
  // used as that attempt's HTTP status instead of sending it, and a
  // negative one as a transport failure.
  using FaultHook = std::function<int(std::string_view method, std::string_view key, std::string_view query)>;
  void SetFaultHookForTesting(FaultHook hook);
  // HTTP attempts made (including injected ones), for tests.
  int64_t http_attempts() const { return attempts_.load(); }

 private:
  using Params = std::vector<std::pair<std::string, std::string>>;
  struct Call {
    std::string method;
    std::string key;  // the caller's key (without key_prefix); empty: the bucket
    Params query;
    Params headers;
    std::string_view body;
    bool has_body = false;
    std::function<absl::Status(std::string_view)> on_body;
    std::function<absl::Status(const HttpResponse&)> on_headers;
  };

  S3ObjectStore(S3Options options, std::string scheme, std::string host);

  // One attempt: sign and send. Transport errors are Unavailable; the HTTP
  // status is not interpreted.
  absl::StatusOr<HttpResponse> SendOnce(const Call& call);
  // Attempts until a 2xx or a final error (S3StatusFromHttp's mapping).
  absl::StatusOr<HttpResponse> Send(const Call& call, std::string_view what);
  Retrier NewRetrier();

  absl::Status PutSingle(std::string_view key, std::string_view data);
  absl::Status PutMultipart(std::string_view key, std::string pending, ObjectSource& source);
  absl::StatusOr<std::string> UploadPart(std::string_view key, const std::string& upload_id, int part,
                                         std::string_view data);
  void AbortMultipart(std::string_view key, const std::string& upload_id);

  const S3Options options_;
  const std::string scheme_;  // "http" or "https"
  const std::string host_;    // endpoint host[:port]
  const RetryPolicy policy_;
  std::shared_ptr<Clock> clock_;
  HttpClient http_;
  std::atomic<uint64_t> retry_seq_{0};
  std::atomic<int64_t> attempts_{0};
  absl::Mutex hook_mu_;
  FaultHook hook_ ABSL_GUARDED_BY(hook_mu_);
};

}  // namespace neon

#endif  // NEON_LIB_REMOTE_S3_OBJECT_STORE_H_
