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

#if defined(__x86_64__) && defined(__SSE4_2__)
#include <nmmintrin.h>
#endif

#include "nat/inet.h"

namespace privlink::nat {

using NetworkId = uint16_t;
// Network id of every reverse (provider-side) key.
inline constexpr NetworkId kProviderNetwork = 0xffff;
inline constexpr NetworkId kMaxConsumerNetworks = 0xfffe;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;

// The addresses and ports of one direction of a TCP connection or UDP flow, as its IPv4 and
// TCP/UDP headers carry them. A NAT rewrite replaces a packet's tuple by another: the values always
// travel together.
struct Tuple {
  Ipv4Be src_ip = 0;
  Ipv4Be dst_ip = 0;
  PortBe src_port = 0;
  PortBe dst_port = 0;

  // The same connection seen from its other end: the tuple of what the peer sends back. This is
  // the one place the "other direction" rule is spelled out; a translated packet leaves with its
  // flow's other key reversed (FlowBinding::TranslatedTuple), and a reset goes back to a sender
  // with the packet's tuple reversed.
  constexpr Tuple Reversed() const {
    return Tuple{.src_ip = dst_ip, .dst_ip = src_ip, .src_port = dst_port, .dst_port = src_port};
  }
  bool operator==(const Tuple&) const = default;
};
static_assert(sizeof(Tuple) == 12, "a tuple is the first 12 bytes of a flow key, no padding");

struct FlowKey {
  Tuple tuple;
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

// A flow key's hash (HashFlowKey). Computed once per packet, by the bulk lookup, and handed on to
// everything else that needs it (the Maglev pick, the NAT IP spread and the insert of a new flow)
// instead of each hashing the key again; a type of its own so that no other 32-bit value is passed
// where a key's hash is meant.
struct FlowHash {
  uint32_t value = 0;
  bool operator==(const FlowHash&) const = default;
};

// MurmurHash3's 32-bit finaliser: every input bit affects every output bit.
constexpr uint32_t MixBits32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// CRC32-C of one key word. Where the build targets SSE4.2 (DPDK's x86-64 flags do), the
// instruction itself: rte_hash_crc_8byte gives the same value but first tests which CRC code the
// CPU supports, a compare and branch on every call that stays even in LookupBulk's hashing loop
// (DPDK's CRC is volatile asm, and its selector a byte that any store may alias).
inline uint32_t Crc32cWord(uint64_t word, uint32_t crc) {
#if defined(__x86_64__) && defined(__SSE4_2__)
  return static_cast<uint32_t>(_mm_crc32_u64(crc, word));
#else
  return rte_hash_crc_8byte(word, crc);
#endif
}

// CRC32-C of the two key words (two instructions on SSE4.2 / ARMv8 CRC; not the Toeplitz hash
// NICs use for RSS, so table placement is independent of queue placement), then mixed: CRC is
// linear, and real tuples (clients in one subnet, sequential ports) differ in few bits, which a
// linear hash maps onto few bucket patterns (10M such flows overflowed buckets without it).
inline FlowHash HashFlowKey(const FlowKey& key) {
  uint64_t w[2];
  std::memcpy(w, &key, sizeof w);
  return FlowHash{MixBits32(Crc32cWord(w[1], Crc32cWord(w[0], 0x9e3779b9u)))};
}

// A key with its hash, as the packet path hands a consumer SYN's key from the lookup to flow
// setup, so that setup neither hashes it again nor can be given a key without its hash. Built
// from a key alone it hashes the key (tests and tools); the packet path passes the hash it has.
struct HashedFlowKey {
  HashedFlowKey(const FlowKey& k) : key(k), hash(HashFlowKey(k)) {}  // implicit on purpose
  HashedFlowKey(const FlowKey& k, FlowHash h) : key(k), hash(h) {}

  FlowKey key;
  FlowHash hash;
};

std::string FormatFlowKey(const FlowKey& key);

}  // namespace privlink::nat
