// One TCP conversation as privlink-tracegen writes it: the segments a client and a backend
// exchange (handshake, request, response, FIN or RST close), with sequence and acknowledgement
// numbers, and the Ethernet frames that carry them on either side of privlink.
//
// Planning is pure (PlanConversation): the same plan gives the same segments. Frames are built
// separately per side because the backend's side only exists once privlink has translated the
// SYN (its NAT ip:port); privlink never changes sequence numbers, so one plan serves both sides.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dataplane/packet/wire_format.h"
#include "nat/clock.h"
#include "nat/inet.h"

namespace privlink::trace {

enum class Side : uint8_t { kClient, kBackend };

struct Segment {
  nat::TimeMs at_ms = 0;
  Side from = Side::kClient;
  uint8_t flags = 0;           // nat::kTcp* bits
  uint32_t seq = 0;            // absolute, host order
  uint32_t ack = 0;            // absolute, host order (sent when flags has ACK)
  uint32_t payload_len = 0;    // bytes of data
  uint32_t stream_offset = 0;  // where the payload starts in its sender's byte stream
};

struct ConversationPlan {
  nat::TimeMs start_ms = 0;
  uint32_t step_ms = 1;  // time between one segment and the next
  uint32_t request_bytes = 100;
  uint32_t response_bytes = 1000;
  uint16_t mss = 1460;
  bool close_with_rst = false;  // the client resets instead of closing with FIN
  uint32_t client_isn = 1;
  uint32_t backend_isn = 1;
};

// Handshake (with MSS, SACK-permitted, timestamps and window scale on the SYN and SYN-ACK),
// the request in MSS-sized segments (PSH on the last), the response likewise with an ACK from
// the client every second segment, then FIN from the client, FIN-ACK, ACK; or a client RST.
std::vector<Segment> PlanConversation(const ConversationPlan& plan);

// The addresses a segment travels with on one side of privlink.
struct WireTuple {
  dataplane::MacAddress src_mac{};
  dataplane::MacAddress dst_mac{};
  uint16_t vlan = 0;  // 0: untagged
  Ipv4Be src_ip = 0;
  Ipv4Be dst_ip = 0;
  PortBe src_port = 0;
  PortBe dst_port = 0;
};

// The frame of `segment` sent with `tuple`: Ethernet (+802.1Q), IPv4 (DF, TTL 64), TCP with
// options on SYNs, payload bytes a fixed function of their stream offset (so a receiver can
// check them), valid checksums, padded to 60 bytes.
std::vector<uint8_t> BuildSegmentFrame(const Segment& segment, const WireTuple& tuple);

// A UDP datagram of `payload` sent with `tuple`: the same Ethernet and IPv4 headers (IP id 0),
// a valid UDP checksum, padded to 60 bytes.
std::vector<uint8_t> BuildDatagramFrame(const WireTuple& tuple, std::span<const uint8_t> payload);

// The payload byte at `offset` of a stream.
inline uint8_t StreamByte(uint32_t offset) {
  return static_cast<uint8_t>(offset * 131u + 7u);
}

}  // namespace privlink::trace
