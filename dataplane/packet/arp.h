// ARP frames privlink writes (RFC 826, Ethernet/IPv4 only): replies for the addresses it answers
// (PE IPs, NAT IPs), requests for next hops it resolves, and gratuitous announcements of NAT IPs.
//
// Pure byte writers: no mbufs, no ports, no policy. Which requests deserve a reply is the
// caller's decision; these only lay out the bytes. Each writes into a caller-provided buffer and
// returns the frame length, or 0 when the buffer is shorter than kArpFrameLen or an argument is
// invalid (then nothing useful was written).
//
// Frames are padded with zeros to the Ethernet minimum (60 bytes without FCS), tagged or not:
// virtual devices (af_packet, tap, pcap) send what they are given, and some receivers drop runts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/packet/parse.h"  // ArpFields, the parser's view of an ARP message
#include "dataplane/packet/wire_format.h"
#include "nat/inet.h"

namespace privlink::dataplane {

// Every frame these functions write: 14 (+4 tag) + 28 bytes of ARP, padded to 60.
inline constexpr size_t kArpFrameLen = kEthMinFrameLen;
static_assert(kEthHeaderLen + kVlanTagLen + kArpLen <= kArpFrameLen);

inline constexpr uint16_t kUntagged = 0;  // vlan_id meaning "no 802.1Q tag"

// The reply to `request` (op must be kArpOpRequest), sent back on the VLAN it came from
// (`vlan_id`, 0 = untagged; the PCP bits are 0): Ethernet dst = requester, src = `our_mac`;
// ARP op 2, sender = `our_mac` + the requested IP (request.target_ip), target = the requester's
// MAC and IP. Returns 0 for a request that is not op 1 or a vlan_id above 4095.
size_t BuildArpReply(const ArpFields& request, uint16_t vlan_id, const MacAddress& our_mac,
                     std::span<uint8_t> out);

// "Who has `target_ip`? Tell `our_ip`": broadcast, target MAC zero (RFC 826).
size_t BuildArpRequest(const MacAddress& our_mac, Ipv4Be our_ip, Ipv4Be target_ip, uint16_t vlan_id,
                       std::span<uint8_t> out);

// An ARP announcement of `our_ip` (RFC 5227 section 2.3: a broadcast request with sender IP =
// target IP = `our_ip`), so neighbours that cached another MAC for it update their caches.
size_t BuildGratuitousArp(const MacAddress& our_mac, Ipv4Be our_ip, uint16_t vlan_id,
                          std::span<uint8_t> out);

}  // namespace privlink::dataplane
