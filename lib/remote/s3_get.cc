// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// S3ObjectStore::Get: a streamed download that resumes after a transient
// failure from the first byte not yet delivered (Range + If-Match on the
// first response's ETag). The response's Content-Range is checked against
// the request; a server that sends more than asked (s3rver 3.7.1 answers
// "bytes=0-0" with the whole object) is cut at the requested end.

#include <algorithm>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "remote/s3_object_store.h"

namespace neon {
namespace {

// "bytes <first>-<last>/<total>".
bool ParseContentRange(const std::string& v, uint64_t* first, uint64_t* last, uint64_t* total) {
  if (v.compare(0, 6, "bytes ") != 0) return false;
  char* end = nullptr;
  *first = std::strtoull(v.c_str() + 6, &end, 10);
  if (*end != '-') return false;
  *last = std::strtoull(end + 1, &end, 10);
  if (*end != '/' || end[1] < '0' || end[1] > '9') return false;
  *total = std::strtoull(end + 1, &end, 10);
  return *end == '\0' && *first <= *last && *last < *total;
}

bool ParseUint(const std::string& v, uint64_t* out) {
  if (v.empty()) return false;
  char* end = nullptr;
  *out = std::strtoull(v.c_str(), &end, 10);
  return *end == '\0';
}

// The state of one download across its attempts.
class Download {
 public:
  Download(std::string_view key, const ByteRange& range, const ObjectSink& sink)
      : what_(StrCat("get '", key, "'")), range_(range), sink_(sink) {
    info_.key = std::string(key);
  }

  const ObjectInfo& info() const { return info_; }
  bool sink_failed() const { return sink_failed_; }
  // Whether every wanted byte reached the sink.
  bool Complete() const { return have_info_ && range_.offset + delivered_ >= WantEnd(info_.size_bytes); }

  // Headers of the next attempt: a range from the first byte not yet
  // delivered, pinned to the first response's ETag.
  std::vector<std::pair<std::string, std::string>> NextHeaders() {
    start_ = range_.offset + delivered_;
    ranged_ = start_ > 0 || range_.length.has_value();
    remaining_ = 0;
    enough_ = false;
    std::vector<std::pair<std::string, std::string>> headers;
    if (ranged_) {
      std::string last = range_.length ? StrCat(range_.offset + *range_.length - 1) : std::string();
      headers.emplace_back("range", StrCat("bytes=", start_, "-", last));
    }
    if (!info_.etag.empty()) headers.emplace_back("if-match", info_.etag);
    return headers;
  }

  absl::Status OnHeaders(const HttpResponse& r) {
    uint64_t first = 0, last = 0, total = 0;
    if (r.status == 206) {
      if (!ParseContentRange(r.Header("content-range"), &first, &last, &total) || first != start_) {
        return absl::InternalError(StrCat(what_, ": Content-Range '", r.Header("content-range"),
                                          "' does not match bytes=", start_, "-"));
      }
    } else if (start_ != 0 || !ParseUint(r.Header("content-length"), &total)) {
      return absl::InternalError(StrCat(what_, ": server ignored the Range header (HTTP ", r.status, ")"));
    }
    if (have_info_ && (total != info_.size_bytes || r.Header("etag") != info_.etag)) {
      return absl::FailedPreconditionError(StrCat(what_, ": object changed while downloading"));
    }
    info_.size_bytes = total;
    info_.etag = r.Header("etag");
    have_info_ = true;
    remaining_ = WantEnd(total) - start_;
    return absl::OkStatus();
  }

  absl::Status OnBody(std::string_view chunk) {
    if (remaining_ == 0) {
      enough_ = true;  // the server sent more than asked
      return absl::CancelledError("enough bytes");  // stops the transfer
    }
    chunk = chunk.substr(0, std::min<uint64_t>(chunk.size(), remaining_));
    absl::Status s = sink_(chunk);
    if (!s.ok()) {
      sink_failed_ = true;
      return s;
    }
    delivered_ += chunk.size();
    remaining_ -= chunk.size();
    return absl::OkStatus();
  }

  // The outcome of an attempt: OK when the download is complete.
  absl::Status Finish(const absl::StatusOr<HttpResponse>& r) {
    if (enough_) return absl::OkStatus();
    absl::Status s = r.ok() ? S3StatusFromHttp(r->status, r->body, what_) : Annotate(r.status(), what_);
    if (!s.ok()) return s;
    if (!have_info_) {
      // No body bytes (an empty object): the info comes from the headers.
      if (ranged_ || !ParseUint(r->Header("content-length"), &info_.size_bytes)) {
        return absl::InternalError(StrCat(what_, ": empty response without the object's size"));
      }
      info_.etag = r->Header("etag");
      have_info_ = true;
    }
    if (Complete()) return absl::OkStatus();
    return absl::UnavailableError(StrCat(what_, ": response ended early"));  // resumed by a retry
  }

 private:
  uint64_t WantEnd(uint64_t total) const {
    return range_.length ? std::min(total, range_.offset + *range_.length) : total;
  }

  const std::string what_;
  const ByteRange range_;
  const ObjectSink& sink_;
  ObjectInfo info_;
  bool have_info_ = false;
  uint64_t delivered_ = 0;  // bytes given to the sink, over all attempts
  bool sink_failed_ = false;
  // The current attempt.
  uint64_t start_ = 0;
  bool ranged_ = false;
  uint64_t remaining_ = 0;
  bool enough_ = false;
};

}  // namespace

absl::StatusOr<ObjectInfo> S3ObjectStore::Get(std::string_view key, const ByteRange& range,
                                              const ObjectSink& sink) {
  NEON_RETURN_IF_ERROR(ValidateObjectKey(key));
  if (range.length.has_value() && *range.length == 0) {
    return absl::InvalidArgumentError(StrCat("get '", key, "': empty byte range"));
  }
  Download download(key, range, sink);
  Retrier retrier = NewRetrier();
  while (true) {
    Call call{"GET", std::string(key)};
    call.headers = download.NextHeaders();
    call.on_headers = [&](const HttpResponse& r) { return download.OnHeaders(r); };
    call.on_body = [&](std::string_view chunk) { return download.OnBody(chunk); };
    absl::Status s = download.Finish(SendOnce(call));
    if (s.ok()) return download.info();
    if (download.Complete()) return download.info();  // every byte arrived before the failure
    if (download.sink_failed() || !retrier.ShouldRetry(s)) return s;
  }
}

}  // namespace neon
