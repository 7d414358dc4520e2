// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "remote/json.h"

#include <charconv>

#include "absl/container/flat_hash_set.h"
#include "base/check.h"
#include "base/status_macros.h"
#include "base/str_cat.h"

namespace neon {

class JsonParser {
 public:
  explicit JsonParser(std::string_view in) : in_(in) {}

  absl::StatusOr<JsonValue> ParseDocument() {
    if (in_.size() > kMaxJsonBytes) {
      return absl::ResourceExhaustedError(StrCat("JSON document of ", in_.size(), " bytes is too large"));
    }
    JsonValue v;
    NEON_RETURN_IF_ERROR(ParseValue(&v, 0));
    SkipSpace();
    if (pos_ != in_.size()) return Error("text after the value");
    return v;
  }

 private:
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(StrCat("malformed JSON at byte ", pos_, ": ", what));
  }
  void SkipSpace() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\n' || in_[pos_] == '\r')) {
      pos_++;
    }
  }
  bool Consume(std::string_view lit) {
    if (in_.substr(pos_, lit.size()) != lit) return false;
    pos_ += lit.size();
    return true;
  }

  absl::Status ParseValue(JsonValue* v, int depth) {
    if (depth >= kMaxJsonDepth) return absl::ResourceExhaustedError("JSON nested too deeply");
    SkipSpace();
    if (pos_ >= in_.size()) return Error("unexpected end");
    char c = in_[pos_];
    if (c == '{') return ParseObject(v, depth);
    if (c == '[') return ParseArray(v, depth);
    if (c == '"') {
      v->type_ = JsonValue::Type::kString;
      return ParseString(&v->text_);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(v);
    if (Consume("true") || Consume("false")) {
      v->type_ = JsonValue::Type::kBool;
      v->bool_ = in_[pos_ - 1] == 'e' && in_[pos_ - 2] == 'u';
      return absl::OkStatus();
    }
    if (Consume("null")) return absl::OkStatus();
    return Error("unexpected character");
  }

  absl::Status ParseObject(JsonValue* v, int depth) {
    v->type_ = JsonValue::Type::kObject;
    pos_++;  // '{'
    SkipSpace();
    if (Consume("}")) return absl::OkStatus();
    absl::flat_hash_set<std::string> seen;
    for (;;) {
      SkipSpace();
      if (pos_ >= in_.size() || in_[pos_] != '"') return Error("expected a member name");
      std::string key;
      NEON_RETURN_IF_ERROR(ParseString(&key));
      if (!seen.insert(key).second) return Error(StrCat("duplicate member \"", key, "\""));
      SkipSpace();
      if (!Consume(":")) return Error("expected ':'");
      JsonValue member;
      NEON_RETURN_IF_ERROR(ParseValue(&member, depth + 1));
      v->members_.emplace_back(std::move(key), std::move(member));
      SkipSpace();
      if (Consume("}")) return absl::OkStatus();
      if (!Consume(",")) return Error("expected ',' or '}'");
    }
  }

  absl::Status ParseArray(JsonValue* v, int depth) {
    v->type_ = JsonValue::Type::kArray;
    pos_++;  // '['
    SkipSpace();
    if (Consume("]")) return absl::OkStatus();
    for (;;) {
      JsonValue item;
      NEON_RETURN_IF_ERROR(ParseValue(&item, depth + 1));
      v->items_.push_back(std::move(item));
      SkipSpace();
      if (Consume("]")) return absl::OkStatus();
      if (!Consume(",")) return Error("expected ',' or ']'");
    }
  }

  absl::Status ParseNumber(JsonValue* v) {
    size_t start = pos_;
    if (in_[pos_] == '-') pos_++;
    auto digits = [&] {
      size_t n = 0;
      while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') pos_++, n++;
      return n;
    };
    size_t int_start = pos_;
    size_t n = digits();
    if (n == 0) return Error("bad number");
    if (n > 1 && in_[int_start] == '0') return Error("leading zero in number");
    if (pos_ < in_.size() && in_[pos_] == '.') {
      pos_++;
      if (digits() == 0) return Error("bad fraction");
    }
    if (pos_ < in_.size() && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
      pos_++;
      if (pos_ < in_.size() && (in_[pos_] == '+' || in_[pos_] == '-')) pos_++;
      if (digits() == 0) return Error("bad exponent");
    }
    v->type_ = JsonValue::Type::kNumber;
    v->text_ = std::string(in_.substr(start, pos_ - start));
    return absl::OkStatus();
  }

  absl::StatusOr<uint32_t> Hex4() {
    if (pos_ + 4 > in_.size()) return Error("short \\u escape");
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(in_.data() + pos_, in_.data() + pos_ + 4, v, 16);
    if (ec != std::errc() || p != in_.data() + pos_ + 4) return Error("bad \\u escape");
    pos_ += 4;
    return v;
  }

  static void AppendUtf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(char(cp));
    } else if (cp < 0x800) {
      out->push_back(char(0xC0 | (cp >> 6)));
      out->push_back(char(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(char(0xE0 | (cp >> 12)));
      out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(char(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(char(0xF0 | (cp >> 18)));
      out->push_back(char(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(char(0x80 | (cp & 0x3F)));
    }
  }

  absl::Status ParseEscape(std::string* out) {
    if (pos_ >= in_.size()) return Error("unterminated escape");
    char e = in_[pos_++];
    switch (e) {
      case '"': case '\\': case '/': out->push_back(e); return absl::OkStatus();
      case 'b': out->push_back('\b'); return absl::OkStatus();
      case 'f': out->push_back('\f'); return absl::OkStatus();
      case 'n': out->push_back('\n'); return absl::OkStatus();
      case 'r': out->push_back('\r'); return absl::OkStatus();
      case 't': out->push_back('\t'); return absl::OkStatus();
      case 'u': break;
      default: return Error("bad escape");
    }
    NEON_ASSIGN_OR_RETURN(uint32_t cp, Hex4());
    if (cp >= 0xDC00 && cp <= 0xDFFF) return Error("lone low surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (!Consume("\\u")) return Error("lone high surrogate");
      NEON_ASSIGN_OR_RETURN(uint32_t lo, Hex4());
      if (lo < 0xDC00 || lo > 0xDFFF) return Error("bad surrogate pair");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    AppendUtf8(out, cp);
    return absl::OkStatus();
  }

  absl::Status ParseString(std::string* out) {
    pos_++;  // '"'
    for (;;) {
      if (pos_ >= in_.size()) return Error("unterminated string");
      char c = in_[pos_++];
      if (c == '"') return absl::OkStatus();
      if (static_cast<unsigned char>(c) < 0x20) return Error("control character in string");
      if (c == '\\') {
        NEON_RETURN_IF_ERROR(ParseEscape(out));
      } else {
        out->push_back(c);
      }
    }
  }

  std::string_view in_;
  size_t pos_ = 0;
};

const JsonValue* JsonValue::Find(std::string_view key) const {
  for (const auto& [k, v] : members_) {
    if (k == key) return &v;
  }
  return nullptr;
}

absl::StatusOr<std::string> JsonValue::GetString(std::string_view what) const {
  if (type_ != Type::kString) return absl::InvalidArgumentError(StrCat(what, ": expected a string"));
  return text_;
}

absl::StatusOr<bool> JsonValue::GetBool(std::string_view what) const {
  if (type_ != Type::kBool) return absl::InvalidArgumentError(StrCat(what, ": expected true or false"));
  return bool_;
}

absl::StatusOr<uint64_t> JsonValue::GetU64(std::string_view what) const {
  uint64_t v = 0;
  if (type_ == Type::kNumber) {
    auto [p, ec] = std::from_chars(text_.data(), text_.data() + text_.size(), v);
    if (ec == std::errc() && p == text_.data() + text_.size()) return v;
  }
  return absl::InvalidArgumentError(StrCat(what, ": expected an unsigned 64-bit integer"));
}

absl::StatusOr<JsonValue> ParseJson(std::string_view text) { return JsonParser(text).ParseDocument(); }

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out.push_back(kHex[(c >> 4) & 0xF]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

void JsonWriter::BeforeValue() {
  if (!stack_.empty() && stack_.back()) {
    NEON_CHECK(key_pending_);
    key_pending_ = false;
    return;
  }
  NEON_CHECK(!stack_.empty() || out_.empty());  // one top-level value
  if (!first_) out_.push_back(',');
  first_ = false;
}

JsonWriter& JsonWriter::BeginObject() {
  BeforeValue();
  out_.push_back('{');
  stack_.push_back(true);
  first_ = true;
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  NEON_CHECK(!stack_.empty() && stack_.back() && !key_pending_);
  stack_.pop_back();
  out_.push_back('}');
  first_ = false;
  return *this;
}

JsonWriter& JsonWriter::BeginArray() {
  BeforeValue();
  out_.push_back('[');
  stack_.push_back(false);
  first_ = true;
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  NEON_CHECK(!stack_.empty() && !stack_.back());
  stack_.pop_back();
  out_.push_back(']');
  first_ = false;
  return *this;
}

JsonWriter& JsonWriter::Key(std::string_view key) {
  NEON_CHECK(!stack_.empty() && stack_.back() && !key_pending_);
  if (!first_) out_.push_back(',');
  first_ = false;
  out_ += JsonQuote(key);
  out_.push_back(':');
  key_pending_ = true;
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view s) {
  BeforeValue();
  out_ += JsonQuote(s);
  return *this;
}

JsonWriter& JsonWriter::U64(uint64_t v) {
  BeforeValue();
  out_ += std::to_string(v);
  return *this;
}

JsonWriter& JsonWriter::Bool(bool b) {
  BeforeValue();
  out_ += b ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::Null() {
  BeforeValue();
  out_ += "null";
  return *this;
}

const std::string& JsonWriter::str() const {
  NEON_CHECK(stack_.empty());
  return out_;
}

}  // namespace neon
