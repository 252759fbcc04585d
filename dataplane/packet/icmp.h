// ICMP errors about a TCP or UDP flow (RFC 792: destination unreachable, fragmentation needed
// and port unreachable included, and time exceeded): reading one, with the datagram it quotes,
// and rewriting it for the other side of a NAT. The quote is the IPv4 header of a packet privlink
// sent and at least the first 8 bytes of its TCP or UDP header (RFC 792's minimum; RFC 1812
// routers quote more), which hold the ports (and TCP's sequence number, UDP's checksum). Plain
// buffers: the worker (dataplane/worker/icmp_forward.cc) finds the flow and sends the result.
#pragma once

#include <cstdint>
#include <variant>

#include "dataplane/packet/drop_reason.h"
#include "dataplane/packet/packet_view.h"
#include "dataplane/packet/parse.h"
#include "nat/flow_key.h"

namespace privlink::dataplane {

inline constexpr uint8_t kIcmpDestinationUnreachable = 3;
inline constexpr uint8_t kIcmpTimeExceeded = 11;
inline constexpr uint8_t kIcmpFragmentationNeeded = 4;  // a code of destination unreachable
inline constexpr size_t kIcmpHeaderLen = 8;             // type, code, checksum, 4 more bytes
inline constexpr size_t kIcmpChecksumOffset = 2;
inline constexpr size_t kIcmpQuotedL4Min = 8;  // RFC 792: 64 bits of the original datagram

struct IcmpError {
  uint8_t type = 0;
  uint8_t code = 0;
  uint16_t icmp_offset = 0;   // from the frame's start
  uint16_t icmp_len = 0;      // the ICMP message: header and quote
  uint16_t quote_offset = 0;  // the quoted IPv4 header
  uint16_t quote_l4_offset = 0;
  uint16_t quote_l4_len = 0;  // quoted TCP or UDP bytes: 8 at least
  uint8_t quoted_proto = 0;   // nat::kIpProtoTcp or kIpProtoUdp
  nat::Tuple quoted;          // the quoted packet's addresses and ports, as sent
};

// The frame `p` was parsed from as kDrop/kIcmp (an intact, unfragmented IPv4 header, protocol
// ICMP): the error, or why it cannot be about a flow: kIcmp (another type), kIcmpTruncated,
// kIcmpBadChecksum, kIcmpQuoteInvalid (a quote that is not the start of an unfragmented IPv4 TCP
// or UDP packet with 8 bytes of its TCP or UDP header).
std::variant<IcmpError, DropReason> ParseIcmpError(PacketView frame, const ParsedPacket& p);

// What the error becomes on the other side: its outer addresses, and the quoted packet's
// addresses and ports as that side sent it.
struct IcmpRewrite {
  Ipv4Be outer_src = 0;
  Ipv4Be outer_dst = 0;
  nat::Tuple quoted;
  uint32_t quoted_seq_delta = 0;  // added to the quoted sequence number (a PROXY stream's shift)
};

// Rewrites in place: the outer addresses, the quote's addresses and ports; then the outer IPv4
// header checksum, the quoted IPv4 header checksum, the quoted TCP or UDP checksum where the quote
// holds it (incrementally: the quote rarely holds the whole segment; a UDP checksum of 0 stays 0)
// and the ICMP checksum.
void RewriteIcmpError(uint8_t* frame, uint16_t l3_offset, const IcmpError& error,
                      const IcmpRewrite& rewrite);

}  // namespace privlink::dataplane
