#include "dataplane/offline/rss.h"

#include <rte_thash.h>

#include <cstring>

namespace privlink::dataplane {
namespace {

// The Toeplitz key most NIC drivers program by default (Microsoft's RSS verification key).
constexpr uint8_t kRssKey[40] = {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
                                 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
                                 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
                                 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};

constexpr size_t kEthHeader = 14;
constexpr size_t kVlanTag = 4;
constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherVlan = 0x8100;
constexpr uint8_t kIpProtoTcp = 6;

uint16_t Load16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t Load32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

}  // namespace

uint32_t RssQueue(std::span<const uint8_t> frame, uint32_t queues) {
  if (queues <= 1 || frame.size() < kEthHeader) return 0;
  size_t l3 = kEthHeader;
  uint16_t ether_type = Load16(&frame[12]);
  if (ether_type == kEtherVlan && frame.size() >= kEthHeader + kVlanTag) {
    ether_type = Load16(&frame[16]);
    l3 += kVlanTag;
  }
  if (ether_type != kEtherIpv4 || frame.size() < l3 + 20) return 0;
  const uint8_t* ip = &frame[l3];
  const size_t ihl = size_t{ip[0] & 0x0fu} * 4;
  const bool fragment = (Load16(ip + 6) & 0x3fff) != 0;  // MF set or an offset
  if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != kIpProtoTcp || fragment ||
      frame.size() < l3 + ihl + 4) {
    return 0;
  }
  const uint8_t* tcp = ip + ihl;
  // rte_softrss wants the tuple in CPU byte order, 32-bit words: addresses, then the ports.
  uint32_t tuple[RTE_THASH_V4_L4_LEN] = {Load32(ip + 12), Load32(ip + 16),
                                         uint32_t{Load16(tcp)} << 16 | Load16(tcp + 2)};
  const uint32_t hash = rte_softrss(tuple, RTE_THASH_V4_L4_LEN, kRssKey);
  return (hash % kRssRetaSize) % queues;
}

}  // namespace privlink::dataplane
