// Receive-side scaling as a NIC does it, for the in-process dataplane's multi-queue ports: the
// Toeplitz hash of an IPv4/TCP frame's addresses and ports (not symmetric: the two directions of
// a connection, and a connection before and after NAT, usually land on different queues), then
// the NIC's default redirection table (entry i -> queue i % queues).
#pragma once

#include <cstdint>
#include <span>

namespace privlink::dataplane {

// Redirection-table entries: the low bits of the hash pick one (as on most 10G/25G NICs).
inline constexpr uint32_t kRssRetaSize = 128;

// The queue of `queues` that a NIC's RSS over IPv4/TCP would deliver `frame` to (an untagged or
// single-VLAN Ethernet frame). Anything else, IPv4 fragments included, goes to queue 0.
uint32_t RssQueue(std::span<const uint8_t> frame, uint32_t queues);

}  // namespace privlink::dataplane
