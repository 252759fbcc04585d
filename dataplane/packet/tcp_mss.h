// MSS clamping (a port's mssClamp): lowering the maximum segment size a SYN or SYN-ACK announces,
// so that the peers' segments fit a path whose MTU is below what they think, without relying on
// ICMP reaching them (RFC 4459 section 3.2 calls it the common workaround).
#pragma once

#include <cstddef>
#include <cstdint>

namespace privlink::dataplane {

inline constexpr uint8_t kTcpOptionEnd = 0;
inline constexpr uint8_t kTcpOptionNop = 1;
inline constexpr uint8_t kTcpOptionMss = 2;
inline constexpr uint8_t kTcpOptionMssLen = 4;

// Lowers the MSS option of the TCP header at `tcp` (`header_len` bytes, options included) to
// `clamp` if it announces more, updating the TCP checksum incrementally (RFC 1624). A header
// without the option, or with malformed options, is left alone. True if it changed.
bool ClampMss(uint8_t* tcp, size_t header_len, uint16_t clamp);

}  // namespace privlink::dataplane
