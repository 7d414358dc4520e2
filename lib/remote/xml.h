// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// A small, tolerant XML reader for S3's responses (ListObjectsV2, errors,
// multipart, DeleteObjects, CopyObject). It builds an element tree: names
// without namespace prefixes, text with the five predefined entities and
// numeric character references decoded, CDATA kept, attributes, comments,
// processing instructions and DOCTYPE skipped. Malformed input is
// InvalidArgument; nesting deeper than kMaxXmlDepth or more than
// kMaxXmlElements elements is ResourceExhausted.
//
// Thread safety: values; the parse function is pure.

#ifndef NEON_LIB_REMOTE_XML_H_
#define NEON_LIB_REMOTE_XML_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace neon {

inline constexpr int kMaxXmlDepth = 32;
inline constexpr size_t kMaxXmlElements = 200'000;

struct XmlElement {
  std::string name;   // local name ("Key" for "<s3:Key>")
  std::string text;   // concatenated character data directly inside
  std::vector<XmlElement> children;

  // The first child named `name`, or null.
  const XmlElement* Child(std::string_view name) const;
  // Text of the first child named `name`, or "" when there is none.
  std::string ChildText(std::string_view name) const;
  // Every child named `name`, in document order.
  std::vector<const XmlElement*> Children(std::string_view name) const;
};

// Parses a document; returns its root element.
absl::StatusOr<XmlElement> ParseXml(std::string_view doc);

// Escapes text for element content (&, <, >, ", ').
std::string XmlEscape(std::string_view text);

}  // namespace neon

#endif  // NEON_LIB_REMOTE_XML_H_
