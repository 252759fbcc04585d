// The key of one direction of a flow.
//
// Forward key: the consumer side, client ip:port -> private endpoint ip:port, qualified by the
// consumer network id because consumer address spaces overlap. Reverse key: the provider side,
// backend ip:port -> NAT ip:port; NAT IPs are unique across services (the control plane enforces
// it), so reverse keys all live in one provider "network".
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include <rte_hash_crc.h>

#include "nat/inet.h"

namespace privlink::nat {

using NetworkId = uint16_t;
// Network id of every reverse (provider-side) key.
inline constexpr NetworkId kProviderNetwork = 0xffff;
inline constexpr NetworkId kMaxConsumerNetworks = 0xfffe;
inline constexpr uint8_t kIpProtoTcp = 6;

struct FlowKey {
  Ipv4Be src_ip = 0;
  Ipv4Be dst_ip = 0;
  PortBe src_port = 0;
  PortBe dst_port = 0;
  NetworkId network = 0;
  uint8_t proto = kIpProtoTcp;
  uint8_t zero = 0;  // keeps the key free of indeterminate padding, so it compares as two words

  bool operator==(const FlowKey& o) const {
    uint64_t a[2], b[2];
    std::memcpy(a, this, sizeof a);
    std::memcpy(b, &o, sizeof b);
    return ((a[0] ^ b[0]) | (a[1] ^ b[1])) == 0;
  }
};
static_assert(sizeof(FlowKey) == 16, "a flow key is two 64-bit words");

// MurmurHash3's 32-bit finaliser: every input bit affects every output bit.
constexpr uint32_t MixBits32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// CRC32-C of the two key words (two instructions on SSE4.2 / ARMv8 CRC; not the Toeplitz hash
// NICs use for RSS, so table placement is independent of queue placement), then mixed: CRC is
// linear, and real tuples (clients in one subnet, sequential ports) differ in few bits, which a
// linear hash maps onto few bucket patterns (10M such flows overflowed buckets without it).
inline uint32_t HashFlowKey(const FlowKey& key) {
  uint64_t w[2];
  std::memcpy(w, &key, sizeof w);
  return MixBits32(rte_hash_crc_8byte(w[1], rte_hash_crc_8byte(w[0], 0x9e3779b9u)));
}

std::string FormatFlowKey(const FlowKey& key);

}  // namespace privlink::nat
