// The per-packet NAT rewrite of an IPv4 + TCP or UDP header: four stores and two checksum
// updates. The checksum delta is the same for both: TCP's and UDP's checksums cover the same
// pseudo-header addresses and the ports at the same offsets.
//
// Headers are reached through byte offsets and memcpy, so they may sit at any address (after a
// 14-byte Ethernet header they are only 2-byte aligned) without undefined behaviour; compilers turn
// each memcpy into one load or store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "nat/checksum.h"
#include "nat/inet.h"

namespace privlink::nat {

// kSoftware: incremental update of both checksums (RFC 1624), the packet is complete on return.
// kOffload: the IPv4 checksum is zeroed and the TCP field holds the pseudo-header checksum, as a
// NIC with IPv4 and TCP checksum offload expects (the mbuf's offload flags are the caller's job).
enum class ChecksumMode : uint8_t { kSoftware, kOffload };

namespace rewrite_internal {

template <typename T>
inline T LoadAt(const unsigned char* base, size_t offset) {
  T value;
  std::memcpy(&value, base + offset, sizeof value);
  return value;
}

template <typename T>
inline void StoreAt(unsigned char* base, size_t offset, T value) {
  std::memcpy(base + offset, &value, sizeof value);
}

}  // namespace rewrite_internal

// The two headers of one IPv4 + TCP or UDP packet, at any alignment.
struct Ipv4L4Headers {
  void* ipv4 = nullptr;
  void* l4 = nullptr;  // TCP or UDP
};

namespace rewrite_internal {

// The new addresses and ports: TCP and UDP hold the ports at the same offsets.
static_assert(kTcpSrcPortOffset == kUdpSrcPortOffset && kTcpDstPortOffset == kUdpDstPortOffset);
inline void StoreTuple(unsigned char* ip, unsigned char* l4, const Tuple& to) {
  StoreAt(ip, kIpv4SrcOffset, to.src_ip);
  StoreAt(ip, kIpv4DstOffset, to.dst_ip);
  StoreAt(l4, kTcpSrcPortOffset, to.src_port);
  StoreAt(l4, kTcpDstPortOffset, to.dst_port);
}

}  // namespace rewrite_internal

// Rewrites the addresses and ports to `to` and fixes the checksums. `delta` is
// ComputeRewriteDelta() from the header's current tuple to `to`; kOffload ignores it and instead
// reads total length and IHL, which the parser has validated (IHL >= 5, total length >= IHL * 4).
template <ChecksumMode kMode = ChecksumMode::kSoftware>
inline void RewriteIpv4Tcp(Ipv4L4Headers headers, const Tuple& to, RewriteDelta delta) {
  using rewrite_internal::LoadAt;
  using rewrite_internal::StoreAt;
  auto* ip = static_cast<unsigned char*>(headers.ipv4);
  auto* tcp = static_cast<unsigned char*>(headers.l4);
  rewrite_internal::StoreTuple(ip, tcp, to);
  if constexpr (kMode == ChecksumMode::kSoftware) {
    StoreAt(ip, kIpv4ChecksumOffset,
            ApplyChecksumDelta(LoadAt<uint16_t>(ip, kIpv4ChecksumOffset), delta.ip));
    StoreAt(tcp, kTcpChecksumOffset,
            ApplyChecksumDelta(LoadAt<uint16_t>(tcp, kTcpChecksumOffset), delta.l4));
  } else {
    static_assert(kMode == ChecksumMode::kOffload);
    const uint16_t total_len = Be16ToHost(LoadAt<uint16_t>(ip, kIpv4TotalLengthOffset));
    const auto ip_header_len = static_cast<uint16_t>((ip[kIpv4VersionIhlOffset] & 0x0f) * 4);
    const auto tcp_len = static_cast<uint16_t>(total_len - ip_header_len);
    StoreAt(ip, kIpv4ChecksumOffset, uint16_t{0});
    StoreAt(tcp, kTcpChecksumOffset, TcpPseudoHeaderChecksum(to.src_ip, to.dst_ip, tcp_len));
  }
}

// The UDP rewrite: as RewriteIpv4Tcp's kSoftware, but a checksum of 0 ("none", RFC 768) stays 0,
// and an updated checksum that comes out 0 is sent as 0xffff, its one's-complement equal (RFC 768:
// a computed 0 is transmitted as all ones). The flow's precomputed delta serves both protocols.
inline void RewriteIpv4Udp(Ipv4L4Headers headers, const Tuple& to, RewriteDelta delta) {
  using rewrite_internal::LoadAt;
  using rewrite_internal::StoreAt;
  auto* ip = static_cast<unsigned char*>(headers.ipv4);
  auto* udp = static_cast<unsigned char*>(headers.l4);
  rewrite_internal::StoreTuple(ip, udp, to);
  StoreAt(ip, kIpv4ChecksumOffset,
          ApplyChecksumDelta(LoadAt<uint16_t>(ip, kIpv4ChecksumOffset), delta.ip));
  StoreAt(udp, kUdpChecksumOffset,
          ApplyUdpChecksumDelta(LoadAt<uint16_t>(udp, kUdpChecksumOffset), delta.l4));
}

}  // namespace privlink::nat
