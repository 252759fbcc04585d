// UDP through the worker's packet path (tests/dataplane/worker_harness.h; the seed's service has
// UDP rules 53 -> 5353 and 80 -> 8080 beside TCP's 80 -> 8080): a flow's first datagram creates
// it, both directions are translated byte for byte, identical tuples in two networks stay two
// flows, checksums follow RFC 768 (0 stays 0, a computed 0 leaves as 0xffff), a UDP flow lives
// for its service's UDP idle timeout, and ICMP errors about a datagram reach the other end.
#include <gtest/gtest.h>

#include <vector>

#include "dataplane/packet/drop_reason.h"
#include "dataplane/packet/icmp.h"
#include "nat/tcp_state.h"
#include "tests/dataplane/framework/conversation_fixture.h"
#include "tests/dataplane/framework/forward_frames.h"
#include "tests/nat/reference_checksum.h"

namespace privlink::dataplane {
namespace {

using namespace privlink::dataplane::testing;

// A DNS-like query from the client to the PE, as it arrives on the network's port.
UdpFrameSpec FromClientUdp(const Net& net, uint16_t dst_port = kDnsPort,
                           std::vector<uint8_t> payload = PatternPayload(29, 3),
                           uint16_t client_port = kClientPort) {
  return {.eth = EthTo(net, net.mac, kClientMac),
          .ip = {.src = kClientIp, .dst = kPeIp, .tos = 0x28, .id = 0x4321, .ttl = 61},
          .udp = {.src_port = HostToBe16(client_port),
                  .dst_port = HostToBe16(dst_port),
                  .payload = std::move(payload)}};
}

// What it must become on the provider port.
UdpFrameSpec TowardsBackendUdp(UdpFrameSpec s, Ipv4Be backend, NatTuple nat,
                               uint16_t backend_port = kDnsBackendPort) {
  s.eth = {.dst = BackendMac(backend), .src = kProviderMac};
  s.ip.src = nat.ip;
  s.ip.dst = backend;
  s.udp.src_port = nat.port;
  s.udp.dst_port = HostToBe16(backend_port);
  return s;
}

// A backend's answer to the NAT tuple, and what it must become on the client's network.
UdpFrameSpec FromBackendUdp(Ipv4Be backend, NatTuple nat, std::vector<uint8_t> payload,
                            uint16_t backend_port = kDnsBackendPort) {
  return {.eth = {.dst = kProviderMac, .src = BackendMac(backend)},
          .ip = {.src = backend, .dst = nat.ip, .tos = 0x10, .id = 0x0bad, .ttl = 63},
          .udp = {.src_port = HostToBe16(backend_port),
                  .dst_port = nat.port,
                  .payload = std::move(payload)}};
}
UdpFrameSpec TowardsClientUdp(UdpFrameSpec s, const Net& net, uint16_t frontend_port = kDnsPort,
                              uint16_t client_port = kClientPort) {
  s.eth = EthTo(net, kClientMac, net.mac);
  s.ip.src = kPeIp;
  s.ip.dst = kClientIp;
  s.udp.src_port = HostToBe16(frontend_port);
  s.udp.dst_port = HostToBe16(client_port);
  return s;
}

struct UdpFlow {
  UdpFrameSpec query;
  Ipv4Be backend = 0;
  NatTuple nat;
};

class UdpTest : public ConversationFixture {
 protected:
  // Sends `query` (its flow's first datagram) and checks it leaves translated to its backend.
  void Open(const Net& net, const UdpFrameSpec& query, UdpFlow* flow,
            uint16_t backend_port = kDnsBackendPort) {
    flow->query = query;
    flow->backend = MaglevBackend(h_, net, query);
    h_.Inject(net.port, BuildUdpFrame(query));
    h_.Poll();
    const std::vector<Bytes> sent = h_.TakeSent(kProvider);
    ASSERT_EQ(sent.size(), 1u);
    flow->nat = ReadNat(sent[0]);
    EXPECT_TRUE(SameFrame(
        sent[0], BuildUdpFrame(TowardsBackendUdp(query, flow->backend, flow->nat, backend_port))));
  }

  // The datagram is dropped under `reason` and nothing leaves.
  void ExpectDropped(uint16_t in_port, const Frame& in, DropReason reason) {
    const uint64_t before = h_.DropCount(reason);
    h_.Inject(in_port, in);
    h_.Poll();
    EXPECT_EQ(h_.DropCount(reason), before + 1) << DropReasonName(reason);
    for (uint16_t p = 0; p < kPortCount; ++p) EXPECT_TRUE(h_.TakeSent(p).empty()) << p;
  }

  nat::FlowState StateOf(const Net& net, const UdpFrameSpec& s) {
    const nat::FlowRef ref =
        h_.flows().Lookup({.tuple = {s.ip.src, s.ip.dst, s.udp.src_port, s.udp.dst_port},
                           .network = NetworkOf(h_, net),
                           .proto = nat::kIpProtoUdp});
    EXPECT_TRUE(ref.found());
    return ref.found() ? h_.flows().entry(ref.id).state() : nat::FlowState::kCount;
  }
};

TEST_F(UdpTest, QueryAndAnswerInBothNetworksAreTwoFlows) {
  UdpFlow a, b;
  ASSERT_NO_FATAL_FAILURE(Open(kNetA, FromClientUdp(kNetA), &a));
  ASSERT_NO_FATAL_FAILURE(Open(kNetB, FromClientUdp(kNetB), &b));
  EXPECT_EQ(h_.flows().Size(), 2u);
  EXPECT_FALSE(a.backend == b.backend && a.nat.ip == b.nat.ip && a.nat.port == b.nat.port);
  EXPECT_EQ(StateOf(kNetA, a.query), nat::FlowState::kUdp);
  // Answers go back to their own network (consumer1's on VLAN 20), from the PE's port 53.
  for (const auto& [net, flow] : {std::pair{&kNetA, &a}, std::pair{&kNetB, &b}}) {
    const UdpFrameSpec answer = FromBackendUdp(flow->backend, flow->nat, PatternPayload(120, 9));
    ASSERT_NO_FATAL_FAILURE(ExpectRoute(kProvider, BuildUdpFrame(answer), net->port,
                                        BuildUdpFrame(TowardsClientUdp(answer, *net))));
  }
  // A second query on the flow: translated the same way, no new flow.
  const UdpFrameSpec again = FromClientUdp(kNetA, kDnsPort, PatternPayload(40, 7));
  ASSERT_NO_FATAL_FAILURE(ExpectRoute(kConsumer0, BuildUdpFrame(again), kProvider,
                                      BuildUdpFrame(TowardsBackendUdp(again, a.backend, a.nat))));
  EXPECT_EQ(h_.worker().counters.flows_created.Read(), 2u);
  EXPECT_EQ(EndpointPackets(kNetA, nat::FlowDirection::kIn2Out), 2u);
  EXPECT_EQ(EndpointPackets(kNetA, nat::FlowDirection::kOut2In), 1u);
  EXPECT_EQ(h_.TotalDrops(), 0u);
}

// RFC 768: a datagram sent without a checksum (0) is translated without one, both ways.
TEST_F(UdpTest, ZeroChecksumStaysZeroBothWays) {
  UdpFrameSpec query = FromClientUdp(kNetA);
  query.udp.checksum = 0;
  UdpFlow flow;
  ASSERT_NO_FATAL_FAILURE(Open(kNetA, FromClientUdp(kNetA), &flow));
  const Frame in = BuildUdpFrame(query);
  UdpFrameSpec out = TowardsBackendUdp(query, flow.backend, flow.nat);
  ASSERT_NO_FATAL_FAILURE(ExpectRoute(kConsumer0, in, kProvider, BuildUdpFrame(out)));
  UdpFrameSpec answer = FromBackendUdp(flow.backend, flow.nat, PatternPayload(64, 1));
  answer.udp.checksum = 0;
  ASSERT_NO_FATAL_FAILURE(ExpectRoute(kProvider, BuildUdpFrame(answer), kConsumer0,
                                      BuildUdpFrame(TowardsClientUdp(answer, kNetA))));
}

// A translated datagram whose checksum computes to 0 leaves with 0xffff, never with 0 ("none").
TEST_F(UdpTest, ChecksumThatComputesToZeroLeavesAsAllOnes) {
  UdpFlow flow;
  ASSERT_NO_FATAL_FAILURE(Open(kNetA, FromClientUdp(kNetA), &flow));
  // Choose the query's last two payload bytes so that the translated datagram sums to 0xffff.
  std::vector<uint8_t> payload = PatternPayload(30, 5);
  payload[28] = payload[29] = 0;
  const Frame zeroed = BuildUdpFrame(
      TowardsBackendUdp(FromClientUdp(kNetA, kDnsPort, payload), flow.backend, flow.nat));
  const uint16_t sum = zeroed.Get16(zeroed.l4_offset + nat::kUdpChecksumOffset);
  // The field is ~fold(rest); adding w to the payload makes the sum fold(rest) + w.
  const auto word = static_cast<uint16_t>(0xffff - static_cast<uint16_t>(~sum));
  payload[28] = static_cast<uint8_t>(word >> 8);
  payload[29] = static_cast<uint8_t>(word);
  const UdpFrameSpec query = FromClientUdp(kNetA, kDnsPort, payload);
  const Frame want = BuildUdpFrame(TowardsBackendUdp(query, flow.backend, flow.nat));
  ASSERT_EQ(want.Get16(want.l4_offset + nat::kUdpChecksumOffset), 0xffff);
  ASSERT_NO_FATAL_FAILURE(ExpectRoute(kConsumer0, BuildUdpFrame(query), kProvider, want));
}

TEST_F(UdpTest, CorruptFirstDatagramCreatesNoFlowLaterOnesCarryTheirError) {
  UdpFrameSpec bad = FromClientUdp(kNetA);
  bad.udp.checksum = 0x1234;
  ASSERT_NO_FATAL_FAILURE(
      ExpectDropped(kConsumer0, BuildUdpFrame(bad), DropReason::kUdpBadChecksum));
  EXPECT_EQ(h_.flows().Size(), 0u);
  UdpFlow flow;
  ASSERT_NO_FATAL_FAILURE(Open(kNetA, FromClientUdp(kNetA), &flow));
  // On the flow a corrupt datagram is translated like any (RFC 1624 carries its error over): the
  // receiver's check fails there as it would have here.
  h_.Inject(kConsumer0, BuildUdpFrame(bad));
  h_.Poll();
  const std::vector<Bytes> sent = h_.TakeSent(kProvider);
  ASSERT_EQ(sent.size(), 1u);
  Frame out = BuildUdpFrame(TowardsBackendUdp(bad, flow.backend, flow.nat));
  out.bytes = sent[0];
  EXPECT_TRUE(out.Ipv4ChecksumOk());
  EXPECT_FALSE(out.L4ChecksumOk());
}

TEST_F(UdpTest, UdpAndTcpOnTheSamePortAreTwoFlowsWithTheirOwnNatPorts) {
  const TcpFrameSpec syn = FromClient(kNetA, Tcp(kTcpSyn, 1000, 0));
  h_.Inject(kConsumer0, BuildTcpFrame(syn));
  h_.Poll();
  ASSERT_EQ(h_.TakeSent(kProvider).size(), 1u);
  UdpFlow udp;
  ASSERT_NO_FATAL_FAILURE(
      Open(kNetA, FromClientUdp(kNetA, kFrontendPort), &udp, /*backend_port=*/kBackendPort));
  EXPECT_EQ(h_.flows().Size(), 2u);
  EXPECT_EQ(StateOf(kNetA, udp.query), nat::FlowState::kUdp);
  const nat::FlowRef tcp_ref = h_.flows().Lookup(ClientKey(kNetA, kClientPort));
  ASSERT_TRUE(tcp_ref.found());
  EXPECT_EQ(h_.flows().entry(tcp_ref.id).state(), nat::FlowState::kSynSent);
  // The backend's TCP answer finds the TCP flow, its UDP answer the UDP flow.
  const UdpFrameSpec answer =
      FromBackendUdp(udp.backend, udp.nat, PatternPayload(10, 2), kBackendPort);
  ASSERT_NO_FATAL_FAILURE(
      ExpectRoute(kProvider, BuildUdpFrame(answer), kConsumer0,
                  BuildUdpFrame(TowardsClientUdp(answer, kNetA, kFrontendPort))));
}

TEST_F(UdpTest, OnlyAnApprovedEndpointsRuleOpensAFlow) {
  UdpFrameSpec pending = FromClientUdp(kNetA);
  pending.ip.dst = kPendingPeIp;
  ASSERT_NO_FATAL_FAILURE(
      ExpectDropped(kConsumer0, BuildUdpFrame(pending), DropReason::kEndpointNotApproved));
  ASSERT_NO_FATAL_FAILURE(
      ExpectDropped(kConsumer0, BuildUdpFrame(FromClientUdp(kNetA, 443)), DropReason::kNoEndpoint));
  UdpFrameSpec fragment = FromClientUdp(kNetA);
  fragment.ip.dont_fragment = false;
  fragment.ip.more_fragments = true;
  ASSERT_NO_FATAL_FAILURE(
      ExpectDropped(kConsumer0, BuildUdpFrame(fragment), DropReason::kIpv4Fragment));
  EXPECT_EQ(h_.flows().Size(), 0u);
  EXPECT_EQ(
      h_.worker().ports.Usage(kNatIps[0], 0).used + h_.worker().ports.Usage(kNatIps[1], 0).used,
      0u);
}

// Until the backend answers, a UDP flow has TCP's embryonic timeout (30 s), not the UDP one: a
// client spraying source ports holds each NAT port only that long.
TEST_F(UdpTest, UnansweredFlowEndsAfterTheEmbryonicTimeout) {
  UdpFlow flow;
  ASSERT_NO_FATAL_FAILURE(Open(kNetA, FromClientUdp(kNetA), &flow));
  const uint32_t embryonic_ms = nat::FlowTimeouts{}.embryonic_ms;
  h_.clock().Advance(embryonic_ms - 1);
  for (int i = 0; i < 3; ++i) h_.Poll();
  EXPECT_EQ(h_.flows().Size(), 1u) << "expired early";
  h_.clock().Advance(1);
  for (int i = 0; i < 3; ++i) h_.Poll();
  EXPECT_EQ(h_.flows().Size(), 0u);
}

// Under the reset teardown policy a rejected endpoint's UDP flow drops its datagrams and ends at
// the sweep's next visit (nothing to reset, no reason to hold its NAT port).
TEST_F(UdpTest, RejectedEndpointsFlowDropsAndEnds) {
  UdpFlow flow;
  ASSERT_NO_FATAL_FAILURE(Open(kNetA, FromClientUdp(kNetA), &flow));
  const UdpFrameSpec answer = FromBackendUdp(flow.backend, flow.nat, PatternPayload(10, 4));
  ASSERT_NO_FATAL_FAILURE(ExpectRoute(kProvider, BuildUdpFrame(answer), kConsumer0,
                                      BuildUdpFrame(TowardsClientUdp(answer, kNetA))));
  ASSERT_TRUE(h_.RejectConnection(kEndpointA).ok());
  ASSERT_NO_FATAL_FAILURE(
      ExpectDropped(kProvider, BuildUdpFrame(answer), DropReason::kConnectionTornDown));
  ASSERT_NO_FATAL_FAILURE(
      ExpectDropped(kConsumer0, BuildUdpFrame(flow.query), DropReason::kConnectionTornDown));
  h_.clock().Advance(1000);
  for (int i = 0; i < 3; ++i) h_.Poll();
  EXPECT_EQ(h_.flows().Size(), 0u);
  EXPECT_EQ(h_.worker().counters.flows_expired.Read(), 1u);
}

// An answer too large for one datagram (a big DNS answer) arrives in fragments: privlink does not
// reassemble, so each fragment is dropped and counted; the flow itself stays (a resolver then asks
// over TCP, which the service's TCP rule on the same port carries).
TEST_F(UdpTest, AnswerInFragmentsIsDroppedFragmentByFragment) {
  UdpFlow flow;
  ASSERT_NO_FATAL_FAILURE(Open(kNetA, FromClientUdp(kNetA), &flow));
  UdpFrameSpec first = FromBackendUdp(flow.backend, flow.nat, PatternPayload(1472, 6));
  first.ip.dont_fragment = false;
  first.ip.more_fragments = true;
  ASSERT_NO_FATAL_FAILURE(
      ExpectDropped(kProvider, BuildUdpFrame(first), DropReason::kIpv4Fragment));
  const Frame last = BuildRawIpv4Frame({.eth = first.eth,
                                        .ip = {.src = flow.backend,
                                               .dst = flow.nat.ip,
                                               .dont_fragment = false,
                                               .fragment_offset = 185,
                                               .protocol = kIpProtoUdp},
                                        .l4 = PatternPayload(700, 8)});
  ASSERT_NO_FATAL_FAILURE(ExpectDropped(kProvider, last, DropReason::kIpv4Fragment));
  EXPECT_EQ(h_.flows().Size(), 1u);
}

// Not TCP's 30 s embryonic timeout: a UDP flow lives for the service's UDP idle timeout (300 s by
// default), counted from its last datagram either way, then returns its NAT port.
TEST_F(UdpTest, FlowLivesForTheUdpIdleTimeout) {
  UdpFlow flow;
  ASSERT_NO_FATAL_FAILURE(Open(kNetA, FromClientUdp(kNetA), &flow));
  const uint32_t udp_ms = nat::FlowTimeouts{}.udp_ms;
  ASSERT_EQ(udp_ms, 300'000u);
  h_.clock().Advance(udp_ms / 2);
  const UdpFrameSpec answer = FromBackendUdp(flow.backend, flow.nat, PatternPayload(10, 4));
  ASSERT_NO_FATAL_FAILURE(ExpectRoute(kProvider, BuildUdpFrame(answer), kConsumer0,
                                      BuildUdpFrame(TowardsClientUdp(answer, kNetA))));
  h_.clock().Advance(udp_ms - 1);
  for (int i = 0; i < 3; ++i) h_.Poll();
  EXPECT_EQ(h_.flows().Size(), 1u) << "expired early";
  h_.clock().Advance(1);
  for (int i = 0; i < 3; ++i) h_.Poll();
  EXPECT_EQ(h_.flows().Size(), 0u);
  EXPECT_EQ(h_.worker().counters.flows_expired.Read(), 1u);
  const uint64_t used = h_.worker().ports.Usage(flow.nat.ip, h_.clock().NowMs()).used;
  EXPECT_EQ(used, 0u);
  ASSERT_NO_FATAL_FAILURE(
      ExpectDropped(kProvider, BuildUdpFrame(answer), DropReason::kNatIpNoFlow));
}

// A backend's host answers a datagram with port unreachable: the client gets it from the PE,
// about its own datagram (quoted addresses, ports and checksum as it sent them).
TEST_F(UdpTest, PortUnreachableAboutADatagramReachesTheClient) {
  UdpFlow flow;
  ASSERT_NO_FATAL_FAILURE(Open(kNetA, FromClientUdp(kNetA), &flow));
  const Frame to_backend = BuildUdpFrame(TowardsBackendUdp(flow.query, flow.backend, flow.nat));
  const Frame client_own = BuildUdpFrame(flow.query);
  constexpr uint8_t kPortUnreachable = 3;
  for (const size_t quote : {size_t{28}, size_t{28 + 29}}) {
    SCOPED_TRACE(quote);
    ASSERT_NO_FATAL_FAILURE(ExpectRoute(
        kProvider,
        IcmpErrorFrame({.dst = kProviderMac, .src = BackendMac(flow.backend)}, flow.backend,
                       flow.nat.ip, kIcmpDestinationUnreachable, kPortUnreachable, to_backend,
                       quote),
        kConsumer0,
        IcmpErrorFrame(EthTo(kNetA, kClientMac, kNetA.mac), kPeIp, kClientIp,
                       kIcmpDestinationUnreachable, kPortUnreachable, client_own, quote)));
  }
}

}  // namespace
}  // namespace privlink::dataplane
