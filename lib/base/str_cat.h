// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// neon::StrCat: concatenates strings, string views and numbers. Debian 12's
// Abseil is built with its own absl::string_view (not std::string_view), so
// absl::StrCat does not accept std::string_view; this does.

#ifndef NEON_LIB_BASE_STR_CAT_H_
#define NEON_LIB_BASE_STR_CAT_H_

#include <charconv>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/string_view.h"

namespace neon {
namespace str_internal {

inline void Append(std::string* out, std::string_view s) { out->append(s); }
inline void Append(std::string* out, const char* s) { out->append(s); }
inline void Append(std::string* out, const std::string& s) { out->append(s); }
inline void Append(std::string* out, absl::string_view s) { out->append(s.data(), s.size()); }
inline void Append(std::string* out, char c) { out->push_back(c); }
template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, char>>>
void Append(std::string* out, T v) {
  if constexpr (std::is_same_v<T, bool>) {
    out->append(v ? "true" : "false");
  } else {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out->append(buf, r.ptr);
  }
}

}  // namespace str_internal

template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  (str_internal::Append(&out, args), ...);
  return out;
}

// absl::string_view from std::string_view (for absl APIs).
inline absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace neon

#endif  // NEON_LIB_BASE_STR_CAT_H_
