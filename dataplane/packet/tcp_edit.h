// In-place edits of a TCP header that keep its checksum right incrementally (RFC 1624): the
// MSS option (tcp_mss.h) and the PROXY protocol's stream shift (tcp_shift.h) are both made of
// these. Plain buffers, so tests check every byte.
#pragma once

#include <cstddef>
#include <cstdint>

namespace privlink::dataplane {

inline constexpr uint8_t kTcpOptionEnd = 0;
inline constexpr uint8_t kTcpOptionNop = 1;
inline constexpr uint8_t kTcpOptionMss = 2;
inline constexpr uint8_t kTcpOptionMssLen = 4;
inline constexpr uint8_t kTcpOptionSack = 5;

// Overwrites `n` (even) bytes at offset `at` of the TCP header at `tcp` with `bytes`, adjusting
// the TCP checksum by the difference. Any offset: bytes at an odd one straddle the checksum's
// words, and their contribution is their sum byte-swapped.
void ReplaceTcpBytes(uint8_t* tcp, size_t at, const void* bytes, size_t n);

// Calls visit(kind, offset of the option's first byte, its length) for each option of the TCP
// header (`header_len` bytes, options included) until visit returns true or the options end.
// False where the options are malformed (a length under 2 or past the header): nothing after the
// fault is visited.
template <typename Visit>
bool ForEachTcpOption(const uint8_t* tcp, size_t header_len, Visit&& visit) {
  size_t at = 20;
  while (at < header_len) {
    const uint8_t kind = tcp[at];
    if (kind == kTcpOptionEnd) return true;
    if (kind == kTcpOptionNop) {
      ++at;
      continue;
    }
    if (at + 1 >= header_len) return false;
    const uint8_t len = tcp[at + 1];
    if (len < 2 || at + len > header_len) return false;
    if (visit(kind, at, len)) return true;
    at += len;
  }
  return true;
}

}  // namespace privlink::dataplane
