// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "remote/xml.h"

#include <cstdlib>

#include "base/str_cat.h"

namespace neon {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view doc) : doc_(doc) {}

  absl::StatusOr<XmlElement> Document() {
    SkipMisc();
    if (!Peek('<')) return Error("no root element");
    XmlElement root;
    absl::Status s = Element(&root, 0);
    if (!s.ok()) return s;
    SkipMisc();
    if (pos_ != doc_.size()) return Error("content after the root element");
    return root;
  }

 private:
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(StrCat("xml: ", what, " at byte ", pos_));
  }
  bool Peek(char c) const { return pos_ < doc_.size() && doc_[pos_] == c; }
  bool StartsWith(std::string_view s) const { return doc_.substr(pos_, s.size()) == s; }
  void SkipSpace() {
    while (pos_ < doc_.size() && (doc_[pos_] == ' ' || doc_[pos_] == '\n' || doc_[pos_] == '\r' ||
                                  doc_[pos_] == '\t')) {
      ++pos_;
    }
  }
  // Skips past `end`; false if it never comes.
  bool SkipPast(std::string_view end) {
    size_t at = doc_.find(end, pos_);
    if (at == std::string_view::npos) return false;
    pos_ = at + end.size();
    return true;
  }
  // Whitespace, comments, <?...?> and <!DOCTYPE ...> outside the root.
  void SkipMisc() {
    while (true) {
      SkipSpace();
      if (StartsWith("<?")) {
        if (!SkipPast("?>")) return;
      } else if (StartsWith("<!--")) {
        if (!SkipPast("-->")) return;
      } else if (StartsWith("<!DOCTYPE")) {
        if (!SkipPast(">")) return;
      } else {
        return;
      }
    }
  }

  static std::string_view LocalName(std::string_view name) {
    size_t colon = name.rfind(':');
    return colon == std::string_view::npos ? name : name.substr(colon + 1);
  }

  absl::Status Entity(std::string* out) {
    size_t semi = doc_.find(';', pos_);
    if (semi == std::string_view::npos || semi - pos_ > 12) return Error("bad entity");
    std::string_view e = doc_.substr(pos_ + 1, semi - pos_ - 1);
    pos_ = semi + 1;
    if (e == "amp") return out->push_back('&'), absl::OkStatus();
    if (e == "lt") return out->push_back('<'), absl::OkStatus();
    if (e == "gt") return out->push_back('>'), absl::OkStatus();
    if (e == "quot") return out->push_back('"'), absl::OkStatus();
    if (e == "apos") return out->push_back('\''), absl::OkStatus();
    if (e.size() < 2 || e[0] != '#') return Error("unknown entity");
    std::string digits(e.substr(e[1] == 'x' ? 2 : 1));
    char* end = nullptr;
    unsigned long cp = std::strtoul(digits.c_str(), &end, e[1] == 'x' ? 16 : 10);
    if (digits.empty() || *end != '\0' || cp > 0x10FFFF) return Error("bad character reference");
    // UTF-8 encode.
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    return absl::OkStatus();
  }

  // At '<' of a start tag: parses the element and its content.
  absl::Status Element(XmlElement* el, int depth) {
    if (depth >= kMaxXmlDepth) return absl::ResourceExhaustedError("xml: nested too deeply");
    if (++elements_ > kMaxXmlElements) return absl::ResourceExhaustedError("xml: too many elements");
    ++pos_;  // '<'
    size_t name_start = pos_;
    while (pos_ < doc_.size() && doc_[pos_] != '>' && doc_[pos_] != '/' && doc_[pos_] != ' ' &&
           doc_[pos_] != '\t' && doc_[pos_] != '\n' && doc_[pos_] != '\r') {
      ++pos_;
    }
    std::string_view qname = doc_.substr(name_start, pos_ - name_start);
    if (qname.empty()) return Error("empty element name");
    el->name = std::string(LocalName(qname));
    // Attributes: skipped, minding quoted '>' and '/'.
    while (pos_ < doc_.size() && doc_[pos_] != '>' && !StartsWith("/>")) {
      char c = doc_[pos_++];
      if (c == '"' || c == '\'') {
        size_t close = doc_.find(c, pos_);
        if (close == std::string_view::npos) return Error("unterminated attribute");
        pos_ = close + 1;
      }
    }
    if (pos_ >= doc_.size()) return Error("unterminated start tag");
    if (StartsWith("/>")) {
      pos_ += 2;
      return absl::OkStatus();
    }
    ++pos_;  // '>'
    return Content(el, qname, depth);
  }

  absl::Status Content(XmlElement* el, std::string_view qname, int depth) {
    while (pos_ < doc_.size()) {
      char c = doc_[pos_];
      if (c == '&') {
        absl::Status s = Entity(&el->text);
        if (!s.ok()) return s;
      } else if (c != '<') {
        el->text.push_back(c);
        ++pos_;
      } else if (StartsWith("<![CDATA[")) {
        size_t end = doc_.find("]]>", pos_);
        if (end == std::string_view::npos) return Error("unterminated CDATA");
        el->text.append(doc_.substr(pos_ + 9, end - pos_ - 9));
        pos_ = end + 3;
      } else if (StartsWith("<!--")) {
        if (!SkipPast("-->")) return Error("unterminated comment");
      } else if (StartsWith("<?")) {
        if (!SkipPast("?>")) return Error("unterminated processing instruction");
      } else if (StartsWith("</")) {
        pos_ += 2;
        if (!StartsWith(qname)) return Error(StrCat("mismatched end tag for ", qname));
        pos_ += qname.size();
        SkipSpace();
        if (!Peek('>')) return Error("bad end tag");
        ++pos_;
        return absl::OkStatus();
      } else {
        el->children.emplace_back();
        absl::Status s = Element(&el->children.back(), depth + 1);
        if (!s.ok()) return s;
      }
    }
    return Error(StrCat("unterminated element ", qname));
  }

  std::string_view doc_;
  size_t pos_ = 0;
  size_t elements_ = 0;
};

}  // namespace

const XmlElement* XmlElement::Child(std::string_view n) const {
  for (const auto& c : children) {
    if (c.name == n) return &c;
  }
  return nullptr;
}

std::string XmlElement::ChildText(std::string_view n) const {
  const XmlElement* c = Child(n);
  return c == nullptr ? std::string() : c->text;
}

std::vector<const XmlElement*> XmlElement::Children(std::string_view n) const {
  std::vector<const XmlElement*> out;
  for (const auto& c : children) {
    if (c.name == n) out.push_back(&c);
  }
  return out;
}

absl::StatusOr<XmlElement> ParseXml(std::string_view doc) { return Parser(doc).Document(); }

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out.append("&amp;"); break;
      case '<': out.append("&lt;"); break;
      case '>': out.append("&gt;"); break;
      case '"': out.append("&quot;"); break;
      case '\'': out.append("&apos;"); break;
      default: out.push_back(c);
    }
  }
  return out;
}

}  // namespace neon
