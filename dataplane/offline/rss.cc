#include "dataplane/offline/rss.h"

#include <cstring>

namespace privlink::dataplane {
namespace {

constexpr size_t kEthHeader = 14;
constexpr size_t kVlanTag = 4;
constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherVlan = 0x8100;
constexpr uint8_t kIpProtoTcp = 6;

uint16_t Load16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

template <typename T>
T LoadRaw(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

nat::RssSetup ModelledNicRss(uint32_t queues) {
  return nat::PrivlinkRss(nat::kDefaultRetaSize, queues);
}

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
  if ((ip[0] >> 4) != 4 || ihl < 20) return 0;
  nat::Tuple tuple{.src_ip = LoadRaw<Ipv4Be>(ip + 12), .dst_ip = LoadRaw<Ipv4Be>(ip + 16)};
  const std::span<const uint8_t> key(nat::kRssKey);
  uint32_t hash = 0;
  if (ip[9] == kIpProtoTcp && !fragment && frame.size() >= l3 + ihl + 4) {
    tuple.src_port = LoadRaw<PortBe>(ip + ihl);
    tuple.dst_port = LoadRaw<PortBe>(ip + ihl + 2);
    hash = nat::RssHash(key, tuple);
  } else {
    hash = nat::RssHashAddresses(key, tuple.src_ip, tuple.dst_ip);
  }
  return (hash % nat::kDefaultRetaSize) % queues;
}

}  // namespace privlink::dataplane
