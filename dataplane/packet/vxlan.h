// VXLAN (RFC 7348) on a consumer port: a consumer network's frames arrive inside UDP datagrams to
// port 4789 on one of the port's local IPs, and leave the same way to the VTEP that sent the
// flow's first packet. Reading one (the VXLAN header and the inner Ethernet frame, parsed by the
// one parser) and writing the outer headers of one. Plain buffers: the worker decides what a
// tunnel's frame is for.
//
// RFC 7348's rules as applied: a frame is dropped only when its I flag is clear (the reserved
// bits are ignored, so later flags do not break it); an inner frame with a VLAN tag is dropped
// (section 6.1: a VTEP must not send one unless configured to); the outer UDP checksum may be 0
// (and privlink sends 0: IPv4); the outer source port is a hash of the inner flow in
// 49152-65535, so a fabric's ECMP spreads tunnelled flows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <variant>

#include "dataplane/packet/drop_reason.h"
#include "dataplane/packet/packet_view.h"
#include "dataplane/packet/parse.h"
#include "dataplane/packet/wire_format.h"
#include "nat/flow_key.h"

namespace privlink::dataplane {

inline constexpr uint16_t kVxlanPort = 4789;  // IANA
inline constexpr size_t kVxlanHeaderLen = 8;
inline constexpr uint8_t kVxlanFlagI = 0x08;  // the VNI is valid
inline constexpr uint32_t kVxlanMaxVni = 0xffffff;
// What a tunnel adds in front of the inner frame: outer Ethernet, IPv4 (no options), UDP, VXLAN.
inline constexpr size_t kVxlanOverhead =
    kEthHeaderLen + nat::kIpv4MinHeaderLen + nat::kUdpHeaderLen + kVxlanHeaderLen;
// The outer UDP source port range (RFC 7348 section 5: the dynamic ports).
inline constexpr uint16_t kVxlanSourcePortBase = 49152;
inline constexpr uint16_t kVxlanSourcePortMask = 0x3fff;

// A tunnelled frame as read: its VNI, the sending VTEP (outer source), and the inner frame parsed
// with offsets from the start of the whole (outer) frame, so the worker handles it like any
// other parsed frame.
struct VxlanFrame {
  uint32_t vni = 0;
  Ipv4Be vtep_ip = 0;
  MacAddress vtep_mac{};
  uint16_t inner_offset = 0;  // the inner Ethernet header
  ParsedPacket inner;         // offsets from the outer frame's start; vlan_id 0
};

// `outer` was parsed from `frame` as kUdp to kVxlanPort. The tunnelled frame, or why it is
// dropped: kVxlanTruncated (no room for the VXLAN header and an inner Ethernet header),
// kVxlanFlagsInvalid (I clear), kVxlanInnerVlan, kVxlanInnerNotIpv4 (neither IPv4 nor ARP inside),
// or the inner parser's own reason. The VNI's network is the caller's to find.
std::variant<VxlanFrame, DropReason> ParseVxlan(PacketView frame, const ParsedPacket& outer);

// The outer headers of a frame sent into a tunnel.
struct VxlanEncap {
  MacAddress vtep_mac{};  // outer destination
  MacAddress port_mac{};  // outer source
  Ipv4Be local_ip = 0;    // outer source
  Ipv4Be vtep_ip = 0;     // outer destination
  uint32_t vni = 0;
  uint16_t source_port = 0;  // host order, from VxlanSourcePort
};

// The outer UDP source port of a flow's frames: from the hash of its key, in 49152-65535.
inline uint16_t VxlanSourcePort(nat::FlowHash flow_hash) {
  return static_cast<uint16_t>(kVxlanSourcePortBase | (flow_hash.value & kVxlanSourcePortMask));
}

// Writes the kVxlanOverhead bytes of outer headers at `out`, in front of an inner Ethernet frame
// of `inner_len` bytes: IPv4 with DF set (RFC 7348 section 4.3: VTEPs do not fragment), TTL 64,
// id 0 and its checksum; UDP with checksum 0.
void WriteVxlanEncap(uint8_t* out, const VxlanEncap& encap, uint16_t inner_len);

}  // namespace privlink::dataplane
