// Byte layouts of the frames privlink reads and writes: Ethernet, 802.1Q, ARP, and the IPv4 and
// TCP fields that nat/checksum.h does not already name. Offsets are relative to the start of their
// own header; multi-byte fields are big-endian on the wire.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "nat/checksum.h"

namespace privlink::dataplane {

using MacAddress = std::array<uint8_t, 6>;
inline constexpr MacAddress kBroadcastMac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

// Two addresses compared as one 4-byte and one 2-byte word: std::array's operator== calls memcmp
// for 6 bytes (GCC does not inline it), about 18 instructions and a call on every packet's
// destination check.
inline bool SameMac(const MacAddress& a, const MacAddress& b) {
  uint32_t a4, b4;
  uint16_t a2, b2;
  std::memcpy(&a4, a.data(), 4);
  std::memcpy(&b4, b.data(), 4);
  std::memcpy(&a2, a.data() + 4, 2);
  std::memcpy(&b2, b.data() + 4, 2);
  return ((a4 ^ b4) | static_cast<uint32_t>(a2 ^ b2)) == 0;
}

// Ethernet II (IEEE 802.3 clause 3).
inline constexpr size_t kEthHeaderLen = 14;
inline constexpr size_t kEthDstOffset = 0;
inline constexpr size_t kEthSrcOffset = 6;
inline constexpr size_t kEthTypeOffset = 12;
inline constexpr size_t kEthMinFrameLen = 60;  // without FCS; shorter frames are padded

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;        // IEEE 802.1Q C-tag
inline constexpr uint16_t kEtherTypeQinQ = 0x88a8;        // IEEE 802.1ad S-tag
inline constexpr uint16_t kEtherTypeQinQLegacy = 0x9100;  // pre-802.1ad stacked tag
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;

// 802.1Q tag, inserted where the ethertype was: TPID (0x8100) + TCI, then the inner ethertype.
inline constexpr size_t kVlanTagLen = 4;
inline constexpr size_t kVlanTciOffset = kEthHeaderLen;            // from the frame's start
inline constexpr size_t kVlanInnerTypeOffset = kEthHeaderLen + 2;  // from the frame's start
inline constexpr uint16_t kVlanIdMask = 0x0fff;  // TCI = PCP (3 bits) | DEI (1) | VLAN id (12)

// IPv4 (RFC 791), beside the offsets in nat/checksum.h.
inline constexpr uint8_t kIpv4Version = 4;
inline constexpr size_t kIpv4MaxHeaderLen = 60;  // IHL is 4 bits of 32-bit words
inline constexpr size_t kIpv4TosOffset = 1;
inline constexpr size_t kIpv4IdOffset = 4;
inline constexpr size_t kIpv4FragmentOffset = 6;  // flags (3 bits) + fragment offset (13)
inline constexpr size_t kIpv4TtlOffset = 8;
inline constexpr size_t kIpv4ProtocolOffset = 9;
inline constexpr uint16_t kIpv4DontFragment = 0x4000;
inline constexpr uint16_t kIpv4MoreFragments = 0x2000;
inline constexpr uint16_t kIpv4FragmentOffsetMask = 0x1fff;  // in 8-byte units
inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoUdp = 17;

// TCP (RFC 9293), beside the offsets in nat/checksum.h.
inline constexpr size_t kTcpMinHeaderLen = 20;
inline constexpr size_t kTcpMaxHeaderLen = 60;
using nat::kTcpAckOffset;
using nat::kTcpSeqOffset;
inline constexpr size_t kTcpDataOffsetOffset = 12;  // high 4 bits: header length in 32-bit words
inline constexpr size_t kTcpFlagsOffset = 13;
inline constexpr size_t kTcpWindowOffset = 14;
inline constexpr size_t kTcpUrgentOffset = 18;

// ARP for IPv4 over Ethernet (RFC 826): the only kind privlink answers or sends.
inline constexpr size_t kArpLen = 28;
inline constexpr size_t kArpHardwareTypeOffset = 0;
inline constexpr size_t kArpProtocolTypeOffset = 2;
inline constexpr size_t kArpHardwareLenOffset = 4;
inline constexpr size_t kArpProtocolLenOffset = 5;
inline constexpr size_t kArpOpOffset = 6;
inline constexpr size_t kArpSenderMacOffset = 8;
inline constexpr size_t kArpSenderIpOffset = 14;
inline constexpr size_t kArpTargetMacOffset = 18;
inline constexpr size_t kArpTargetIpOffset = 24;
inline constexpr uint16_t kArpHardwareEthernet = 1;
inline constexpr uint16_t kArpOpRequest = 1;
inline constexpr uint16_t kArpOpReply = 2;

}  // namespace privlink::dataplane
