// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "neon/key.h"

#include "base/str_cat.h"
#include "base/coding.h"
#include "base/hex.h"

namespace neon {

Key Key::Next() const {
  Key k = *this;
  if (k == Max()) return k;
  if (k.field6 != 0xFFFFFFFF) {
    k.field6++;
    return k;
  }
  k.field6 = 0;
  if (k.field5 != 0xFF) {
    k.field5++;
    return k;
  }
  k.field5 = 0;
  if (k.field4 != 0xFFFFFFFF) {
    k.field4++;
    return k;
  }
  k.field4 = 0;
  if (k.field3 != 0xFFFFFFFF) {
    k.field3++;
    return k;
  }
  k.field3 = 0;
  if (k.field2 != 0xFFFFFFFF) {
    k.field2++;
    return k;
  }
  k.field2 = 0;
  k.field1++;
  return k;
}

void Key::EncodeTo(uint8_t* out) const {
  out[0] = field1;
  EncodeFixed32BE(out + 1, field2);
  EncodeFixed32BE(out + 5, field3);
  EncodeFixed32BE(out + 9, field4);
  out[13] = field5;
  EncodeFixed32BE(out + 14, field6);
}

Key::Encoded Key::Encode() const {
  Encoded e;
  EncodeTo(e.data());
  return e;
}

Key Key::Decode(const uint8_t* in) {
  return Key(in[0], DecodeFixed32BE(in + 1), DecodeFixed32BE(in + 5), DecodeFixed32BE(in + 9),
             in[13], DecodeFixed32BE(in + 14));
}

std::string Key::ToString() const {
  Encoded e = Encode();
  return HexEncode(e.data(), kEncodedSize, /*upper=*/true);
}

absl::StatusOr<Key> Key::Parse(std::string_view text) {
  if (text.size() != kTextSize) {
    return absl::InvalidArgumentError(
        StrCat("key \"", text, "\" must be 36 hex characters, got ", text.size()));
  }
  Encoded e;
  if (!HexDecode(text, e.data())) {
    return absl::InvalidArgumentError(StrCat("key \"", text, "\" is not hex"));
  }
  return Decode(e.data());
}

}  // namespace neon
