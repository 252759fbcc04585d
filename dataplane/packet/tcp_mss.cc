#include "dataplane/packet/tcp_mss.h"

#include <cstring>

#include "dataplane/packet/wire_format.h"
#include "nat/checksum.h"

namespace privlink::dataplane {

bool ClampMss(uint8_t* tcp, size_t header_len, uint16_t clamp) {
  size_t at = kTcpMinHeaderLen;
  while (at < header_len) {
    const uint8_t kind = tcp[at];
    if (kind == kTcpOptionEnd) return false;
    if (kind == kTcpOptionNop) {
      ++at;
      continue;
    }
    if (at + 1 >= header_len) return false;
    const uint8_t len = tcp[at + 1];
    if (len < 2 || at + len > header_len) return false;
    if (kind == kTcpOptionMss && len == kTcpOptionMssLen) {
      const uint16_t mss = static_cast<uint16_t>(tcp[at + 2] << 8 | tcp[at + 3]);
      if (mss <= clamp) return false;
      // Two bytes change. At an even offset they are one of the words the checksum sums; at an
      // odd one (after a single NOP) they straddle two, and their contribution is the same
      // value byte-swapped (a one's-complement sum commutes with swapping every summand).
      uint16_t old_word, new_word;
      std::memcpy(&old_word, tcp + at + 2, 2);
      tcp[at + 2] = static_cast<uint8_t>(clamp >> 8);
      tcp[at + 3] = static_cast<uint8_t>(clamp);
      std::memcpy(&new_word, tcp + at + 2, 2);
      if ((at + 2) % 2 != 0) {
        old_word = static_cast<uint16_t>(old_word << 8 | old_word >> 8);
        new_word = static_cast<uint16_t>(new_word << 8 | new_word >> 8);
      }
      uint16_t checksum;
      std::memcpy(&checksum, tcp + nat::kTcpChecksumOffset, 2);
      const uint16_t delta =
          nat::ChecksumFold(uint32_t{static_cast<uint16_t>(~old_word)} + new_word);
      checksum = nat::ApplyChecksumDelta(checksum, delta);
      std::memcpy(tcp + nat::kTcpChecksumOffset, &checksum, 2);
      return true;
    }
    at += len;
  }
  return false;
}

}  // namespace privlink::dataplane
