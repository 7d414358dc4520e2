// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.

#include "wal/pglz.h"

#include <cstdint>
#include <cstring>

namespace neon::pg {

// A control byte announces eight items, low bit first: 0 = one literal byte,
// 1 = a back reference of 2 or 3 bytes (length 3..273, offset 1..4095).
bool PglzDecompress(std::string_view src, char* dest, size_t dest_len) {
  const auto* sp = reinterpret_cast<const uint8_t*>(src.data());
  const uint8_t* srcend = sp + src.size();
  auto* dp = reinterpret_cast<uint8_t*>(dest);
  uint8_t* destend = dp + dest_len;
  while (sp < srcend && dp < destend) {
    uint8_t ctrl = *sp++;
    for (int i = 0; i < 8 && sp < srcend && dp < destend; i++, ctrl >>= 1) {
      if ((ctrl & 1) == 0) {
        *dp++ = *sp++;
        continue;
      }
      if (srcend - sp < 2) return false;
      size_t len = (sp[0] & 0x0f) + 3;
      size_t off = (static_cast<size_t>(sp[0] & 0xf0) << 4) | sp[1];
      sp += 2;
      if (len == 18) {
        if (sp >= srcend) return false;
        len += *sp++;
      }
      if (off == 0 || off > static_cast<size_t>(dp - reinterpret_cast<uint8_t*>(dest))) {
        return false;
      }
      if (len > static_cast<size_t>(destend - dp)) len = destend - dp;
      // Overlapping copies repeat the last `off` bytes.
      while (off < len) {
        std::memcpy(dp, dp - off, off);
        len -= off;
        dp += off;
        off += off;
      }
      std::memcpy(dp, dp - off, len);
      dp += len;
    }
  }
  return dp == destend && sp == srcend;
}

}  // namespace neon::pg
