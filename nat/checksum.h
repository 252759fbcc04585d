// Internet checksum arithmetic (RFC 1071) and incremental update (RFC 1624, eqn. 3).
//
// A NAT rewrite changes two addresses and two ports. The one's-complement difference between the
// old and new values is computed once, when the flow is created; each packet then costs one add
// and fold per checksum instead of a pass over the header and payload.
//
// Representation: sums are taken over 16-bit words exactly as they are loaded from memory, so a
// finished checksum is stored into a header with a plain 16-bit store (like PortBe) and Ipv4Be /
// PortBe values enter sums without byte swaps. RFC 1071 §2(B) makes this byte-order independent.
#pragma once

#include <cstddef>
#include <cstdint>

#include "nat/flow_key.h"
#include "nat/inet.h"

namespace privlink::nat {

// Byte offsets in the standard IPv4 (RFC 791) and TCP (RFC 9293) header layouts, read by the
// full checksums below and by the rewrite (nat/rewrite.h).
inline constexpr size_t kIpv4MinHeaderLen = 20;
inline constexpr size_t kIpv4VersionIhlOffset = 0;
inline constexpr size_t kIpv4TotalLengthOffset = 2;
inline constexpr size_t kIpv4ChecksumOffset = 10;
inline constexpr size_t kIpv4SrcOffset = 12;
inline constexpr size_t kIpv4DstOffset = 16;
inline constexpr size_t kTcpSrcPortOffset = 0;
inline constexpr size_t kTcpDstPortOffset = 2;
inline constexpr size_t kTcpSeqOffset = 4;
inline constexpr size_t kTcpAckOffset = 8;
inline constexpr size_t kTcpChecksumOffset = 16;
inline constexpr size_t kUdpHeaderLen = 8;  // RFC 768
inline constexpr size_t kUdpSrcPortOffset = 0;
inline constexpr size_t kUdpDstPortOffset = 2;
inline constexpr size_t kUdpLengthOffset = 4;
inline constexpr size_t kUdpChecksumOffset = 6;

// One's-complement sum of the 16-bit words of `data`, not yet folded or complemented; an odd
// trailing byte is padded with a zero byte (RFC 1071). Any alignment. To checksum several pieces,
// chain them through `initial`; every piece but the last must have an even length.
uint32_t ChecksumPartial(const void* data, size_t len, uint32_t initial = 0);

// Folds a partial sum to 16 bits without complementing it.
constexpr uint16_t ChecksumFold(uint32_t partial) {
  partial = (partial & 0xffff) + (partial >> 16);
  partial = (partial & 0xffff) + (partial >> 16);
  return static_cast<uint16_t>(partial);
}

// Folds a partial sum to 16 bits and complements it: the value to put in a header.
uint16_t ChecksumFinish(uint32_t partial);

// Full IPv4 header checksum over IHL * 4 bytes (a malformed IHL below 5 is read as 5); the
// checksum field is treated as zero.
uint16_t Ipv4HeaderChecksum(const void* ipv4_header);

// Full TCP checksum over pseudo-header + segment (tcp_len bytes, at most 65535 as IPv4 bounds it);
// the checksum field is treated as zero. Addresses in network order. A result of 0x0000 is sent
// as is: unlike UDP, TCP has no "no checksum" value.
uint16_t TcpChecksum(Ipv4Be src, Ipv4Be dst, const void* tcp_segment, size_t tcp_len);

// Pseudo-header checksum only (folded, not complemented), as NIC checksum offload expects it in
// the TCP checksum field; equal to DPDK's rte_ipv4_phdr_cksum() for a non-TSO packet.
// `l4_len` is in host order.
constexpr uint16_t PseudoHeaderChecksum(Ipv4Be src, Ipv4Be dst, uint8_t protocol, uint16_t l4_len) {
  const uint32_t sum = (src & 0xffff) + (src >> 16) + (dst & 0xffff) + (dst >> 16) +
                       HostToBe16(protocol) + HostToBe16(l4_len);
  return ChecksumFold(sum);
}
constexpr uint16_t TcpPseudoHeaderChecksum(Ipv4Be src, Ipv4Be dst, uint16_t tcp_len) {
  return PseudoHeaderChecksum(src, dst, kIpProtoTcp, tcp_len);
}

// Full UDP checksum over pseudo-header + datagram (udp_len bytes), the field treated as zero;
// a computed 0 is returned as 0xffff (RFC 768: 0 means "no checksum").
uint16_t UdpChecksum(Ipv4Be src, Ipv4Be dst, const void* udp_datagram, size_t udp_len);

// Checksum deltas for rewriting a packet's tuple from `from` to `to`. ip covers the IPv4 header
// (addresses); l4 covers the TCP pseudo-header and ports. A delta that is zero in one's complement
// is always 0x0000 (never 0xffff), so a rewrite that keeps the sums unchanged leaves both checksums
// bit-identical.
struct RewriteDelta {
  uint16_t ip = 0;
  uint16_t l4 = 0;

  // The delta of the opposite rewrite (from `to` back to `from`): each value's one's-complement
  // negative, a zero staying 0x0000.
  constexpr RewriteDelta Negated() const { return {Negate(ip), Negate(l4)}; }
  static constexpr uint16_t Negate(uint16_t d) {
    return d == 0 ? uint16_t{0} : static_cast<uint16_t>(~d);
  }

  bool operator==(const RewriteDelta&) const = default;
};
RewriteDelta ComputeRewriteDelta(const Tuple& from, const Tuple& to);

// RFC 1624 eqn. 3: HC' = ~(~HC + delta), in one's-complement arithmetic. `checksum` and the result
// are as stored in the header (network order). For a checksum computed in full over a header that
// is not all zeros, the result equals a full recomputation exactly (never 0xffff); an incoming
// 0xffff ("negative zero", which receivers accept) stays valid.
// ~HC and the delta are both 16-bit, so their sum is at most 0x1fffe and one fold (not
// ChecksumFold's two) already ends at or below 0xffff: two instructions fewer on every packet.
constexpr uint16_t ApplyChecksumDelta(uint16_t checksum, uint16_t delta) {
  const uint32_t sum = uint32_t{static_cast<uint16_t>(~checksum)} + delta;
  return static_cast<uint16_t>(~((sum & 0xffff) + (sum >> 16)));
}

// The same for a UDP checksum: 0 ("none", RFC 768) stays 0, and a result of 0 is stored as
// 0xffff, its one's-complement equal (RFC 768: a computed 0 is sent as all ones).
constexpr uint16_t ApplyUdpChecksumDelta(uint16_t checksum, uint16_t delta) {
  if (checksum == 0) return 0;
  const uint16_t updated = ApplyChecksumDelta(checksum, delta);
  return updated == 0 ? uint16_t{0xffff} : updated;
}

}  // namespace privlink::nat
