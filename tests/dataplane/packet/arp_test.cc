// The ARP frames privlink writes, checked byte by byte against frames spelt out by hand from
// RFC 826 / 802.1Q, and read back through the parser.
#include "dataplane/packet/arp.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/packet/packet_view.h"
#include "dataplane/packet/parse.h"
#include "nat/inet.h"

namespace privlink::dataplane {
namespace {

using ::testing::ElementsAreArray;

constexpr MacAddress kOurMac = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
constexpr MacAddress kPeerMac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
constexpr Ipv4Be kOurIp = Ipv4(192, 168, 10, 50);   // a NAT IP or a PE IP
constexpr Ipv4Be kPeerIp = Ipv4(192, 168, 10, 11);  // a backend or a consumer's client

ArpFields RequestFromPeer() {
  return {.op = kArpOpRequest,
          .sender_mac = kPeerMac,
          .target_mac = {},
          .sender_ip = kPeerIp,
          .target_ip = kOurIp};
}

// The padding that brings an ARP frame to the 60-byte Ethernet minimum.
std::vector<uint8_t> Zeros(size_t n) {
  return std::vector<uint8_t>(n, 0);
}

std::vector<uint8_t> Concat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

// Ethernet/IPv4 ARP header: htype 1, ptype 0x0800, hlen 6, plen 4.
const std::vector<uint8_t> kArpPreamble = {0x00, 0x01, 0x08, 0x00, 0x06, 0x04};

const std::vector<uint8_t> kExpectedReplyUntagged = Concat({
    {0x52, 0x54, 0x00, 0x12, 0x34, 0x56},  // Ethernet dst: the requester
    {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee},  // Ethernet src: us
    {0x08, 0x06},                          // ARP
    kArpPreamble,
    {0x00, 0x02},                          // op: reply
    {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee},  // sender MAC: us
    {192, 168, 10, 50},                    // sender IP: the requested address
    {0x52, 0x54, 0x00, 0x12, 0x34, 0x56},  // target MAC: the requester
    {192, 168, 10, 11},                    // target IP: the requester
    Zeros(60 - 42),
});

const std::vector<uint8_t> kExpectedReplyVlan100 = Concat({
    {0x52, 0x54, 0x00, 0x12, 0x34, 0x56},
    {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee},
    {0x81, 0x00, 0x00, 0x64},  // 802.1Q, PCP 0, VLAN 100
    {0x08, 0x06},
    kArpPreamble,
    {0x00, 0x02},
    {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee},
    {192, 168, 10, 50},
    {0x52, 0x54, 0x00, 0x12, 0x34, 0x56},
    {192, 168, 10, 11},
    Zeros(60 - 46),
});

const std::vector<uint8_t> kExpectedRequestUntagged = Concat({
    {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},  // broadcast
    {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee},
    {0x08, 0x06},
    kArpPreamble,
    {0x00, 0x01},  // op: request
    {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee},
    {192, 168, 10, 50},                    // tell us
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // target MAC unknown
    {192, 168, 10, 11},                    // who has the peer
    Zeros(60 - 42),
});

const std::vector<uint8_t> kExpectedRequestVlan4094 = Concat({
    {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
    {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee},
    {0x81, 0x00, 0x0f, 0xfe},  // VLAN 4094
    {0x08, 0x06},
    kArpPreamble,
    {0x00, 0x01},
    {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee},
    {192, 168, 10, 50},
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    {192, 168, 10, 11},
    Zeros(60 - 46),
});

const std::vector<uint8_t> kExpectedGratuitous = Concat({
    {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
    {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee},
    {0x08, 0x06},
    kArpPreamble,
    {0x00, 0x01},
    {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee},
    {192, 168, 10, 50},  // sender IP ...
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    {192, 168, 10, 50},  // ... = target IP
    Zeros(60 - 42),
});

struct FrameCase {
  std::string name;
  std::vector<uint8_t> expected;
  // Writes the frame under test into `out`; returns its length.
  size_t (*build)(std::span<uint8_t> out);
};

std::vector<FrameCase> FrameCases() {
  return {
      {"reply_untagged", kExpectedReplyUntagged,
       [](std::span<uint8_t> out) { return BuildArpReply(RequestFromPeer(), 0, kOurMac, out); }},
      {"reply_keeps_vlan", kExpectedReplyVlan100,
       [](std::span<uint8_t> out) { return BuildArpReply(RequestFromPeer(), 100, kOurMac, out); }},
      {"request_untagged", kExpectedRequestUntagged,
       [](std::span<uint8_t> out) { return BuildArpRequest(kOurMac, kOurIp, kPeerIp, 0, out); }},
      {"request_vlan_4094", kExpectedRequestVlan4094,
       [](std::span<uint8_t> out) { return BuildArpRequest(kOurMac, kOurIp, kPeerIp, 4094, out); }},
      {"gratuitous", kExpectedGratuitous,
       [](std::span<uint8_t> out) { return BuildGratuitousArp(kOurMac, kOurIp, 0, out); }},
  };
}

class ArpFrameTest : public ::testing::TestWithParam<FrameCase> {};

TEST_P(ArpFrameTest, MatchesTheFrameSpeltOutByHand) {
  const FrameCase& c = GetParam();
  ASSERT_EQ(c.expected.size(), kArpFrameLen);
  std::vector<uint8_t> buffer(128, 0xa5);  // stale bytes: everything written must be set
  const size_t len = c.build(buffer);
  ASSERT_EQ(len, kArpFrameLen);
  EXPECT_THAT(std::vector<uint8_t>(buffer.begin(), buffer.begin() + len),
              ElementsAreArray(c.expected));
  // Nothing written past the frame.
  for (size_t i = len; i < buffer.size(); ++i) ASSERT_EQ(buffer[i], 0xa5) << "byte " << i;
}

TEST_P(ArpFrameTest, BufferOneByteShortWritesNothing) {
  const FrameCase& c = GetParam();
  // An exact heap allocation, so ASan catches a write past it.
  std::vector<uint8_t> buffer(kArpFrameLen - 1, 0xa5);
  buffer.shrink_to_fit();
  EXPECT_EQ(c.build(buffer), 0u);
  EXPECT_THAT(buffer, ::testing::Each(0xa5));
  EXPECT_EQ(c.build({}), 0u);
}

TEST_P(ArpFrameTest, ExactBufferIsEnough) {
  std::vector<uint8_t> buffer(kArpFrameLen);
  buffer.shrink_to_fit();
  EXPECT_EQ(GetParam().build(buffer), kArpFrameLen);
  EXPECT_THAT(buffer, ElementsAreArray(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(Frames, ArpFrameTest, ::testing::ValuesIn(FrameCases()),
                         [](const auto& info) { return info.param.name; });

// The parser, written independently, reads back what the writers meant.
TEST(ArpFrameTest, ParserReadsTheReplyBack) {
  for (const uint16_t vlan : {uint16_t{0}, uint16_t{7}, uint16_t{4095}}) {
    SCOPED_TRACE(vlan);
    std::vector<uint8_t> frame(kArpFrameLen);
    ASSERT_EQ(BuildArpReply(RequestFromPeer(), vlan, kOurMac, frame), kArpFrameLen);
    const ParsedPacket parsed = ParsePacket(PacketView(frame.data(), frame.size()));
    ASSERT_EQ(parsed.verdict, ParseVerdict::kArp) << DropReasonName(parsed.drop_reason);
    EXPECT_EQ(parsed.vlan_id, vlan);
    EXPECT_EQ(parsed.dst_mac, kPeerMac);
    EXPECT_EQ(parsed.src_mac, kOurMac);
    EXPECT_EQ(parsed.arp, (ArpFields{.op = kArpOpReply,
                                     .sender_mac = kOurMac,
                                     .target_mac = kPeerMac,
                                     .sender_ip = kOurIp,
                                     .target_ip = kPeerIp}));
  }
}

TEST(ArpFrameTest, ParserReadsTheRequestAndAnnouncementBack) {
  std::vector<uint8_t> frame(kArpFrameLen);
  ASSERT_EQ(BuildArpRequest(kOurMac, kOurIp, kPeerIp, 42, frame), kArpFrameLen);
  ParsedPacket parsed = ParsePacket(PacketView(frame.data(), frame.size()));
  ASSERT_EQ(parsed.verdict, ParseVerdict::kArp);
  EXPECT_EQ(parsed.vlan_id, 42);
  EXPECT_EQ(parsed.dst_mac, kBroadcastMac);
  EXPECT_EQ(parsed.arp, (ArpFields{.op = kArpOpRequest,
                                   .sender_mac = kOurMac,
                                   .target_mac = {},
                                   .sender_ip = kOurIp,
                                   .target_ip = kPeerIp}));

  ASSERT_EQ(BuildGratuitousArp(kOurMac, kOurIp, 0, frame), kArpFrameLen);
  parsed = ParsePacket(PacketView(frame.data(), frame.size()));
  ASSERT_EQ(parsed.verdict, ParseVerdict::kArp);
  EXPECT_EQ(parsed.vlan_id, 0);
  EXPECT_EQ(parsed.arp.sender_ip, kOurIp);
  EXPECT_EQ(parsed.arp.target_ip, kOurIp);
}

// Answering what asked us, on the VLAN it came from: a reply to a reply would loop.
TEST(ArpReplyTest, RefusesToAnswerAReply) {
  ArpFields reply = RequestFromPeer();
  reply.op = kArpOpReply;
  std::vector<uint8_t> buffer(kArpFrameLen, 0xa5);
  EXPECT_EQ(BuildArpReply(reply, 0, kOurMac, buffer), 0u);
  EXPECT_THAT(buffer, ::testing::Each(0xa5));
}

TEST(ArpReplyTest, RefusesAVlanIdBeyondTwelveBits) {
  std::vector<uint8_t> buffer(kArpFrameLen);
  EXPECT_EQ(BuildArpReply(RequestFromPeer(), 4096, kOurMac, buffer), 0u);
  EXPECT_EQ(BuildArpRequest(kOurMac, kOurIp, kPeerIp, 0xffff, buffer), 0u);
  EXPECT_EQ(BuildGratuitousArp(kOurMac, kOurIp, 4096, buffer), 0u);
  EXPECT_EQ(BuildGratuitousArp(kOurMac, kOurIp, 4095, buffer), kArpFrameLen);
}

}  // namespace
}  // namespace privlink::dataplane
