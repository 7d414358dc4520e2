// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// S3ObjectStore::Get: a streamed download that resumes after a transient
// failure from the first byte not yet delivered (Range + If-Match on the
// first response's ETag). The response's Content-Range is checked against
// the request; a server that sends more than asked (s3rver 3.7.1 answers
// "bytes=0-0" with the whole object) is cut at the requested end.

#include <algorithm>
#include <cstdlib>

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

}  // namespace

absl::StatusOr<ObjectInfo> S3ObjectStore::Get(std::string_view key, const ByteRange& range,
                                              const ObjectSink& sink) {
  NEON_RETURN_IF_ERROR(ValidateObjectKey(key));
  if (range.length.has_value() && *range.length == 0) {
    return absl::InvalidArgumentError(StrCat("get '", key, "': empty byte range"));
  }
  const std::string what = StrCat("get '", key, "'");
  ObjectInfo info{std::string(key), 0, ""};
  bool have_info = false;
  uint64_t delivered = 0;  // bytes given to the sink, over all attempts
  bool sink_failed = false;
  Retrier retrier = NewRetrier();
  while (true) {
    uint64_t end = 0;  // exclusive end of the wanted bytes, once the size is known
    if (have_info) {
      end = range.length ? std::min(info.size_bytes, range.offset + *range.length) : info.size_bytes;
      if (range.offset + delivered >= end) return info;  // all delivered before the failure
    }
    const uint64_t start = range.offset + delivered;
    const bool ranged = start > 0 || range.length.has_value();
    uint64_t remaining = 0;  // bytes this attempt may still deliver
    bool enough = false;     // the server sent more than asked; the rest was dropped
    Call call{"GET", std::string(key)};
    if (ranged) {
      std::string last = range.length ? StrCat(range.offset + *range.length - 1) : std::string();
      call.headers.emplace_back("range", StrCat("bytes=", start, "-", last));
    }
    if (!info.etag.empty()) call.headers.emplace_back("if-match", info.etag);
    call.on_headers = [&](const HttpResponse& r) -> absl::Status {
      uint64_t first = 0, last = 0, total = 0;
      if (r.status == 206) {
        if (!ParseContentRange(r.Header("content-range"), &first, &last, &total) || first != start) {
          return absl::InternalError(
              StrCat(what, ": Content-Range '", r.Header("content-range"), "' does not match bytes=", start, "-"));
        }
      } else if (start == 0 && ParseUint(r.Header("content-length"), &total)) {
        last = total - 1;  // the whole object (a range the server ignored, or none)
      } else {
        return absl::InternalError(StrCat(what, ": server ignored the Range header (HTTP ", r.status, ")"));
      }
      if (have_info && (total != info.size_bytes || r.Header("etag") != info.etag)) {
        return absl::FailedPreconditionError(StrCat(what, ": object changed while downloading"));
      }
      info.size_bytes = total;
      info.etag = r.Header("etag");
      have_info = true;
      uint64_t want_end = range.length ? std::min(total, range.offset + *range.length) : total;
      remaining = want_end - start;
      return absl::OkStatus();
    };
    call.on_body = [&](std::string_view chunk) {
      if (remaining == 0) {
        enough = true;
        return absl::CancelledError("enough bytes");  // stops the transfer
      }
      chunk = chunk.substr(0, std::min<uint64_t>(chunk.size(), remaining));
      absl::Status s = sink(chunk);
      if (!s.ok()) {
        sink_failed = true;
        return s;
      }
      delivered += chunk.size();
      remaining -= chunk.size();
      return absl::OkStatus();
    };
    auto r = SendOnce(call);
    if (enough) return info;
    absl::Status s = r.ok() ? S3StatusFromHttp(r->status, r->body, what) : Annotate(r.status(), what);
    if (s.ok() && !have_info) {
      // No body bytes (an empty object): the info comes from the headers.
      if (ranged || !ParseUint(r->Header("content-length"), &info.size_bytes)) {
        return absl::InternalError(StrCat(what, ": empty response without the object's size"));
      }
      info.etag = r->Header("etag");
    }
    if (s.ok()) {
      uint64_t want_end = range.length ? std::min(info.size_bytes, range.offset + *range.length) : info.size_bytes;
      if (range.offset + delivered >= want_end) return info;
      s = absl::UnavailableError(StrCat(what, ": response ended early"));  // resumed below
    }
    if (sink_failed || !retrier.ShouldRetry(s)) return s;
  }
}

}  // namespace neon
