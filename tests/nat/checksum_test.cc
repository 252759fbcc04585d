#include "nat/checksum.h"

#include <rte_ip.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "nat/inet.h"
#include "tests/nat/reference_checksum.h"

namespace privlink::nat {
namespace {

// A tuple in the (source, source port, destination, destination port) order the RFC examples use.
Tuple T(Ipv4Be src, PortBe sport, Ipv4Be dst, PortBe dport) {
  return {.src_ip = src, .dst_ip = dst, .src_port = sport, .dst_port = dport};
}

using testing::ReferenceFold;
using testing::ReferenceSum;

uint64_t ReferencePseudoHeaderSum(Ipv4Be src, Ipv4Be dst, uint16_t tcp_len) {
  const uint32_t s = Be32ToHost(src), d = Be32ToHost(dst);
  return (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + kIpProtoTcp + tcp_len;
}

std::vector<uint8_t> RandomBytes(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> bytes(n);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  return bytes;
}

// The stored (network-order) form of a host-order checksum.
uint16_t Stored(uint16_t host_order) {
  return HostToBe16(host_order);
}

TEST(ChecksumPartialTest, Rfc1071Example) {
  // RFC 1071 §3: these bytes sum to ddf2 (big-endian words, folded).
  const uint8_t bytes[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(ChecksumFold(ChecksumPartial(bytes, sizeof bytes)), Stored(0xddf2));
  EXPECT_EQ(ChecksumFinish(ChecksumPartial(bytes, sizeof bytes)), Stored(0x220d));
}

TEST(ChecksumPartialTest, EveryLengthAndAlignmentMatchesReference) {
  std::mt19937_64 rng(1);
  const std::vector<uint8_t> data = RandomBytes(rng, 600);
  for (size_t offset = 0; offset < 16; ++offset) {
    for (size_t len = 0; len <= 300; ++len) {
      const uint8_t* p = data.data() + offset;
      EXPECT_EQ(ChecksumFold(ChecksumPartial(p, len)), Stored(ReferenceFold(ReferenceSum(p, len))))
          << "offset " << offset << " len " << len;
    }
  }
}

TEST(ChecksumPartialTest, OddTrailingByteIsPaddedWithZero) {
  const uint8_t odd[] = {0x12, 0x34, 0x56};
  const uint8_t padded[] = {0x12, 0x34, 0x56, 0x00};
  EXPECT_EQ(ChecksumFold(ChecksumPartial(odd, 3)), ChecksumFold(ChecksumPartial(padded, 4)));
  EXPECT_EQ(ChecksumFold(ChecksumPartial(odd, 3)), Stored(0x1234 + 0x5600));
  const uint8_t one = 0xab;
  EXPECT_EQ(ChecksumFold(ChecksumPartial(&one, 1)), Stored(0xab00));
}

TEST(ChecksumPartialTest, ChainsEvenPiecesAndInitialCarries) {
  std::mt19937_64 rng(2);
  const std::vector<uint8_t> data = RandomBytes(rng, 1501);
  const uint16_t whole = ChecksumFold(ChecksumPartial(data.data(), data.size()));
  for (size_t split : {0u, 2u, 6u, 8u, 14u, 100u, 1500u}) {
    const uint32_t first = ChecksumPartial(data.data(), split);
    EXPECT_EQ(ChecksumFold(ChecksumPartial(data.data() + split, data.size() - split, first)), whole)
        << "split " << split;
  }
  // A large initial value must carry around, not overflow.
  for (uint32_t initial : {0xffffffffu, 0xfffffffeu, 0x80000000u, 0x0001ffffu}) {
    // `initial` holds two native-order words.
    const uint64_t expected = ReferenceSum(data.data(), data.size()) +
                              ByteSwap16(initial & 0xffff) + ByteSwap16(initial >> 16);
    EXPECT_EQ(ChecksumFold(ChecksumPartial(data.data(), data.size(), initial)),
              Stored(ReferenceFold(expected)))
        << initial;
  }
}

TEST(ChecksumPartialTest, LongAllOnesBuffer) {
  // 64 KiB of 0xff: every 64-bit add carries out.
  const std::vector<uint8_t> ones(65536, 0xff);
  EXPECT_EQ(ChecksumFold(ChecksumPartial(ones.data(), ones.size())), 0xffff);
  EXPECT_EQ(ChecksumFinish(ChecksumPartial(ones.data(), ones.size())), 0x0000);
  const std::vector<uint8_t> zeros(1000, 0);
  EXPECT_EQ(ChecksumFinish(ChecksumPartial(zeros.data(), zeros.size())), 0xffff);
}

TEST(ChecksumFinishTest, FoldsAndComplements) {
  const struct {
    uint32_t partial;
    uint16_t expected;
  } cases[] = {
      {0x00000000, 0xffff}, {0x0000ffff, 0x0000}, {0x0001fffe, 0x0000},
      {0xffffffff, 0x0000}, {0x00010000, 0xfffe}, {0x12345678, static_cast<uint16_t>(~0x68ac)},
  };
  for (const auto& c : cases) EXPECT_EQ(ChecksumFinish(c.partial), c.expected) << c.partial;
}

// The Wikipedia IPv4 header checksum example.
constexpr uint8_t kExampleIpv4Header[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40,
                                            0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
                                            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

TEST(Ipv4HeaderChecksumTest, KnownHeaderIgnoringTheStoredField) {
  uint8_t header[20];
  std::memcpy(header, kExampleIpv4Header, sizeof header);
  EXPECT_EQ(Ipv4HeaderChecksum(header), Stored(0xb861));
  header[10] = 0x12;
  header[11] = 0x34;
  EXPECT_EQ(Ipv4HeaderChecksum(header), Stored(0xb861));
}

TEST(Ipv4HeaderChecksumTest, OptionsAndAlignmentMatchReferenceAndDpdk) {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 2000; ++i) {
    const unsigned ihl = 5 + i % 11;
    alignas(8) uint8_t buffer[64 + 8];
    const size_t offset = i % 8;
    uint8_t* header = buffer + offset;
    for (unsigned b = 0; b < ihl * 4; ++b) header[b] = static_cast<uint8_t>(rng());
    header[0] = static_cast<uint8_t>(0x40 | ihl);
    const uint16_t ours = Ipv4HeaderChecksum(header);
    header[10] = header[11] = 0;
    EXPECT_EQ(ours, Stored(static_cast<uint16_t>(~ReferenceFold(ReferenceSum(header, ihl * 4)))))
        << "ihl " << ihl;
    EXPECT_EQ(ours, rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(header))) << "ihl " << ihl;
  }
}

TEST(Ipv4HeaderChecksumTest, MalformedIhlIsReadAsFive) {
  uint8_t header[20];
  std::memcpy(header, kExampleIpv4Header, sizeof header);
  for (uint8_t ihl = 0; ihl < 5; ++ihl) {
    header[0] = static_cast<uint8_t>(0x40 | ihl);
    const int version_ihl_change = 0x4500 - (0x4000 | (ihl << 8));
    EXPECT_EQ(Be16ToHost(Ipv4HeaderChecksum(header)), 0xb861 + version_ihl_change) << int{ihl};
  }
}

// A packet laid out as DPDK sees it: IPv4 header (no options) then the TCP segment.
struct alignas(8) Ipv4TcpPacket {
  uint8_t bytes[20 + 1500];
  rte_ipv4_hdr* ip() { return reinterpret_cast<rte_ipv4_hdr*>(bytes); }
  uint8_t* tcp() { return bytes + 20; }
};

Ipv4TcpPacket RandomPacket(std::mt19937_64& rng, uint16_t tcp_len) {
  Ipv4TcpPacket packet;
  for (auto& b : packet.bytes) b = static_cast<uint8_t>(rng());
  packet.bytes[0] = 0x45;
  const uint16_t total_len = HostToBe16(static_cast<uint16_t>(20 + tcp_len));
  std::memcpy(packet.bytes + kIpv4TotalLengthOffset, &total_len, 2);
  packet.ip()->next_proto_id = kIpProtoTcp;
  return packet;
}

TEST(TcpChecksumTest, MatchesReferenceAndDpdk) {
  std::mt19937_64 rng(4);
  for (int i = 0; i < 3000; ++i) {
    const auto tcp_len = static_cast<uint16_t>(20 + rng() % 1481);
    Ipv4TcpPacket packet = RandomPacket(rng, tcp_len);
    const Ipv4Be src = packet.ip()->src_addr, dst = packet.ip()->dst_addr;
    const uint16_t ours = TcpChecksum(src, dst, packet.tcp(), tcp_len);  // field still random
    packet.tcp()[16] = packet.tcp()[17] = 0;
    const uint64_t reference =
        ReferencePseudoHeaderSum(src, dst, tcp_len) + ReferenceSum(packet.tcp(), tcp_len);
    EXPECT_EQ(ours, Stored(static_cast<uint16_t>(~ReferenceFold(reference)))) << "len " << tcp_len;
    EXPECT_EQ(ours, rte_ipv4_udptcp_cksum(packet.ip(), packet.tcp())) << "len " << tcp_len;
  }
}

TEST(TcpChecksumTest, SegmentShorterThanTheChecksumField) {
  std::mt19937_64 rng(5);
  const std::vector<uint8_t> segment = RandomBytes(rng, 17);
  for (size_t len = 0; len <= segment.size(); ++len) {
    const Ipv4Be src = Ipv4(10, 0, 0, 1), dst = Ipv4(10, 0, 0, 2);
    const uint64_t reference = ReferencePseudoHeaderSum(src, dst, static_cast<uint16_t>(len)) +
                               ReferenceSum(segment.data(), len);
    EXPECT_EQ(TcpChecksum(src, dst, segment.data(), len),
              Stored(static_cast<uint16_t>(~ReferenceFold(reference))))
        << len;
  }
}

TEST(TcpPseudoHeaderChecksumTest, MatchesDpdk) {
  std::mt19937_64 rng(6);
  for (int i = 0; i < 10000; ++i) {
    const auto tcp_len = static_cast<uint16_t>(rng() % 1481);
    Ipv4TcpPacket packet = RandomPacket(rng, tcp_len);
    const Ipv4Be src = packet.ip()->src_addr, dst = packet.ip()->dst_addr;
    const uint16_t ours = TcpPseudoHeaderChecksum(src, dst, tcp_len);
    EXPECT_EQ(ours, rte_ipv4_phdr_cksum(packet.ip(), 0));
    EXPECT_EQ(ours, Stored(ReferenceFold(ReferencePseudoHeaderSum(src, dst, tcp_len))));
  }
}

// RFC 1624 §4: HC = 0xdd2f, a field 0x5555 -> 0x3285. Eqn. 3 gives 0x0000, which is what a full
// recomputation gives; RFC 1141's eqn. 2 would have given 0xffff.
TEST(RewriteDeltaTest, Rfc1624Example) {
  const Ipv4Be src = Ipv4(10, 0, 0, 1), dst = Ipv4(10, 0, 0, 2);
  const PortBe dport = HostToBe16(443);
  const RewriteDelta delta = ComputeRewriteDelta(T(src, HostToBe16(0x5555), dst, dport),
                                                 T(src, HostToBe16(0x3285), dst, dport));
  EXPECT_EQ(delta.ip, 0);
  EXPECT_EQ(ApplyChecksumDelta(Stored(0xdd2f), delta.l4), 0x0000);
}

TEST(RewriteDeltaTest, UnchangedSumsGiveZeroDeltaAndKeepEveryChecksum) {
  const Ipv4Be a = Ipv4(192, 168, 1, 10), b = Ipv4(10, 20, 30, 40);
  const PortBe p = HostToBe16(40000), q = HostToBe16(80);
  const struct {
    const char* description;
    RewriteDelta delta;
  } cases[] = {
      {"identity", ComputeRewriteDelta(T(a, p, b, q), T(a, p, b, q))},
      {"addresses and ports swapped", ComputeRewriteDelta(T(a, p, b, q), T(a, p, b, q).Reversed())},
      {"all zeros to all zeros", ComputeRewriteDelta(T(0, 0, 0, 0), T(0, 0, 0, 0))},
      {"all ones to all ones", ComputeRewriteDelta(T(0xffffffff, 0xffff, 0xffffffff, 0xffff),
                                                   T(0xffffffff, 0xffff, 0xffffffff, 0xffff))},
      // 0xffff and 0x0000 are the same number in one's complement.
      {"0xffff words to 0x0000", ComputeRewriteDelta(T(0xffffffff, 0xffff, 0, 0), T(0, 0, 0, 0))},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(c.delta, (RewriteDelta{0, 0})) << c.description;
    for (uint32_t checksum = 0; checksum <= 0xffff; ++checksum) {
      ASSERT_EQ(ApplyChecksumDelta(static_cast<uint16_t>(checksum), c.delta.l4), checksum)
          << c.description;
    }
  }
}

// Models a header as "the rest" (random, nonzero) plus the rewritten words, checksummed in full
// before and after; the delta must carry one to the other exactly.
TEST(RewriteDeltaTest, RandomRewritesMatchFullRecomputation) {
  std::mt19937_64 rng(7);
  const auto words = [](Ipv4Be src, PortBe sport, Ipv4Be dst, PortBe dport) {
    const uint32_t s = Be32ToHost(src), d = Be32ToHost(dst);
    return (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + Be16ToHost(sport) +
           Be16ToHost(dport);
  };
  for (int i = 0; i < 200000; ++i) {
    const auto old_src = static_cast<Ipv4Be>(rng()), new_src = static_cast<Ipv4Be>(rng());
    const auto old_dst = static_cast<Ipv4Be>(rng()), new_dst = static_cast<Ipv4Be>(rng());
    const auto old_sport = static_cast<PortBe>(rng()), new_sport = static_cast<PortBe>(rng());
    const auto old_dport = static_cast<PortBe>(rng()), new_dport = static_cast<PortBe>(rng());
    const uint64_t rest = 1 + rng() % 0xfffff;
    const RewriteDelta delta = ComputeRewriteDelta(T(old_src, old_sport, old_dst, old_dport),
                                                   T(new_src, new_sport, new_dst, new_dport));
    ASSERT_NE(delta.l4, 0xffff);
    ASSERT_NE(delta.ip, 0xffff);
    const auto full = [&](Ipv4Be src, PortBe sport, Ipv4Be dst, PortBe dport) {
      return Stored(static_cast<uint16_t>(~ReferenceFold(rest + words(src, sport, dst, dport))));
    };
    const uint16_t before = full(old_src, old_sport, old_dst, old_dport);
    const uint16_t after = full(new_src, new_sport, new_dst, new_dport);
    ASSERT_EQ(ApplyChecksumDelta(before, delta.l4), after) << "case " << i;
    // The IPv4 header holds the addresses only.
    const uint16_t ip_before = full(old_src, 0, old_dst, 0);
    const uint16_t ip_after = full(new_src, 0, new_dst, 0);
    ASSERT_EQ(ApplyChecksumDelta(ip_before, delta.ip), ip_after) << "case " << i;
  }
}

// A flow keeps the in2out delta only: out2in, the same substitution backwards, uses its negation,
// which must be exactly what ComputeRewriteDelta gives for the reverse rewrite (zero included).
TEST(RewriteDeltaTest, NegatedIsTheReverseRewritesDelta) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 200000; ++i) {
    const Tuple from = T(static_cast<Ipv4Be>(rng()), static_cast<PortBe>(rng()),
                         static_cast<Ipv4Be>(rng()), static_cast<PortBe>(rng()));
    // Every 16th case keeps the addresses or the ports, so zero deltas are covered too.
    Tuple to = T(static_cast<Ipv4Be>(rng()), static_cast<PortBe>(rng()), static_cast<Ipv4Be>(rng()),
                 static_cast<PortBe>(rng()));
    if (i % 16 == 0) to = from;
    if (i % 16 == 1) to = T(from.dst_ip, from.src_port, from.src_ip, from.dst_port);
    if (i % 16 == 2) to = T(from.src_ip, to.src_port, from.dst_ip, to.dst_port);
    ASSERT_EQ(ComputeRewriteDelta(from, to).Negated(), ComputeRewriteDelta(to, from))
        << "case " << i;
  }
  EXPECT_EQ((RewriteDelta{0, 0}.Negated()), (RewriteDelta{0, 0}));
}

// Eqn. 3 yields 0xffff only from 0xffff with a zero delta: a checksum computed in full over a
// header that is not all zeros is never 0xffff, and stays so.
TEST(ApplyChecksumDeltaTest, NeverCreatesNegativeZeroAndKeepsResidue) {
  std::vector<uint16_t> deltas = {0x0000, 0x0001, 0x7fff, 0x8000, 0xfffe};
  std::mt19937_64 rng(8);
  for (int i = 0; i < 40; ++i) deltas.push_back(static_cast<uint16_t>(rng() % 0xffff));
  for (uint32_t checksum = 0; checksum <= 0xffff; ++checksum) {
    for (uint16_t delta : deltas) {
      const uint16_t result = ApplyChecksumDelta(static_cast<uint16_t>(checksum), delta);
      ASSERT_EQ(result == 0xffff, checksum == 0xffff && delta == 0) << checksum << " " << delta;
      // ~result == ~checksum + delta (mod 0xffff).
      const uint32_t lhs = static_cast<uint16_t>(~result) % 0xffff;
      const uint32_t rhs = (static_cast<uint16_t>(~checksum) + uint32_t{delta}) % 0xffff;
      ASSERT_EQ(lhs, rhs) << checksum << " " << delta;
    }
  }
}

}  // namespace
}  // namespace privlink::nat
