// RSS port choice: which NAT ports of a (NAT IP, backend) pair a NIC's receive-side scaling sends
// back to which worker, so that the slow path can give a new flow a NAT port whose return packets
// reach the worker that created it (both directions of a flow on one core, no shared cache
// lines).
//
// A NIC hashes a frame's IPv4/TCP tuple with the Toeplitz function and a key, and delivers it to
// the queue its redirection table (RETA) names for the hash's low bits. Toeplitz is linear (XOR)
// in its input, so the hash of a return tuple (backend ip:port -> NAT ip:port) is the hash of the
// pair's fixed part (NAT port 0) XOR the hash of the NAT port alone. The low L bits of the second,
// the port's *class*, are a linear map of the port's 16 bits: when that map has rank L each class
// holds exactly 2^(16-L) ports. A pair whose fixed part hashes to `base` (low L bits) then comes
// back to queue RETA[base ^ class] for each port: a worker's ports for the pair are the classes
// base ^ i of its RETA entries i, and every port of the range belongs to exactly one worker.
//
// The map is built once per port configuration from the key and RETA (key length and RETA size
// differ between devices) and is read-only after: NatPortAllocator lays out each pair's port
// space by it (nat/port_alloc.h).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "nat/flow_key.h"
#include "nat/inet.h"

namespace privlink::nat {

// The Toeplitz key privlink programs on every port: Microsoft's RSS verification key, the default
// of most drivers, so a device that takes the RETA but keeps its own default key usually agrees.
inline constexpr std::array<uint8_t, 40> kRssKey = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
// An IPv4/TCP tuple is 96 bits; its last bit's 32-bit window ends at key bit 127.
inline constexpr size_t kRssKeyMinBytes = 16;
// RETA entries the map distinguishes: at most 2^10, so a class keeps at least 64 ports (one
// bitmap word of the allocator). A device with a larger table is programmed with this one
// repeated, which sends each hash to the same queue.
inline constexpr uint32_t kMaxRssClassBits = 10;
// The redirection table size privlink models where no device says otherwise (the in-process
// pipeline): 128 entries, as on most 10G/25G NICs.
inline constexpr uint32_t kDefaultRetaSize = 128;

// The Toeplitz hash a NIC computes over an IPv4/TCP tuple (source address, destination address,
// source port, destination port). `key` holds at least kRssKeyMinBytes.
uint32_t RssHash(std::span<const uint8_t> key, const Tuple& tuple);
// The hash over the addresses alone: what a NIC computes for IPv4 that is not TCP (ICMP) or is a
// fragment.
uint32_t RssHashAddresses(std::span<const uint8_t> key, Ipv4Be src, Ipv4Be dst);

// The redirection table privlink programs: entry i -> queue i % queues (most drivers' default).
constexpr uint16_t SpreadRetaQueue(uint32_t entry, uint32_t queues) {
  return static_cast<uint16_t>(entry % queues);
}
std::vector<uint16_t> SpreadReta(uint32_t entries, uint32_t queues);

struct RssSetup {
  std::vector<uint8_t> key;    // at least kRssKeyMinBytes
  std::vector<uint16_t> reta;  // the queue of each entry; a power of two, 2 .. 2^kMaxRssClassBits
};

// privlink's set-up for a redirection table of `entries` over `queues`: kRssKey, SpreadReta.
RssSetup PrivlinkRss(uint32_t entries, uint32_t queues);

class RssPortMap {
 public:
  // Errors name the rule: a key shorter than kRssKeyMinBytes, a RETA size that is not a power of
  // two in range, an entry naming a queue >= queues, a queue with no entry (it would receive
  // nothing and own no port), or a key under which the ports do not spread over every class.
  static absl::StatusOr<std::shared_ptr<const RssPortMap>> Create(const RssSetup& setup,
                                                                  uint32_t queues);

  // The queue a NIC so programmed delivers `tuple` to.
  uint32_t QueueOf(const Tuple& tuple) const { return reta_[RssHash(key_, tuple) & class_mask_]; }
  // The low class_bits() of the hash of the pair's return tuple with NAT port 0.
  uint32_t PairBase(Ipv4Be nat_ip, Ipv4Be backend_ip, PortBe backend_port) const;

  uint32_t queues() const { return queues_; }
  uint32_t class_bits() const { return class_bits_; }
  uint32_t class_count() const { return class_mask_ + 1; }
  // Ports in each class: 2^(16 - class_bits()).
  uint32_t class_size() const { return class_size_; }
  // The RETA entries of `queue`, ascending: its port space for a pair with base b is the classes
  // b ^ entry, in this order.
  std::span<const uint16_t> EntriesOf(uint32_t queue) const { return entries_of_[queue]; }
  uint16_t QueueOfEntry(uint32_t entry) const { return reta_[entry]; }
  // Position of `entry` in its queue's EntriesOf list.
  uint32_t PositionOfEntry(uint32_t entry) const { return position_of_entry_[entry]; }

  // Ports (host order) by class and rank: the class's ports ascend with rank.
  uint32_t ClassOf(uint16_t port) const { return class_of_[port]; }
  uint32_t RankOf(uint16_t port) const { return rank_of_[port]; }
  uint16_t PortAt(uint32_t cls, uint32_t rank) const { return ports_[cls * class_size_ + rank]; }
  // Ranks of class `cls` whose ports lie in [first, last]: [begin, end).
  struct RankRange {
    uint32_t begin = 0;
    uint32_t end = 0;
  };
  RankRange RanksWithin(uint32_t cls, uint16_t first, uint16_t last) const;

 private:
  RssPortMap() = default;

  std::vector<uint8_t> key_;
  std::vector<uint16_t> reta_;
  uint32_t queues_ = 0;
  uint32_t class_bits_ = 0;
  uint32_t class_mask_ = 0;
  uint32_t class_size_ = 0;
  std::vector<std::vector<uint16_t>> entries_of_;
  std::vector<uint16_t> position_of_entry_;
  std::vector<uint16_t> class_of_;  // by port
  std::vector<uint16_t> rank_of_;   // by port
  std::vector<uint16_t> ports_;     // class-major, ascending within a class
};

}  // namespace privlink::nat
