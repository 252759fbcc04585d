// The worker's packet path over conversations that need state (tests/dataplane/worker_harness.h):
// handshakes in both networks, identical tuples in two networks, teardown policies, model changes
// under established flows, backends without a neighbour MAC, and expiry. Every frame is compared
// byte for byte with what the test builds; NAT tuples are read back from the worker's output.
#include <gtest/gtest.h>

#include <vector>

#include "dataplane/packet/drop_reason.h"
#include "nat/tcp_state.h"
#include "tests/dataplane/framework/conversation_fixture.h"

namespace privlink::dataplane {
namespace {

using namespace privlink::dataplane::testing;

class ForwardTest : public ConversationFixture {};

TEST_F(ForwardTest, ConversationInNetworkA) {
  OpenedFlow flow;
  ASSERT_NO_FATAL_FAILURE(Establish(kNetA, kClientPort, &flow));
  ASSERT_NO_FATAL_FAILURE(ExpectDataBothWays(kNetA, kClientPort, flow, 1001));
  const nat::FlowRef ref = h_.flows().Lookup(ClientKey(kNetA, kClientPort));
  ASSERT_TRUE(ref.found());
  EXPECT_EQ(h_.flows().entry(ref.id).state(), nat::FlowState::kEstablished);
  EXPECT_EQ(h_.worker().counters.flows_created.Read(), 1u);
  EXPECT_EQ(EndpointPackets(kNetA, nat::FlowDirection::kIn2Out), 3u);
  EXPECT_EQ(EndpointPackets(kNetA, nat::FlowDirection::kOut2In), 2u);
  EXPECT_EQ(h_.TotalDrops(), 0u);
}

TEST_F(ForwardTest, ConversationInNetworkBKeepsItsVlanTag) {
  OpenedFlow flow;
  ASSERT_NO_FATAL_FAILURE(Establish(kNetB, kClientPort, &flow));
  ASSERT_NO_FATAL_FAILURE(ExpectDataBothWays(kNetB, kClientPort, flow, 1001));
  EXPECT_EQ(h_.TotalDrops(), 0u);
}

TEST_F(ForwardTest, IdenticalTuplesInTwoNetworksAreTwoFlows) {
  const TcpFrameSpec syn_a = FromClient(kNetA, Tcp(kTcpSyn, 1000, 0));
  const TcpFrameSpec syn_b = FromClient(kNetB, Tcp(kTcpSyn, 1000, 0));
  h_.Inject(kConsumer0, BuildTcpFrame(syn_a));
  h_.Inject(kConsumer1, BuildTcpFrame(syn_b));
  h_.Poll();
  const std::vector<Bytes> sent = h_.TakeSent(kProvider);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(h_.flows().Size(), 2u);
  OpenedFlow a{syn_a, MaglevBackend(h_, kNetA, syn_a), ReadNat(sent[0])};
  OpenedFlow b{syn_b, MaglevBackend(h_, kNetB, syn_b), ReadNat(sent[1])};
  EXPECT_TRUE(SameFrame(sent[0], BuildTcpFrame(TowardsBackend(syn_a, a.backend, a.nat))));
  EXPECT_TRUE(SameFrame(sent[1], BuildTcpFrame(TowardsBackend(syn_b, b.backend, b.nat))));
  // The provider side tells them apart: same backend means a different NAT tuple.
  EXPECT_FALSE(a.backend == b.backend && a.nat.ip == b.nat.ip && a.nat.port == b.nat.port);
  // Each answer goes back to its own network: untagged on consumer0, VLAN 20 on consumer1.
  const TcpFrameSpec to_a = FromBackend(a.backend, a.nat, kTcpSyn | kTcpAck, 7000, 1001);
  const TcpFrameSpec to_b = FromBackend(b.backend, b.nat, kTcpSyn | kTcpAck, 9000, 1001);
  ASSERT_NO_FATAL_FAILURE(ExpectRoute(kProvider, to_b, kConsumer1, TowardsClient(to_b, kNetB)));
  ASSERT_NO_FATAL_FAILURE(ExpectRoute(kProvider, to_a, kConsumer0, TowardsClient(to_a, kNetA)));
}

// A retransmitted SYN in the same burst misses the bulk lookup like the first; creating its flow
// then finds the key taken and forwards it on the flow the first one made.
TEST_F(ForwardTest, SynRetransmittedInTheSameBurstUsesTheSameFlow) {
  const TcpFrameSpec syn = FromClient(kNetA, Tcp(kTcpSyn, 1000, 0));
  h_.Inject(kConsumer0, BuildTcpFrame(syn));
  h_.Inject(kConsumer0, BuildTcpFrame(syn));
  ASSERT_EQ(h_.Poll(), 2u);
  const std::vector<Bytes> sent = h_.TakeSent(kProvider);
  ASSERT_EQ(sent.size(), 2u);
  const NatTuple nat = ReadNat(sent[0]);
  const Frame want = BuildTcpFrame(TowardsBackend(syn, MaglevBackend(h_, kNetA, syn), nat));
  EXPECT_TRUE(SameFrame(sent[0], want));
  EXPECT_TRUE(SameFrame(sent[1], want));
  EXPECT_EQ(h_.flows().Size(), 1u);
  EXPECT_EQ(h_.worker().counters.flows_created.Read(), 1u);
  EXPECT_EQ(h_.TotalDrops(), 0u);
}

// Under the reset policy, the first packet of a flow whose connection stopped carrying traffic
// is answered with a reset to its sender (seq = its ACK number) and replaced by a reset to its
// receiver (seq = its own sequence number, translated addresses); later packets only get the
// first kind.
void ExpectTornDownByReset(WorkerHarness& h, const Net& net, const OpenedFlow& flow,
                           bool client_first) {
  const uint64_t torn_before = h.DropCount(DropReason::kConnectionTornDown);
  const EthernetFields to_client = EthTo(net, kClientMac, net.mac);
  const EthernetFields to_backend{.dst = BackendMac(flow.backend), .src = kProviderMac};
  const uint16_t nat_port = Be16ToHost(flow.nat.port);
  TcpFrameSpec first, second;
  Frame want_client, want_backend, want_second;
  if (client_first) {
    first = FromClient(net, Tcp(kTcpAck | kTcpPsh, 1101, 5201, 10));
    want_client = BuildTcpFrame(
        Reset(to_client, kPeIp, kFrontendPort, kClientIp, kClientPort, 5201, 0, kTcpRst));
    want_backend = BuildTcpFrame(
        Reset(to_backend, flow.nat.ip, nat_port, flow.backend, kBackendPort, 1101, 0, kTcpRst));
    second = FromBackend(flow.backend, flow.nat, kTcpAck | kTcpPsh, 5201, 1101, 50);
    want_second = BuildTcpFrame(
        Reset(to_backend, flow.nat.ip, nat_port, flow.backend, kBackendPort, 1101, 0, kTcpRst));
  } else {
    first = FromBackend(flow.backend, flow.nat, kTcpAck | kTcpPsh, 5201, 1101, 50);
    want_backend = BuildTcpFrame(
        Reset(to_backend, flow.nat.ip, nat_port, flow.backend, kBackendPort, 1101, 0, kTcpRst));
    want_client = BuildTcpFrame(
        Reset(to_client, kPeIp, kFrontendPort, kClientIp, kClientPort, 5201, 0, kTcpRst));
    second = FromClient(net, Tcp(kTcpAck, 1101, 5201));
    want_second = BuildTcpFrame(
        Reset(to_client, kPeIp, kFrontendPort, kClientIp, kClientPort, 5201, 0, kTcpRst));
  }
  h.Inject(client_first ? net.port : kProvider, BuildTcpFrame(first));
  h.Poll();
  std::vector<Bytes> at_client = h.TakeSent(net.port);
  std::vector<Bytes> at_backend = h.TakeSent(kProvider);
  ASSERT_EQ(at_client.size(), 1u);
  ASSERT_EQ(at_backend.size(), 1u);
  EXPECT_TRUE(SameFrame(at_client[0], want_client));
  EXPECT_TRUE(SameFrame(at_backend[0], want_backend));
  EXPECT_EQ(h.DropCount(DropReason::kConnectionTornDown), torn_before + 1);

  // The flow is in kReset now: the other side's next packet gets a reset back, nothing more.
  h.Inject(client_first ? kProvider : net.port, BuildTcpFrame(second));
  h.Poll();
  at_client = h.TakeSent(net.port);
  at_backend = h.TakeSent(kProvider);
  const std::vector<Bytes>& back = client_first ? at_backend : at_client;
  EXPECT_TRUE((client_first ? at_client : at_backend).empty());
  ASSERT_EQ(back.size(), 1u);
  EXPECT_TRUE(SameFrame(back[0], want_second));
  EXPECT_EQ(h.DropCount(DropReason::kConnectionTornDown), torn_before + 2);

  // A reset from either side is not answered.
  h.Inject(net.port, BuildTcpFrame(FromClient(net, Tcp(kTcpRst, 1101, 0))));
  h.Poll();
  for (uint16_t p = 0; p < kPortCount; ++p) EXPECT_TRUE(h.TakeSent(p).empty());
  EXPECT_EQ(h.DropCount(DropReason::kConnectionTornDown), torn_before + 3);
}

TEST_F(ForwardTest, RejectedConnectionResetsBothSidesClientFirst) {
  OpenedFlow flow;
  ASSERT_NO_FATAL_FAILURE(Establish(kNetA, kClientPort, &flow));
  ASSERT_TRUE(h_.RejectConnection(kEndpointA).ok());
  ExpectTornDownByReset(h_, kNetA, flow, /*client_first=*/true);
}

TEST_F(ForwardTest, RejectedConnectionResetsBothSidesBackendFirstOnVlan) {
  OpenedFlow flow;
  ASSERT_NO_FATAL_FAILURE(Establish(kNetB, kClientPort, &flow));
  ASSERT_TRUE(h_.RejectConnection(kEndpointB).ok());
  ExpectTornDownByReset(h_, kNetB, flow, /*client_first=*/false);
}

TEST_F(ForwardTest, RejectedConnectionOnVlanResetsBothSidesClientFirst) {
  OpenedFlow flow;
  ASSERT_NO_FATAL_FAILURE(Establish(kNetB, kClientPort, &flow));
  ASSERT_TRUE(h_.RejectConnection(kEndpointB).ok());
  ExpectTornDownByReset(h_, kNetB, flow, /*client_first=*/true);
}

TEST_F(ForwardTest, DeletedConnectionResetsBothSides) {
  OpenedFlow flow;
  ASSERT_NO_FATAL_FAILURE(Establish(kNetA, kClientPort, &flow));
  ASSERT_TRUE(h_.DeleteConnection(kEndpointA).ok());
  ExpectTornDownByReset(h_, kNetA, flow, /*client_first=*/true);
}

TEST_F(ForwardTest, DrainPolicyLetsExistingFlowsFinishAndRefusesNewOnes) {
  ASSERT_TRUE(h_.SetTeardown(control::TeardownPolicy::kDrain).ok());
  OpenedFlow flow;
  ASSERT_NO_FATAL_FAILURE(Establish(kNetA, kClientPort, &flow));
  ASSERT_TRUE(h_.RejectConnection(kEndpointA).ok());
  ASSERT_NO_FATAL_FAILURE(ExpectDataBothWays(kNetA, kClientPort, flow, 1001));
  EXPECT_EQ(h_.DropCount(DropReason::kConnectionTornDown), 0u);

  // A new connection is refused with a reset, as for a Pending endpoint.
  h_.Inject(kConsumer0, BuildTcpFrame(FromClient(kNetA, Tcp(kTcpSyn, 300, 0, 0, 40100))));
  h_.Poll();
  EXPECT_TRUE(h_.TakeSent(kProvider).empty());
  const std::vector<Bytes> reset = h_.TakeSent(kConsumer0);
  ASSERT_EQ(reset.size(), 1u);
  EXPECT_TRUE(SameFrame(
      reset[0], BuildTcpFrame(Reset(EthTo(kNetA, kClientMac, kConsumer0Mac), kPeIp, kFrontendPort,
                                    kClientIp, 40100, 0, 301, kTcpRst | kTcpAck))));
  EXPECT_EQ(h_.DropCount(DropReason::kEndpointNotApproved), 1u);
}

TEST_F(ForwardTest, ApprovingAPendingEndpointLetsItsSynThrough) {
  ASSERT_TRUE(h_.ApproveConnection("pe-a-pending").ok());
  OpenedFlow flow;
  flow.syn = FromClient(kNetA, Tcp(kTcpSyn, 1, 0), kPendingPeIp);
  h_.Inject(kConsumer0, BuildTcpFrame(flow.syn));
  h_.Poll();
  const std::vector<Bytes> sent = h_.TakeSent(kProvider);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(
      SameFrame(sent[0], BuildTcpFrame(TowardsBackend(flow.syn, MaglevBackend(h_, kNetA, flow.syn),
                                                      ReadNat(sent[0])))));
  EXPECT_EQ(h_.TotalDrops(), 0u);
}

TEST_F(ForwardTest, EstablishedFlowsSurviveUnrelatedChanges) {
  OpenedFlow a, b;
  ASSERT_NO_FATAL_FAILURE(Establish(kNetA, kClientPort, &a));
  ASSERT_NO_FATAL_FAILURE(Establish(kNetB, kClientPort, &b));
  const uint64_t generation = h_.snapshot().generation;
  ASSERT_TRUE(h_.AddUnrelatedResources().ok());
  ASSERT_GT(h_.snapshot().generation, generation);
  ASSERT_NO_FATAL_FAILURE(ExpectDataBothWays(kNetA, kClientPort, a, 1001));
  ASSERT_NO_FATAL_FAILURE(ExpectDataBothWays(kNetB, kClientPort, b, 1001));
  // New flows still open.
  OpenedFlow c;
  ASSERT_NO_FATAL_FAILURE(Open(kNetA, 40001, &c));
  EXPECT_EQ(h_.TotalDrops(), 0u);
}

// A backend taken out of the service keeps the flows it has (they are bound to it); the view no
// longer resolves it in advance, so its frames take the routed path, to the same place.
TEST_F(ForwardTest, FlowsToARemovedBackendStillReachIt) {
  OpenedFlow flow;
  ASSERT_NO_FATAL_FAILURE(Establish(kNetA, kClientPort, &flow));
  ASSERT_NE(h_.view().backend_hops.Find(flow.backend), nullptr);
  ASSERT_TRUE(h_.RemoveBackend(flow.backend).ok());
  ASSERT_EQ(h_.view().backend_hops.Find(flow.backend), nullptr);
  ASSERT_NO_FATAL_FAILURE(ExpectDataBothWays(kNetA, kClientPort, flow, 1001));
  EXPECT_EQ(h_.TotalDrops(), 0u);
}

// Adding a backend moves part of Maglev's table: flows opened before keep the backend (and NAT
// tuple) they were bound to; new flows follow the new table.
TEST_F(ForwardTest, EstablishedFlowsKeepTheirBackendWhenTheServiceGainsOne) {
  constexpr uint16_t kFlows = 64;
  std::vector<OpenedFlow> flows(kFlows);
  for (uint16_t i = 0; i < kFlows; ++i) {
    ASSERT_NO_FATAL_FAILURE(Open(kNetA, static_cast<uint16_t>(kClientPort + i), &flows[i]));
  }
  ASSERT_TRUE(h_.AddBackend(kExtraBackend).ok());
  int moved = 0;
  for (uint16_t i = 0; i < kFlows; ++i) {
    SCOPED_TRACE(::testing::Message() << "client port " << kClientPort + i);
    const Ipv4Be now_picked = MaglevBackend(h_, kNetA, flows[i].syn);
    moved += now_picked != flows[i].backend;
    const TcpFrameSpec ack =
        FromClient(kNetA, Tcp(kTcpAck, 1001, 5001, 0, static_cast<uint16_t>(kClientPort + i)));
    ASSERT_NO_FATAL_FAILURE(ExpectRoute(kConsumer0, ack, kProvider,
                                        TowardsBackend(ack, flows[i].backend, flows[i].nat)));
  }
  // About a quarter of the keys move to the new backend; the test means nothing if none did.
  EXPECT_GT(moved, 0);

  // New flows go where the new table says, the new backend included.
  bool reached_new_backend = false;
  for (uint16_t port = 41000; port < 41000 + kFlows && !reached_new_backend; ++port) {
    OpenedFlow f;
    ASSERT_NO_FATAL_FAILURE(Open(kNetA, port, &f));
    reached_new_backend = f.backend == kExtraBackend;
  }
  EXPECT_TRUE(reached_new_backend);
  EXPECT_EQ(h_.TotalDrops(), 0u);
}

// A draining NAT IP takes no new flow; the flows it has keep it, both ways. Removed (here as the
// workflow leaves the service: its position empty), the other NAT IP keeps its position, so its
// flows are still counted against it.
TEST_F(ForwardTest, DrainingNatIpKeepsItsFlowsAndTakesNoNewOne) {
  constexpr uint16_t kFlows = 32;
  std::vector<OpenedFlow> flows(kFlows);
  uint16_t on_first = 0;
  for (uint16_t i = 0; i < kFlows; ++i) {
    ASSERT_NO_FATAL_FAILURE(Open(kNetA, static_cast<uint16_t>(kClientPort + i), &flows[i]));
    on_first += flows[i].nat.ip == kNatIps[0];
  }
  ASSERT_GT(on_first, 0) << "the test means nothing if no flow took the first NAT IP";
  const control::ServiceId service = h_.control().model()->services.at(kService).id;
  auto in_use = [&](size_t slot) {
    return h_.worker().counters.nat_ports[service].in_use[slot].Read();
  };
  EXPECT_EQ(in_use(0), on_first);
  EXPECT_EQ(in_use(1), kFlows - on_first);

  ASSERT_TRUE(h_.Change([](control::Model& m, const control::WorkflowContext&) {
                  m.services.MutableAt(kService).draining_nat_ips = {kNatIps[0]};
                  return absl::OkStatus();
                }).ok());
  for (uint16_t i = 0; i < kFlows; ++i) {
    SCOPED_TRACE(::testing::Message() << "client port " << kClientPort + i);
    const TcpFrameSpec ack =
        FromClient(kNetA, Tcp(kTcpAck, 1001, 5001, 0, static_cast<uint16_t>(kClientPort + i)));
    ASSERT_NO_FATAL_FAILURE(ExpectRoute(kConsumer0, ack, kProvider,
                                        TowardsBackend(ack, flows[i].backend, flows[i].nat)));
  }
  for (uint16_t port = 42000; port < 42000 + kFlows; ++port) {
    OpenedFlow f;
    ASSERT_NO_FATAL_FAILURE(Open(kNetA, port, &f));
    EXPECT_EQ(f.nat.ip, kNatIps[1]) << "a new flow took the draining NAT IP";
  }
  EXPECT_EQ(in_use(0), on_first);
  EXPECT_EQ(in_use(1), 2 * kFlows - on_first);

  ASSERT_TRUE(h_.Change([](control::Model& m, const control::WorkflowContext&) {
                  control::PrivateLinkService& s = m.services.MutableAt(kService);
                  s.nat_ips = {kNatIps[1]};
                  s.draining_nat_ips.clear();
                  s.nat_ip_slots = {0, kNatIps[1]};
                  return absl::OkStatus();
                }).ok());
  OpenedFlow later;
  ASSERT_NO_FATAL_FAILURE(Open(kNetA, 43000, &later));
  EXPECT_EQ(later.nat.ip, kNatIps[1]);
  EXPECT_EQ(in_use(1), 2 * kFlows - on_first + 1) << "still counted at its own position";
  EXPECT_EQ(h_.TotalDrops(), 0u);
}

TEST(ForwardNeighbourTest, NoBackendMacHandsTheTranslatedPacketToTheControlThread) {
  WorkerHarness h({.backend_macs = false});
  const TcpFrameSpec syn = FromClient(kNetA, Tcp(kTcpSyn, 1000, 0));
  h.Inject(kConsumer0, BuildTcpFrame(syn));
  h.Poll();
  EXPECT_EQ(h.ToControlCount(), 1u);
  for (uint16_t p = 0; p < kPortCount; ++p) EXPECT_TRUE(h.TakeSent(p).empty());
  const std::vector<ControlFrame> held = h.TakeToControl();
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].port, kProvider);
  // Translated and addressed from the provider port; the destination MAC is left for the
  // control thread to fill in once ARP answers.
  const Ipv4Be backend = MaglevBackend(h, kNetA, syn);
  EXPECT_TRUE(SameFrame(held[0].bytes, BuildTcpFrame(TowardsBackend(
                                           syn, backend, ReadNat(held[0].bytes), MacAddress{}))));
  EXPECT_EQ(Bytes(held[0].bytes.begin(), held[0].bytes.begin() + 6), Bytes(6, 0));
  EXPECT_EQ(h.TotalDrops(), 0u);
  DrainAndCheckNoLeak(h);
}

TEST_F(ForwardTest, EmbryonicFlowExpiresAndReturnsItsNatPort) {
  OpenedFlow flow;
  ASSERT_NO_FATAL_FAILURE(Open(kNetA, kClientPort, &flow));
  const uint16_t service =
      h_.snapshot().FindPe({NetworkOf(h_, kNetA), HostToBe16(kFrontendPort), kPeIp})->service;
  const size_t nat_index = flow.nat.ip == kNatIps[0] ? 0 : 1;
  const Counter& in_use = h_.worker().counters.nat_ports[service].in_use[nat_index];
  EXPECT_EQ(in_use.Read(), 1u);
  const uint32_t embryonic_ms = nat::FlowTimeouts{}.embryonic_ms;

  h_.clock().Advance(embryonic_ms - 1);
  for (int i = 0; i < 3; ++i) h_.Poll();
  EXPECT_EQ(h_.flows().Size(), 1u) << "expired early";

  h_.clock().Advance(1);
  for (int i = 0; i < 3; ++i) h_.Poll();
  EXPECT_EQ(h_.flows().Size(), 0u);
  EXPECT_EQ(in_use.Read(), 0u);
  EXPECT_EQ(h_.worker().counters.flows_expired.Read(), 1u);

  h_.Inject(kConsumer0, BuildTcpFrame(FromClient(kNetA, Tcp(kTcpAck, 1001, 5001))));
  h_.Poll();
  EXPECT_EQ(h_.DropCount(DropReason::kNoFlowNotSyn), 1u);
  for (uint16_t p = 0; p < kPortCount; ++p) EXPECT_TRUE(h_.TakeSent(p).empty());

  // The same client may connect again.
  OpenedFlow again;
  ASSERT_NO_FATAL_FAILURE(Open(kNetA, kClientPort, &again, 2000));
  EXPECT_EQ(h_.flows().Size(), 1u);
}

}  // namespace
}  // namespace privlink::dataplane

namespace privlink::dataplane {
namespace {

// enableTcpReset: an established flow that reaches its idle timeout gets a RST to each end at
// the sequence number that end last acknowledged (RFC 5961's exact match), both checksums right;
// without the flag, and for a flow that never got established, it expires silently.
TEST_F(ForwardTest, IdleTimeoutResetsBothEndsOnlyWhenTheServiceAsks) {
  struct Case {
    const char* what;
    bool enable;
    bool establish;
    bool want_resets;
  };
  const Case cases[] = {
      {"enableTcpReset, established", true, true, true},
      {"enableTcpReset off, established", false, true, false},
      {"enableTcpReset, never established", true, false, false},
  };
  uint16_t client_port = kClientPort;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ASSERT_TRUE(h_.Change([&](control::Model& m, const control::WorkflowContext&) {
                    m.services.MutableAt(kService).enable_tcp_reset = c.enable;
                    return absl::OkStatus();
                  }).ok());
    const uint64_t resets_before = h_.worker().counters.flows_idle_reset.Read();
    OpenedFlow flow;
    if (c.establish) {
      ASSERT_NO_FATAL_FAILURE(Establish(kNetA, client_port, &flow));
      ASSERT_NO_FATAL_FAILURE(ExpectDataBothWays(kNetA, client_port, flow, 1001));
      // The client acknowledges the backend's 200 bytes: it expects 5201 next, the backend 1101.
      const TcpFrameSpec ack = FromClient(kNetA, Tcp(kTcpAck, 1101, 5201, 0, client_port));
      ASSERT_NO_FATAL_FAILURE(
          ExpectRoute(kNetA.port, ack, kProvider, TowardsBackend(ack, flow.backend, flow.nat)));
    } else {
      ASSERT_NO_FATAL_FAILURE(Open(kNetA, client_port, &flow));
    }
    h_.clock().Advance(nat::FlowTimeouts{}.established_ms + 1);
    for (int i = 0; i < 3; ++i) h_.Poll();
    EXPECT_EQ(h_.flows().Size(), 0u);
    const std::vector<Bytes> at_client = h_.TakeSent(kNetA.port);
    const std::vector<Bytes> at_backend = h_.TakeSent(kProvider);
    if (!c.want_resets) {
      EXPECT_TRUE(at_client.empty());
      EXPECT_TRUE(at_backend.empty());
      EXPECT_EQ(h_.worker().counters.flows_idle_reset.Read(), resets_before);
    } else {
      ASSERT_EQ(at_client.size(), 1u);
      ASSERT_EQ(at_backend.size(), 1u);
      EXPECT_TRUE(SameFrame(at_client[0], BuildTcpFrame(Reset(EthTo(kNetA, kClientMac, kNetA.mac),
                                                              kPeIp, kFrontendPort, kClientIp,
                                                              client_port, 5201, 0, kTcpRst))));
      EXPECT_TRUE(SameFrame(
          at_backend[0], BuildTcpFrame(Reset({.dst = BackendMac(flow.backend), .src = kProviderMac},
                                             flow.nat.ip, Be16ToHost(flow.nat.port), flow.backend,
                                             kBackendPort, 1101, 0, kTcpRst))));
      EXPECT_EQ(h_.worker().counters.flows_idle_reset.Read(), resets_before + 1);
    }
    EXPECT_EQ(h_.TotalDrops(), 0u);
    ++client_port;
  }
}

}  // namespace
}  // namespace privlink::dataplane

namespace privlink::dataplane {
namespace {

// mssClamp on consumer0: SYNs and SYN-ACKs through it (the client's SYN arriving, the backend's
// SYN-ACK leaving, a retransmitted SYN-ACK too) announce at most 1200; below the clamp and
// through consumer1 (no clamp) they pass as they came. Frames compared byte for byte, checksums
// included.
TEST(ForwardMssClampTest, SynsThroughAClampedPortAnnounceAtMostItsMss) {
  WorkerHarness h({.consumer0_mss_clamp = 1200});
  auto with_mss = [](TcpFrameSpec s, uint16_t mss) {
    s.tcp.options = TcpOptions().Mss(mss).Nop().WindowScale(7).Build();
    return s;
  };
  struct Case {
    const Net* net;
    uint16_t client_mss, backend_mss;
    uint16_t want_client_mss, want_backend_mss;  // as the backend and the client receive them
  };
  const Case cases[] = {
      {&kNetA, 1460, 8960, 1200, 1200},
      {&kNetA, 1000, 1100, 1000, 1100},
      {&kNetB, 1460, 8960, 1460, 8960},
  };
  uint16_t client_port = kClientPort;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.net->port_name);
    const TcpFrameSpec syn =
        with_mss(FromClient(*c.net, Tcp(kTcpSyn, 1000, 0, 0, client_port)), c.client_mss);
    const Ipv4Be backend = MaglevBackend(h, *c.net, syn);
    h.Inject(c.net->port, BuildTcpFrame(syn));
    h.Poll();
    std::vector<Bytes> sent = h.TakeSent(kProvider);
    ASSERT_EQ(sent.size(), 1u);
    const NatTuple nat = ReadNat(sent[0]);
    EXPECT_TRUE(SameFrame(
        sent[0], BuildTcpFrame(TowardsBackend(with_mss(syn, c.want_client_mss), backend, nat))));
    const TcpFrameSpec syn_ack =
        with_mss(FromBackend(backend, nat, kTcpSyn | kTcpAck, 5000, 1001), c.backend_mss);
    for (int copy = 0; copy < 2; ++copy) {  // the second: a retransmission
      h.Inject(kProvider, BuildTcpFrame(syn_ack));
      h.Poll();
      sent = h.TakeSent(c.net->port);
      ASSERT_EQ(sent.size(), 1u);
      EXPECT_TRUE(
          SameFrame(sent[0], BuildTcpFrame(TowardsClient(with_mss(syn_ack, c.want_backend_mss),
                                                         *c.net, client_port))));
    }
    ++client_port;
  }
  EXPECT_EQ(h.TotalDrops(), 0u);
  DrainAndCheckNoLeak(h);
}

}  // namespace
}  // namespace privlink::dataplane
