// The worker's packet path, one packet at a time (Katran style): a table of {description, port,
// input frame, expected frames per port, drop reason, control hand-off}, each case on a fresh
// single-worker dataplane (tests/dataplane/worker_harness.h). Expected frames are compared byte
// for byte; a forwarded SYN's NAT tuple, chosen by the worker, is read back from the output and
// checked to be a NAT IP and a port of the range.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "dataplane/packet/drop_reason.h"
#include "tests/dataplane/framework/forward_frames.h"

namespace privlink::dataplane {
namespace {

using namespace privlink::dataplane::testing;

// ---- the table ----

struct Out {
  uint16_t port;
  Frame frame;
};

struct Case {
  std::string description;
  uint16_t port = kConsumer0;
  Frame input;
  std::optional<DropReason> drop;
  // The input (a client SYN) must leave on the provider port to its Maglev backend, translated.
  std::optional<TcpFrameSpec> forwarded;
  std::vector<Out> sent;    // exact frames
  bool to_control = false;  // the input, unchanged, on the control ring
};

Case Dropped(std::string description, uint16_t port, Frame input, DropReason reason) {
  return {.description = std::move(description),
          .port = port,
          .input = std::move(input),
          .drop = reason};
}
Case Forwarded(std::string description, uint16_t port, TcpFrameSpec spec) {
  Frame input = BuildTcpFrame(spec);
  return {.description = std::move(description),
          .port = port,
          .input = std::move(input),
          .forwarded = std::move(spec)};
}
Case ToControl(std::string description, uint16_t port, Frame input) {
  return {.description = std::move(description),
          .port = port,
          .input = std::move(input),
          .to_control = true};
}

std::vector<Case> PacketCases() {
  using R = DropReason;
  const Frame syn_a = BuildTcpFrame(FromClient(kNetA, Tcp(kTcpSyn, 1000, 0)));
  std::vector<Case> cases = {
      Forwarded("SYN to the approved PE in network a", kConsumer0,
                FromClient(kNetA, Tcp(kTcpSyn, 1000, 0))),
      Forwarded("SYN to the approved PE in network b (VLAN 20) leaves untagged", kConsumer1,
                FromClient(kNetB, Tcp(kTcpSyn, 1000, 0))),
      Forwarded("SYN with data and IPv4 options keeps both", kConsumer0, [] {
        TcpFrameSpec s = FromClient(kNetA, Tcp(kTcpSyn, 77, 0, 33, 40001));
        s.ip.options = {0x01, 0x01, 0x01, 0x00};
        return s;
      }()),
      Forwarded("SYN from another client port", kConsumer0,
                FromClient(kNetA, Tcp(kTcpSyn, 0xfffffff0, 0, 0, 65535))),

      Dropped("ACK with no flow", kConsumer0, BuildTcpFrame(FromClient(kNetA, Tcp(kTcpAck, 1, 1))),
              R::kNoFlowNotSyn),
      Dropped("data with no flow", kConsumer1,
              BuildTcpFrame(FromClient(kNetB, Tcp(kTcpAck | kTcpPsh, 1, 1, 100))), R::kNoFlowNotSyn),
      Dropped("SYN-ACK from a client", kConsumer0,
              BuildTcpFrame(FromClient(kNetA, Tcp(kTcpSyn | kTcpAck, 1, 1))), R::kNoFlowNotSyn),
      Dropped("RST with no flow", kConsumer0, BuildTcpFrame(FromClient(kNetA, Tcp(kTcpRst, 1, 0))),
              R::kNoFlowNotSyn),
      Dropped("SYN+FIN", kConsumer0, BuildTcpFrame(FromClient(kNetA, Tcp(kTcpSyn | kTcpFin, 1, 0))),
              R::kNoFlowNotSyn),
      Dropped("SYN to an IP with no PE", kConsumer0,
              BuildTcpFrame(FromClient(kNetA, Tcp(kTcpSyn, 1, 0), Ipv4(10, 0, 0, 99))),
              R::kNoEndpoint),
      Dropped("SYN to the PE on a port with no rule", kConsumer0,
              [] {
                TcpFrameSpec s = FromClient(kNetA, Tcp(kTcpSyn, 1, 0));
                s.tcp.dst_port = HostToBe16(81);
                return BuildTcpFrame(s);
              }(),
              R::kNoEndpoint),
      Dropped("SYN on consumer0 tagged with a VLAN no network uses", kConsumer0,
              [] {
                TcpFrameSpec s = FromClient(kNetA, Tcp(kTcpSyn, 1, 0));
                s.eth.vlans = {{.id = 30}};
                return BuildTcpFrame(s);
              }(),
              R::kUnknownNetwork),
      Dropped("untagged SYN on consumer1 (its network is on VLAN 20)", kConsumer1,
              [] {
                TcpFrameSpec s = FromClient(kNetB, Tcp(kTcpSyn, 1, 0));
                s.eth.vlans.clear();
                return BuildTcpFrame(s);
              }(),
              R::kUnknownNetwork),
      Dropped("SYN for consumer1's MAC arriving on consumer0", kConsumer0,
              [] {
                TcpFrameSpec s = FromClient(kNetA, Tcp(kTcpSyn, 1, 0));
                s.eth.dst = kConsumer1Mac;
                return BuildTcpFrame(s);
              }(),
              R::kEthDstNotOurs),
      Dropped("TCP to the broadcast MAC", kConsumer0,
              [] {
                TcpFrameSpec s = FromClient(kNetA, Tcp(kTcpSyn, 1, 0));
                s.eth.dst = kBroadcastMac;
                return BuildTcpFrame(s);
              }(),
              R::kEthDstNotOurs),
      Dropped("backend packet for another MAC", kProvider,
              [] {
                TcpFrameSpec s = FromBackend(kBackends[0], {kNatIps[0], HostToBe16(2000)}, kTcpAck,
                                             1, 1);
                s.eth.dst = kConsumer0Mac;
                return BuildTcpFrame(s);
              }(),
              R::kEthDstNotOurs),
      Dropped("frame cut inside the TCP header", kConsumer0, Frame(syn_a).Truncate(44),
              R::kTcpTruncated),
      Dropped("frame shorter than an Ethernet header", kConsumer0, Frame(syn_a).Truncate(10),
              R::kEthTruncated),
      Dropped("IPv6", kConsumer0, BuildIpv6Frame({.eth = {.dst = kConsumer0Mac}}), R::kIpv6),
      Dropped("UDP to the PE on a port with no UDP rule", kConsumer0,
              BuildUdpFrame({.eth = {.dst = kConsumer0Mac},
                             .ip = {.src = kClientIp, .dst = kPeIp},
                             .udp = {.dst_port = HostToBe16(54)}}),
              R::kNoEndpoint),
      Dropped("TCP SYN to the PE's UDP-only port", kConsumer0,
              [] {
                TcpFrameSpec s = FromClient(kNetA, Tcp(kTcpSyn, 1, 0));
                s.tcp.dst_port = HostToBe16(kDnsPort);
                return BuildTcpFrame(s);
              }(),
              R::kNoEndpoint),
      Dropped("ICMP echo", kConsumer0, BuildIcmpFrame({.eth = {.dst = kConsumer0Mac}}), R::kIcmp),
      Dropped("first fragment (MF)", kConsumer0,
              [] {
                TcpFrameSpec s = FromClient(kNetA, Tcp(kTcpSyn, 1, 0));
                s.ip.dont_fragment = false;
                s.ip.more_fragments = true;
                return BuildTcpFrame(s);
              }(),
              R::kIpv4Fragment),
      Dropped("later fragment (offset)", kConsumer0,
              [] {
                TcpFrameSpec s = FromClient(kNetA, Tcp(kTcpSyn, 1, 0));
                s.ip.dont_fragment = false;
                s.ip.fragment_offset = 185;
                return BuildTcpFrame(s);
              }(),
              R::kIpv4Fragment),
      Dropped("QinQ", kConsumer1,
              [] {
                TcpFrameSpec s = FromClient(kNetB, Tcp(kTcpSyn, 1, 0));
                s.eth.vlans.insert(s.eth.vlans.begin(), {.id = 5, .tpid = kEtherTypeQinQ});
                return BuildTcpFrame(s);
              }(),
              R::kVlanStacked),
      Dropped("UDP from a backend to a NAT IP and port with no flow", kProvider,
              BuildUdpFrame({.eth = {.dst = kProviderMac},
                             .ip = {.src = kBackends[0], .dst = kNatIps[0]},
                             .udp = {.src_port = HostToBe16(kDnsBackendPort),
                                     .dst_port = HostToBe16(2000)}}),
              R::kNatIpNoFlow),
      Dropped("backend ACK to a NAT IP and port with no flow", kProvider,
              BuildTcpFrame(FromBackend(kBackends[0], {kNatIps[0], HostToBe16(2000)}, kTcpAck, 1, 1)),
              R::kNatIpNoFlow),
      Dropped("backend SYN to a NAT IP (providers cannot open connections)", kProvider,
              BuildTcpFrame(FromBackend(kBackends[1], {kNatIps[1], HostToBe16(1024)}, kTcpSyn, 1, 0)),
              R::kNatIpNoFlow),
      Dropped("backend packet to the provider port's own address", kProvider,
              BuildTcpFrame(
                  FromBackend(kBackends[0], {kProviderAddress, HostToBe16(2000)}, kTcpAck, 1, 1)),
              R::kProviderDstNotNatIp),
      Dropped("backend packet to a client address", kProvider,
              BuildTcpFrame(FromBackend(kBackends[2], {kClientIp, HostToBe16(40000)}, kTcpAck, 1, 1)),
              R::kProviderDstNotNatIp),

      ToControl("ARP request on consumer0", kConsumer0, BuildArpFrame()),
      ToControl("ARP request on consumer1, VLAN 20", kConsumer1,
                BuildArpFrame({.eth = {.dst = kBroadcastMac, .vlans = {{.id = kNetworkBVlan}}}})),
      ToControl("ARP reply on the provider port", kProvider,
                BuildArpFrame({.eth = {.dst = kProviderMac, .src = BackendMac(kBackends[0])},
                               .arp = {.op = kArpOpReply,
                                       .sender_mac = BackendMac(kBackends[0]),
                                       .sender_ip = kBackends[0],
                                       .target_mac = kProviderMac,
                                       .target_ip = kProviderAddress}})),
  };

  // A SYN to a Pending PE is refused at once: RST|ACK to the client on the same port and VLAN
  // (the tag, priority included, is the one the SYN came with), nothing to the provider.
  for (const Net* net : {&kNetA, &kNetB}) {
    TcpFrameSpec syn = FromClient(*net, Tcp(kTcpSyn, 5555, 0, 0, 40002), kPendingPeIp);
    if (net->vlan != 0) syn.eth.vlans[0].priority = 3;
    Case c = Dropped(std::string("SYN to the Pending PE on ") + net->port_name, net->port,
                     BuildTcpFrame(syn), R::kEndpointNotApproved);
    c.sent.push_back({net->port, BuildTcpFrame(Reset(EthTo(*net, kClientMac, net->mac, 3),
                                                     kPendingPeIp, kFrontendPort, kClientIp, 40002,
                                                     0, 5556, kTcpRst | kTcpAck))});
    cases.push_back(std::move(c));
  }
  return cases;
}

void RunCase(const Case& c) {
  WorkerHarness h;
  h.Inject(c.port, c.input);
  ASSERT_EQ(h.Poll(), 1u);

  if (c.drop) {
    EXPECT_EQ(h.DropCount(*c.drop), 1u) << "want " << DropReasonName(*c.drop);
    EXPECT_EQ(h.TotalDrops(), 1u);
  } else {
    EXPECT_EQ(h.TotalDrops(), 0u);
  }

  for (uint16_t port = 0; port < kPortCount; ++port) {
    SCOPED_TRACE(::testing::Message() << "port " << port);
    const std::vector<Bytes> got = h.TakeSent(port);
    std::vector<Frame> want;
    for (const Out& o : c.sent) {
      if (o.port == port) want.push_back(o.frame);
    }
    const bool forwarded_here = c.forwarded && port == kProvider;
    ASSERT_EQ(got.size(), want.size() + (forwarded_here ? 1 : 0));
    if (forwarded_here) {
      const Net& net = c.port == kConsumer1 ? kNetB : kNetA;
      const Ipv4Be backend = MaglevBackend(h, net, *c.forwarded);
      want.push_back(BuildTcpFrame(TowardsBackend(*c.forwarded, backend, ReadNat(got.back()))));
      EXPECT_TRUE(want.back().Ipv4ChecksumOk() && want.back().L4ChecksumOk());
    }
    for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(SameFrame(got[i], want[i]));
  }

  const std::vector<ControlFrame> control = h.TakeToControl();
  if (c.to_control) {
    ASSERT_EQ(control.size(), 1u);
    EXPECT_EQ(control[0].port, c.port);
    EXPECT_EQ(control[0].bytes, c.input.bytes);
  } else {
    EXPECT_TRUE(control.empty());
  }
  EXPECT_EQ(h.worker().counters.flows_created.Read(), c.forwarded ? 1u : 0u);
  DrainAndCheckNoLeak(h);
}

TEST(ForwardTableTest, EachPacketHasItsOutcome) {
  for (const Case& c : PacketCases()) {
    SCOPED_TRACE(c.description);
    RunCase(c);  // a failed ASSERT ends this case only
  }
}

}  // namespace
}  // namespace privlink::dataplane
