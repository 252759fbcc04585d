#include "dataplane/packet/tcp_edit.h"

#include <cstring>

#include "nat/checksum.h"

namespace privlink::dataplane {

void ReplaceTcpBytes(uint8_t* tcp, size_t at, const void* bytes, size_t n) {
  const uint16_t old_sum = nat::ChecksumFold(nat::ChecksumPartial(tcp + at, n));
  std::memcpy(tcp + at, bytes, n);
  const uint16_t new_sum = nat::ChecksumFold(nat::ChecksumPartial(tcp + at, n));
  uint16_t delta = nat::ChecksumFold(uint32_t{static_cast<uint16_t>(~old_sum)} + new_sum);
  if (at % 2 != 0) delta = static_cast<uint16_t>(delta << 8 | delta >> 8);
  uint16_t checksum;
  std::memcpy(&checksum, tcp + nat::kTcpChecksumOffset, 2);
  checksum = nat::ApplyChecksumDelta(checksum, delta);
  std::memcpy(tcp + nat::kTcpChecksumOffset, &checksum, 2);
}

}  // namespace privlink::dataplane
