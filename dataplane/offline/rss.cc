#include "dataplane/offline/rss.h"

#include "dataplane/packet/packet_view.h"
#include "dataplane/packet/wire_format.h"

namespace privlink::dataplane {

nat::RssSetup ModelledNicRss(uint32_t queues) {
  return nat::PrivlinkRss(nat::kDefaultRetaSize, queues);
}

uint32_t RssQueue(std::span<const uint8_t> frame, uint32_t queues) {
  const PacketView f(frame.data(), static_cast<uint32_t>(frame.size()));
  if (queues <= 1 || !f.Contains(0, kEthHeaderLen)) return 0;
  size_t l3 = kEthHeaderLen;
  uint16_t ether_type = f.LoadHost16(kEthTypeOffset);
  if (ether_type == kEtherTypeVlan && f.Contains(0, kEthHeaderLen + kVlanTagLen)) {
    ether_type = f.LoadHost16(kVlanInnerTypeOffset);
    l3 += kVlanTagLen;
  }
  if (ether_type != kEtherTypeIpv4 || !f.Contains(l3, nat::kIpv4MinHeaderLen)) return 0;
  const uint8_t version_ihl = f.U8(l3);
  const size_t ihl = size_t{version_ihl & 0x0fu} * 4;
  if ((version_ihl >> 4) != kIpv4Version || ihl < nat::kIpv4MinHeaderLen) return 0;
  // MF set or an offset: a fragment, hashed on its addresses as a NIC does.
  const bool fragment = (f.LoadHost16(l3 + kIpv4FragmentOffset) &
                         (kIpv4MoreFragments | kIpv4FragmentOffsetMask)) != 0;
  nat::Tuple tuple{.src_ip = f.Load<Ipv4Be>(l3 + nat::kIpv4SrcOffset),
                   .dst_ip = f.Load<Ipv4Be>(l3 + nat::kIpv4DstOffset)};
  const std::span<const uint8_t> key(nat::kRssKey);
  uint32_t hash = 0;
  // TCP and UDP hash on their ports too (the same Toeplitz input: the ports sit at the same
  // offsets), so a UDP flow's return datagrams come back to its worker like a TCP flow's.
  const uint8_t protocol = f.U8(l3 + kIpv4ProtocolOffset);
  if ((protocol == nat::kIpProtoTcp || protocol == nat::kIpProtoUdp) && !fragment &&
      f.Contains(l3 + ihl, 2 * sizeof(PortBe))) {
    tuple.src_port = f.Load<PortBe>(l3 + ihl);
    tuple.dst_port = f.Load<PortBe>(l3 + ihl + sizeof(PortBe));
    hash = nat::RssHash(key, tuple);
  } else {
    hash = nat::RssHashAddresses(key, tuple.src_ip, tuple.dst_ip);
  }
  return nat::SpreadRetaQueue(hash % nat::kDefaultRetaSize, queues);
}

}  // namespace privlink::dataplane
