// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "remote/sigv4.h"

#include <time.h>

#include <algorithm>
#include <cctype>

#include "base/str_cat.h"
#include "remote/digest.h"

namespace neon {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Trims and collapses runs of spaces (SigV4's header value canonicalization).
std::string CanonicalValue(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string UriEncode(std::string_view s, bool encode_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && !encode_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string AmzDate(int64_t unix_micros) {
  time_t secs = static_cast<time_t>(unix_micros / 1'000'000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string CanonicalQuery(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  for (const auto& [k, v] : query) encoded.emplace_back(UriEncode(k, true), UriEncode(v, true));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [k, v] : encoded) {
    if (!out.empty()) out.push_back('&');
    out.append(k).append("=").append(v);
  }
  return out;
}

SigV4Result SignV4(const SigV4Signer& signer, const SigV4Request& request, std::string_view amz_date) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [k, v] : request.headers) headers.emplace_back(Lower(k), CanonicalValue(v));
  std::sort(headers.begin(), headers.end());
  std::string canonical_headers, signed_headers;
  for (const auto& [k, v] : headers) {
    canonical_headers.append(k).append(":").append(v).append("\n");
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers.append(k);
  }
  SigV4Result r;
  r.canonical_request = StrCat(request.method, "\n", request.canonical_uri, "\n", CanonicalQuery(request.query),
                               "\n", canonical_headers, "\n", signed_headers, "\n", request.payload_hash);
  std::string_view date = amz_date.substr(0, 8);
  std::string scope = StrCat(date, "/", signer.region, "/", signer.service, "/aws4_request");
  r.string_to_sign =
      StrCat("AWS4-HMAC-SHA256\n", amz_date, "\n", scope, "\n", Sha256Hex(r.canonical_request));
  std::string key = HmacSha256(StrCat("AWS4", signer.secret_access_key), date);
  key = HmacSha256(key, signer.region);
  key = HmacSha256(key, signer.service);
  key = HmacSha256(key, "aws4_request");
  r.signature = LowerHex(HmacSha256(key, r.string_to_sign));
  r.authorization = StrCat("AWS4-HMAC-SHA256 Credential=", signer.access_key_id, "/", scope,
                           ", SignedHeaders=", signed_headers, ", Signature=", r.signature);
  return r;
}

}  // namespace neon
