#include "dataplane/packet/arp.h"

#include "dataplane/packet/packet_view.h"

#include <cstring>

namespace privlink::dataplane {
namespace {

constexpr uint8_t kEthernetAddressLen = 6;
constexpr uint8_t kIpv4AddressLen = 4;
constexpr MacAddress kZeroMac = {};

struct ArpMessage {
  uint16_t op;
  MacAddress eth_dst;
  MacAddress eth_src;
  MacAddress sender_mac;
  Ipv4Be sender_ip;
  MacAddress target_mac;
  Ipv4Be target_ip;
};

// Ethernet (+ tag) and ARP, zero padding to kArpFrameLen.
size_t WriteArpFrame(const ArpMessage& m, uint16_t vlan_id, std::span<uint8_t> out) {
  if (out.size() < kArpFrameLen || vlan_id > kVlanIdMask) return 0;
  uint8_t* const frame = out.data();
  std::memset(frame, 0, kArpFrameLen);
  std::memcpy(frame + kEthDstOffset, m.eth_dst.data(), m.eth_dst.size());
  std::memcpy(frame + kEthSrcOffset, m.eth_src.data(), m.eth_src.size());
  size_t arp_offset = kEthHeaderLen;
  if (vlan_id != kUntagged) {
    StoreBe16(frame + kEthTypeOffset, kEtherTypeVlan);
    StoreBe16(frame + kVlanTciOffset, vlan_id);
    StoreBe16(frame + kVlanInnerTypeOffset, kEtherTypeArp);
    arp_offset += kVlanTagLen;
  } else {
    StoreBe16(frame + kEthTypeOffset, kEtherTypeArp);
  }
  uint8_t* const arp = frame + arp_offset;
  StoreBe16(arp + kArpHardwareTypeOffset, kArpHardwareEthernet);
  StoreBe16(arp + kArpProtocolTypeOffset, kEtherTypeIpv4);
  arp[kArpHardwareLenOffset] = kEthernetAddressLen;
  arp[kArpProtocolLenOffset] = kIpv4AddressLen;
  StoreBe16(arp + kArpOpOffset, m.op);
  std::memcpy(arp + kArpSenderMacOffset, m.sender_mac.data(), m.sender_mac.size());
  std::memcpy(arp + kArpSenderIpOffset, &m.sender_ip, sizeof m.sender_ip);
  std::memcpy(arp + kArpTargetMacOffset, m.target_mac.data(), m.target_mac.size());
  std::memcpy(arp + kArpTargetIpOffset, &m.target_ip, sizeof m.target_ip);
  return kArpFrameLen;
}

}  // namespace

size_t BuildArpReply(const ArpFields& request, uint16_t vlan_id, const MacAddress& our_mac,
                     std::span<uint8_t> out) {
  if (request.op != kArpOpRequest) return 0;
  return WriteArpFrame({.op = kArpOpReply,
                        .eth_dst = request.sender_mac,
                        .eth_src = our_mac,
                        .sender_mac = our_mac,
                        .sender_ip = request.target_ip,
                        .target_mac = request.sender_mac,
                        .target_ip = request.sender_ip},
                       vlan_id, out);
}

size_t BuildArpRequest(const MacAddress& our_mac, Ipv4Be our_ip, Ipv4Be target_ip, uint16_t vlan_id,
                       std::span<uint8_t> out) {
  return WriteArpFrame({.op = kArpOpRequest,
                        .eth_dst = kBroadcastMac,
                        .eth_src = our_mac,
                        .sender_mac = our_mac,
                        .sender_ip = our_ip,
                        .target_mac = kZeroMac,
                        .target_ip = target_ip},
                       vlan_id, out);
}

size_t BuildGratuitousArp(const MacAddress& our_mac, Ipv4Be our_ip, uint16_t vlan_id,
                          std::span<uint8_t> out) {
  return BuildArpRequest(our_mac, our_ip, our_ip, vlan_id, out);
}

}  // namespace privlink::dataplane
