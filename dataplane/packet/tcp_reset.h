// TCP resets privlink generates: to a SYN for an endpoint whose connection is not Approved, and
// to both sides of a connection torn down by policy. Plain buffers, so tests check the bytes.
#pragma once

#include <cstdint>
#include <span>

#include "dataplane/packet/parse.h"
#include "nat/flow_key.h"

namespace privlink::dataplane {

// IPv4 (20 bytes, no options) + TCP (20 bytes, no options, no payload).
inline constexpr uint16_t kResetL3Len = 40;
inline constexpr uint8_t kResetTtl = 64;

struct ResetSegment {
  nat::Tuple tuple;
  uint32_t seq = 0;  // host order
  uint32_t ack = 0;  // host order; sent only with kTcpAck in flags
  uint8_t flags = 0;
};

// Writes the 40-byte IPv4 + TCP reset at `l3`, checksums included.
void WriteTcpReset(uint8_t* l3, const ResetSegment& segment);

// Any segment privlink sends of its own (the health prober's): no options, `payload` after the
// 20-byte TCP header.
struct TcpSegment {
  nat::Tuple tuple;
  uint32_t seq = 0;  // host order
  uint32_t ack = 0;  // host order; sent only with kTcpAck in flags
  uint8_t flags = 0;
  uint16_t window = 0;
  std::span<const uint8_t> payload;
};
// Writes IPv4 + TCP + payload at `l3` (room for 40 + payload bytes), checksums included; returns
// the datagram's length.
uint16_t WriteTcpSegment(uint8_t* l3, const TcpSegment& segment);

// RFC 793 ("Reset Generation"): the reset a host sends back for the segment `packet` (parsed as
// kTcp from `frame`): with its tuple reversed; with its ACK number as sequence if it had one,
// else sequence 0 with an ACK of everything it carried (SYN and FIN count one).
ResetSegment ResetToSender(const uint8_t* frame, const ParsedPacket& packet);

// The reset that stands in for `packet` towards its receiver, with `tuple` (the packet's
// translated tuple): same sequence number, so the receiver finds it in its window.
ResetSegment ResetToReceiver(const uint8_t* frame, const ParsedPacket& packet,
                             const nat::Tuple& tuple);

}  // namespace privlink::dataplane
