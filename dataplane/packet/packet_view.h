// PacketView: the one way privlink reads packet bytes (the glb-director habit).
//
// A view is a pointer, a length and what the NIC said of the checksums (nothing, for a pcap
// record or a test buffer), so the parser and the translation run the same on an mbuf's data
// (one segment: rte_pktmbuf_mtod + rte_pktmbuf_data_len), a pcap record and a test buffer. Loads go
// through memcpy at byte offsets: headers after a 14- or 18-byte Ethernet header are only 2-byte
// aligned, and memcpy compiles to a plain load without undefined behaviour.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "nat/inet.h"

namespace privlink::dataplane {

// What a NIC reports of a received frame's checksum (DPDK's RTE_MBUF_F_RX_{IP,L4}_CKSUM_*).
enum class NicVerdict : uint8_t {
  kUnknown,  // not checked (no offload, a pcap record, a test buffer): compute it
  kBad,      // checked and wrong
  kGood,     // checked and right
  kNone,     // the data is intact but the field does not hold its checksum (virtio: the TCP
             // field holds the pseudo-header sum): accept it, fill the field in before sending
};

struct NicChecksums {
  NicVerdict ipv4 = NicVerdict::kUnknown;
  NicVerdict l4 = NicVerdict::kUnknown;

  bool operator==(const NicChecksums&) const = default;
};

class PacketView {
 public:
  constexpr PacketView() = default;
  constexpr PacketView(const uint8_t* data, uint32_t len, NicChecksums nic = {})
      : data_(data), len_(len), nic_(nic) {}

  constexpr const uint8_t* data() const { return data_; }
  constexpr uint32_t size() const { return len_; }
  constexpr NicChecksums nic() const { return nic_; }

  // Whether bytes [offset, offset + count) lie inside the packet (no overflow for any input).
  constexpr bool Contains(size_t offset, size_t count) const {
    return offset <= len_ && count <= len_ - offset;
  }

  // Unchecked reads: the caller has checked Contains() for the bytes read (the parser checks each
  // header's extent once, then reads its fields).
  const uint8_t* At(size_t offset) const { return data_ + offset; }
  uint8_t U8(size_t offset) const { return data_[offset]; }
  // The bytes as they sit in memory: network byte order for wire fields (Ipv4Be, PortBe).
  template <typename T>
  T Load(size_t offset) const {
    T value;
    std::memcpy(&value, data_ + offset, sizeof value);
    return value;
  }
  // A big-endian 16-bit field (ethertype, length, ...) converted to host order.
  uint16_t LoadHost16(size_t offset) const { return Be16ToHost(Load<uint16_t>(offset)); }
  uint32_t LoadHost32(size_t offset) const { return Be32ToHost(Load<uint32_t>(offset)); }

 private:
  const uint8_t* data_ = nullptr;
  uint32_t len_ = 0;
  NicChecksums nic_;
};

// Writing a host-order value in network byte order at any alignment (frame builders).
inline void StoreBe16(uint8_t* at, uint16_t host) {
  const uint16_t be = HostToBe16(host);
  std::memcpy(at, &be, sizeof be);
}
inline void StoreBe32(uint8_t* at, uint32_t host) {
  const uint32_t be = HostToBe32(host);
  std::memcpy(at, &be, sizeof be);
}

}  // namespace privlink::dataplane
