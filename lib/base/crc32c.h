// Copyright neonstore authors. Licensed under the Apache License, Version 2.0.
//
// CRC32C (Castagnoli), as used by Postgres WAL, Neon and iSCSI. Uses the SSE4.2
// crc32 instruction when the CPU has it (checked once at run time), else a
// slicing-by-8 table.

#ifndef NEON_LIB_BASE_CRC32C_H_
#define NEON_LIB_BASE_CRC32C_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace neon::crc32c {

// Extends `crc` (the CRC32C of some bytes A) to the CRC32C of A || data.
uint32_t Extend(uint32_t crc, const void* data, size_t n);
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view s) { return Extend(0, s.data(), s.size()); }
// True if the hardware path is in use.
bool IsHardwareAccelerated();

// Masked form for storing a CRC next to data that may itself contain CRCs
// (LevelDB's trick).
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

}  // namespace neon::crc32c

#endif  // NEON_LIB_BASE_CRC32C_H_
