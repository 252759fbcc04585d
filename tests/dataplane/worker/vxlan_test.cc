// VXLAN consumer networks through the worker (tests/dataplane/worker_harness.h with network "v":
// VNI 100 on consumer0, local IP 172.16.0.1, its endpoint at the same address as network a's):
// a tunnelled SYN leaves for its backend decapsulated, the answer goes back into the tunnel to
// the VTEP the flow came from (byte for byte: outer headers, inner frame), the same tuple in the
// untagged network and the tunnel are two flows, and every malformed tunnel is dropped by name.
#include <gtest/gtest.h>

#include <vector>

#include "dataplane/packet/drop_reason.h"
#include "dataplane/packet/vxlan.h"
#include "tests/dataplane/framework/conversation_fixture.h"
#include "tests/dataplane/framework/forward_frames.h"

namespace privlink::dataplane {
namespace {

using namespace privlink::dataplane::testing;

const Ipv4Be kVtepIp = Ipv4(172, 16, 0, 2);
const MacAddress kVtepMac = {0x02, 0x00, 0x00, 0x00, 0x7e, 0x02};
// The network as its inner frames see it: untagged, the PE's MAC the port's.
const Net kNetV{"consumer0", kConsumer0, 0, kConsumer0Mac};
constexpr uint16_t kVtepSourcePort = 51000;

std::vector<uint8_t> VxlanHeader(uint32_t vni, uint8_t flags = kVxlanFlagI, uint8_t reserved = 0) {
  return {flags,
          reserved,
          reserved,
          reserved,
          static_cast<uint8_t>(vni >> 16),
          static_cast<uint8_t>(vni >> 8),
          static_cast<uint8_t>(vni),
          reserved};
}

// `inner` as the VTEP sends it to privlink's local IP.
Frame FromVtep(const Frame& inner, uint32_t vni = kVxlanVni, uint8_t flags = kVxlanFlagI,
               std::optional<uint16_t> udp_checksum = std::nullopt, uint8_t reserved = 0) {
  std::vector<uint8_t> payload = VxlanHeader(vni, flags, reserved);
  payload.insert(payload.end(), inner.bytes.begin(), inner.bytes.end());
  return BuildUdpFrame({.eth = {.dst = kConsumer0Mac, .src = kVtepMac},
                        .ip = {.src = kVtepIp, .dst = kVxlanLocalIp, .id = 0x55},
                        .udp = {.src_port = HostToBe16(kVtepSourcePort),
                                .dst_port = HostToBe16(kVxlanPort),
                                .payload = std::move(payload),
                                .checksum = udp_checksum}});
}

// What privlink sends into the tunnel: `inner` behind outer headers to the VTEP, from the port's
// MAC and the local IP, UDP from `source_port`, checksum 0, VNI 100.
Frame ToVtep(const Frame& inner, uint16_t source_port) {
  std::vector<uint8_t> payload = VxlanHeader(kVxlanVni);
  payload.insert(payload.end(), inner.bytes.begin(), inner.bytes.end());
  return BuildUdpFrame({.eth = {.dst = kVtepMac, .src = kConsumer0Mac},
                        .ip = {.src = kVxlanLocalIp, .dst = kVtepIp, .tos = 0, .id = 0, .ttl = 64},
                        .udp = {.src_port = HostToBe16(source_port),
                                .dst_port = HostToBe16(kVxlanPort),
                                .payload = std::move(payload),
                                .checksum = 0}});
}

uint16_t OuterSourcePort(const Bytes& frame) {
  return static_cast<uint16_t>((frame[kEthHeaderLen + 20] << 8) | frame[kEthHeaderLen + 21]);
}

class VxlanTest : public ::testing::Test {
 protected:
  void TearDown() override { DrainAndCheckNoLeak(h_); }

  NetworkId NetworkV() const { return h_.snapshot().VxlanNetwork(0, kVxlanVni); }
  Ipv4Be BackendOf(const TcpFrameSpec& s) const {
    return MaglevBackendOf(
        h_, {.tuple = {s.ip.src, s.ip.dst, s.tcp.src_port, s.tcp.dst_port}, .network = NetworkV()});
  }

  // A tunnelled SYN: checked to leave decapsulated and translated; returns its NAT tuple.
  NatTuple Open(const TcpFrameSpec& syn) {
    h_.Inject(kConsumer0, FromVtep(BuildTcpFrame(syn)));
    h_.Poll();
    const std::vector<Bytes> sent = h_.TakeSent(kProvider);
    EXPECT_EQ(sent.size(), 1u);
    if (sent.size() != 1) return {};
    const NatTuple nat = ReadNat(sent[0]);
    EXPECT_TRUE(SameFrame(sent[0], BuildTcpFrame(TowardsBackend(syn, BackendOf(syn), nat))));
    return nat;
  }

  void ExpectDropped(const Frame& in, DropReason reason) {
    const uint64_t before = h_.DropCount(reason);
    h_.Inject(kConsumer0, in);
    h_.Poll();
    EXPECT_EQ(h_.DropCount(reason), before + 1) << DropReasonName(reason);
    for (uint16_t p = 0; p < kPortCount; ++p) EXPECT_TRUE(h_.TakeSent(p).empty()) << p;
    EXPECT_TRUE(h_.TakeToControl().empty());
  }

  WorkerHarness h_{{.vxlan_network = true}};
};

TEST_F(VxlanTest, ConversationThroughTheTunnel) {
  ASSERT_NE(NetworkV(), control::kNoNetwork);
  const TcpFrameSpec syn = FromClient(kNetV, Tcp(kTcpSyn, 1000, 0));
  const NatTuple nat = Open(syn);
  const Ipv4Be backend = BackendOf(syn);
  // The answer goes into the tunnel, to the VTEP the SYN came from.
  const TcpFrameSpec syn_ack = FromBackend(backend, nat, kTcpSyn | kTcpAck, 5000, 1001);
  h_.Inject(kProvider, BuildTcpFrame(syn_ack));
  h_.Poll();
  std::vector<Bytes> sent = h_.TakeSent(kConsumer0);
  ASSERT_EQ(sent.size(), 1u);
  const uint16_t source_port = OuterSourcePort(sent[0]);
  EXPECT_GE(source_port, kVxlanSourcePortBase);
  EXPECT_TRUE(
      SameFrame(sent[0], ToVtep(BuildTcpFrame(TowardsClient(syn_ack, kNetV)), source_port)));
  // The handshake completes and data flows both ways; the outer source port stays the flow's.
  const TcpFrameSpec ack = FromClient(kNetV, Tcp(kTcpAck | kTcpPsh, 1001, 5001, 300));
  h_.Inject(kConsumer0, FromVtep(BuildTcpFrame(ack)));
  h_.Poll();
  sent = h_.TakeSent(kProvider);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(SameFrame(sent[0], BuildTcpFrame(TowardsBackend(ack, backend, nat))));
  const TcpFrameSpec data = FromBackend(backend, nat, kTcpAck | kTcpPsh, 5001, 1301, 1200);
  h_.Inject(kProvider, BuildTcpFrame(data));
  h_.Poll();
  sent = h_.TakeSent(kConsumer0);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(OuterSourcePort(sent[0]), source_port);
  EXPECT_TRUE(SameFrame(sent[0], ToVtep(BuildTcpFrame(TowardsClient(data, kNetV)), source_port)));
  EXPECT_EQ(h_.TotalDrops(), 0u);
}

// The same client, PE and ports in untagged network a and in the tunnel: two flows, each answer
// back where its flow came from.
TEST_F(VxlanTest, SameTupleUntaggedAndTunnelledAreTwoFlows) {
  const TcpFrameSpec syn = FromClient(kNetV, Tcp(kTcpSyn, 1000, 0));
  const NatTuple tunnelled = Open(syn);
  h_.Inject(kConsumer0, BuildTcpFrame(FromClient(kNetA, Tcp(kTcpSyn, 1000, 0))));
  h_.Poll();
  const std::vector<Bytes> sent = h_.TakeSent(kProvider);
  ASSERT_EQ(sent.size(), 1u);
  const NatTuple plain = ReadNat(sent[0]);
  EXPECT_EQ(h_.flows().Size(), 2u);
  const Ipv4Be backend_a = MaglevBackend(h_, kNetA, FromClient(kNetA, Tcp(kTcpSyn, 1000, 0)));
  const TcpFrameSpec to_a = FromBackend(backend_a, plain, kTcpSyn | kTcpAck, 7000, 1001);
  h_.Inject(kProvider, BuildTcpFrame(to_a));
  h_.Poll();
  std::vector<Bytes> out = h_.TakeSent(kConsumer0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(SameFrame(out[0], BuildTcpFrame(TowardsClient(to_a, kNetA))));
  const TcpFrameSpec to_v = FromBackend(BackendOf(syn), tunnelled, kTcpSyn | kTcpAck, 9000, 1001);
  h_.Inject(kProvider, BuildTcpFrame(to_v));
  h_.Poll();
  out = h_.TakeSent(kConsumer0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(SameFrame(
      out[0], ToVtep(BuildTcpFrame(TowardsClient(to_v, kNetV)), OuterSourcePort(out[0]))));
}

// RFC 7348: only a clear I flag drops; reserved bits are ignored; a zero outer UDP checksum is
// accepted.
TEST_F(VxlanTest, ReservedBitsAndZeroChecksumAreAccepted) {
  const TcpFrameSpec syn = FromClient(kNetV, Tcp(kTcpSyn, 1000, 0));
  h_.Inject(kConsumer0, FromVtep(BuildTcpFrame(syn), kVxlanVni, kVxlanFlagI | 0x40, 0, 0xff));
  h_.Poll();
  EXPECT_EQ(h_.TakeSent(kProvider).size(), 1u);
  EXPECT_EQ(h_.TotalDrops(), 0u);
}

TEST_F(VxlanTest, MalformedTunnelsAreDroppedByName) {
  const Frame syn = BuildTcpFrame(FromClient(kNetV, Tcp(kTcpSyn, 1000, 0)));
  ExpectDropped(FromVtep(syn, 101), DropReason::kVxlanUnknownVni);
  ExpectDropped(FromVtep(syn, kVxlanVni, 0x00), DropReason::kVxlanFlagsInvalid);
  TcpFrameSpec tagged = FromClient(kNetV, Tcp(kTcpSyn, 1000, 0));
  tagged.eth.vlans = {{.id = 7}};
  ExpectDropped(FromVtep(BuildTcpFrame(tagged)), DropReason::kVxlanInnerVlan);
  ExpectDropped(FromVtep(BuildIpv6Frame({.eth = {.dst = kConsumer0Mac, .src = kClientMac}})),
                DropReason::kVxlanInnerNotIpv4);
  std::vector<uint8_t> short_payload = VxlanHeader(kVxlanVni);
  short_payload.insert(short_payload.end(), syn.bytes.begin(), syn.bytes.begin() + 6);
  ExpectDropped(BuildUdpFrame({.eth = {.dst = kConsumer0Mac, .src = kVtepMac},
                               .ip = {.src = kVtepIp, .dst = kVxlanLocalIp},
                               .udp = {.src_port = HostToBe16(kVtepSourcePort),
                                       .dst_port = HostToBe16(kVxlanPort),
                                       .payload = std::move(short_payload)}}),
                DropReason::kVxlanTruncated);
  // Tunnels arrive untagged: the same datagram on VLAN 30 is a frame of that VLAN's network
  // (none here), never a tunnel into VNI 100.
  Frame tagged_tunnel = FromVtep(syn);
  std::vector<uint8_t> with_tag(tagged_tunnel.bytes.begin(), tagged_tunnel.bytes.begin() + 12);
  with_tag.insert(with_tag.end(), {0x81, 0x00, 0x00, 30});
  with_tag.insert(with_tag.end(), tagged_tunnel.bytes.begin() + 12, tagged_tunnel.bytes.end());
  tagged_tunnel.bytes = with_tag;
  ExpectDropped(tagged_tunnel, DropReason::kUnknownNetwork);
  EXPECT_EQ(h_.flows().Size(), 0u);
}

// A SYN to a Pending PE through the tunnel: the RST goes back through the tunnel.
TEST_F(VxlanTest, RefusedSynIsAnsweredInsideTheTunnel) {
  const TcpFrameSpec syn = FromClient(kNetV, Tcp(kTcpSyn, 5555, 0, 0, 40002), kPendingPeIp);
  h_.Inject(kConsumer0, FromVtep(BuildTcpFrame(syn)));
  h_.Poll();
  EXPECT_EQ(h_.DropCount(DropReason::kEndpointNotApproved), 1u);
  const std::vector<Bytes> sent = h_.TakeSent(kConsumer0);
  ASSERT_EQ(sent.size(), 1u);
  Frame rst =
      BuildTcpFrame(Reset(EthTo(kNetV, kClientMac, kConsumer0Mac), kPendingPeIp, kFrontendPort,
                          kClientIp, 40002, 0, 5556, kTcpRst | kTcpAck));
  EXPECT_TRUE(SameFrame(sent[0], ToVtep(rst.PadToMinimum(), OuterSourcePort(sent[0]))));
  EXPECT_TRUE(h_.TakeSent(kProvider).empty());
}

// ARP inside the tunnel goes to the control thread (which answers inside the tunnel).
TEST_F(VxlanTest, TunnelledArpGoesToTheControlThread) {
  const Frame arp = BuildArpFrame({.eth = {.dst = kBroadcastMac, .src = kClientMac}});
  h_.Inject(kConsumer0, FromVtep(arp));
  h_.Poll();
  EXPECT_EQ(h_.TakeToControl().size(), 1u);
  EXPECT_EQ(h_.TotalDrops(), 0u);
}

// A flow ends and gives its tunnel hop back; the table holds one entry per (client, VTEP).
TEST_F(VxlanTest, FlowsShareTheirClientsHopAndGiveItBack) {
  for (uint16_t port : {40000, 40001, 40002}) {
    Open(FromClient(kNetV, Tcp(kTcpSyn, 1000, 0, 0, port)));
  }
  EXPECT_EQ(h_.worker().vteps->in_use(), 1u);
  h_.clock().Advance(nat::FlowTimeouts{}.embryonic_ms);
  for (int i = 0; i < 3; ++i) h_.Poll();
  EXPECT_EQ(h_.flows().Size(), 0u);
  EXPECT_EQ(h_.worker().vteps->in_use(), 0u);
}

}  // namespace
}  // namespace privlink::dataplane
