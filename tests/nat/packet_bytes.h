// A minimal IPv4 + TCP packet for engine tests, with checksums from the independent reference
// (tests/nat/reference_checksum.h, not the engine's checksum code).
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "nat/inet.h"
#include "tests/nat/reference_checksum.h"

namespace privlink::nat::testing {

struct Ipv4TcpPacket {
  std::vector<uint8_t> bytes;  // IPv4 header (20) + TCP header (20) + payload
  uint8_t* ip() { return bytes.data(); }
  uint8_t* tcp() { return bytes.data() + 20; }
  Ipv4Be src() const { return Get32(12); }
  Ipv4Be dst() const { return Get32(16); }
  PortBe sport() const { return Get16(20); }
  PortBe dport() const { return Get16(22); }
  // Receiver-side verification: the sum over the header with its checksum folds to 0xffff.
  bool Ipv4ChecksumOk() const { return ReferenceFold(ReferenceSum(bytes.data(), 20)) == 0xffff; }
  bool TcpChecksumOk() const {
    const size_t tcp_len = bytes.size() - 20;
    uint64_t pseudo = ReferenceSum(bytes.data() + 12, 8) + 6 + static_cast<uint32_t>(tcp_len);
    return ReferenceFold(ReferenceSum(bytes.data() + 20, tcp_len, pseudo)) == 0xffff;
  }

 private:
  Ipv4Be Get32(size_t off) const {
    Ipv4Be v;
    std::memcpy(&v, bytes.data() + off, 4);
    return v;
  }
  PortBe Get16(size_t off) const {
    PortBe v;
    std::memcpy(&v, bytes.data() + off, 2);
    return v;
  }
};

inline Ipv4TcpPacket MakeIpv4Tcp(Ipv4Be src, PortBe sport, Ipv4Be dst, PortBe dport, uint8_t flags,
                                 size_t payload = 0) {
  Ipv4TcpPacket p;
  p.bytes.assign(40 + payload, 0);
  uint8_t* ip = p.bytes.data();
  ip[0] = 0x45;
  const uint16_t total = static_cast<uint16_t>(40 + payload);
  ip[2] = static_cast<uint8_t>(total >> 8);
  ip[3] = static_cast<uint8_t>(total);
  ip[8] = 64;
  ip[9] = 6;
  std::memcpy(ip + 12, &src, 4);
  std::memcpy(ip + 16, &dst, 4);
  uint8_t* tcp = ip + 20;
  std::memcpy(tcp, &sport, 2);
  std::memcpy(tcp + 2, &dport, 2);
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  tcp[14] = 0xff;
  for (size_t i = 0; i < payload; ++i) tcp[20 + i] = static_cast<uint8_t>(i * 7 + 3);
  const uint16_t ipc = static_cast<uint16_t>(~ReferenceFold(ReferenceSum(ip, 20)));
  ip[10] = static_cast<uint8_t>(ipc >> 8);
  ip[11] = static_cast<uint8_t>(ipc);
  const uint64_t pseudo = ReferenceSum(ip + 12, 8) + 6 + static_cast<uint32_t>(20 + payload);
  const uint16_t tc =
      static_cast<uint16_t>(~ReferenceFold(ReferenceSum(tcp, 20 + payload, pseudo)));
  tcp[16] = static_cast<uint8_t>(tc >> 8);
  tcp[17] = static_cast<uint8_t>(tc);
  return p;
}

}  // namespace privlink::nat::testing
