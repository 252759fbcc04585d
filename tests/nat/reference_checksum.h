// Textbook RFC 1071 over big-endian 16-bit words, byte by byte: the independent reference the
// engine's checksum code (native 64-bit loads, memory-order results) is checked against.
#pragma once

#include <cstddef>
#include <cstdint>

namespace privlink::nat::testing {

// Host-order sum, not folded.
inline uint64_t ReferenceSum(const uint8_t* data, size_t len, uint64_t sum = 0) {
  for (size_t i = 0; i + 1 < len; i += 2) sum += (uint32_t{data[i]} << 8) | data[i + 1];
  if (len % 2) sum += uint32_t{data[len - 1]} << 8;
  return sum;
}

inline uint16_t ReferenceFold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

}  // namespace privlink::nat::testing
