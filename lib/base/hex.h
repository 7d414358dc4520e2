// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// Strict hexadecimal helpers (no sign, no prefix, no whitespace).

#ifndef NEON_LIB_BASE_HEX_H_
#define NEON_LIB_BASE_HEX_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace neon {

inline int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses 1..max_digits hex digits.
inline bool ParseHexU64(std::string_view s, size_t max_digits, uint64_t* out) {
  if (s.empty() || s.size() > max_digits || s.size() > 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d = HexDigitValue(c);
    if (d < 0) return false;
    v = (v << 4) | uint64_t(d);
  }
  *out = v;
  return true;
}

// Decodes an even-length hex string into s.size()/2 bytes at out.
inline bool HexDecode(std::string_view s, uint8_t* out) {
  if (s.size() % 2 != 0) return false;
  for (size_t i = 0; i < s.size(); i += 2) {
    int hi = HexDigitValue(s[i]), lo = HexDigitValue(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i / 2] = uint8_t((hi << 4) | lo);
  }
  return true;
}

inline std::string HexEncode(const uint8_t* data, size_t n, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 0xF];
  }
  return out;
}

}  // namespace neon

#endif  // NEON_LIB_BASE_HEX_H_
