// Receive-side scaling as a NIC programmed by privlink does it (dataplane.flowSteering), for the
// in-process dataplane's multi-queue ports: the Toeplitz hash with nat::kRssKey of an IPv4/TCP
// frame's addresses and ports, or of its addresses alone for other IPv4 (ICMP) and fragments,
// then a redirection table of nat::kDefaultRetaSize entries, entry i -> queue i % queues. Not
// symmetric: the two directions of a connection, and a connection before and after NAT, usually
// land on different queues unless the NAT port was chosen for it (nat/rss_port_map.h).
#pragma once

#include <cstdint>
#include <span>

#include "nat/rss_port_map.h"

namespace privlink::dataplane {

// The key and redirection table RssQueue models.
nat::RssSetup ModelledNicRss(uint32_t queues);

// The queue of `queues` that such a NIC delivers `frame` to (an untagged or single-VLAN Ethernet
// frame); anything not IPv4 goes to queue 0.
uint32_t RssQueue(std::span<const uint8_t> frame, uint32_t queues);

}  // namespace privlink::dataplane
