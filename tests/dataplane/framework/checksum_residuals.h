// Checksum residuals of sent frames, read with the RFC 1071 reference
// (tests/nat/reference_checksum.h), which is independent of the code under test; and the pcap in
// which check_checksums.py reads the same frames again, with scapy
// (tests/dataplane/fixture_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "tests/dataplane/framework/forward_frames.h"
#include "tests/nat/reference_checksum.h"

namespace privlink::dataplane::testing {

// ~(one's-complement sum over the covered bytes, checksum field included): 0 for a correct
// checksum, otherwise how far the stored checksum is from the correct one. An incremental update
// (RFC 1624) keeps it: a translated packet is exactly as wrong as the packet that came in.
struct Residuals {
  uint16_t ip = 0;
  uint16_t tcp = 0;
  bool operator==(const Residuals&) const = default;
};

inline size_t L3OffsetOf(const Bytes& frame) {
  return frame.size() >= kEthHeaderLen &&
                 Load16(frame, kEthTypeOffset) == HostToBe16(kEtherTypeVlan)
             ? kEthHeaderLen + kVlanTagLen
             : kEthHeaderLen;
}

// The residuals of an IPv4 TCP frame, the segment's length taken from the IPv4 total length (so
// Ethernet padding is not summed); nullopt when the headers do not fit.
inline std::optional<Residuals> ResidualsOf(const Bytes& frame) {
  const size_t l3 = L3OffsetOf(frame);
  if (frame.size() < l3 + nat::kIpv4MinHeaderLen) return std::nullopt;
  const size_t ihl = size_t{frame[l3] & 0x0fu} * 4;
  const size_t total = Be16ToHost(Load16(frame, l3 + nat::kIpv4TotalLengthOffset));
  if (ihl < nat::kIpv4MinHeaderLen || total < ihl + kTcpMinHeaderLen || l3 + total > frame.size()) {
    return std::nullopt;
  }
  const uint8_t* ip = frame.data() + l3;
  const size_t segment = total - ihl;
  const uint64_t pseudo =
      nat::testing::ReferenceSum(ip + nat::kIpv4SrcOffset, 8) + nat::kIpProtoTcp + segment;
  return Residuals{
      static_cast<uint16_t>(~nat::testing::ReferenceFold(nat::testing::ReferenceSum(ip, ihl))),
      static_cast<uint16_t>(
          ~nat::testing::ReferenceFold(nat::testing::ReferenceSum(ip + ihl, segment, pseudo)))};
}

// One's-complement a - b over 16 bits.
inline uint16_t OnesSubtract(uint16_t a, uint16_t b) {
  uint32_t sum = uint32_t{a} + static_cast<uint16_t>(~b);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// `f` (correct checksums) with each checksum moved by its residual: exactly as wrong as a packet
// with these residuals, so expected frames stay byte-for-byte comparisons.
inline Frame WithResiduals(Frame f, Residuals r) {
  const size_t ip_sum = f.l3_offset + nat::kIpv4ChecksumOffset;
  const size_t tcp_sum = f.l4_offset + nat::kTcpChecksumOffset;
  f.Set16(ip_sum, OnesSubtract(f.Get16(ip_sum), r.ip));
  f.Set16(tcp_sum, OnesSubtract(f.Get16(tcp_sum), r.tcp));
  return f;
}

// A frame the worker sent: the port it left on and the residuals expected of it.
struct SentFrame {
  uint16_t port;
  Bytes bytes;
  Residuals expected;
};

// For check_checksums.py: a classic pcap (microsecond timestamps, Ethernet) of `frames`, and
// beside it one line per frame: the side it left on and the residuals expected of it.
inline void WriteCapture(const std::string& pcap_path, const std::string& expect_path,
                         const std::vector<SentFrame>& frames, uint16_t provider_port) {
  std::ofstream pcap(pcap_path, std::ios::binary);
  std::ofstream expect(expect_path);
  const auto put32 = [&pcap](uint32_t v) { pcap.write(reinterpret_cast<const char*>(&v), 4); };
  const auto put16 = [&pcap](uint16_t v) { pcap.write(reinterpret_cast<const char*>(&v), 2); };
  put32(0xa1b2c3d4);
  put16(2);
  put16(4);
  put32(0);
  put32(0);
  put32(65535);
  put32(1);  // LINKTYPE_ETHERNET
  for (size_t i = 0; i < frames.size(); ++i) {
    const SentFrame& f = frames[i];
    put32(static_cast<uint32_t>(i));
    put32(0);
    put32(static_cast<uint32_t>(f.bytes.size()));
    put32(static_cast<uint32_t>(f.bytes.size()));
    pcap.write(reinterpret_cast<const char*>(f.bytes.data()),
               static_cast<std::streamsize>(f.bytes.size()));
    expect << (f.port == provider_port ? "provider" : "consumer") << ' ' << f.expected.ip << ' '
           << f.expected.tcp << '\n';
  }
}

}  // namespace privlink::dataplane::testing
