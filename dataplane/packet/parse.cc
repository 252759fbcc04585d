// The in-order parser: the specification ParsePacket's fast path must agree with, and the path
// every frame it does not accept takes. Written for reading, not speed: one check per line, in the
// order of the parser reasons in drop_reasons.def.
#include "dataplane/packet/parse.h"

namespace privlink::dataplane::parse_internal {
namespace {

ParsedPacket Dropped(ParsedPacket& out, DropReason reason) {
  out.verdict = ParseVerdict::kDrop;
  out.drop_reason = reason;
  return out;
}

bool IsTagProtocolId(uint16_t ethertype) {
  return ethertype == kEtherTypeVlan || ethertype == kEtherTypeQinQ ||
         ethertype == kEtherTypeQinQLegacy;
}

ParsedPacket ParseArp(PacketView packet, size_t l3, ParsedPacket& out) {
  if (!packet.Contains(l3, kArpLen)) return Dropped(out, DropReason::kArpTruncated);
  const bool ethernet_ipv4 =
      packet.LoadHost16(l3 + kArpHardwareTypeOffset) == kArpHardwareEthernet &&
      packet.LoadHost16(l3 + kArpProtocolTypeOffset) == kEtherTypeIpv4 &&
      packet.U8(l3 + kArpHardwareLenOffset) == sizeof(MacAddress) &&
      packet.U8(l3 + kArpProtocolLenOffset) == sizeof(Ipv4Be);
  if (!ethernet_ipv4) return Dropped(out, DropReason::kArpUnsupportedFormat);
  const uint16_t op = packet.LoadHost16(l3 + kArpOpOffset);
  if (op != kArpOpRequest && op != kArpOpReply) return Dropped(out, DropReason::kArpUnsupportedOp);
  out.verdict = ParseVerdict::kArp;
  out.arp.op = op;
  std::memcpy(out.arp.sender_mac.data(), packet.At(l3 + kArpSenderMacOffset), sizeof(MacAddress));
  std::memcpy(out.arp.target_mac.data(), packet.At(l3 + kArpTargetMacOffset), sizeof(MacAddress));
  out.arp.sender_ip = packet.Load<Ipv4Be>(l3 + kArpSenderIpOffset);
  out.arp.target_ip = packet.Load<Ipv4Be>(l3 + kArpTargetIpOffset);
  return out;
}

// The UDP header of a datagram whose IPv4 header passed (ip_header_len long, not a fragment).
ParsedPacket ParseUdp(PacketView packet, size_t l3, size_t ip_header_len, bool verify_checksum,
                      ParsedPacket& out) {
  const size_t l4 = l3 + ip_header_len;
  if (!packet.Contains(l4, nat::kUdpHeaderLen)) return Dropped(out, DropReason::kUdpTruncated);
  const size_t total_len = packet.LoadHost16(l3 + nat::kIpv4TotalLengthOffset);
  if (!packet.Contains(l3, total_len)) return Dropped(out, DropReason::kIpv4TotalLengthPastFrame);
  if (total_len < ip_header_len + nat::kUdpHeaderLen) {
    return Dropped(out, DropReason::kIpv4TotalLengthTooShort);
  }
  const size_t udp_len = packet.LoadHost16(l4 + nat::kUdpLengthOffset);
  if (udp_len < nat::kUdpHeaderLen || udp_len > total_len - ip_header_len) {
    return Dropped(out, DropReason::kUdpLengthInvalid);
  }
  uint8_t checksums = ChecksumBits(packet.nic());
  if (packet.nic().l4 == NicVerdict::kBad) return Dropped(out, DropReason::kUdpBadChecksum);
  if (verify_checksum && (checksums & kL4ChecksumVerified) == 0) {
    if (!UdpChecksumOk(packet.Load<Ipv4Be>(l3 + nat::kIpv4SrcOffset),
                       packet.Load<Ipv4Be>(l3 + nat::kIpv4DstOffset), packet.At(l4), udp_len)) {
      return Dropped(out, DropReason::kUdpBadChecksum);
    }
    checksums |= kL4ChecksumVerified;
  }
  FillL4<nat::kIpProtoUdp>(packet, l3, ip_header_len, total_len, nat::kUdpHeaderLen, out);
  out.checksums = checksums;
  return out;
}

ParsedPacket ParseIpv4(PacketView packet, size_t l3, bool verify_tcp_checksum, ParsedPacket& out) {
  if (!packet.Contains(l3, nat::kIpv4MinHeaderLen)) {
    return Dropped(out, DropReason::kIpv4Truncated);
  }
  const uint8_t version_ihl = packet.U8(l3 + nat::kIpv4VersionIhlOffset);
  if ((version_ihl >> 4) != kIpv4Version) return Dropped(out, DropReason::kIpv4BadVersion);
  const size_t ip_header_len = size_t{version_ihl & 0x0fu} * 4;
  if (ip_header_len < nat::kIpv4MinHeaderLen) return Dropped(out, DropReason::kIpv4IhlTooSmall);
  if (!packet.Contains(l3, ip_header_len)) return Dropped(out, DropReason::kIpv4IhlPastFrame);
  if (!Ipv4HeaderIntact(packet.nic().ipv4, packet.At(l3), ip_header_len)) {
    return Dropped(out, DropReason::kIpv4BadChecksum);
  }
  if ((packet.LoadHost16(l3 + kIpv4FragmentOffset) & kFragmentBits) != 0) {
    return Dropped(out, DropReason::kIpv4Fragment);
  }
  switch (packet.U8(l3 + kIpv4ProtocolOffset)) {
    case nat::kIpProtoTcp:
      break;
    case kIpProtoUdp:
      return ParseUdp(packet, l3, ip_header_len, verify_tcp_checksum, out);
    case kIpProtoIcmp:
      return Dropped(out, DropReason::kIcmp);
    default:
      return Dropped(out, DropReason::kIpProtoUnsupported);
  }

  const size_t l4 = l3 + ip_header_len;
  if (!packet.Contains(l4, kTcpMinHeaderLen)) return Dropped(out, DropReason::kTcpTruncated);
  const size_t total_len = packet.LoadHost16(l3 + nat::kIpv4TotalLengthOffset);
  if (!packet.Contains(l3, total_len)) return Dropped(out, DropReason::kIpv4TotalLengthPastFrame);
  if (total_len < ip_header_len + kTcpMinHeaderLen) {
    return Dropped(out, DropReason::kIpv4TotalLengthTooShort);
  }
  const size_t tcp_header_len = (size_t{packet.U8(l4 + kTcpDataOffsetOffset)} >> 4) * 4;
  if (tcp_header_len < kTcpMinHeaderLen) return Dropped(out, DropReason::kTcpDataOffsetTooSmall);
  const size_t segment_len = total_len - ip_header_len;
  if (tcp_header_len > segment_len) return Dropped(out, DropReason::kTcpDataOffsetPastSegment);
  uint8_t checksums = ChecksumBits(packet.nic());
  if (packet.nic().l4 == NicVerdict::kBad) return Dropped(out, DropReason::kTcpBadChecksum);
  if (verify_tcp_checksum && (checksums & kL4ChecksumVerified) == 0) {
    if (!TcpChecksumOk(packet.Load<Ipv4Be>(l3 + nat::kIpv4SrcOffset),
                       packet.Load<Ipv4Be>(l3 + nat::kIpv4DstOffset), packet.At(l4), segment_len)) {
      return Dropped(out, DropReason::kTcpBadChecksum);
    }
    checksums |= kL4ChecksumVerified;
  }
  FillL4<nat::kIpProtoTcp>(packet, l3, ip_header_len, total_len, tcp_header_len, out);
  out.checksums = checksums;
  return out;
}

}  // namespace

ParsedPacket ParsePacketInOrder(PacketView packet, bool verify_tcp_checksum) {
  ParsedPacket out;
  if (!packet.Contains(0, kEthHeaderLen)) return Dropped(out, DropReason::kEthTruncated);
  CopyMacs(packet, out);
  size_t l3 = kEthHeaderLen;
  uint16_t ethertype = packet.LoadHost16(kEthTypeOffset);
  if (ethertype == kEtherTypeVlan) {
    if (!packet.Contains(kEthHeaderLen, kVlanTagLen)) {
      return Dropped(out, DropReason::kVlanTruncated);
    }
    out.vlan_id = static_cast<uint16_t>(packet.LoadHost16(kVlanTciOffset) & kVlanIdMask);
    ethertype = packet.LoadHost16(kVlanInnerTypeOffset);
    l3 += kVlanTagLen;
    if (IsTagProtocolId(ethertype)) return Dropped(out, DropReason::kVlanStacked);
  } else if (IsTagProtocolId(ethertype)) {
    return Dropped(out, DropReason::kVlanStacked);  // an 802.1ad S-tag outermost
  }
  out.l3_offset = static_cast<uint16_t>(l3);
  switch (ethertype) {
    case kEtherTypeIpv4:
      return ParseIpv4(packet, l3, verify_tcp_checksum, out);
    case kEtherTypeArp:
      return ParseArp(packet, l3, out);
    case kEtherTypeIpv6:
      return Dropped(out, DropReason::kIpv6);
    default:
      return Dropped(out, DropReason::kEthertypeUnsupported);
  }
}

}  // namespace privlink::dataplane::parse_internal
