// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Digests over OpenSSL: SHA-256 and HMAC-SHA256 (Signature V4), MD5 (S3 ETags
// of single-part objects). Results as raw bytes or lowercase hex.
//
// Thread safety: the free functions are; a Digest object is used by one
// thread at a time.

#ifndef NEON_LIB_REMOTE_DIGEST_H_
#define NEON_LIB_REMOTE_DIGEST_H_

#include <memory>
#include <string>
#include <string_view>

namespace neon {

std::string Sha256(std::string_view data);      // 32 raw bytes
std::string Sha256Hex(std::string_view data);   // 64 hex chars
std::string HmacSha256(std::string_view key, std::string_view data);  // 32 raw bytes
std::string Md5Hex(std::string_view data);
std::string LowerHex(std::string_view bytes);
std::string Base64(std::string_view bytes);
std::string Md5Base64(std::string_view data);  // Content-MD5 header values

// A streaming digest.
class Digest {
 public:
  enum class Kind { kMd5, kSha256 };
  explicit Digest(Kind kind);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;

  void Update(std::string_view data);
  // The raw digest; the object must not be updated afterwards.
  std::string Finish();
  std::string FinishHex() { return LowerHex(Finish()); }

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

}  // namespace neon

#endif  // NEON_LIB_REMOTE_DIGEST_H_
