// The TCP resets privlink writes (dataplane/tcp_reset.h), on plain buffers: every byte against a
// frame the test builder makes independently (reference checksums), and the RFC 793 rules for
// the sequence and acknowledgment numbers.
#include "dataplane/packet/tcp_reset.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/packet/parse.h"
#include "tests/dataplane/framework/packet_builder.h"

namespace privlink::dataplane {
namespace {

using namespace privlink::dataplane::testing;

constexpr Ipv4Be kClient = Ipv4(10, 0, 0, 2);
constexpr Ipv4Be kPe = Ipv4(10, 0, 0, 100);

// The 40 bytes a reset must be, built by the test's own frame builder.
std::vector<uint8_t> ExpectedResetL3(const ResetSegment& s) {
  const Frame f = BuildTcpFrame({.ip = {.src = s.tuple.src_ip,
                                        .dst = s.tuple.dst_ip,
                                        .tos = 0,
                                        .id = 0,
                                        .dont_fragment = true,
                                        .ttl = 64},
                                 .tcp = {.src_port = s.tuple.src_port,
                                         .dst_port = s.tuple.dst_port,
                                         .seq = s.seq,
                                         .ack = (s.flags & nat::kTcpAck) ? s.ack : 0,
                                         .flags = s.flags,
                                         .window = 0}});
  return {f.bytes.begin() + f.l3_offset, f.bytes.end()};
}

// Writes `s` into the middle of a canary-filled buffer: exactly kResetL3Len bytes may change.
std::vector<uint8_t> WriteBetweenCanaries(const ResetSegment& s) {
  constexpr size_t kGuard = 16;
  constexpr uint8_t kCanary = 0xa5;
  std::vector<uint8_t> buf(kGuard + kResetL3Len + kGuard, kCanary);
  WriteTcpReset(buf.data() + kGuard, s);
  for (size_t i = 0; i < kGuard; ++i) {
    EXPECT_EQ(buf[i], kCanary) << "wrote before the header at " << i;
    EXPECT_EQ(buf[kGuard + kResetL3Len + i], kCanary) << "wrote past the segment at " << i;
  }
  return {buf.begin() + kGuard, buf.begin() + kGuard + kResetL3Len};
}

// The reset as a receiver reads it: a frame the parser accepts with checksums verified.
void ExpectValidOnTheWire(const std::vector<uint8_t>& l3) {
  Frame f = BuildTcpFrame();
  f.bytes.resize(f.l3_offset);
  f.bytes.insert(f.bytes.end(), l3.begin(), l3.end());
  EXPECT_TRUE(f.Ipv4ChecksumOk());
  EXPECT_TRUE(f.L4ChecksumOk());
  const ParsedPacket p = ParsePacket<kVerifyTcpChecksums>(f.view());
  EXPECT_EQ(p.verdict, ParseVerdict::kTcp) << DropReasonName(p.drop_reason);
  EXPECT_EQ(p.tcp_payload_len(), 0);
}

TEST(WriteTcpResetTest, EveryByteMatchesAnIndependentlyBuiltSegment) {
  const std::vector<ResetSegment> segments = {
      {kPe, kClient, HostToBe16(80), HostToBe16(40000), 0, 12345, nat::kTcpRst | nat::kTcpAck},
      {kPe, kClient, HostToBe16(80), HostToBe16(40000), 0xdeadbeef, 0, nat::kTcpRst},
      // ACK number given without the ACK flag: not sent (the field is zero on the wire).
      {Ipv4(192, 168, 10, 200), Ipv4(192, 168, 10, 11), HostToBe16(1024), HostToBe16(8080),
       0xffffffff, 77, nat::kTcpRst},
      {Ipv4(255, 255, 255, 254), Ipv4(1, 2, 3, 4), HostToBe16(65535), HostToBe16(1), 1, 0xffffffff,
       nat::kTcpRst | nat::kTcpAck},
  };
  for (const ResetSegment& s : segments) {
    SCOPED_TRACE(::testing::Message()
                 << "seq " << s.seq << " ack " << s.ack << " flags " << int{s.flags});
    const std::vector<uint8_t> l3 = WriteBetweenCanaries(s);
    EXPECT_EQ(l3, ExpectedResetL3(s));
    ExpectValidOnTheWire(l3);
    EXPECT_EQ(l3[0], 0x45);
    EXPECT_EQ((l3[2] << 8) | l3[3], kResetL3Len);
    EXPECT_EQ(l3[kIpv4TtlOffset], kResetTtl);
    EXPECT_EQ(l3[20 + kTcpFlagsOffset], s.flags);
  }
}

TEST(WriteTcpResetTest, OverwritesWhateverTheBufferHeld) {
  const ResetSegment s{
      kPe, kClient, HostToBe16(80), HostToBe16(40000), 5, 6, nat::kTcpRst | nat::kTcpAck};
  std::array<uint8_t, kResetL3Len> dirty;
  dirty.fill(0xff);
  WriteTcpReset(dirty.data(), s);
  EXPECT_EQ(std::vector<uint8_t>(dirty.begin(), dirty.end()), ExpectedResetL3(s));
}

// ---- ResetToSender: RFC 793, "Reset Generation" ----

struct SenderCase {
  std::string description;
  TcpFrameSpec packet;
  uint32_t want_seq;
  std::optional<uint32_t> want_ack;  // nullopt: a plain RST (no ACK flag)
};

TcpFrameSpec Segment(uint8_t flags, uint32_t seq, uint32_t ack, size_t payload = 0) {
  return {.tcp = {.seq = seq, .ack = ack, .flags = flags, .payload = PatternPayload(payload)}};
}

TEST(ResetToSenderTest, SequenceAndAcknowledgmentFollowRfc793) {
  using nat::kTcpAck, nat::kTcpFin, nat::kTcpPsh, nat::kTcpSyn;
  TcpFrameSpec tagged_with_options = Segment(kTcpSyn, 700, 0, 3);
  tagged_with_options.eth.vlans = {{.id = 20, .priority = 5}};
  tagged_with_options.ip.options = {0x01, 0x01, 0x01, 0x00};  // NOPs, end of options
  tagged_with_options.tcp.options = TypicalSynOptions();
  TcpFrameSpec padded = Segment(kTcpFin, 50, 0, 1);

  const std::vector<SenderCase> cases = {
      {"ACK present: seq is the packet's ACK number", Segment(kTcpAck | kTcpPsh, 100, 9000, 10),
       9000, std::nullopt},
      {"SYN-ACK has an ACK: seq is its ACK number", Segment(kTcpSyn | kTcpAck, 100, 4242), 4242,
       std::nullopt},
      {"bare SYN: seq 0, ACK of seq + 1", Segment(kTcpSyn, 1000, 0), 0, 1001},
      {"SYN with data (TFO): SYN and payload count", Segment(kTcpSyn, 1000, 0, 10), 0, 1011},
      {"FIN without ACK: FIN and payload count", Segment(kTcpFin, 10, 0, 5), 0, 16},
      {"SYN+FIN without ACK: both count", Segment(kTcpSyn | kTcpFin, 10, 0), 0, 12},
      {"no flags at all: the payload counts", Segment(0, 10, 0, 3), 0, 13},
      {"sequence space wraps", Segment(kTcpSyn, 0xffffffff, 0), 0, 0},
      {"VLAN tag, IPv4 and TCP options: payload excludes the options", tagged_with_options, 0, 704},
      {"ACK number is ignored without the ACK flag", Segment(kTcpSyn, 1, 0xabcdef), 0, 2},
  };
  for (const SenderCase& c : cases) {
    SCOPED_TRACE(c.description);
    const Frame f = BuildTcpFrame(c.packet);
    const ParsedPacket p = ParsePacket(f.view());
    ASSERT_EQ(p.verdict, ParseVerdict::kTcp);
    const ResetSegment r = ResetToSender(f.bytes.data(), p);
    EXPECT_EQ(r.tuple.src_ip, c.packet.ip.dst);
    EXPECT_EQ(r.tuple.dst_ip, c.packet.ip.src);
    EXPECT_EQ(r.tuple.src_port, c.packet.tcp.dst_port);
    EXPECT_EQ(r.tuple.dst_port, c.packet.tcp.src_port);
    EXPECT_EQ(r.seq, c.want_seq);
    if (c.want_ack) {
      EXPECT_EQ(r.flags, nat::kTcpRst | nat::kTcpAck);
      EXPECT_EQ(r.ack, *c.want_ack);
    } else {
      EXPECT_EQ(r.flags, nat::kTcpRst);
    }
    const std::vector<uint8_t> l3 = WriteBetweenCanaries(r);
    EXPECT_EQ(l3, ExpectedResetL3(r));
    ExpectValidOnTheWire(l3);
  }

  // Ethernet padding after the segment is not payload: the length comes from the IPv4 header.
  Frame f = BuildTcpFrame(padded);
  f.Pad(7, 0xee);
  const ParsedPacket p = ParsePacket(f.view());
  ASSERT_EQ(p.verdict, ParseVerdict::kTcp);
  EXPECT_EQ(ResetToSender(f.bytes.data(), p).ack, 52u);
}

TEST(ResetToReceiverTest, KeepsThePacketsSequenceAndTakesTheGivenAddresses) {
  using nat::kTcpAck, nat::kTcpPsh, nat::kTcpSyn;
  const Ipv4Be nat_ip = Ipv4(192, 168, 10, 200), backend = Ipv4(192, 168, 10, 11);
  const PortBe nat_port = HostToBe16(1030), backend_port = HostToBe16(8080);
  for (const TcpFrameSpec& spec : {Segment(kTcpAck | kTcpPsh, 123456, 999, 20),
                                   Segment(kTcpSyn, 0xfffffff0, 0), Segment(kTcpAck, 0, 1)}) {
    SCOPED_TRACE(::testing::Message() << "seq " << spec.tcp.seq);
    const Frame f = BuildTcpFrame(spec);
    const ParsedPacket p = ParsePacket(f.view());
    ASSERT_EQ(p.verdict, ParseVerdict::kTcp);
    const ResetSegment r = ResetToReceiver(
        f.bytes.data(), p,
        {.src_ip = nat_ip, .dst_ip = backend, .src_port = nat_port, .dst_port = backend_port});
    EXPECT_EQ(r.tuple.src_ip, nat_ip);
    EXPECT_EQ(r.tuple.src_port, nat_port);
    EXPECT_EQ(r.tuple.dst_ip, backend);
    EXPECT_EQ(r.tuple.dst_port, backend_port);
    EXPECT_EQ(r.seq, spec.tcp.seq);
    EXPECT_EQ(r.flags, nat::kTcpRst);
    const std::vector<uint8_t> l3 = WriteBetweenCanaries(r);
    EXPECT_EQ(l3, ExpectedResetL3(r));
    ExpectValidOnTheWire(l3);
  }
}

}  // namespace
}  // namespace privlink::dataplane
