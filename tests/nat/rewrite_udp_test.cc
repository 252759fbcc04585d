// RewriteIpv4Udp against the textbook checksum: random datagrams at any alignment, rewritten with
// the flow's delta, carry the checksum a full computation gives; a datagram without a checksum
// (0) keeps none; a rewrite whose checksum comes out 0 sends 0xffff (RFC 768).
#include <array>
#include <cstdint>
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "nat/checksum.h"
#include "nat/rewrite.h"
#include "tests/nat/reference_checksum.h"

namespace privlink::nat {
namespace {

using testing::ReferenceFold;
using testing::ReferenceSum;

uint16_t Read16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
void Write16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// One IPv4 (20 bytes) + UDP datagram, starting at `alignment` in its buffer.
struct Datagram {
  alignas(8) std::array<uint8_t, 8 + 20 + 8 + 600> bytes{};
  size_t alignment = 0;
  size_t udp_len = 0;

  uint8_t* ip() { return bytes.data() + alignment; }
  uint8_t* udp() { return ip() + 20; }
  // The full checksum, host order, as RFC 768 sends it (a computed 0 as 0xffff).
  uint16_t FullUdp() {
    const uint64_t pseudo = ReferenceSum(ip() + kIpv4SrcOffset, 8) + kIpProtoUdp + udp_len;
    const uint64_t sum = pseudo + ReferenceSum(udp(), 6) + ReferenceSum(udp() + 8, udp_len - 8);
    const auto full = static_cast<uint16_t>(~ReferenceFold(sum));
    return full == 0 ? 0xffff : full;
  }
  uint16_t FullIpv4() {
    return static_cast<uint16_t>(
        ~ReferenceFold(ReferenceSum(ip(), 10) + ReferenceSum(ip() + 12, 8)));
  }
  Tuple tuple() {
    Tuple t;
    std::memcpy(&t.src_ip, ip() + kIpv4SrcOffset, 4);
    std::memcpy(&t.dst_ip, ip() + kIpv4DstOffset, 4);
    std::memcpy(&t.src_port, udp() + kUdpSrcPortOffset, 2);
    std::memcpy(&t.dst_port, udp() + kUdpDstPortOffset, 2);
    return t;
  }
  void Build(std::mt19937_64& rng) {
    alignment = rng() % 8;
    udp_len = 8 + rng() % 600;
    for (size_t i = 0; i < 20 + udp_len; ++i) ip()[i] = static_cast<uint8_t>(rng());
    ip()[0] = 0x45;
    ip()[9] = kIpProtoUdp;
    Write16(ip() + kIpv4TotalLengthOffset, static_cast<uint16_t>(20 + udp_len));
    Write16(ip() + kIpv4ChecksumOffset, FullIpv4());
    Write16(udp() + kUdpLengthOffset, static_cast<uint16_t>(udp_len));
    Write16(udp() + kUdpChecksumOffset, FullUdp());
  }
};

Tuple RandomTuple(std::mt19937_64& rng) {
  return {.src_ip = static_cast<Ipv4Be>(rng()),
          .dst_ip = static_cast<Ipv4Be>(rng()),
          .src_port = static_cast<PortBe>(rng()),
          .dst_port = static_cast<PortBe>(rng())};
}

TEST(RewriteIpv4UdpTest, RandomDatagramsMatchFullRecomputation) {
  std::mt19937_64 rng(0x0d9);
  Datagram d;
  for (int i = 0; i < 200'000; ++i) {
    d.Build(rng);
    ASSERT_EQ(UdpChecksum(d.tuple().src_ip, d.tuple().dst_ip, d.udp(), d.udp_len),
              HostToBe16(d.FullUdp()));
    const Tuple from = d.tuple();
    const Tuple to = RandomTuple(rng);
    RewriteIpv4Udp({d.ip(), d.udp()}, to, ComputeRewriteDelta(from, to));
    ASSERT_EQ(d.tuple(), to);
    ASSERT_EQ(Read16(d.ip() + kIpv4ChecksumOffset), d.FullIpv4()) << i;
    ASSERT_EQ(Read16(d.udp() + kUdpChecksumOffset), d.FullUdp()) << i;
  }
}

TEST(RewriteIpv4UdpTest, NoChecksumStaysNone) {
  std::mt19937_64 rng(7);
  Datagram d;
  for (int i = 0; i < 1000; ++i) {
    d.Build(rng);
    Write16(d.udp() + kUdpChecksumOffset, 0);
    const Tuple from = d.tuple();
    const Tuple to = RandomTuple(rng);
    RewriteIpv4Udp({d.ip(), d.udp()}, to, ComputeRewriteDelta(from, to));
    ASSERT_EQ(Read16(d.udp() + kUdpChecksumOffset), 0);
    ASSERT_EQ(Read16(d.ip() + kIpv4ChecksumOffset), d.FullIpv4());
  }
}

// The rewritten datagram's one's-complement sum is all ones, so its checksum computes to 0: it
// must leave as 0xffff, never as 0 (which would read as "no checksum").
TEST(RewriteIpv4UdpTest, ComputedZeroLeavesAsAllOnes) {
  std::mt19937_64 rng(99);
  Datagram d;
  for (int i = 0; i < 1000; ++i) {
    d.Build(rng);
    const Tuple from = d.tuple();
    Tuple to = RandomTuple(rng);
    // Pick the new source port that makes the rewritten sum 0xffff: fold(rest + port) == 0xffff.
    to.src_port = 0;
    std::memcpy(d.ip() + kIpv4SrcOffset, &to.src_ip, 4);
    std::memcpy(d.ip() + kIpv4DstOffset, &to.dst_ip, 4);
    std::memcpy(d.udp() + kUdpDstPortOffset, &to.dst_port, 2);
    std::memcpy(d.udp() + kUdpSrcPortOffset, &to.src_port, 2);
    const uint64_t rest = ReferenceSum(d.ip() + kIpv4SrcOffset, 8) + kIpProtoUdp + d.udp_len +
                          ReferenceSum(d.udp(), 6) + ReferenceSum(d.udp() + 8, d.udp_len - 8);
    const uint16_t folded = ReferenceFold(rest);
    to.src_port = HostToBe16(static_cast<uint16_t>(0xffff - folded));
    // Back to the original tuple, then the rewrite under test.
    std::memcpy(d.ip() + kIpv4SrcOffset, &from.src_ip, 4);
    std::memcpy(d.ip() + kIpv4DstOffset, &from.dst_ip, 4);
    std::memcpy(d.udp() + kUdpSrcPortOffset, &from.src_port, 2);
    std::memcpy(d.udp() + kUdpDstPortOffset, &from.dst_port, 2);
    RewriteIpv4Udp({d.ip(), d.udp()}, to, ComputeRewriteDelta(from, to));
    ASSERT_EQ(d.FullUdp(), 0xffff) << "the forced sum";
    ASSERT_EQ(Read16(d.udp() + kUdpChecksumOffset), 0xffff) << i;
  }
}

}  // namespace
}  // namespace privlink::nat
