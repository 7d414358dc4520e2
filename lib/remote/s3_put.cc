// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// S3ObjectStore::Put: one PUT up to the threshold, else a multipart upload
// (create, parts, complete; abort on any failure). Memory: the pending
// buffer holds at most threshold + one stream chunk, then at most one part
// plus one chunk.

#include <algorithm>

#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"
#include "remote/s3_object_store.h"

namespace neon {
namespace {

// Appends up to `want` bytes from `source` to `buf`; returns bytes added (0 at end).
absl::StatusOr<size_t> ReadInto(ObjectSource& source, std::string* buf, size_t want) {
  size_t old = buf->size();
  buf->resize(old + want);
  auto n = source.Read(buf->data() + old, want);
  if (!n.ok()) {
    buf->resize(old);
    return n.status();
  }
  NEON_CHECK(*n <= want);
  buf->resize(old + *n);
  return *n;
}

// Fills `buf` to `size` bytes or the end of the source; true at the end.
absl::StatusOr<bool> Fill(ObjectSource& source, std::string* buf, size_t size) {
  while (buf->size() < size) {
    NEON_ASSIGN_OR_RETURN(size_t n, ReadInto(source, buf, std::min(size - buf->size(), kObjectStreamChunkBytes)));
    if (n == 0) return true;
  }
  return false;
}

}  // namespace

absl::Status S3ObjectStore::Put(std::string_view key, ObjectSource& source) {
  NEON_RETURN_IF_ERROR(ValidateObjectKey(key));
  std::string pending;
  pending.reserve(options_.multipart_threshold_bytes);
  NEON_ASSIGN_OR_RETURN(bool eof, Fill(source, &pending, options_.multipart_threshold_bytes));
  if (!eof) {
    // Exactly at the threshold: one more read decides.
    NEON_ASSIGN_OR_RETURN(size_t more, ReadInto(source, &pending, kObjectStreamChunkBytes));
    eof = more == 0;
  }
  if (eof) return PutSingle(key, pending);
  return PutMultipart(key, std::move(pending), source);
}

absl::Status S3ObjectStore::PutSingle(std::string_view key, std::string_view data) {
  Call call{"PUT", std::string(key)};
  call.body = data;
  call.has_body = true;
  return Send(call, StrCat("put '", key, "'")).status();
}

absl::StatusOr<std::string> S3ObjectStore::UploadPart(std::string_view key, const std::string& upload_id,
                                                      int part, std::string_view data) {
  Call call{"PUT", std::string(key)};
  call.query = {{"partNumber", StrCat(part)}, {"uploadId", upload_id}};
  call.body = data;
  call.has_body = true;
  std::string what = StrCat("put '", key, "' part ", part);
  NEON_ASSIGN_OR_RETURN(HttpResponse r, Send(call, what));
  std::string etag = r.Header("etag");
  if (etag.empty()) return absl::InternalError(StrCat(what, ": no ETag in the response"));
  return etag;
}

void S3ObjectStore::AbortMultipart(std::string_view key, const std::string& upload_id) {
  Call call{"DELETE", std::string(key)};
  call.query = {{"uploadId", upload_id}};
  // Best effort: a leaked upload costs storage until a lifecycle rule
  // removes it, but cannot become visible.
  Send(call, StrCat("abort upload of '", key, "'")).status().IgnoreError();
}

absl::Status S3ObjectStore::PutMultipart(std::string_view key, std::string pending, ObjectSource& source) {
  Call create{"POST", std::string(key)};
  create.query = {{"uploads", ""}};
  create.has_body = true;
  std::string what = StrCat("put '", key, "'");
  NEON_ASSIGN_OR_RETURN(HttpResponse created, Send(create, StrCat(what, ": create multipart upload")));
  NEON_ASSIGN_OR_RETURN(std::string upload_id, ParseUploadId(created.body));

  const size_t part_bytes = options_.multipart_part_bytes;
  std::vector<CompletedPart> parts;
  absl::Status s;
  bool eof = false;
  while (s.ok()) {
    if (!eof) {
      auto filled = Fill(source, &pending, part_bytes);
      if (!filled.ok()) {
        s = filled.status();
        break;
      }
      eof = *filled;
    }
    if (pending.empty()) break;
    if (static_cast<int>(parts.size()) == kMaxMultipartParts) {
      s = absl::InvalidArgumentError(StrCat(what, ": more than ", kMaxMultipartParts, " parts"));
      break;
    }
    size_t n = std::min(part_bytes, pending.size());
    int number = static_cast<int>(parts.size()) + 1;
    auto etag = UploadPart(key, upload_id, number, std::string_view(pending).substr(0, n));
    if (!etag.ok()) {
      s = etag.status();
      break;
    }
    parts.push_back(CompletedPart{number, *etag});
    pending.erase(0, n);
    if (eof && pending.empty()) break;
  }
  if (s.ok()) {
    std::string body = CompleteMultipartXml(parts);
    Call complete{"POST", std::string(key)};
    complete.query = {{"uploadId", upload_id}};
    complete.body = body;
    complete.has_body = true;
    auto r = Send(complete, StrCat(what, ": complete multipart upload"));
    s = r.ok() ? S3ErrorInBody(r->body, StrCat(what, ": complete multipart upload")) : r.status();
  }
  if (!s.ok()) AbortMultipart(key, upload_id);
  return s;
}

}  // namespace neon
