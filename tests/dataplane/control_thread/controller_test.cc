// The control thread's part of the dataplane (dataplane/controller.h) on the worker harness
// (tests/dataplane/worker_harness.h): ARP answers on the consumer and provider side, the
// announcements and requests of the first round, packets held until a backend answers ARP
// (released, or dropped when it never does), the neighbour view workers read, and shutdown.
// Frames reach the Controller as a worker hands them over (to_control ring, mbuf->port = port
// index); what it sends is read back from the worker's from_control ring and compared byte for
// byte with frames the test builds.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "control/model/workflow.h"
#include "dataplane/packet/drop_reason.h"
#include "nat/tcp_state.h"
#include "tests/dataplane/framework/forward_frames.h"

namespace privlink::dataplane {
namespace {

using namespace privlink::dataplane::testing;

constexpr MacAddress kStrangerMac = {0x02, 0x00, 0x00, 0x00, 0x0b, 0xad};
constexpr Ipv4Be kNoPeIp = Ipv4(10, 0, 0, 77);
// A PE only network b has (added by AddNetworkBOnlyEndpoint).
constexpr Ipv4Be kNetworkBOnlyPeIp = Ipv4(10, 0, 0, 50);
constexpr Ipv4Be kUnusedProviderIp = Ipv4(192, 168, 10, 99);
constexpr Ipv4Be kOffSubnetIp = Ipv4(172, 16, 0, 5);

// ---- frames ----

Frame ArpFrame(EthernetFields eth, uint16_t op, MacAddress sender_mac, Ipv4Be sender_ip,
               MacAddress target_mac, Ipv4Be target_ip) {
  return BuildArpFrame({.eth = std::move(eth),
                        .arp = {.op = op,
                                .sender_mac = sender_mac,
                                .sender_ip = sender_ip,
                                .target_mac = target_mac,
                                .target_ip = target_ip}});
}

// A client's "who has `target`?" on a consumer network.
Frame ClientArpRequest(Ipv4Be target, uint16_t vlan) {
  EthernetFields eth{.dst = kBroadcastMac, .src = kClientMac};
  if (vlan != 0) eth.vlans = {{.id = vlan}};
  return ArpFrame(eth, kArpOpRequest, kClientMac, kClientIp, MacAddress{}, target);
}

// The reply to a request from (requester_mac, requester_ip) for `asked`, from `our_mac`.
Frame ReplyTo(MacAddress requester_mac, Ipv4Be requester_ip, Ipv4Be asked, MacAddress our_mac,
              uint16_t vlan) {
  EthernetFields eth{.dst = requester_mac, .src = our_mac};
  if (vlan != 0) eth.vlans = {{.id = vlan}};
  return ArpFrame(eth, kArpOpReply, our_mac, asked, requester_mac, requester_ip);
}

// What the provider port broadcasts: "who has `target`? tell 192.168.10.1".
Frame ProviderRequestFor(Ipv4Be target) {
  return ArpFrame({.dst = kBroadcastMac, .src = kProviderMac}, kArpOpRequest, kProviderMac,
                  kProviderAddress, MacAddress{}, target);
}

// RFC 5227 announcement of a NAT IP from the provider port.
Frame AnnouncementOf(Ipv4Be nat_ip) {
  return ArpFrame({.dst = kBroadcastMac, .src = kProviderMac}, kArpOpRequest, kProviderMac, nat_ip,
                  MacAddress{}, nat_ip);
}

// A backend's answer to the provider port's request.
Frame BackendReply(Ipv4Be backend, MacAddress mac) {
  return ArpFrame({.dst = kProviderMac, .src = mac}, kArpOpReply, mac, backend, kProviderMac,
                  kProviderAddress);
}

// A client packet translated towards `backend` as a worker hands it to the control thread: L2
// source set, destination MAC still zero.
TcpFrameSpec TranslatedSyn(Ipv4Be backend, uint16_t client_port) {
  const TcpFrameSpec syn = FromClient(kNetA, Tcp(kTcpSyn, 1000, 0, 0, client_port));
  // The client's port doubles as the NAT port: each frame stays distinguishable.
  return TowardsBackend(syn, backend, {kNatIps[0], HostToBe16(client_port)}, MacAddress{});
}

TcpFrameSpec WithDstMac(TcpFrameSpec s, MacAddress mac) {
  s.eth.dst = mac;
  return s;
}

// Every frame privlink writes for ARP is padded to exactly Ethernet's minimum.
::testing::AssertionResult SameArpFrame(const ControlFrame& got, uint16_t port, const Frame& want) {
  if (got.port != port) {
    return ::testing::AssertionFailure() << "sent on port " << got.port << ", want " << port;
  }
  if (got.bytes.size() != kEthMinFrameLen) {
    return ::testing::AssertionFailure() << got.bytes.size() << " bytes, want " << kEthMinFrameLen;
  }
  return SameFrame(got.bytes, want);
}

bool Contains(const std::vector<ControlFrame>& frames, uint16_t port, const Frame& want) {
  for (const ControlFrame& f : frames) {
    if (SameArpFrame(f, port, want)) return true;
  }
  return false;
}

const MacAddress* KnownMac(const WorkerHarness& h, Ipv4Be ip) {
  const ProviderRoute* route = h.view().RouteTo(ip);
  return route == nullptr ? nullptr : route->neighbors->FindMac(ip);
}

class ControllerTest : public ::testing::Test {
 protected:
  ControllerTest() : ControllerTest({.backend_macs = false, .controller = true}) {}
  explicit ControllerTest(const HarnessOptions& options) : h_(options) {}

  void TearDown() override {
    h_.controller().Drain();
    DrainAndCheckNoLeak(h_);
  }

  // The first round (announcements, requests for every backend), its frames discarded.
  void StartUp() {
    h_.PollController();
    h_.TakeFromControl();
  }

  uint64_t Drops(DropReason reason) const { return h_.ControllerDropCount(reason); }

  // A client SYN on network a, translated by the worker (no MAC in its view) and handed to the
  // Controller, which runs a round. Returns the SYN; `backend` is where Maglev sends it.
  TcpFrameSpec HandOverSyn(Ipv4Be* backend) {
    const TcpFrameSpec syn = FromClient(kNetA, Tcp(kTcpSyn, 1000, 0));
    *backend = MaglevBackend(h_, kNetA, syn);
    h_.Inject(kConsumer0, BuildTcpFrame(syn));
    h_.Poll();
    EXPECT_EQ(h_.ToControlCount(), 1u);
    h_.PollController();
    return syn;
  }

  WorkerHarness h_;
};

// ---- ARP on the consumer side ----

// With network "v" (VXLAN VNI 100 on consumer0, local IP 172.16.0.1): the port answers ARP for
// its local IP untagged, and a client's ARP for a PE inside the tunnel is answered inside it, to
// the VTEP that sent it, with the port's MAC as the PE's.
class ControllerVxlanTest : public ControllerTest {
 protected:
  ControllerVxlanTest()
      : ControllerTest({.backend_macs = false, .controller = true, .vxlan_network = true}) {}
};

TEST_F(ControllerVxlanTest, LocalIpAndTunnelledArpAreAnswered) {
  StartUp();
  const MacAddress vtep_mac = {0x02, 0, 0, 0, 0x7e, 0x02};
  const Ipv4Be vtep_ip = Ipv4(172, 16, 0, 2);
  // The outer ARP: "who has 172.16.0.1?" untagged on consumer0.
  h_.ToControl(kConsumer0, ArpFrame({.dst = kBroadcastMac, .src = vtep_mac}, kArpOpRequest,
                                    vtep_mac, vtep_ip, MacAddress{}, kVxlanLocalIp));
  h_.PollController();
  std::vector<ControlFrame> sent = h_.TakeFromControl();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(SameArpFrame(sent[0], kConsumer0,
                           ReplyTo(vtep_mac, vtep_ip, kVxlanLocalIp, kConsumer0Mac, 0)));
  // The inner ARP for the PE, inside VNI 100.
  const Frame inner = ClientArpRequest(kPeIp, 0);
  std::vector<uint8_t> payload = {0x08, 0, 0, 0, 0, 0, 100, 0};
  payload.insert(payload.end(), inner.bytes.begin(), inner.bytes.end());
  h_.ToControl(kConsumer0, BuildUdpFrame({.eth = {.dst = kConsumer0Mac, .src = vtep_mac},
                                          .ip = {.src = vtep_ip, .dst = kVxlanLocalIp},
                                          .udp = {.src_port = HostToBe16(50123),
                                                  .dst_port = HostToBe16(4789),
                                                  .payload = std::move(payload),
                                                  .checksum = 0}}));
  h_.PollController();
  sent = h_.TakeFromControl();
  ASSERT_EQ(sent.size(), 1u);
  // The inner reply as every ARP frame privlink writes: padded to Ethernet's minimum.
  Frame reply = ReplyTo(kClientMac, kClientIp, kPeIp, kConsumer0Mac, 0);
  reply.PadToMinimum();
  std::vector<uint8_t> reply_payload = {0x08, 0, 0, 0, 0, 0, 100, 0};
  reply_payload.insert(reply_payload.end(), reply.bytes.begin(), reply.bytes.end());
  const Frame want =
      BuildUdpFrame({.eth = {.dst = vtep_mac, .src = kConsumer0Mac},
                     .ip = {.src = kVxlanLocalIp, .dst = vtep_ip, .tos = 0, .id = 0, .ttl = 64},
                     .udp = {.src_port = HostToBe16(49152),
                             .dst_port = HostToBe16(4789),
                             .payload = std::move(reply_payload),
                             .checksum = 0}});
  EXPECT_EQ(sent[0].port, kConsumer0);
  EXPECT_TRUE(SameFrame(sent[0].bytes, want));
  // An ARP for an address no endpoint of the VNI's network has: not answered.
  const Frame stray = ClientArpRequest(kNoPeIp, 0);
  std::vector<uint8_t> stray_payload = {0x08, 0, 0, 0, 0, 0, 100, 0};
  stray_payload.insert(stray_payload.end(), stray.bytes.begin(), stray.bytes.end());
  const uint64_t not_ours = Drops(DropReason::kArpTargetNotOurs);
  h_.ToControl(kConsumer0, BuildUdpFrame({.eth = {.dst = kConsumer0Mac, .src = vtep_mac},
                                          .ip = {.src = vtep_ip, .dst = kVxlanLocalIp},
                                          .udp = {.src_port = HostToBe16(50123),
                                                  .dst_port = HostToBe16(4789),
                                                  .payload = std::move(stray_payload)}}));
  h_.PollController();
  EXPECT_TRUE(h_.TakeFromControl().empty());
  EXPECT_EQ(Drops(DropReason::kArpTargetNotOurs), not_ours + 1);
}

absl::Status AddNetworkBOnlyEndpoint(WorkerHarness& h) {
  return h.Change([](control::Model& m, const control::WorkflowContext&) {
    control::PrivateEndpoint e;
    e.name = "pe-b-only";
    e.subscription = "sub-consumer";
    e.network = "b";
    e.ip = kNetworkBOnlyPeIp;
    e.private_link_service = kService;
    return control::PutEndpoint(m, e, "").status();
  });
}

struct ConsumerArpCase {
  std::string name;
  const Net* net;
  uint16_t vlan;  // the request's tag
  Ipv4Be target;
  bool answered;
};

TEST_F(ControllerTest, ConsumerPortsAnswerForTheirNetworksPes) {
  ASSERT_TRUE(AddNetworkBOnlyEndpoint(h_).ok());
  StartUp();
  const std::vector<ConsumerArpCase> cases = {
      {"pe of network a, untagged on consumer0", &kNetA, 0, kPeIp, true},
      {"pe of network b, vlan 20 on consumer1", &kNetB, kNetworkBVlan, kPeIp, true},
      {"pe only network b has, on network b", &kNetB, kNetworkBVlan, kNetworkBOnlyPeIp, true},
      {"pe only network b has, asked on network a", &kNetA, 0, kNetworkBOnlyPeIp, false},
      {"no pe at that ip", &kNetA, 0, kNoPeIp, false},
      {"nat ip, asked on a consumer port", &kNetA, 0, kNatIps[0], false},
      {"consumer1 untagged: no network", &kNetB, 0, kPeIp, false},
      {"consumer0 vlan 20: no network", &kNetA, kNetworkBVlan, kPeIp, false},
  };
  for (const ConsumerArpCase& c : cases) {
    SCOPED_TRACE(c.name);
    const uint64_t not_ours = Drops(DropReason::kArpTargetNotOurs);
    h_.ToControl(c.net->port, ClientArpRequest(c.target, c.vlan));
    EXPECT_EQ(h_.PollController(), 1u);
    const std::vector<ControlFrame> sent = h_.TakeFromControl();
    if (c.answered) {
      ASSERT_EQ(sent.size(), 1u);
      EXPECT_TRUE(SameArpFrame(sent[0], c.net->port,
                               ReplyTo(kClientMac, kClientIp, c.target, c.net->mac, c.vlan)));
      EXPECT_EQ(Drops(DropReason::kArpTargetNotOurs), not_ours);
    } else {
      EXPECT_TRUE(sent.empty());
      EXPECT_EQ(Drops(DropReason::kArpTargetNotOurs), not_ours + 1);
    }
  }
}

TEST_F(ControllerTest, ConsumerArpRepliesAreIgnored) {
  StartUp();
  h_.ToControl(kConsumer0, ArpFrame({.dst = kConsumer0Mac, .src = kClientMac}, kArpOpReply,
                                    kClientMac, kClientIp, kConsumer0Mac, kPeIp));
  h_.PollController();
  EXPECT_TRUE(h_.TakeFromControl().empty());
  EXPECT_EQ(Drops(DropReason::kArpTargetNotOurs), 0u);
}

// ---- ARP on the provider side ----

struct ProviderArpCase {
  std::string name;
  Ipv4Be target;
  bool answered;
};

TEST_F(ControllerTest, ProviderPortAnswersForNatIpsAndItsOwnAddress) {
  StartUp();
  const Ipv4Be backend = kBackends[0];
  const std::vector<ProviderArpCase> cases = {
      {"first nat ip", kNatIps[0], true},
      {"second nat ip", kNatIps[1], true},
      {"the port's own address", kProviderAddress, true},
      {"another address on the subnet", kUnusedProviderIp, false},
      {"another backend", kBackends[1], false},
      {"a pe ip", kPeIp, false},
  };
  for (const ProviderArpCase& c : cases) {
    SCOPED_TRACE(c.name);
    const uint64_t not_ours = Drops(DropReason::kArpTargetNotOurs);
    h_.ToControl(kProvider,
                 ArpFrame({.dst = kBroadcastMac, .src = BackendMac(backend)}, kArpOpRequest,
                          BackendMac(backend), backend, MacAddress{}, c.target));
    h_.PollController();
    const std::vector<ControlFrame> sent = h_.TakeFromControl();
    if (c.answered) {
      ASSERT_EQ(sent.size(), 1u);
      EXPECT_TRUE(SameArpFrame(sent[0], kProvider,
                               ReplyTo(BackendMac(backend), backend, c.target, kProviderMac, 0)));
      EXPECT_EQ(Drops(DropReason::kArpTargetNotOurs), not_ours);
    } else {
      EXPECT_TRUE(sent.empty());
      EXPECT_EQ(Drops(DropReason::kArpTargetNotOurs), not_ours + 1);
    }
  }
  // The requests also taught the backend's MAC (it was being resolved since the first round).
  const MacAddress* mac = KnownMac(h_, backend);
  ASSERT_NE(mac, nullptr);
  EXPECT_EQ(*mac, BackendMac(backend));
}

// ---- the first round ----

TEST_F(ControllerTest, FirstRoundAnnouncesNatIpsAndResolvesEveryBackend) {
  EXPECT_EQ(h_.PollController(), 0u);
  const std::vector<ControlFrame> sent = h_.TakeFromControl();
  ASSERT_EQ(sent.size(), kNatIps.size() + kBackends.size());
  for (const Ipv4Be nat_ip : kNatIps) {
    EXPECT_TRUE(Contains(sent, kProvider, AnnouncementOf(nat_ip))) << FormatIpv4(nat_ip);
  }
  for (const Ipv4Be backend : kBackends) {
    EXPECT_TRUE(Contains(sent, kProvider, ProviderRequestFor(backend))) << FormatIpv4(backend);
  }

  // Nothing changed, no time passed: a quiet round.
  h_.PollController();
  EXPECT_TRUE(h_.TakeFromControl().empty());

  // A new snapshot: only what is new goes out (the other requests are not due yet).
  const Ipv4Be new_nat_ip = Ipv4(192, 168, 10, 202);
  ASSERT_TRUE(h_.Change([&](control::Model& m, const control::WorkflowContext&) {
                  m.services.MutableAt(kService).nat_ips.push_back(new_nat_ip);
                  return absl::OkStatus();
                }).ok());
  ASSERT_TRUE(h_.AddBackend(kExtraBackend).ok());
  h_.PollController();
  const std::vector<ControlFrame> next = h_.TakeFromControl();
  ASSERT_EQ(next.size(), 2u);
  EXPECT_TRUE(Contains(next, kProvider, AnnouncementOf(new_nat_ip)));
  EXPECT_TRUE(Contains(next, kProvider, ProviderRequestFor(kExtraBackend)));
}

// A NAT IP that left the model (its service deleted) and came back is announced again: a switch
// may have learned another owner for it in between.
TEST_F(ControllerTest, NatIpIsAnnouncedAgainWhenItReturnsToTheModel) {
  StartUp();
  const Ipv4Be svc2_nat_ip = Ipv4(192, 168, 10, 210);  // AddUnrelatedResources' service
  ASSERT_TRUE(h_.AddUnrelatedResources().ok());
  h_.PollController();
  EXPECT_TRUE(Contains(h_.TakeFromControl(), kProvider, AnnouncementOf(svc2_nat_ip)));

  ASSERT_TRUE(h_.Change([](control::Model& m, const control::WorkflowContext&) {
                  if (absl::Status s = control::DeleteEndpoint(m, "pe-c"); !s.ok()) return s;
                  return control::DeleteService(m, "svc2");
                }).ok());
  h_.PollController();
  for (const ControlFrame& f : h_.TakeFromControl()) {
    EXPECT_FALSE(SameFrame(f.bytes, AnnouncementOf(svc2_nat_ip))) << "announced while gone";
  }

  ASSERT_TRUE(h_.Change([](control::Model& m, const control::WorkflowContext&) {
                  return control::DeleteNetwork(m, "c");
                }).ok());
  ASSERT_TRUE(h_.AddUnrelatedResources().ok());
  h_.PollController();
  EXPECT_TRUE(Contains(h_.TakeFromControl(), kProvider, AnnouncementOf(svc2_nat_ip)));
}

// ---- packets held for ARP ----

TEST_F(ControllerTest, HeldPacketLeavesWhenTheBackendAnswers) {
  StartUp();
  Ipv4Be backend = 0;
  const TcpFrameSpec syn = HandOverSyn(&backend);
  // Held: its request went out in the first round and is not due again yet.
  EXPECT_TRUE(h_.TakeFromControl().empty());
  EXPECT_EQ(h_.MbufsInUse(), 1u);
  EXPECT_EQ(KnownMac(h_, backend), nullptr);
  EXPECT_EQ(h_.view().backend_hops.Find(backend), nullptr) << "resolved before ARP answered";

  // The answer arrives through the worker, as on the wire.
  h_.Inject(kProvider, BackendReply(backend, BackendMac(backend)));
  h_.Poll();
  ASSERT_EQ(h_.ToControlCount(), 1u);
  h_.PollController();

  const std::vector<ControlFrame> released = h_.TakeFromControl();
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].port, kProvider);
  EXPECT_TRUE(SameFrame(released[0].bytes,
                        BuildTcpFrame(TowardsBackend(syn, backend, ReadNat(released[0].bytes)))));
  const MacAddress* mac = KnownMac(h_, backend);
  ASSERT_NE(mac, nullptr);
  EXPECT_EQ(*mac, BackendMac(backend));
  // The view resolves the backend in advance now: port and both MACs.
  const BackendHop* hop = h_.view().backend_hops.Find(backend);
  ASSERT_NE(hop, nullptr);
  EXPECT_EQ(hop->port, kProvider);
  EXPECT_EQ(hop->dst_mac, BackendMac(backend));
  EXPECT_EQ(hop->src_mac, h_.shared().ports[kProvider].mac);

  // The worker reads the new view: the SYN's retransmission goes out directly.
  h_.Inject(kConsumer0, BuildTcpFrame(syn));
  h_.Poll();
  EXPECT_EQ(h_.ToControlCount(), 0u);
  const std::vector<Bytes> sent = h_.TakeSent(kProvider);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(SameFrame(sent[0], BuildTcpFrame(TowardsBackend(syn, backend, ReadNat(sent[0])))));
  EXPECT_EQ(h_.TotalDrops(), 0u);
}

TEST_F(ControllerTest, FrameForAKnownNeighbourIsSentAtOnce) {
  StartUp();
  const Ipv4Be backend = kBackends[1];
  h_.ToControl(kProvider, BackendReply(backend, BackendMac(backend)));
  h_.PollController();
  ASSERT_TRUE(h_.TakeFromControl().empty());
  // Handed over with a view that did not have the MAC yet.
  const TcpFrameSpec translated = TranslatedSyn(backend, kClientPort);
  h_.ToControl(kProvider, BuildTcpFrame(translated));
  h_.PollController();
  const std::vector<ControlFrame> sent = h_.TakeFromControl();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].port, kProvider);
  EXPECT_TRUE(SameFrame(sent[0].bytes, BuildTcpFrame(WithDstMac(translated, BackendMac(backend)))));
}

TEST_F(ControllerTest, HeldPacketIsDroppedWhenTheBackendNeverAnswers) {
  const nat::TimeMs start = h_.clock().NowMs();
  StartUp();  // request 1 of 3 for every backend
  Ipv4Be backend = 0;
  HandOverSyn(&backend);
  EXPECT_EQ(h_.MbufsInUse(), 1u);

  for (int retry = 1; retry <= 2; ++retry) {
    SCOPED_TRACE(::testing::Message() << "retry " << retry);
    h_.clock().Set(start + retry * kDefaultRetryIntervalMs);
    h_.PollController();
    const std::vector<ControlFrame> sent = h_.TakeFromControl();
    ASSERT_EQ(sent.size(), kBackends.size());
    for (const Ipv4Be b : kBackends) EXPECT_TRUE(Contains(sent, kProvider, ProviderRequestFor(b)));
  }
  // Given up once the last request had its full interval: not earlier, and no later than one
  // period of the Controller's neighbour timers (100 ms) after. Polled every 10 ms meanwhile.
  constexpr nat::TimeMs kTimerPeriodMs = 100;
  const nat::TimeMs give_up = start + 3 * kDefaultRetryIntervalMs;
  nat::TimeMs dropped_at = 0;
  for (nat::TimeMs t = give_up - 500; t <= give_up + 2 * kTimerPeriodMs && dropped_at == 0;
       t += 10) {
    h_.clock().Set(t);
    h_.PollController();
    EXPECT_TRUE(h_.TakeFromControl().empty()) << "no fourth request";
    if (Drops(DropReason::kNeighbourUnresolved) != 0) dropped_at = t;
  }
  EXPECT_GE(dropped_at, give_up);
  EXPECT_LE(dropped_at, give_up + kTimerPeriodMs);
  EXPECT_EQ(Drops(DropReason::kNeighbourUnresolved), 1u);
  EXPECT_EQ(h_.MbufsInUse(), 0u);

  // Within the hold-off, a new packet for the unreachable backend is dropped at once.
  h_.ToControl(kProvider, BuildTcpFrame(TranslatedSyn(backend, kClientPort + 1)));
  h_.PollController();
  EXPECT_TRUE(h_.TakeFromControl().empty());
  EXPECT_EQ(Drops(DropReason::kNeighbourUnresolved), 2u);
  EXPECT_EQ(h_.MbufsInUse(), 0u);
}

TEST_F(ControllerTest, HoldQueueIsBounded) {
  StartUp();
  const Ipv4Be backend = kBackends[2];
  for (uint32_t i = 0; i <= kDefaultMaxHeldPerNeighbor; ++i) {
    h_.ToControl(kProvider, BuildTcpFrame(TranslatedSyn(backend, kClientPort + i)));
  }
  h_.PollController();
  EXPECT_TRUE(h_.TakeFromControl().empty());
  EXPECT_EQ(Drops(DropReason::kNeighbourQueueFull), 1u);
  EXPECT_EQ(h_.MbufsInUse(), kDefaultMaxHeldPerNeighbor);

  // The answer releases them in arrival order.
  h_.ToControl(kProvider, BackendReply(backend, BackendMac(backend)));
  h_.PollController();
  const std::vector<ControlFrame> released = h_.TakeFromControl();
  ASSERT_EQ(released.size(), kDefaultMaxHeldPerNeighbor);
  for (uint32_t i = 0; i < released.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "packet " << i);
    EXPECT_TRUE(SameFrame(
        released[i].bytes,
        BuildTcpFrame(WithDstMac(TranslatedSyn(backend, kClientPort + i), BackendMac(backend)))));
  }
}

TEST_F(ControllerTest, FrameForABackendOffTheSubnetIsDropped) {
  StartUp();
  h_.ToControl(kProvider, BuildTcpFrame(TranslatedSyn(kOffSubnetIp, kClientPort)));
  h_.PollController();
  EXPECT_TRUE(h_.TakeFromControl().empty());
  EXPECT_EQ(Drops(DropReason::kNoProviderRoute), 1u);
}

// ---- what ARP may teach ----

struct PoisonCase {
  std::string name;
  Frame frame;
};

TEST_F(ControllerTest, ArpCannotPoisonTheNeighbourView) {
  StartUp();
  const DataplaneView* before = &h_.view();
  const std::vector<PoisonCase> cases = {
      {"reply from off the subnet, never asked", BackendReply(kOffSubnetIp, kStrangerMac)},
      {"reply claiming a nat ip", BackendReply(kNatIps[0], kStrangerMac)},
      {"reply claiming the port's address", BackendReply(kProviderAddress, kStrangerMac)},
      {"reply with a multicast sender mac",
       BackendReply(kBackends[0], {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01})},
      {"reply with a zero sender mac", BackendReply(kBackends[0], MacAddress{})},
      {"reply from 0.0.0.0", BackendReply(0, kStrangerMac)},
  };
  for (const PoisonCase& c : cases) {
    SCOPED_TRACE(c.name);
    h_.ToControl(kProvider, c.frame);
    h_.PollController();
    EXPECT_TRUE(h_.TakeFromControl().empty());
    EXPECT_EQ(&h_.view(), before) << "a new view was published";
    for (const Ipv4Be ip : {kOffSubnetIp, kNatIps[0], kProviderAddress, kBackends[0], Ipv4Be{0}}) {
      EXPECT_EQ(h_.view().providers[0].neighbors->FindMac(ip), nullptr) << FormatIpv4(ip);
    }
  }
  EXPECT_EQ(h_.view().providers[0].neighbors->size(), 0u);

  // The control: a backend's own reply is learned and published.
  h_.ToControl(kProvider, BackendReply(kBackends[0], BackendMac(kBackends[0])));
  h_.PollController();
  EXPECT_NE(&h_.view(), before);
  const MacAddress* mac = KnownMac(h_, kBackends[0]);
  ASSERT_NE(mac, nullptr);
  EXPECT_EQ(*mac, BackendMac(kBackends[0]));
}

// ---- shutdown ----

TEST_F(ControllerTest, DrainFreesHeldPacketsAndTheQueue) {
  StartUp();
  h_.ToControl(kProvider, BuildTcpFrame(TranslatedSyn(kBackends[0], kClientPort)));
  h_.ToControl(kProvider, BuildTcpFrame(TranslatedSyn(kBackends[1], kClientPort)));
  h_.PollController();
  ASSERT_TRUE(h_.TakeFromControl().empty());
  EXPECT_EQ(h_.MbufsInUse(), 2u);
  // Not yet polled when the dataplane stops.
  h_.ToControl(kConsumer0, ClientArpRequest(kPeIp, 0));
  h_.ToControl(kProvider, BuildTcpFrame(TranslatedSyn(kBackends[2], kClientPort)));
  EXPECT_EQ(h_.MbufsInUse(), 4u);

  h_.controller().Drain();
  EXPECT_EQ(h_.ToControlCount(), 0u);
  EXPECT_TRUE(h_.TakeFromControl().empty()) << "Drain sends nothing";
  EXPECT_EQ(h_.MbufsInUse(), 0u);
}

// ---- health probes ----

class HealthProbeWiringTest : public ControllerTest {
 protected:
  HealthProbeWiringTest()
      : ControllerTest({.backend_macs = false, .controller = true, .health_probes = true}) {}

  // Probes every second; one result decides.
  void SetUp() override {
    ASSERT_TRUE(h_.Change([](control::Model& m, const control::WorkflowContext&) {
                    control::HealthProbe probe;
                    probe.port = kBackendPort;
                    probe.interval_seconds = 1;
                    probe.timeout_seconds = 1;
                    probe.unhealthy_threshold = 1;
                    probe.healthy_threshold = 1;
                    m.services.MutableAt(kService).probe = probe;
                    return absl::OkStatus();
                  }).ok());
    StartUp();
    for (const Ipv4Be b : kBackends) h_.Inject(kProvider, BackendReply(b, BackendMac(b)));
    h_.Poll();
    h_.PollController();
    h_.TakeFromControl();
  }
  bool Healthy(Ipv4Be backend) {
    const control::ServiceId id = h_.control().model()->services.at(kService).id;
    for (const control::SnapshotBackend& b : h_.snapshot().Service(id)->backends) {
      if (b.ip == backend) return b.healthy;
    }
    return false;
  }
};

struct SentSegment {
  uint16_t port;
  ParsedPacket p;
  uint32_t seq;
  uint32_t ack;
};

std::vector<SentSegment> Segments(const std::vector<ControlFrame>& frames) {
  std::vector<SentSegment> out;
  for (const ControlFrame& f : frames) {
    const PacketView view(f.bytes.data(), f.bytes.size());
    const ParsedPacket p = ParsePacket(view);
    EXPECT_EQ(p.verdict, ParseVerdict::kTcp);
    EXPECT_TRUE(TcpChecksumIntact(view, p));
    out.push_back({f.port, p, view.LoadHost32(p.l4_offset + kTcpSeqOffset),
                   view.LoadHost32(p.l4_offset + kTcpAckOffset)});
  }
  return out;
}

TEST_F(HealthProbeWiringTest, ProbesLeaveFromTheNatIpAndTheirAnswersReachTheControlPlane) {
  h_.clock().Advance(1001);
  h_.PollController();
  const std::vector<SentSegment> syns = Segments(h_.TakeFromControl());
  ASSERT_EQ(syns.size(), kBackends.size()) << "one SYN per backend within an interval";
  for (const SentSegment& s : syns) {
    EXPECT_EQ(s.port, kProvider);
    EXPECT_EQ(s.p.tcp_flags, kTcpSyn);
    EXPECT_EQ(s.p.key.tuple.src_ip, kNatIps[0]);
    EXPECT_TRUE(nat::IsProbePort(s.p.key.tuple.src_port));
    EXPECT_EQ(s.p.key.tuple.dst_port, HostToBe16(kBackendPort));
    EXPECT_EQ(s.p.dst_mac, BackendMac(s.p.key.tuple.dst_ip)) << "through the resolved next hop";
    EXPECT_EQ(s.p.src_mac, kProviderMac);
  }
  // The first backend refuses, the second accepts: the answers come in through the worker.
  const SentSegment& refused = syns[0];
  const SentSegment& accepted = syns[1];
  const NatTuple refused_at{refused.p.key.tuple.src_ip, refused.p.key.tuple.src_port};
  const NatTuple accepted_at{accepted.p.key.tuple.src_ip, accepted.p.key.tuple.src_port};
  const Frame rst = BuildTcpFrame(
      FromBackend(refused.p.key.tuple.dst_ip, refused_at, kTcpRst | kTcpAck, 0, refused.seq + 1));
  h_.Inject(kProvider, rst);
  h_.Inject(kProvider, BuildTcpFrame(FromBackend(accepted.p.key.tuple.dst_ip, accepted_at,
                                                 kTcpSyn | kTcpAck, 9000, accepted.seq + 1)));
  h_.Poll();
  EXPECT_EQ(h_.ToControlCount(), 2u) << "passed on before the flow lookup";
  EXPECT_TRUE(h_.TakeSent(kProvider).empty());
  EXPECT_EQ(h_.TotalDrops(), 0u);
  h_.PollController();
  EXPECT_FALSE(Healthy(refused.p.key.tuple.dst_ip));
  EXPECT_TRUE(Healthy(accepted.p.key.tuple.dst_ip));
  // The accepted probe ends with a RST at the sequence after the SYN.
  const std::vector<SentSegment> after = Segments(h_.TakeFromControl());
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].p.tcp_flags, kTcpRst | kTcpAck);
  EXPECT_EQ(after[0].p.key.tuple, accepted.p.key.tuple);
  EXPECT_EQ(after[0].seq, accepted.seq + 1);
  EXPECT_EQ(after[0].ack, 9001u);

  // The same RST again answers no probe in progress: dropped by name.
  h_.Inject(kProvider, rst);
  h_.Poll();
  h_.PollController();
  EXPECT_EQ(Drops(DropReason::kProbeStray), 1u);
  EXPECT_EQ(h_.shared().health_probes, true);
}

}  // namespace
}  // namespace privlink::dataplane
