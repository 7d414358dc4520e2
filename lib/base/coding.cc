// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "base/coding.h"

namespace neon {

void PutVarint64(std::string* out, uint64_t v) {
  char buf[10];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = char((v & 0x7F) | 0x80);
    v >>= 7;
  }
  buf[n++] = char(v);
  out->append(buf, n);
}

void PutVarint32(std::string* out, uint32_t v) { PutVarint64(out, v); }

void PutLengthPrefixed(std::string* out, std::string_view data) {
  PutVarint32(out, uint32_t(data.size()));
  out->append(data);
}

int VarintLength(uint64_t v) {
  int n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

namespace {
template <typename T, size_t N, typename F>
bool GetFixed(std::string_view* in, T* v, F decode) {
  if (in->size() < N) return false;
  *v = decode(reinterpret_cast<const uint8_t*>(in->data()));
  in->remove_prefix(N);
  return true;
}
}  // namespace

bool GetU8(std::string_view* in, uint8_t* v) {
  if (in->empty()) return false;
  *v = uint8_t((*in)[0]);
  in->remove_prefix(1);
  return true;
}
bool GetFixed16BE(std::string_view* in, uint16_t* v) {
  return GetFixed<uint16_t, 2>(in, v, DecodeFixed16BE);
}
bool GetFixed32BE(std::string_view* in, uint32_t* v) {
  return GetFixed<uint32_t, 4>(in, v, DecodeFixed32BE);
}
bool GetFixed64BE(std::string_view* in, uint64_t* v) {
  return GetFixed<uint64_t, 8>(in, v, DecodeFixed64BE);
}
bool GetFixed32LE(std::string_view* in, uint32_t* v) {
  return GetFixed<uint32_t, 4>(in, v, DecodeFixed32LE);
}
bool GetFixed64LE(std::string_view* in, uint64_t* v) {
  return GetFixed<uint64_t, 8>(in, v, DecodeFixed64LE);
}

bool GetVarint64(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    uint8_t byte = uint8_t((*in)[0]);
    in->remove_prefix(1);
    if (shift == 63 && byte > 1) return false;  // overflow
    result |= uint64_t(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

bool GetVarint32(std::string_view* in, uint32_t* v) {
  uint64_t r;
  if (!GetVarint64(in, &r) || r > UINT32_MAX) return false;
  *v = uint32_t(r);
  return true;
}

bool GetBytes(std::string_view* in, size_t n, std::string_view* out) {
  if (in->size() < n) return false;
  *out = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

bool GetLengthPrefixed(std::string_view* in, std::string_view* out) {
  uint32_t len;
  return GetVarint32(in, &len) && GetBytes(in, len, out);
}

}  // namespace neon
