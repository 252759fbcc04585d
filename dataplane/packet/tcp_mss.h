// The MSS option of SYNs and SYN-ACKs: clamping it to a port's mssClamp, so that the peers'
// segments fit a path whose MTU is below what they think without relying on ICMP reaching them
// (RFC 4459 section 3.2 calls it the common workaround), and lowering it by the length of a
// PROXY protocol header privlink puts into the stream.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dataplane/packet/tcp_edit.h"

namespace privlink::dataplane {

// Lowers the MSS option of the TCP header at `tcp` (`header_len` bytes, options included) to
// `clamp` if it announces more, updating the TCP checksum incrementally (RFC 1624). A header
// without the option, or with malformed options, is left alone. True if it changed.
bool ClampMss(uint8_t* tcp, size_t header_len, uint16_t clamp);
// Lowers the MSS option by `by` (to no less than 1), the same way. True if it changed.
bool LowerMss(uint8_t* tcp, size_t header_len, uint16_t by);

}  // namespace privlink::dataplane
