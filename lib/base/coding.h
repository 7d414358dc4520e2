// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Fixed-width (little- and big-endian) and varint encodings. Decoders take a
// std::string_view* cursor, advance it on success and return false on short
// or malformed input, leaving the cursor unspecified.

#ifndef NEON_LIB_BASE_CODING_H_
#define NEON_LIB_BASE_CODING_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace neon {

inline void EncodeFixed16BE(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline void EncodeFixed32BE(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}
inline void EncodeFixed64BE(uint8_t* p, uint64_t v) {
  EncodeFixed32BE(p, uint32_t(v >> 32));
  EncodeFixed32BE(p + 4, uint32_t(v));
}
inline uint16_t DecodeFixed16BE(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline uint32_t DecodeFixed32BE(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}
inline uint64_t DecodeFixed64BE(const uint8_t* p) {
  return (uint64_t(DecodeFixed32BE(p)) << 32) | DecodeFixed32BE(p + 4);
}

inline void EncodeFixed32LE(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
  p[2] = uint8_t(v >> 16);
  p[3] = uint8_t(v >> 24);
}
inline void EncodeFixed64LE(uint8_t* p, uint64_t v) {
  EncodeFixed32LE(p, uint32_t(v));
  EncodeFixed32LE(p + 4, uint32_t(v >> 32));
}
inline uint32_t DecodeFixed32LE(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}
inline uint64_t DecodeFixed64LE(const uint8_t* p) {
  return uint64_t(DecodeFixed32LE(p)) | (uint64_t(DecodeFixed32LE(p + 4)) << 32);
}

// Appenders.
// A T stored in host byte order (a C struct field written by a process on
// this machine, e.g. Postgres's WAL), read without alignment requirements.
template <typename T>
inline T LoadHost(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
// The same at `off` of `d`; zero when the field lies outside `d`.
template <typename T>
inline T LoadHost(std::string_view d, size_t off) {
  T v{};
  if (off <= d.size() && sizeof(T) <= d.size() - off) std::memcpy(&v, d.data() + off, sizeof(T));
  return v;
}

inline void PutU8(std::string* out, uint8_t v) { out->push_back(char(v)); }
inline void PutFixed16BE(std::string* out, uint16_t v) {
  uint8_t b[2];
  EncodeFixed16BE(b, v);
  out->append(reinterpret_cast<char*>(b), 2);
}
inline void PutFixed32BE(std::string* out, uint32_t v) {
  uint8_t b[4];
  EncodeFixed32BE(b, v);
  out->append(reinterpret_cast<char*>(b), 4);
}
inline void PutFixed64BE(std::string* out, uint64_t v) {
  uint8_t b[8];
  EncodeFixed64BE(b, v);
  out->append(reinterpret_cast<char*>(b), 8);
}
inline void PutFixed32LE(std::string* out, uint32_t v) {
  uint8_t b[4];
  EncodeFixed32LE(b, v);
  out->append(reinterpret_cast<char*>(b), 4);
}
inline void PutFixed64LE(std::string* out, uint64_t v) {
  uint8_t b[8];
  EncodeFixed64LE(b, v);
  out->append(reinterpret_cast<char*>(b), 8);
}
void PutVarint32(std::string* out, uint32_t v);
void PutVarint64(std::string* out, uint64_t v);
// u32 varint length followed by the bytes.
void PutLengthPrefixed(std::string* out, std::string_view data);

// Cursor readers.
bool GetU8(std::string_view* in, uint8_t* v);
bool GetFixed16BE(std::string_view* in, uint16_t* v);
bool GetFixed32BE(std::string_view* in, uint32_t* v);
bool GetFixed64BE(std::string_view* in, uint64_t* v);
bool GetFixed32LE(std::string_view* in, uint32_t* v);
bool GetFixed64LE(std::string_view* in, uint64_t* v);
bool GetVarint32(std::string_view* in, uint32_t* v);
bool GetVarint64(std::string_view* in, uint64_t* v);
bool GetLengthPrefixed(std::string_view* in, std::string_view* out);
bool GetBytes(std::string_view* in, size_t n, std::string_view* out);

int VarintLength(uint64_t v);

}  // namespace neon

#endif  // NEON_LIB_BASE_CODING_H_
