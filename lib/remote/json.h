// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// A small strict JSON reader and writer (RFC 8259) for the documents
// neonstore keeps in object storage and on local disk (index_part.json,
// deletion lists). Why not a library: see lib/remote/README.md ("JSON").
//
// Reader: builds a value tree. Numbers keep their text, so u64 values (file
// sizes) round-trip exactly and are converted only when asked for. Strings
// are checked for valid escapes ("\uXXXX" decoded to UTF-8, surrogate pairs
// joined); duplicate object keys, trailing commas, comments, leading zeros,
// NaN and text after the value are rejected. Malformed input is
// InvalidArgument; nesting deeper than kMaxJsonDepth or input larger than
// kMaxJsonBytes is ResourceExhausted.
//
// Writer: appends tokens to a string; the caller nests Begin/End correctly
// (checked with NEON_CHECK).
//
// Thread safety: values; the parse function is pure; a JsonWriter is used
// by one thread.

#ifndef NEON_LIB_REMOTE_JSON_H_
#define NEON_LIB_REMOTE_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace neon {

inline constexpr int kMaxJsonDepth = 64;
inline constexpr size_t kMaxJsonBytes = 64ull << 20;

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_number() const { return type_ == Type::kNumber; }

  // Object member `key`, or null if absent (or this is not an object).
  const JsonValue* Find(std::string_view key) const;
  // REQUIRES: is_object(). Members in document order.
  const std::vector<std::pair<std::string, JsonValue>>& members() const { return members_; }
  // REQUIRES: is_array().
  const std::vector<JsonValue>& items() const { return items_; }

  // Typed accessors: InvalidArgument (naming `what`) on a type mismatch.
  absl::StatusOr<std::string> GetString(std::string_view what) const;
  absl::StatusOr<bool> GetBool(std::string_view what) const;
  // Non-negative integers only (no fraction, no exponent, <= UINT64_MAX).
  absl::StatusOr<uint64_t> GetU64(std::string_view what) const;

 private:
  friend class JsonParser;
  Type type_ = Type::kNull;
  bool bool_ = false;
  std::string text_;  // string value, or a number's text
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

absl::StatusOr<JsonValue> ParseJson(std::string_view text);

// Appends compact JSON to a string.
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // The next member's key. REQUIRES: inside an object, no key pending.
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view s);
  JsonWriter& U64(uint64_t v);
  JsonWriter& Bool(bool b);
  JsonWriter& Null();

  // REQUIRES: every Begin matched.
  const std::string& str() const;

 private:
  void BeforeValue();

  std::string out_;
  // One entry per open container: true for objects. `first_` tracks commas.
  std::vector<bool> stack_;
  bool first_ = true;
  bool key_pending_ = false;
};

// `s` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view s);

}  // namespace neon

#endif  // NEON_LIB_REMOTE_JSON_H_
