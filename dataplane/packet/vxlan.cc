#include "dataplane/packet/vxlan.h"

#include <cstring>

#include "nat/checksum.h"

namespace privlink::dataplane {
namespace {

void Put16(uint8_t* at, uint16_t host) {
  const uint16_t be = HostToBe16(host);
  std::memcpy(at, &be, sizeof be);
}

}  // namespace

std::variant<VxlanFrame, DropReason> ParseVxlan(PacketView frame, const ParsedPacket& outer) {
  const size_t udp = outer.l4_offset;
  const size_t udp_len = frame.LoadHost16(udp + nat::kUdpLengthOffset);
  const size_t vxlan = udp + nat::kUdpHeaderLen;
  // The datagram (its own length, checked against the frame by the parser) holds the VXLAN header
  // and at least an inner Ethernet header.
  if (udp_len < nat::kUdpHeaderLen + kVxlanHeaderLen + kEthHeaderLen) {
    return DropReason::kVxlanTruncated;
  }
  if ((frame.U8(vxlan) & kVxlanFlagI) == 0) return DropReason::kVxlanFlagsInvalid;
  VxlanFrame out;
  out.vni = frame.LoadHost32(vxlan + 4) >> 8;
  out.vtep_ip = outer.key.tuple.src_ip;
  out.vtep_mac = outer.src_mac;
  const size_t inner = vxlan + kVxlanHeaderLen;
  out.inner_offset = static_cast<uint16_t>(inner);
  const PacketView inner_frame(frame.At(inner), static_cast<uint32_t>(udp + udp_len - inner),
                               NicChecksums{});
  ParsedPacket p;
  ParsePacketInto(inner_frame, p);
  if (p.verdict == ParseVerdict::kDrop) {
    if (p.drop_reason == DropReason::kEthertypeUnsupported || p.drop_reason == DropReason::kIpv6) {
      return DropReason::kVxlanInnerNotIpv4;
    }
    if (p.vlan_id != 0 || p.drop_reason == DropReason::kVlanStacked ||
        p.drop_reason == DropReason::kVlanTruncated) {
      return DropReason::kVxlanInnerVlan;
    }
    // ICMP keeps its parser verdict: the worker handles errors about a flow.
    if (p.drop_reason != DropReason::kIcmp) return p.drop_reason;
  }
  if (p.vlan_id != 0 || p.l3_offset != kEthHeaderLen) return DropReason::kVxlanInnerVlan;
  // Offsets from the outer frame's start.
  p.l3_offset = static_cast<uint16_t>(p.l3_offset + inner);
  if (p.l4_offset != 0) p.l4_offset = static_cast<uint16_t>(p.l4_offset + inner);
  out.inner = p;
  return out;
}

void WriteVxlanEncap(uint8_t* out, const VxlanEncap& e, uint16_t inner_len) {
  uint8_t* eth = out;
  std::memcpy(eth + kEthDstOffset, e.vtep_mac.data(), 6);
  std::memcpy(eth + kEthSrcOffset, e.port_mac.data(), 6);
  Put16(eth + kEthTypeOffset, kEtherTypeIpv4);
  uint8_t* ip = eth + kEthHeaderLen;
  const auto udp_len = static_cast<uint16_t>(nat::kUdpHeaderLen + kVxlanHeaderLen + inner_len);
  ip[0] = 0x45;
  ip[kIpv4TosOffset] = 0;
  Put16(ip + nat::kIpv4TotalLengthOffset, static_cast<uint16_t>(nat::kIpv4MinHeaderLen + udp_len));
  Put16(ip + kIpv4IdOffset, 0);
  Put16(ip + kIpv4FragmentOffset, kIpv4DontFragment);
  ip[kIpv4TtlOffset] = 64;
  ip[kIpv4ProtocolOffset] = kIpProtoUdp;
  Put16(ip + nat::kIpv4ChecksumOffset, 0);
  std::memcpy(ip + nat::kIpv4SrcOffset, &e.local_ip, 4);
  std::memcpy(ip + nat::kIpv4DstOffset, &e.vtep_ip, 4);
  const uint16_t sum = nat::Ipv4HeaderChecksum(ip);
  std::memcpy(ip + nat::kIpv4ChecksumOffset, &sum, 2);
  uint8_t* udp = ip + nat::kIpv4MinHeaderLen;
  Put16(udp + nat::kUdpSrcPortOffset, e.source_port);
  Put16(udp + nat::kUdpDstPortOffset, kVxlanPort);
  Put16(udp + nat::kUdpLengthOffset, udp_len);
  Put16(udp + nat::kUdpChecksumOffset, 0);
  uint8_t* vxlan = udp + nat::kUdpHeaderLen;
  const uint32_t flags = HostToBe32(uint32_t{kVxlanFlagI} << 24);
  const uint32_t vni = HostToBe32((e.vni & kVxlanMaxVni) << 8);
  std::memcpy(vxlan, &flags, 4);
  std::memcpy(vxlan + 4, &vni, 4);
}

}  // namespace privlink::dataplane
