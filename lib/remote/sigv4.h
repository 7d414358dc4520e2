// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// AWS Signature Version 4 (docs.aws.amazon.com, "Signature Version 4 signing
// process"), header form:
//
//   CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n
//                      CanonicalHeaders \n SignedHeaders \n PayloadHash
//   StringToSign     = "AWS4-HMAC-SHA256" \n AmzDate \n Scope \n hex(SHA256(CanonicalRequest))
//   Scope            = Date/Region/Service/"aws4_request"
//   SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4"+Secret, Date), Region), Service), "aws4_request")
//   Signature        = hex(HMAC(SigningKey, StringToSign))
//
// The canonical URI is the request path as sent, already URI-encoded (S3
// does not encode it a second time); query names and values are encoded
// here and sorted; header names are lowercased, values trimmed with inner
// runs of spaces collapsed, sorted by name.
//
// Thread safety: pure functions.

#ifndef NEON_LIB_REMOTE_SIGV4_H_
#define NEON_LIB_REMOTE_SIGV4_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace neon {

struct SigV4Request {
  std::string method;           // "GET", "PUT", ...
  std::string canonical_uri;    // "/bucket/key%20name", URI-encoded
  std::vector<std::pair<std::string, std::string>> query;    // raw (unencoded) names and values
  std::vector<std::pair<std::string, std::string>> headers;  // all to be signed, incl. host
  std::string payload_hash;     // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

struct SigV4Signer {
  std::string access_key_id;
  std::string secret_access_key;
  std::string region;
  std::string service = "s3";
};

struct SigV4Result {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // hex
  std::string authorization;  // the Authorization header's value
};

// amz_date: "YYYYMMDDTHHMMSSZ" (also sent as x-amz-date, which the caller
// includes in request.headers).
SigV4Result SignV4(const SigV4Signer& signer, const SigV4Request& request, std::string_view amz_date);

// RFC 3986 percent-encoding of everything but unreserved characters
// (A-Z a-z 0-9 - . _ ~); '/' is kept when encode_slash is false.
std::string UriEncode(std::string_view s, bool encode_slash);

// "YYYYMMDDTHHMMSSZ" for microseconds since the Unix epoch (UTC).
std::string AmzDate(int64_t unix_micros);

// The canonical query string (also usable as the URL's query).
std::string CanonicalQuery(const std::vector<std::pair<std::string, std::string>>& query);

}  // namespace neon

#endif  // NEON_LIB_REMOTE_SIGV4_H_
