// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "remote/s3_responses.h"

#include <cstdlib>

#include "base/status_macros.h"
#include "base/str_cat.h"
#include "remote/xml.h"

namespace neon {
namespace {

absl::Status FromCode(absl::StatusCode code, std::string msg) { return absl::Status(code, msg); }

// Codes S3 returns inside 200 responses or DeleteResult entries.
absl::StatusCode CodeForS3Error(std::string_view s3_code) {
  if (s3_code == "NoSuchKey" || s3_code == "NoSuchBucket" || s3_code == "NoSuchUpload") {
    return absl::StatusCode::kNotFound;
  }
  if (s3_code == "AccessDenied" || s3_code == "InvalidAccessKeyId" || s3_code == "SignatureDoesNotMatch") {
    return absl::StatusCode::kPermissionDenied;
  }
  if (s3_code == "InternalError" || s3_code == "SlowDown" || s3_code == "ServiceUnavailable" ||
      s3_code == "Throttling" || s3_code == "RequestTimeout") {
    return absl::StatusCode::kUnavailable;
  }
  return absl::StatusCode::kInvalidArgument;
}

}  // namespace

absl::Status S3StatusFromHttp(int http_status, std::string_view body, std::string_view what) {
  if (http_status >= 200 && http_status < 300) return absl::OkStatus();
  std::string detail;
  if (!body.empty()) {
    auto doc = ParseXml(body);
    if (doc.ok() && doc->name == "Error") {
      detail = StrCat(": ", doc->ChildText("Code"), " ", doc->ChildText("Message"));
    }
  }
  std::string msg = StrCat(what, ": HTTP ", http_status, detail);
  absl::StatusCode code;
  if (http_status == 404) {
    code = absl::StatusCode::kNotFound;
  } else if (http_status == 403) {
    code = absl::StatusCode::kPermissionDenied;
  } else if (http_status == 416) {
    code = absl::StatusCode::kOutOfRange;
  } else if (http_status == 412) {
    code = absl::StatusCode::kFailedPrecondition;
  } else if (http_status == 409) {
    code = absl::StatusCode::kAborted;
  } else if (http_status == 501) {
    code = absl::StatusCode::kUnimplemented;
  } else if (http_status == 429 || http_status >= 500) {
    code = absl::StatusCode::kUnavailable;
  } else {
    code = absl::StatusCode::kInvalidArgument;
  }
  return FromCode(code, msg);
}

absl::Status S3ErrorInBody(std::string_view body, std::string_view what) {
  auto doc = ParseXml(body);
  if (!doc.ok() || doc->name != "Error") return absl::OkStatus();
  std::string s3_code = doc->ChildText("Code");
  return FromCode(CodeForS3Error(s3_code), StrCat(what, ": ", s3_code, " ", doc->ChildText("Message")));
}

absl::StatusOr<ListResult> ParseListObjectsV2(std::string_view body, std::string_view strip_prefix) {
  NEON_ASSIGN_OR_RETURN(XmlElement doc, ParseXml(body));
  if (doc.name != "ListBucketResult") {
    return absl::InvalidArgumentError(StrCat("list: unexpected document <", doc.name, ">"));
  }
  auto strip = [&](const std::string& s, std::string* out) {
    if (s.compare(0, strip_prefix.size(), strip_prefix) != 0) return false;
    *out = s.substr(strip_prefix.size());
    return true;
  };
  ListResult r;
  for (const XmlElement* c : doc.Children("Contents")) {
    ObjectInfo info;
    if (!strip(c->ChildText("Key"), &info.key)) continue;
    std::string size = c->ChildText("Size");
    char* end = nullptr;
    info.size_bytes = std::strtoull(size.c_str(), &end, 10);
    if (size.empty() || *end != '\0') return absl::InvalidArgumentError(StrCat("list: bad Size '", size, "'"));
    info.etag = c->ChildText("ETag");
    r.objects.push_back(std::move(info));
  }
  for (const XmlElement* p : doc.Children("CommonPrefixes")) {
    std::string prefix;
    if (strip(p->ChildText("Prefix"), &prefix)) r.common_prefixes.push_back(std::move(prefix));
  }
  if (doc.ChildText("IsTruncated") == "true") {
    r.next_continuation_token = doc.ChildText("NextContinuationToken");
    if (r.next_continuation_token.empty()) {
      return absl::InvalidArgumentError("list: truncated result without NextContinuationToken");
    }
  }
  return r;
}

absl::StatusOr<std::string> ParseUploadId(std::string_view body) {
  NEON_ASSIGN_OR_RETURN(XmlElement doc, ParseXml(body));
  std::string id = doc.ChildText("UploadId");
  if (doc.name != "InitiateMultipartUploadResult" || id.empty()) {
    return absl::InvalidArgumentError("create multipart upload: no UploadId in the response");
  }
  return id;
}

std::string CompleteMultipartXml(const std::vector<CompletedPart>& parts) {
  std::string xml = "<CompleteMultipartUpload>";
  for (const CompletedPart& p : parts) {
    xml += StrCat("<Part><PartNumber>", p.part_number, "</PartNumber><ETag>", XmlEscape(p.etag),
                  "</ETag></Part>");
  }
  xml += "</CompleteMultipartUpload>";
  return xml;
}

std::string DeleteObjectsXml(const std::vector<std::string>& full_keys) {
  std::string xml = "<Delete><Quiet>true</Quiet>";
  for (const std::string& k : full_keys) xml += StrCat("<Object><Key>", XmlEscape(k), "</Key></Object>");
  xml += "</Delete>";
  return xml;
}

absl::Status ParseDeleteResult(std::string_view body) {
  if (body.empty()) return absl::OkStatus();
  NEON_ASSIGN_OR_RETURN(XmlElement doc, ParseXml(body));
  if (doc.name == "Error") return S3ErrorInBody(body, "delete");
  for (const XmlElement* e : doc.Children("Error")) {
    std::string s3_code = e->ChildText("Code");
    if (s3_code == "NoSuchKey") continue;
    return FromCode(CodeForS3Error(s3_code), StrCat("delete '", e->ChildText("Key"), "': ", s3_code, " ",
                                                    e->ChildText("Message")));
  }
  return absl::OkStatus();
}

}  // namespace neon
