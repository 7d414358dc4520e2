// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// S3 REST responses: status mapping and the XML documents the S3 store reads
// and writes (ListObjectsV2, Error, InitiateMultipartUpload,
// CompleteMultipartUpload, DeleteObjects, CopyObject).
//
// Status mapping (HTTP status, S3 error code):
//   2xx OK; 404 NotFound; 403 PermissionDenied; 416 OutOfRange;
//   412 FailedPrecondition; 409 Aborted; 429 and 5xx (but 501) Unavailable
//   (the retried ones); 501 Unimplemented; other 4xx InvalidArgument.
//
// Thread safety: pure functions.

#ifndef NEON_LIB_REMOTE_S3_RESPONSES_H_
#define NEON_LIB_REMOTE_S3_RESPONSES_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "neon/object_store.h"

namespace neon {

// The status for an HTTP response; `body` may hold an S3 <Error> document
// whose Code and Message are added to the message. `what` names the request.
absl::Status S3StatusFromHttp(int http_status, std::string_view body, std::string_view what);

// An S3 error code ("SlowDown", "InternalError", ...) carried by a 200
// response (CompleteMultipartUpload and CopyObject may do that): its status,
// or OK when `body` is not an <Error> document.
absl::Status S3ErrorInBody(std::string_view body, std::string_view what);

// ListObjectsV2 (ListBucketResult). `strip_prefix` is removed from keys and
// common prefixes (the store's key_prefix); entries without it are dropped.
absl::StatusOr<ListResult> ParseListObjectsV2(std::string_view body, std::string_view strip_prefix);

absl::StatusOr<std::string> ParseUploadId(std::string_view body);

struct CompletedPart {
  int part_number;
  std::string etag;
};
std::string CompleteMultipartXml(const std::vector<CompletedPart>& parts);

std::string DeleteObjectsXml(const std::vector<std::string>& full_keys);
// OK if the DeleteResult lists no <Error>; otherwise the first error's status
// (a missing key is not an error in S3).
absl::Status ParseDeleteResult(std::string_view body);

}  // namespace neon

#endif  // NEON_LIB_REMOTE_S3_RESPONSES_H_
