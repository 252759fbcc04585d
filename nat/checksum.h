// Internet checksum arithmetic (RFC 1071) and incremental update (RFC 1624, eqn. 3).
//
// A NAT rewrite changes two addresses and two ports. The one's-complement difference between the
// old and new values is computed once, when the flow is created; each packet then costs one add
// and fold per checksum instead of a pass over the header and payload.
#pragma once

#include <cstddef>
#include <cstdint>

#include "nat/flow_key.h"

namespace privlink::nat {

// One's-complement sum of 16-bit words in network order, not yet folded or complemented.
uint32_t ChecksumPartial(const void* data, size_t len, uint32_t initial = 0);
// Folds a partial sum to 16 bits and complements it: the value to put in a header.
uint16_t ChecksumFinish(uint32_t partial);

// Full IPv4 header checksum (header length from IHL); the checksum field is treated as zero.
uint16_t Ipv4HeaderChecksum(const void* ipv4_header);
// Full TCP checksum over pseudo-header + segment (tcp_len bytes); the checksum field is treated as
// zero. Addresses in network order.
uint16_t TcpChecksum(Ipv4Be src, Ipv4Be dst, const void* tcp_segment, size_t tcp_len);
// Pseudo-header checksum only (not complemented), as NIC checksum offload expects it in the TCP
// checksum field.
uint16_t TcpPseudoHeaderChecksum(Ipv4Be src, Ipv4Be dst, uint16_t tcp_len);

// Checksum deltas for rewriting (src ip, dst ip, src port, dst port) from `before` to `after`.
// ip covers the IPv4 header (addresses); l4 covers the TCP pseudo-header and ports.
struct RewriteDelta {
  uint16_t ip = 0;
  uint16_t l4 = 0;
};
RewriteDelta ComputeRewriteDelta(Ipv4Be old_src, PortBe old_sport, Ipv4Be old_dst, PortBe old_dport,
                                 Ipv4Be new_src, PortBe new_sport, Ipv4Be new_dst, PortBe new_dport);

// RFC 1624 eqn. 3: HC' = ~(~HC + delta), in one's-complement arithmetic. `checksum` and the result
// are as stored in the header (network order).
inline uint16_t ApplyChecksumDelta(uint16_t checksum, uint16_t delta) {
  uint32_t sum = static_cast<uint16_t>(~checksum) + uint32_t{delta};
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace privlink::nat
