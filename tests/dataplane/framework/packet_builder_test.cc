// The test frame builder: layouts byte by byte, and checksums checked with the engine's own
// checksum code (nat/checksum.h), independent of the reference the builder uses.
#include "tests/dataplane/framework/packet_builder.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "nat/checksum.h"

namespace privlink::dataplane::testing {
namespace {

uint16_t Stored16(const Frame& f, size_t offset) {
  uint16_t v;
  std::memcpy(&v, f.bytes.data() + offset, 2);
  return v;
}

// The one's-complement sum over the pseudo-header and L4 bytes, folded: 0xffff when intact.
uint16_t EngineL4Sum(const Frame& f, uint8_t protocol, size_t l4_len) {
  uint32_t sum = nat::ChecksumPartial(f.bytes.data() + f.l3_offset + nat::kIpv4SrcOffset, 8);
  sum += HostToBe16(protocol) + HostToBe16(static_cast<uint16_t>(l4_len));
  return nat::ChecksumFold(nat::ChecksumPartial(f.bytes.data() + f.l4_offset, l4_len, sum));
}

TEST(PacketBuilderTest, LaysOutATaggedTcpFrame) {
  const Frame f =
      BuildTcpFrame({.eth = {.vlans = {{.id = 0x123, .priority = 5}}},
                     .ip = {.more_fragments = true, .fragment_offset = 0x2a, .options = {7, 3, 4}},
                     .tcp = {.flags = nat::kTcpSyn,
                             .options = TcpOptions().WindowScale(7).Build(),
                             .payload = {0xaa, 0xbb}}});
  ASSERT_EQ(f.bytes.size(), 14u + 4 + 24 + 24 + 2);
  EXPECT_EQ(f.l3_offset, 18u);
  EXPECT_EQ(f.l4_offset, 42u);
  EXPECT_EQ(f.Get16(12), kEtherTypeVlan);
  EXPECT_EQ(f.Get16(14), (5 << 13) | 0x123);
  EXPECT_EQ(f.Get16(16), kEtherTypeIpv4);
  EXPECT_EQ(f.bytes[18], 0x46) << "IHL counts the padded options";
  EXPECT_EQ(f.Get16(18 + 2), 24 + 24 + 2) << "total length";
  EXPECT_EQ(f.Get16(18 + 6), kIpv4DontFragment | kIpv4MoreFragments | 0x2a);
  EXPECT_EQ(std::vector<uint8_t>(f.bytes.begin() + 38, f.bytes.begin() + 42),
            (std::vector<uint8_t>{7, 3, 4, 0}));
  EXPECT_EQ(f.bytes[42 + 12], 6 << 4) << "data offset counts the padded options";
  EXPECT_EQ(f.bytes[42 + 13], nat::kTcpSyn);
  EXPECT_EQ(f.bytes[42 + 24], 0xaa);
  EXPECT_EQ(f.bytes[42 + 25], 0xbb);
}

TEST(PacketBuilderTest, TcpChecksumsAgreeWithTheEngine) {
  const Frame f = BuildTcpFrame({.ip = {.options = {148, 4, 0, 0}},
                                 .tcp = {.flags = nat::kTcpAck, .payload = PatternPayload(77)}});
  const uint8_t* ip = f.bytes.data() + f.l3_offset;
  EXPECT_EQ(Stored16(f, f.l3_offset + nat::kIpv4ChecksumOffset), nat::Ipv4HeaderChecksum(ip));
  Ipv4Be src, dst;
  std::memcpy(&src, ip + nat::kIpv4SrcOffset, 4);
  std::memcpy(&dst, ip + nat::kIpv4DstOffset, 4);
  EXPECT_EQ(Stored16(f, f.l4_offset + nat::kTcpChecksumOffset),
            nat::TcpChecksum(src, dst, f.bytes.data() + f.l4_offset, 20 + 77));
  EXPECT_TRUE(f.Ipv4ChecksumOk());
  EXPECT_TRUE(f.L4ChecksumOk());
}

TEST(PacketBuilderTest, UdpAndIcmpChecksumsAgreeWithTheEngine) {
  const Frame udp = BuildUdpFrame({.udp = {.payload = PatternPayload(13)}});
  EXPECT_EQ(EngineL4Sum(udp, kIpProtoUdp, 8 + 13), 0xffff);
  EXPECT_TRUE(udp.L4ChecksumOk());
  const Frame icmp = BuildIcmpFrame({.icmp = {.payload = PatternPayload(9)}});
  EXPECT_EQ(nat::ChecksumFold(nat::ChecksumPartial(icmp.bytes.data() + icmp.l4_offset, 8 + 9)),
            0xffff);
  EXPECT_TRUE(icmp.L4ChecksumOk());
}

TEST(PacketBuilderTest, OverridesAreWrittenAsGivenAndChecksumsFollowThem) {
  const Frame f = BuildTcpFrame({.ip = {.ihl = 4, .total_length = 1000, .checksum = 0xbeef},
                                 .tcp = {.data_offset = 9, .checksum = 0x1234}});
  EXPECT_EQ(f.bytes[14] & 0x0f, 4);
  EXPECT_EQ(f.Get16(14 + 2), 1000);
  EXPECT_EQ(f.Get16(14 + 10), 0xbeef);
  EXPECT_EQ(f.bytes[34 + 12] >> 4, 9);
  EXPECT_EQ(f.Get16(34 + 16), 0x1234);
  // Without a checksum override, the header is consistent with its odd fields.
  EXPECT_TRUE(BuildTcpFrame({.ip = {.ttl = 1, .total_length = 39}}).Ipv4ChecksumOk());
}

TEST(PacketBuilderTest, CorruptionIsSeenAndFixChecksumsRepairsIt) {
  Frame f = BuildTcpFrame({.tcp = {.flags = nat::kTcpAck, .payload = {1, 2, 3}}});
  f.Set8(f.l4_offset + 20, 9);
  EXPECT_TRUE(f.Ipv4ChecksumOk());
  EXPECT_FALSE(f.L4ChecksumOk());
  f.Set8(f.l3_offset + kIpv4TtlOffset, 1);
  EXPECT_FALSE(f.Ipv4ChecksumOk());
  f.FixChecksums();
  EXPECT_TRUE(f.Ipv4ChecksumOk());
  EXPECT_TRUE(f.L4ChecksumOk());
}

TEST(PacketBuilderTest, TcpOptionsAreEncodedAndPadded) {
  EXPECT_EQ(TcpOptions().Mss(1460).Build(), (std::vector<uint8_t>{2, 4, 0x05, 0xb4}));
  EXPECT_EQ(TcpOptions().WindowScale(7).Build(), (std::vector<uint8_t>{3, 3, 7, 0}));
  EXPECT_EQ(TcpOptions().SackPermitted().Build(), (std::vector<uint8_t>{4, 2, 0, 0}));
  EXPECT_EQ(TcpOptions().Timestamps(0x01020304, 0x0a0b0c0d).Build(),
            (std::vector<uint8_t>{8, 10, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0}));
  EXPECT_EQ(TcpOptions().Sack({{1, 2}}).Build(),
            (std::vector<uint8_t>{5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0}));
  EXPECT_EQ(TypicalSynOptions().size(), 20u);
}

TEST(PacketBuilderTest, LaysOutArpAndIpv6) {
  const Frame arp = BuildArpFrame({.arp = {.op = kArpOpReply, .target_ip = Ipv4(1, 2, 3, 4)}});
  ASSERT_EQ(arp.bytes.size(), kEthHeaderLen + kArpLen);
  EXPECT_EQ(std::vector<uint8_t>(arp.bytes.begin(), arp.bytes.begin() + 6),
            std::vector<uint8_t>(kBroadcastMac.begin(), kBroadcastMac.end()));
  EXPECT_EQ(arp.Get16(12), kEtherTypeArp);
  EXPECT_EQ(arp.Get16(14 + kArpOpOffset), kArpOpReply);
  EXPECT_EQ(arp.bytes[14 + kArpTargetIpOffset + 3], 4);
  const Frame v6 = BuildIpv6Frame();
  EXPECT_EQ(v6.Get16(12), kEtherTypeIpv6);
  EXPECT_EQ(v6.bytes[14] >> 4, 6);
  EXPECT_EQ(v6.bytes.size(), 14u + 40 + 20);
  EXPECT_EQ(BuildTcpFrame().PadToMinimum().bytes.size(), kEthMinFrameLen);
}

}  // namespace
}  // namespace privlink::dataplane::testing
