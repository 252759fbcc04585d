// ICMP errors about a flow (dataplane/worker/forward.cc ForwardIcmpError): a table of
// {description, the error as it arrives, what leaves (byte for byte) or the drop reason}, on one
// established flow. An error from the provider side (a router on the way to the backend, about a
// packet privlink sent it) reaches the client as an error about the client's own packet, from
// the PE; one from the consumer side reaches the backend about its own packet, from the NAT IP.
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "dataplane/packet/drop_reason.h"
#include "dataplane/packet/icmp.h"
#include "nat/tcp_state.h"
#include "tests/dataplane/framework/forward_frames.h"

namespace privlink::dataplane {
namespace {

using namespace privlink::dataplane::testing;
using nat::kTcpAck;
using nat::kTcpPsh;
using nat::kTcpSyn;

const Ipv4Be kProviderRouter = Ipv4(192, 168, 10, 1);
const Ipv4Be kConsumerRouter = Ipv4(10, 0, 0, 1);

class IcmpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const TcpFrameSpec syn = FromClient(kNetA, Tcp(kTcpSyn, 1000, 0));
    backend_ = MaglevBackend(h_, kNetA, syn);
    h_.Inject(kNetA.port, BuildTcpFrame(syn));
    h_.Poll();
    const std::vector<Bytes> sent = h_.TakeSent(kProvider);
    ASSERT_EQ(sent.size(), 1u);
    nat_ = ReadNat(sent[0]);
    h_.Inject(kProvider, BuildTcpFrame(FromBackend(backend_, nat_, kTcpSyn | kTcpAck, 5000, 1001)));
    h_.Inject(kNetA.port, BuildTcpFrame(FromClient(kNetA, Tcp(kTcpAck, 1001, 5001))));
    h_.Poll();
    h_.TakeSent(kProvider);
    h_.TakeSent(kNetA.port);
  }
  void TearDown() override { DrainAndCheckNoLeak(h_); }

  // A client segment as it left the client, and as privlink sent it to the backend.
  TcpFrameSpec ClientData() const {
    return FromClient(kNetA, Tcp(kTcpAck | kTcpPsh, 1001, 5001, 1400));
  }
  // A backend segment as it left the backend, and as privlink sent it to the client.
  TcpFrameSpec BackendData() const {
    return FromBackend(backend_, nat_, kTcpAck | kTcpPsh, 5001, 1001, 1400);
  }
  EthernetFields FromProviderRouter() const {
    return {.dst = kProviderMac, .src = BackendMac(backend_)};
  }

  WorkerHarness h_;
  Ipv4Be backend_ = 0;
  NatTuple nat_;
};

struct Case {
  const char* what;
  uint16_t in_port;
  Frame in;
  uint16_t out_port = 0;
  std::optional<Frame> out;  // nullopt: dropped under `drop`
  DropReason drop = DropReason::kCount;
};

TEST_F(IcmpTest, ErrorsAboutAFlowReachItsOtherEndOthersAreDroppedByName) {
  const Frame to_backend = BuildTcpFrame(TowardsBackend(ClientData(), backend_, nat_));
  const Frame client_own = BuildTcpFrame(ClientData());
  const Frame to_client = BuildTcpFrame(TowardsClient(BackendData(), kNetA));
  const Frame backend_own = BuildTcpFrame(BackendData());
  const size_t kShort = nat::kIpv4MinHeaderLen + kIcmpQuotedL4Min;     // RFC 792's 28 bytes
  const size_t kLong = nat::kIpv4MinHeaderLen + kTcpMinHeaderLen + 8;  // TCP checksum included
  const EthernetFields client_eth = EthTo(kNetA, kClientMac, kNetA.mac);
  const EthernetFields backend_eth{.dst = BackendMac(backend_), .src = kProviderMac};

  std::vector<Case> cases;
  for (const size_t quote : {kShort, kLong}) {
    cases.push_back(
        {"fragmentation needed from the provider side: to the client, about its own packet",
         kProvider,
         IcmpErrorFrame(FromProviderRouter(), kProviderRouter, nat_.ip, kIcmpDestinationUnreachable,
                        kIcmpFragmentationNeeded, to_backend, quote),
         kNetA.port,
         IcmpErrorFrame(client_eth, kPeIp, kClientIp, kIcmpDestinationUnreachable,
                        kIcmpFragmentationNeeded, client_own, quote)});
    cases.push_back(
        {"time exceeded from the consumer side: to the backend, about its own packet", kNetA.port,
         IcmpErrorFrame(EthTo(kNetA, kNetA.mac, kClientMac), kConsumerRouter, kPeIp,
                        kIcmpTimeExceeded, 0, to_client, quote),
         kProvider,
         IcmpErrorFrame(backend_eth, nat_.ip, backend_, kIcmpTimeExceeded, 0, backend_own, quote)});
  }
  TcpFrameSpec other = TowardsBackend(ClientData(), backend_, nat_);
  other.tcp.src_port = HostToBe16(static_cast<uint16_t>(Be16ToHost(nat_.port) + 1));
  const Frame other_flow = BuildTcpFrame(other);
  Frame bad_checksum = IcmpErrorFrame(FromProviderRouter(), kProviderRouter, nat_.ip,
                                      kIcmpDestinationUnreachable, 1, to_backend, kShort);
  bad_checksum.Set16(bad_checksum.l4_offset + kIcmpChecksumOffset,
                     static_cast<uint16_t>(bad_checksum.Get16(bad_checksum.l4_offset + 2) ^ 1));
  TcpFrameSpec udp_like = TowardsBackend(ClientData(), backend_, nat_);
  udp_like.ip.protocol = kIpProtoUdp;
  TcpFrameSpec gre_like = TowardsBackend(ClientData(), backend_, nat_);
  gre_like.ip.protocol = 47;
  const std::pair<const char*, std::pair<Frame, DropReason>> drops[] = {
      {"an echo request stays dropped",
       {BuildIcmpFrame(
            {.eth = FromProviderRouter(), .ip = {.src = kProviderRouter, .dst = nat_.ip}}),
        DropReason::kIcmp}},
      {"about a NAT port of no flow",
       {IcmpErrorFrame(FromProviderRouter(), kProviderRouter, nat_.ip, kIcmpDestinationUnreachable,
                       1, other_flow, kShort),
        DropReason::kIcmpNoFlow}},
      {"a quote of 4 TCP bytes",
       {IcmpErrorFrame(FromProviderRouter(), kProviderRouter, nat_.ip, kIcmpDestinationUnreachable,
                       1, to_backend, nat::kIpv4MinHeaderLen + 4),
        DropReason::kIcmpTruncated}},
      {"a wrong ICMP checksum", {bad_checksum, DropReason::kIcmpBadChecksum}},
      {"the TCP flow's tuple quoted as UDP (no UDP flow has it)",
       {IcmpErrorFrame(FromProviderRouter(), kProviderRouter, nat_.ip, kIcmpDestinationUnreachable,
                       3, BuildTcpFrame(udp_like), kShort),
        DropReason::kIcmpNoFlow}},
      {"a quote of a GRE packet",
       {IcmpErrorFrame(FromProviderRouter(), kProviderRouter, nat_.ip, kIcmpDestinationUnreachable,
                       3, BuildTcpFrame(gre_like), kShort),
        DropReason::kIcmpQuoteInvalid}},
      {"sent to another address than the quoted packet's source",
       {IcmpErrorFrame(FromProviderRouter(), kProviderRouter, backend_, kIcmpDestinationUnreachable,
                       1, to_backend, kShort),
        DropReason::kIcmpQuoteInvalid}},
      {"the client's own packet quoted from the provider side (no flow's provider key)",
       {IcmpErrorFrame(FromProviderRouter(), kProviderRouter, nat_.ip, kIcmpDestinationUnreachable,
                       1, client_own, kShort),
        DropReason::kIcmpNoFlow}},
  };
  for (const auto& [what, drop] : drops) {
    cases.push_back({what, kProvider, drop.first, 0, std::nullopt, drop.second});
  }

  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const uint64_t before = c.out ? 0 : h_.DropCount(c.drop);
    h_.Inject(c.in_port, c.in);
    h_.Poll();
    for (uint16_t p = 0; p < kPortCount; ++p) {
      const std::vector<Bytes> sent = h_.TakeSent(p);
      if (!c.out || p != c.out_port) {
        EXPECT_TRUE(sent.empty()) << "port " << p;
        continue;
      }
      ASSERT_EQ(sent.size(), 1u);
      EXPECT_TRUE(SameFrame(sent[0], *c.out));
    }
    if (!c.out) EXPECT_EQ(h_.DropCount(c.drop), before + 1);
  }
  EXPECT_EQ(h_.worker().counters.icmp_errors_translated[0].Read(), 2u);
  EXPECT_EQ(h_.worker().counters.icmp_errors_translated[1].Read(), 2u);
  EXPECT_EQ(h_.flows().Size(), 1u) << "an ICMP error creates no flow";
}

TEST_F(IcmpTest, ErrorsAreRateLimitedPerService) {
  const Frame error = IcmpErrorFrame(
      FromProviderRouter(), kProviderRouter, nat_.ip, kIcmpDestinationUnreachable,
      kIcmpFragmentationNeeded, BuildTcpFrame(TowardsBackend(ClientData(), backend_, nat_)), 28);
  for (uint32_t i = 0; i < kIcmpErrorsPerSecond + 50; ++i) {
    h_.Inject(kProvider, error);
    if (i % 16 == 15) h_.Poll();
  }
  h_.Poll();
  EXPECT_EQ(h_.TakeSent(kNetA.port).size(), kIcmpErrorsPerSecond);
  EXPECT_EQ(h_.DropCount(DropReason::kIcmpRateLimited), 50u);
  h_.clock().Advance(1000);  // a second later the bucket is full again
  h_.Inject(kProvider, error);
  h_.Poll();
  EXPECT_EQ(h_.TakeSent(kNetA.port).size(), 1u);
}

}  // namespace
}  // namespace privlink::dataplane
