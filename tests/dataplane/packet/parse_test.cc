// The parser, case by case: {description, frame, expected verdict / drop reason / fields}. Every
// frame is parsed from an exact-size heap copy through both parser paths (exact_buffer.h), with and
// without TCP checksum verification, and (the checksum cases) with each NIC verdict.
#include "dataplane/packet/parse.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "tests/dataplane/framework/exact_buffer.h"
#include "tests/dataplane/framework/packet_builder.h"

namespace privlink::dataplane {
namespace {

using nat::kTcpAck;
using nat::kTcpFin;
using nat::kTcpPsh;
using nat::kTcpSyn;
using testing::BuildArpFrame;
using testing::BuildIcmpFrame;
using testing::BuildIpv6Frame;
using testing::BuildRawIpv4Frame;
using testing::BuildTcpFrame;
using testing::BuildUdpFrame;
using testing::Frame;
using testing::ParseBothWays;
using testing::PatternPayload;
using testing::TcpOptions;
using testing::TypicalSynOptions;

constexpr size_t kIpv4At = kEthHeaderLen;  // l3 offset of an untagged frame
constexpr size_t kTcpAt = kIpv4At + 20;    // l4 offset of an untagged frame without IP options

// Both options, for cases whose outcome must not depend on checksum verification.
struct Outcomes {
  ParsedPacket unverified;
  ParsedPacket verified;
};
Outcomes ParseWithAndWithoutChecksums(const Frame& frame) {
  return {ParseBothWays(frame.bytes), ParseBothWays<kVerifyTcpChecksums>(frame.bytes)};
}

// ---- frames that parse ----

struct TcpCase {
  std::string description;
  Frame frame;
  uint16_t vlan_id;
  uint16_t l3_offset;
  uint16_t l4_offset;
  uint8_t tcp_header_len;
  uint16_t payload_len;
};

std::vector<TcpCase> TcpCases() {
  const auto tagged = [](uint16_t id, uint8_t priority = 0) {
    return testing::EthernetFields{.vlans = {{.id = id, .priority = priority}}};
  };
  return {
      {"bare SYN, untagged", BuildTcpFrame(), 0, 14, 34, 20, 0},
      {"SYN with MSS, SACK permitted, timestamps, window scale",
       BuildTcpFrame({.tcp = {.options = TypicalSynOptions()}}), 0, 14, 34, 40, 0},
      {"ACK with timestamps and two SACK blocks, VLAN 100",
       BuildTcpFrame({.eth = tagged(100),
                      .tcp = {.flags = kTcpAck,
                              .options = TcpOptions()
                                             .Nop()
                                             .Nop()
                                             .Timestamps(7, 9)
                                             .Nop()
                                             .Nop()
                                             .Sack({{100, 200}, {300, 400}})
                                             .Build()}}),
       100, 18, 38, 52, 0},
      {"data segment, 1460 bytes of payload",
       BuildTcpFrame({.tcp = {.flags = kTcpAck | kTcpPsh, .payload = PatternPayload(1460)}}), 0, 14,
       34, 20, 1460},
      {"data segment with an odd payload length, VLAN 4094 priority 7",
       BuildTcpFrame(
           {.eth = tagged(4094, 7), .tcp = {.flags = kTcpAck, .payload = PatternPayload(333)}}),
       4094, 18, 38, 20, 333},
      {"priority tag (VLAN id 0) reads as untagged", BuildTcpFrame({.eth = tagged(0, 5)}), 0, 18,
       38, 20, 0},
      {"IPv4 options (router alert): TCP starts after IHL * 4",
       BuildTcpFrame({.ip = {.options = {148, 4, 0, 0}}}), 0, 14, 38, 20, 0},
      {"largest headers: IHL 15 and data offset 15",
       BuildTcpFrame({.ip = {.options = std::vector<uint8_t>(40, 1)},
                      .tcp = {.options = std::vector<uint8_t>(40, 1), .payload = {1, 2, 3}}}),
       0, 14, 74, 60, 3},
      {"DF clear", BuildTcpFrame({.ip = {.dont_fragment = false}}), 0, 14, 34, 20, 0},
      {"Ethernet padding after a 40-byte IPv4 packet is ignored",
       BuildTcpFrame({.tcp = {.flags = kTcpAck}}).PadToMinimum(), 0, 14, 34, 20, 0},
      {"non-zero padding after a FIN with data is ignored, checksums too",
       BuildTcpFrame({.tcp = {.flags = kTcpFin | kTcpAck, .payload = {'x'}}}).Pad(5, 0xee), 0, 14,
       34, 20, 1},
      {"data offset exactly the segment (no payload, options)",
       BuildTcpFrame({.tcp = {.options = TcpOptions().Mss(536).Build()}}), 0, 14, 34, 24, 0},
  };
}

TEST(ParseTest, AcceptsTcpFramesAndReportsTheirFields) {
  for (const TcpCase& c : TcpCases()) {
    SCOPED_TRACE(c.description);
    const Frame& f = c.frame;
    for (const ParsedPacket& p :
         {ParseBothWays(f.bytes), ParseBothWays<kVerifyTcpChecksums>(f.bytes)}) {
      ASSERT_EQ(p.verdict, ParseVerdict::kTcp) << DropReasonName(p.drop_reason);
      EXPECT_EQ(p.drop_reason, DropReason::kCount);
      EXPECT_EQ(p.vlan_id, c.vlan_id);
      EXPECT_EQ(p.l3_offset, c.l3_offset);
      EXPECT_EQ(p.l4_offset, c.l4_offset);
      EXPECT_EQ(p.tcp_header_len, c.tcp_header_len);
      EXPECT_EQ(p.tcp_payload_len(), c.payload_len);
      EXPECT_EQ(p.tcp_payload_offset(), c.l4_offset + c.tcp_header_len);
      EXPECT_EQ(p.ip_total_len, f.Get16(c.l3_offset + nat::kIpv4TotalLengthOffset));
      EXPECT_EQ(p.tcp_flags, f.bytes[c.l4_offset + kTcpFlagsOffset]);
      EXPECT_EQ(p.key.tuple.src_ip, Ipv4(10, 0, 0, 2));
      EXPECT_EQ(p.key.tuple.dst_ip, Ipv4(10, 0, 0, 100));
      EXPECT_EQ(p.key.tuple.src_port, HostToBe16(40000));
      EXPECT_EQ(p.key.tuple.dst_port, HostToBe16(80));
      EXPECT_EQ(p.key.proto, nat::kIpProtoTcp);
      EXPECT_EQ(p.key.network, 0) << "the caller fills the network";
      EXPECT_EQ(p.dst_mac, testing::kPortMac);
      EXPECT_EQ(p.src_mac, testing::kClientMac);
    }
  }
}

TEST(ParseTest, ReportsTheTupleAndFlagsAsTheyAreInThePacket) {
  const Frame f =
      BuildTcpFrame({.ip = {.src = Ipv4(192, 168, 10, 11), .dst = Ipv4(192, 168, 200, 1)},
                     .tcp = {.src_port = HostToBe16(8080),
                             .dst_port = HostToBe16(1024),
                             .flags = kTcpSyn | kTcpAck}});
  const ParsedPacket p = ParseBothWays(f.bytes);
  ASSERT_EQ(p.verdict, ParseVerdict::kTcp);
  EXPECT_EQ(p.key.tuple.src_ip, Ipv4(192, 168, 10, 11));
  EXPECT_EQ(p.key.tuple.dst_ip, Ipv4(192, 168, 200, 1));
  EXPECT_EQ(p.key.tuple.src_port, HostToBe16(8080));
  EXPECT_EQ(p.key.tuple.dst_port, HostToBe16(1024));
  EXPECT_EQ(p.tcp_flags, kTcpSyn | kTcpAck);
}

// ---- frames cut short ----

// The reason for a frame cut at `len` bytes, where the headers before TCP take `l3 + 20` bytes.
DropReason TruncationReason(size_t len, bool tagged) {
  const size_t l3 = tagged ? kEthHeaderLen + kVlanTagLen : kEthHeaderLen;
  if (len < kEthHeaderLen) return DropReason::kEthTruncated;
  if (len < l3) return DropReason::kVlanTruncated;
  if (len < l3 + 20) return DropReason::kIpv4Truncated;
  if (len < l3 + 40) return DropReason::kTcpTruncated;
  return DropReason::kIpv4TotalLengthPastFrame;  // the headers are whole, the segment is not
}

TEST(ParseTest, FramesCutAtEveryLengthNameWhereTheyEnd) {
  const std::vector<std::pair<std::string, bool>> shapes = {{"untagged", false}, {"VLAN 7", true}};
  for (const auto& [name, tagged] : shapes) {
    testing::EthernetFields eth;
    if (tagged) eth.vlans = {{.id = 7}};
    for (const Frame& whole :
         {BuildTcpFrame({.eth = eth}),
          BuildTcpFrame({.eth = eth,
          .tcp = {.options = TypicalSynOptions(), .payload = PatternPayload(9)}})}) {
      for (size_t len = 0; len < whole.bytes.size(); ++len) {
        SCOPED_TRACE(name + " frame of " + std::to_string(whole.bytes.size()) + " bytes cut at " +
                     std::to_string(len));
        const Outcomes o = ParseWithAndWithoutChecksums(Frame(whole).Truncate(len));
        EXPECT_EQ(o.unverified.verdict, ParseVerdict::kDrop);
        EXPECT_EQ(DropReasonName(o.unverified.drop_reason),
                  DropReasonName(TruncationReason(len, tagged)));
        EXPECT_EQ(o.verified.drop_reason, o.unverified.drop_reason);
      }
      EXPECT_EQ(ParseBothWays(whole.bytes).verdict, ParseVerdict::kTcp) << name;
    }
  }
}

TEST(ParseTest, ShortestTcpFramesAre54And58Bytes) {
  EXPECT_EQ(BuildTcpFrame().bytes.size(), 54u);
  EXPECT_EQ(BuildTcpFrame({.eth = {.vlans = {{.id = 7}}}}).bytes.size(), 58u);
}

// ---- malformed and unsupported frames ----

struct DropCase {
  std::string description;
  Frame frame;
  DropReason expected;
};

std::vector<DropCase> DropCases() {
  using testing::VlanTag;
  const std::vector<uint8_t> twenty_bytes = PatternPayload(20);
  return {
      // Ethernet and VLAN tags.
      {"IPv6", BuildIpv6Frame(), DropReason::kIpv6},
      {"IPv6 behind a VLAN tag", BuildIpv6Frame({.eth = {.vlans = {{.id = 5}}}}),
       DropReason::kIpv6},
      {"LLDP ethertype", BuildTcpFrame({.eth = {.ethertype = 0x88cc}}),
       DropReason::kEthertypeUnsupported},
      {"802.3 length field instead of an ethertype", BuildTcpFrame({.eth = {.ethertype = 46}}),
       DropReason::kEthertypeUnsupported},
      {"two 802.1Q tags", BuildTcpFrame({.eth = {.vlans = {{.id = 1}, {.id = 2}}}}),
       DropReason::kVlanStacked},
      {"802.1ad S-tag over a C-tag (QinQ)",
       BuildTcpFrame({.eth = {.vlans = {VlanTag{.id = 1, .tpid = kEtherTypeQinQ}, {.id = 2}}}}),
       DropReason::kVlanStacked},
      {"lone 802.1ad S-tag",
       BuildTcpFrame({.eth = {.vlans = {VlanTag{.id = 1, .tpid = kEtherTypeQinQ}}}}),
       DropReason::kVlanStacked},
      {"802.1Q tag over a legacy 0x9100 tag",
       BuildTcpFrame({.eth = {.vlans = {{.id = 1}, VlanTag{.id = 2, .tpid = 0x9100}}}}),
       DropReason::kVlanStacked},
      // IPv4 header.
      {"version 6 under the IPv4 ethertype", BuildTcpFrame({.ip = {.version = 6}}),
       DropReason::kIpv4BadVersion},
      {"version 0", BuildTcpFrame({.ip = {.version = 0}}), DropReason::kIpv4BadVersion},
      {"IHL 4", BuildTcpFrame({.ip = {.ihl = 4}}), DropReason::kIpv4IhlTooSmall},
      {"IHL 0", BuildTcpFrame({.ip = {.ihl = 0}}), DropReason::kIpv4IhlTooSmall},
      {"IHL 15 past a 54-byte frame", BuildTcpFrame({.ip = {.ihl = 15}}),
       DropReason::kIpv4IhlPastFrame},
      {"IHL 6 with the frame ending after 20 header bytes",
       BuildTcpFrame({.ip = {.ihl = 6}}).Truncate(kTcpAt), DropReason::kIpv4IhlPastFrame},
      {"more fragments", BuildTcpFrame({.ip = {.more_fragments = true}}),
       DropReason::kIpv4Fragment},
      {"non-first fragment", BuildTcpFrame({.ip = {.fragment_offset = 185}}),
       DropReason::kIpv4Fragment},
      {"last fragment of a UDP datagram (checked before the protocol)",
       BuildUdpFrame({.ip = {.fragment_offset = 1}}), DropReason::kIpv4Fragment},
      {"UDP cut inside its header (checked before the total length)",
       BuildUdpFrame().Truncate(kTcpAt + 4), DropReason::kUdpTruncated},
      {"UDP total length one byte past the frame", BuildUdpFrame({.ip = {.total_length = 29}}),
       DropReason::kIpv4TotalLengthPastFrame},
      {"UDP total length shorter than IPv4 + UDP headers",
       BuildUdpFrame({.ip = {.total_length = 27}}), DropReason::kIpv4TotalLengthTooShort},
      {"UDP length 7", BuildUdpFrame({.udp = {.length = 7}}), DropReason::kUdpLengthInvalid},
      {"UDP length 0", BuildUdpFrame({.udp = {.length = 0}}), DropReason::kUdpLengthInvalid},
      {"UDP length one byte past the IPv4 payload",
       BuildUdpFrame({.udp = {.payload = {1, 2, 3}, .length = 12}}), DropReason::kUdpLengthInvalid},
      {"ICMP echo request", BuildIcmpFrame(), DropReason::kIcmp},
      {"GRE", BuildRawIpv4Frame({.ip = {.protocol = 47}, .l4 = twenty_bytes}),
       DropReason::kIpProtoUnsupported},
      {"experimental protocol 253", BuildRawIpv4Frame({.l4 = twenty_bytes}),
       DropReason::kIpProtoUnsupported},
      // IPv4 total length against the frame and the headers.
      {"total length one byte past the frame", BuildTcpFrame({.ip = {.total_length = 41}}),
       DropReason::kIpv4TotalLengthPastFrame},
      {"total length 1500 in a 54-byte frame", BuildTcpFrame({.ip = {.total_length = 1500}}),
       DropReason::kIpv4TotalLengthPastFrame},
      {"total length 65535", BuildTcpFrame({.ip = {.total_length = 65535}}),
       DropReason::kIpv4TotalLengthPastFrame},
      {"total length one byte short of IPv4 + TCP headers",
       BuildTcpFrame({.ip = {.total_length = 39}}), DropReason::kIpv4TotalLengthTooShort},
      {"total length of the IPv4 header alone, TCP bytes as padding",
       BuildTcpFrame({.ip = {.total_length = 20}}), DropReason::kIpv4TotalLengthTooShort},
      {"total length 0", BuildTcpFrame({.ip = {.total_length = 0}}),
       DropReason::kIpv4TotalLengthTooShort},
      {"total length shorter than IHL (options)",
       BuildTcpFrame({.ip = {.options = std::vector<uint8_t>(20, 1), .total_length = 30}}),
       DropReason::kIpv4TotalLengthTooShort},
      // TCP header.
      {"data offset 4", BuildTcpFrame({.tcp = {.data_offset = 4}}),
       DropReason::kTcpDataOffsetTooSmall},
      {"data offset 0", BuildTcpFrame({.tcp = {.data_offset = 0}}),
       DropReason::kTcpDataOffsetTooSmall},
      {"data offset 6 in a 20-byte segment", BuildTcpFrame({.tcp = {.data_offset = 6}}),
       DropReason::kTcpDataOffsetPastSegment},
      {"data offset 15 in a 40-byte segment",
       BuildTcpFrame({.tcp = {.payload = twenty_bytes, .data_offset = 15}}),
       DropReason::kTcpDataOffsetPastSegment},
      {"data offset past the segment though inside the padded frame",
       BuildTcpFrame({.tcp = {.data_offset = 6}}).PadToMinimum(),
       DropReason::kTcpDataOffsetPastSegment},
      {"IHL 10: the TCP header would start 6 bytes before the frame's end",
       BuildTcpFrame({.ip = {.ihl = 10}}).PadToMinimum(), DropReason::kTcpTruncated},
  };
}

TEST(ParseTest, DropsMalformedAndUnsupportedFramesWithTheirReason) {
  for (const DropCase& c : DropCases()) {
    SCOPED_TRACE(c.description);
    const Outcomes o = ParseWithAndWithoutChecksums(c.frame);
    EXPECT_EQ(o.unverified.verdict, ParseVerdict::kDrop);
    EXPECT_EQ(DropReasonName(o.unverified.drop_reason), DropReasonName(c.expected));
    EXPECT_EQ(o.verified.drop_reason, c.expected) << "checksums are valid: same reason";
  }
}

TEST(ParseTest, DropsKeepTheLinkLayerFieldsTheyReached) {
  const ParsedPacket p = ParseBothWays(BuildIcmpFrame({.eth = {.vlans = {{.id = 42}}}}).bytes);
  EXPECT_EQ(p.drop_reason, DropReason::kIcmp);
  EXPECT_EQ(p.vlan_id, 42);
  EXPECT_EQ(p.l3_offset, 18);
  EXPECT_EQ(p.src_mac, testing::kClientMac);
  EXPECT_EQ(p.key, nat::FlowKey{}) << "no tuple for a frame that is not TCP or UDP";
}

// ---- UDP ----

struct UdpCase {
  std::string description;
  Frame frame;
  uint16_t vlan_id;
  uint16_t l4_offset;
  uint16_t payload_len;  // tcp_payload_len(): the IPv4 payload after the 8-byte header
};

TEST(ParseTest, AcceptsUdpDatagramsAndReportsTheirFields) {
  const std::vector<UdpCase> cases = {
      {"DNS query, untagged", BuildUdpFrame({.udp = {.payload = PatternPayload(29)}}), 0, 34, 29},
      {"empty datagram behind VLAN 100", BuildUdpFrame({.eth = {.vlans = {{.id = 100}}}}), 100, 38,
       0},
      {"no checksum (0): accepted, also when every checksum is verified",
       BuildUdpFrame({.udp = {.payload = {1, 2, 3}, .checksum = 0}}), 0, 34, 3},
      {"UDP length shorter than the IPv4 payload: the rest is padding",
       BuildUdpFrame({.udp = {.payload = PatternPayload(10), .length = 12}}), 0, 34, 10},
      {"IPv4 options: UDP after IHL * 4", BuildUdpFrame({.ip = {.options = {148, 4, 0, 0}}}), 0, 38,
       0},
      {"Ethernet padding after a 28-byte datagram", BuildUdpFrame().PadToMinimum(), 0, 34, 0},
  };
  for (const UdpCase& c : cases) {
    SCOPED_TRACE(c.description);
    for (const ParsedPacket& p :
         {ParseBothWays(c.frame.bytes), ParseBothWays<kVerifyTcpChecksums>(c.frame.bytes)}) {
      ASSERT_EQ(p.verdict, ParseVerdict::kUdp) << DropReasonName(p.drop_reason);
      EXPECT_EQ(p.drop_reason, DropReason::kCount);
      EXPECT_EQ(p.vlan_id, c.vlan_id);
      EXPECT_EQ(p.l4_offset, c.l4_offset);
      EXPECT_EQ(p.tcp_header_len, 8);
      EXPECT_EQ(p.tcp_payload_len(), c.payload_len);
      EXPECT_EQ(p.tcp_flags, 0);
      EXPECT_EQ(p.key.tuple.src_ip, Ipv4(10, 0, 0, 2));
      EXPECT_EQ(p.key.tuple.dst_ip, Ipv4(10, 0, 0, 100));
      EXPECT_EQ(p.key.tuple.src_port, HostToBe16(5353));
      EXPECT_EQ(p.key.tuple.dst_port, HostToBe16(53));
      EXPECT_EQ(p.key.proto, nat::kIpProtoUdp);
      EXPECT_EQ(p.key.network, 0);
      EXPECT_EQ(p.src_mac, testing::kClientMac);
    }
  }
}

TEST(ParseTest, UdpChecksumFollowsTheNicsVerdictAndTheMode) {
  const Frame bad = BuildUdpFrame({.udp = {.payload = {9, 9}, .checksum = 0x1234}});
  // Unverified: carried (the slow path checks a flow's first datagram itself).
  EXPECT_EQ(ParseBothWays(bad.bytes).verdict, ParseVerdict::kUdp);
  EXPECT_EQ(ParseBothWays<kVerifyTcpChecksums>(bad.bytes).drop_reason, DropReason::kUdpBadChecksum);
  const Frame good = BuildUdpFrame({.udp = {.payload = {9, 9}}});
  EXPECT_EQ(ParseBothWays(good.bytes, {.l4 = NicVerdict::kBad}).drop_reason,
            DropReason::kUdpBadChecksum);
  const ParsedPacket verified = ParseBothWays<kVerifyTcpChecksums>(good.bytes);
  EXPECT_EQ(verified.checksums & kL4ChecksumVerified, kL4ChecksumVerified);
  EXPECT_TRUE(UdpChecksumIntact(PacketView(good.bytes.data(), good.bytes.size()), verified));
  const ParsedPacket carried = ParseBothWays(bad.bytes);
  EXPECT_FALSE(UdpChecksumIntact(PacketView(bad.bytes.data(), bad.bytes.size()), carried));
}

// ---- checksums ----

constexpr NicVerdict kVerdicts[] = {NicVerdict::kUnknown, NicVerdict::kGood, NicVerdict::kBad,
                                    NicVerdict::kNone};

const char* VerdictName(NicVerdict v) {
  switch (v) {
    case NicVerdict::kUnknown:
      return "unknown";
    case NicVerdict::kGood:
      return "good";
    case NicVerdict::kBad:
      return "bad";
    case NicVerdict::kNone:
      return "none";
  }
  return "?";
}

// What the parser makes of a frame: dropped (with its reason) or TCP with these checksums bits.
struct Expected {
  std::optional<DropReason> drop;
  uint8_t checksums = 0;
};

std::string Describe(const ParsedPacket& p) {
  return p.verdict == ParseVerdict::kDrop
             ? std::string("drop ") + std::string(DropReasonName(p.drop_reason))
             : "tcp checksums=" + std::to_string(p.checksums);
}
std::string Describe(const Expected& e) {
  return e.drop ? std::string("drop ") + std::string(DropReasonName(*e.drop))
                : "tcp checksums=" + std::to_string(e.checksums);
}

// The IPv4 header checksum is checked on every frame (RFC 1812 5.2.2), by the NIC where it says
// good, bad or none (intact, field not filled), else computed. Each frame, each NIC verdict.
TEST(ParseTest, Ipv4HeaderChecksumIsAlwaysCheckedWithTheNicsVerdict) {
  struct Case {
    std::string description;
    Frame frame;
    bool intact;
  };
  const Frame data = BuildTcpFrame({.tcp = {.flags = kTcpAck, .payload = PatternPayload(101)}});
  const std::vector<Case> cases = {
      {"intact ACK with data", data, true},
      {"intact SYN", BuildTcpFrame({.tcp = {.flags = kTcpSyn}}), true},
      {"intact RST behind a VLAN tag",
       BuildTcpFrame({.eth = {.vlans = {{.id = 7}}}, .tcp = {.flags = nat::kTcpRst}}), true},
      {"IPv4 header checksum off by one",
       Frame(data).Set16(kIpv4At + 10, static_cast<uint16_t>(data.Get16(kIpv4At + 10) + 1)), false},
      {"IPv4 checksum field zero on a SYN",
       BuildTcpFrame({.ip = {.checksum = 0}, .tcp = {.flags = kTcpSyn}}), false},
      {"IPv4 checksum 0x1234 on a RST",
       BuildTcpFrame({.ip = {.checksum = 0x1234}, .tcp = {.flags = nat::kTcpRst}}), false},
      {"IPv4 option byte changed after the checksum",
       BuildTcpFrame({.ip = {.options = {148, 4, 0, 0}}}).Set8(kIpv4At + 22, 1), false},
      {"TTL changed without the checksum", Frame(data).Set8(kIpv4At + kIpv4TtlOffset, 63), false},
  };
  for (const Case& c : cases) {
    for (const NicVerdict nic : kVerdicts) {
      SCOPED_TRACE(c.description + ", NIC says " + VerdictName(nic));
      Expected want;
      if (nic == NicVerdict::kBad || (nic == NicVerdict::kUnknown && !c.intact)) {
        want.drop = DropReason::kIpv4BadChecksum;
      } else if (nic == NicVerdict::kNone) {
        want.checksums = kIpv4ChecksumToFill;
      }
      for (const ParsedPacket& p :
           {ParseBothWays(c.frame.bytes, {.ipv4 = nic}),
            ParseBothWays<kVerifyTcpChecksums>(c.frame.bytes, {.ipv4 = nic})}) {
        if (want.drop) {
          EXPECT_EQ(Describe(p), Describe(want));
        } else {
          ASSERT_EQ(p.verdict, ParseVerdict::kTcp) << Describe(p);
          EXPECT_EQ(p.checksums & kIpv4ChecksumToFill, want.checksums);
        }
      }
    }
  }
}

// The TCP checksum (pseudo-header included): the NIC's bad verdict drops the segment in every
// mode; its good and none verdicts mark it verified (none: the field is filled in on the way
// out); without a verdict it is computed only with verify_tcp_checksum (the worker verifies the
// state-changing segments itself, tests/dataplane/worker/checksum_test.cc).
TEST(ParseTest, TcpChecksumFollowsTheNicsVerdictAndTheMode) {
  struct Case {
    std::string description;
    Frame frame;
    bool intact;
  };
  const Frame data = BuildTcpFrame({.tcp = {.flags = kTcpAck, .payload = PatternPayload(101)}});
  const auto bad = [](Frame f) {
    return f.Set16(kTcpAt + 16, static_cast<uint16_t>(f.Get16(kTcpAt + 16) ^ 0x0101));
  };
  const std::vector<Case> cases = {
      {"intact data", data, true},
      {"SYN, checksum wrong", bad(BuildTcpFrame({.tcp = {.flags = kTcpSyn}})), false},
      {"SYN-ACK, checksum wrong", bad(BuildTcpFrame({.tcp = {.flags = kTcpSyn | kTcpAck}})), false},
      {"FIN, checksum wrong", bad(BuildTcpFrame({.tcp = {.flags = kTcpFin | kTcpAck}})), false},
      {"RST, checksum wrong", bad(BuildTcpFrame({.tcp = {.flags = nat::kTcpRst}})), false},
      {"data, checksum off by one",
       Frame(data).Set16(kTcpAt + 16, static_cast<uint16_t>(data.Get16(kTcpAt + 16) + 1)), false},
      {"one payload byte flipped", Frame(data).Set8(kTcpAt + 20 + 50, 0x5a), false},
      {"last (odd) payload byte flipped",
       Frame(data).Set8(kTcpAt + 20 + 100, static_cast<uint8_t>(~data.bytes[kTcpAt + 120])), false},
      {"source address changed (pseudo-header) with the IPv4 checksum fixed",
       Frame(data)
           .Set8(kIpv4At + 12, 11)
           .FixChecksums()
           .Set16(kTcpAt + 16, data.Get16(kTcpAt + 16)),
       false},
      {"TCP checksum given as zero", BuildTcpFrame({.tcp = {.payload = {1, 2}, .checksum = 0}}),
       false},
  };
  for (const Case& c : cases) {
    for (const NicVerdict nic : kVerdicts) {
      for (const bool all : {false, true}) {
        SCOPED_TRACE(c.description + ", NIC says " + VerdictName(nic) +
                     (all ? ", verify all" : ", state-changing only"));
        Expected want;
        if (nic == NicVerdict::kBad || (nic == NicVerdict::kUnknown && all && !c.intact)) {
          want.drop = DropReason::kTcpBadChecksum;
        } else if (nic == NicVerdict::kGood || (nic == NicVerdict::kUnknown && all)) {
          want.checksums = kL4ChecksumVerified;
        } else if (nic == NicVerdict::kNone) {
          want.checksums = kL4ChecksumVerified | kL4ChecksumToFill;
        }
        const ParsedPacket p = all ? ParseBothWays<kVerifyTcpChecksums>(c.frame.bytes, {.l4 = nic})
                                   : ParseBothWays(c.frame.bytes, {.l4 = nic});
        EXPECT_EQ(Describe(p), Describe(want));
      }
    }
  }
}

TEST(ParseTest, TcpChecksumFFFFStandsForZero) {
  // A payload word equal to the checksum of the frame without it makes the sum 0xffff, so the
  // correct checksum is 0x0000; 0xffff is the same value in one's complement (RFC 1624).
  Frame f = BuildTcpFrame({.tcp = {.flags = kTcpAck, .payload = {0, 0}}});
  const uint16_t without = f.Get16(kTcpAt + 16);
  f.Set16(kTcpAt + 20, without).FixChecksums();
  ASSERT_EQ(f.Get16(kTcpAt + 16), 0x0000);
  EXPECT_EQ(ParseBothWays<kVerifyTcpChecksums>(f.bytes).verdict, ParseVerdict::kTcp);
  f.Set16(kTcpAt + 16, 0xffff);
  EXPECT_EQ(ParseBothWays<kVerifyTcpChecksums>(f.bytes).verdict, ParseVerdict::kTcp);
  EXPECT_TRUE(TcpChecksumIntact(PacketView(f.bytes.data(), static_cast<uint32_t>(f.bytes.size())),
                                ParseBothWays(f.bytes)));
}

TEST(ParseTest, Ipv4ChecksumFFFFAndZeroBothStandForZero) {
  // An IPv4 header whose computed checksum is 0x0000 verifies with 0xffff in the field too.
  for (uint16_t id = 0; id < 0xffff; ++id) {
    Frame f = BuildTcpFrame({.ip = {.id = id}});
    if (f.Get16(kIpv4At + 10) != 0x0000) continue;
    EXPECT_EQ(ParseBothWays(f.bytes).verdict, ParseVerdict::kTcp);
    f.Set16(kIpv4At + 10, 0xffff);
    EXPECT_EQ(ParseBothWays(f.bytes).verdict, ParseVerdict::kTcp) << "0xffff for 0x0000";
    return;
  }
  FAIL() << "no IPv4 id gives a zero header checksum";
}

TEST(ParseTest, BadIpv4ChecksumIsReportedBeforeLaterFaults) {
  const Frame f = BuildUdpFrame({.ip = {.checksum = 0x1234}});
  EXPECT_EQ(ParseBothWays(f.bytes).drop_reason, DropReason::kIpv4BadChecksum);
  EXPECT_EQ(ParseBothWays(f.bytes, {.ipv4 = NicVerdict::kGood}).verdict, ParseVerdict::kUdp);
}

// ---- ARP ----

TEST(ParseTest, ParsesArpRequestsAndReplies) {
  const MacAddress backend_mac = {0x02, 0xbb, 0, 0, 0, 0x0b};
  struct Case {
    std::string description;
    Frame frame;
    uint16_t vlan_id;
    testing::ArpMessage expected;
  };
  const testing::ArpMessage request = {.sender_ip = Ipv4(10, 0, 0, 2),
                                       .target_ip = Ipv4(10, 0, 0, 100)};
  const testing::ArpMessage reply = {.op = kArpOpReply,
                                     .sender_mac = backend_mac,
                                     .sender_ip = Ipv4(192, 168, 10, 11),
                                     .target_mac = testing::kPortMac,
                                     .target_ip = Ipv4(192, 168, 10, 1)};
  const std::vector<Case> cases = {
      {"request for a PE", BuildArpFrame({.arp = request}), 0, request},
      {"request on VLAN 100, padded to 60 bytes",
       BuildArpFrame({.eth = {.dst = kBroadcastMac, .vlans = {{.id = 100}}}, .arp = request})
           .PadToMinimum(),
       100, request},
      {"reply from a backend",
       BuildArpFrame({.eth = {.dst = testing::kPortMac, .src = backend_mac}, .arp = reply}), 0,
       reply},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.description);
    for (const ParsedPacket& p :
         {ParseBothWays(c.frame.bytes), ParseBothWays<kVerifyTcpChecksums>(c.frame.bytes)}) {
      ASSERT_EQ(p.verdict, ParseVerdict::kArp) << DropReasonName(p.drop_reason);
      EXPECT_EQ(p.vlan_id, c.vlan_id);
      EXPECT_EQ(p.l3_offset, c.vlan_id ? 18 : 14);
      EXPECT_EQ(p.arp.op, c.expected.op);
      EXPECT_EQ(p.arp.sender_mac, c.expected.sender_mac);
      EXPECT_EQ(p.arp.sender_ip, c.expected.sender_ip);
      EXPECT_EQ(p.arp.target_mac, c.expected.target_mac);
      EXPECT_EQ(p.arp.target_ip, c.expected.target_ip);
      EXPECT_EQ(p.dst_mac, c.frame.bytes[0] == 0xff ? kBroadcastMac : testing::kPortMac);
    }
  }
}

TEST(ParseTest, ArpCutAtEveryLengthIsTruncated) {
  const Frame whole = BuildArpFrame();
  ASSERT_EQ(whole.bytes.size(), kEthHeaderLen + kArpLen);
  for (size_t len = 0; len < whole.bytes.size(); ++len) {
    SCOPED_TRACE("cut at " + std::to_string(len));
    const DropReason expected =
        len < kEthHeaderLen ? DropReason::kEthTruncated : DropReason::kArpTruncated;
    EXPECT_EQ(ParseBothWays(Frame(whole).Truncate(len).bytes).drop_reason, expected);
  }
}

TEST(ParseTest, DropsArpThatIsNotEthernetIpv4RequestOrReply) {
  struct Case {
    std::string description;
    testing::ArpMessage arp;
    DropReason expected;
  };
  const std::vector<Case> cases = {
      {"hardware type IEEE 802 (6)", {.hardware_type = 6}, DropReason::kArpUnsupportedFormat},
      {"protocol type IPv6", {.protocol_type = kEtherTypeIpv6}, DropReason::kArpUnsupportedFormat},
      {"hardware length 8", {.hardware_len = 8}, DropReason::kArpUnsupportedFormat},
      {"protocol length 16", {.protocol_len = 16}, DropReason::kArpUnsupportedFormat},
      {"RARP request (op 3)", {.op = 3}, DropReason::kArpUnsupportedOp},
      {"op 0", {.op = 0}, DropReason::kArpUnsupportedOp},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.description);
    const ParsedPacket p = ParseBothWays(BuildArpFrame({.arp = c.arp}).bytes);
    EXPECT_EQ(p.verdict, ParseVerdict::kDrop);
    EXPECT_EQ(DropReasonName(p.drop_reason), DropReasonName(c.expected));
  }
}

}  // namespace
}  // namespace privlink::dataplane
