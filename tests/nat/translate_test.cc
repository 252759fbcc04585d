// A consumer SYN becomes a flow; packets both ways are translated through it.
#include "nat/translate.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "nat/flow_setup.h"
#include "tests/nat/packet_bytes.h"

namespace privlink::nat {
namespace {

using testing::MakeIpv4Tcp;

const Ipv4Be kClient = Ipv4(10, 0, 0, 2);
const Ipv4Be kPe = Ipv4(10, 0, 0, 100);
const Ipv4Be kBackend = Ipv4(192, 168, 10, 11);
const std::vector<Ipv4Be> kNatIps = {Ipv4(192, 168, 10, 200), Ipv4(192, 168, 10, 201)};
const PortBe kClientPort = HostToBe16(40000);
const PortBe kFrontend = HostToBe16(80);
const PortBe kBackendPort = HostToBe16(8080);

class TranslateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    table_ = std::move(*FlowTable::Create({.capacity = 64}));
    ports_ = std::make_unique<NatPortAllocator>(std::move(*NatPortAllocator::Create({})));
  }
  NewFlow Request(NetworkId network = 1, PortBe client_port = kClientPort) const {
    static const uint8_t mac[6] = {2, 0, 0, 0, 0, 2};
    return NewFlow{.client_to_endpoint = FlowKey{kClient, kPe, client_port, kFrontend, network},
                   .backend_ip = kBackend,
                   .backend_port = kBackendPort,
                   .nat_ips = kNatIps,
                   .service_id = 3,
                   .endpoint_id = 9,
                   .client_mac = mac};
  }
  std::unique_ptr<FlowTable> table_;
  std::unique_ptr<NatPortAllocator> ports_;
};

TEST_F(TranslateTest, SynCreatesFlowAndBothDirectionsTranslate) {
  auto id = CreateFlow(*table_, *ports_, 0, Request(), 1000);
  ASSERT_TRUE(id.ok()) << SetupFailureName(id.failure);
  FlowEntry& flow = table_->entry(*id);
  const FlowKey& rev = flow.binding.rev;
  EXPECT_EQ(rev.tuple.src_ip, kBackend);
  EXPECT_EQ(rev.tuple.src_port, kBackendPort);
  EXPECT_TRUE(rev.tuple.dst_ip == kNatIps[0] || rev.tuple.dst_ip == kNatIps[1]);
  EXPECT_GE(Be16ToHost(rev.tuple.dst_port), 1024);
  EXPECT_EQ(flow.binding.client_mac[5], 2);

  // Consumer -> provider: the SYN leaves as NAT ip:port -> backend:8080.
  auto syn = MakeIpv4Tcp(kClient, kClientPort, kPe, kFrontend, kTcpSyn);
  FlowRef hit = table_->Lookup(flow.binding.fwd);
  ASSERT_EQ(hit.dir, FlowDirection::kIn2Out);
  TranslateOnFlow(flow, hit.dir, {{syn.ip(), syn.tcp()}, kTcpSyn, 54}, 1001);
  EXPECT_EQ(syn.src(), rev.tuple.dst_ip);
  EXPECT_EQ(syn.sport(), rev.tuple.dst_port);
  EXPECT_EQ(syn.dst(), kBackend);
  EXPECT_EQ(syn.dport(), kBackendPort);
  EXPECT_TRUE(syn.Ipv4ChecksumOk());
  EXPECT_TRUE(syn.TcpChecksumOk());

  // Provider -> consumer: the SYN-ACK comes back as PE:80 -> client.
  auto synack = MakeIpv4Tcp(kBackend, kBackendPort, rev.tuple.dst_ip, rev.tuple.dst_port,
                            kTcpSyn | kTcpAck, 100);
  const FlowKey back{kBackend, rev.tuple.dst_ip, kBackendPort, rev.tuple.dst_port,
                     kProviderNetwork};
  hit = table_->Lookup(back);
  ASSERT_TRUE(hit.found());
  ASSERT_EQ(hit.dir, FlowDirection::kOut2In);
  TranslateOnFlow(flow, hit.dir, {{synack.ip(), synack.tcp()}, kTcpSyn | kTcpAck, 154}, 1002);
  EXPECT_EQ(synack.src(), kPe);
  EXPECT_EQ(synack.sport(), kFrontend);
  EXPECT_EQ(synack.dst(), kClient);
  EXPECT_EQ(synack.dport(), kClientPort);
  EXPECT_TRUE(synack.Ipv4ChecksumOk());
  EXPECT_TRUE(synack.TcpChecksumOk());

  // The client's ACK completes the handshake.
  auto ack = MakeIpv4Tcp(kClient, kClientPort, kPe, kFrontend, kTcpAck, 11);
  TranslateOnFlow(flow, FlowDirection::kIn2Out, {{ack.ip(), ack.tcp()}, kTcpAck, 65}, 1003);
  EXPECT_TRUE(ack.TcpChecksumOk());
  EXPECT_EQ(flow.state(), FlowState::kEstablished);
  EXPECT_EQ(flow.counter(FlowDirection::kIn2Out).packets.load(), 2u);
  EXPECT_EQ(flow.counter(FlowDirection::kIn2Out).bytes.load(), 54u + 65u);
  EXPECT_EQ(flow.counter(FlowDirection::kOut2In).bytes.load(), 154u);
  EXPECT_EQ(flow.last_seen_ms.load(), 1003u);
}

TEST_F(TranslateTest, OffloadModeLeavesPseudoHeaderChecksum) {
  auto id = CreateFlow(*table_, *ports_, 0, Request(), 0);
  ASSERT_TRUE(id.ok());
  FlowEntry& flow = table_->entry(*id);
  auto p = MakeIpv4Tcp(kClient, kClientPort, kPe, kFrontend, kTcpAck, 30);
  TranslateOnFlow<ChecksumMode::kOffload>(flow, FlowDirection::kIn2Out,
                                          {{p.ip(), p.tcp()}, kTcpAck, 84}, 0);
  EXPECT_EQ(p.ip()[10], 0);
  EXPECT_EQ(p.ip()[11], 0);
  uint16_t stored;
  std::memcpy(&stored, p.tcp() + 16, 2);
  EXPECT_EQ(stored, TcpPseudoHeaderChecksum(p.src(), p.dst(), 50));
}

TEST_F(TranslateTest, IdenticalTuplesInTwoNetworksGetDifferentNatTuples) {
  auto a = CreateFlow(*table_, *ports_, 0, Request(/*network=*/1), 0);
  auto b = CreateFlow(*table_, *ports_, 0, Request(/*network=*/2), 0);
  ASSERT_TRUE(a.ok() && b.ok());
  const FlowKey& ra = table_->entry(*a).binding.rev;
  const FlowKey& rb = table_->entry(*b).binding.rev;
  EXPECT_FALSE(ra.tuple.dst_ip == rb.tuple.dst_ip && ra.tuple.dst_port == rb.tuple.dst_port);
}

TEST_F(TranslateTest, FailedInsertReturnsThePort) {
  ASSERT_TRUE(CreateFlow(*table_, *ports_, 0, Request(), 0).ok());
  const uint32_t used = ports_->Usage(kNatIps[0], 0).used + ports_->Usage(kNatIps[1], 0).used;
  EXPECT_EQ(used, 1u);
  auto dup = CreateFlow(*table_, *ports_, 0, Request(), 0);  // same client tuple again
  EXPECT_EQ(dup.failure, SetupFailure::kFlowKeyExists);
  EXPECT_EQ(ports_->Usage(kNatIps[0], 0).used + ports_->Usage(kNatIps[1], 0).used, 1u);
  // The refused flow's port never carried a packet: free at once, not quarantined (a SYN flood
  // against a full table would otherwise park every port).
  EXPECT_EQ(ports_->Usage(kNatIps[0], 0).quarantined + ports_->Usage(kNatIps[1], 0).quarantined,
            0u);
}

TEST_F(TranslateTest, ReleasingAFlowPortHappensOnce) {
  auto id = CreateFlow(*table_, *ports_, 0, Request(), 0);
  ASSERT_TRUE(id.ok());
  const FlowBinding b = table_->entry(*id).binding;
  EXPECT_TRUE(ReleaseFlowPort(*ports_, b, 10).ok());
  EXPECT_FALSE(ReleaseFlowPort(*ports_, b, 11).ok());
  EXPECT_EQ(ports_->Usage(b.rev.tuple.dst_ip, 12).used, 0u);
  EXPECT_EQ(ports_->Usage(b.rev.tuple.dst_ip, 12).quarantined, 1u);
}

// Each step reports its own failure, named as the drop reason the dataplane counts it under.
TEST_F(TranslateTest, EachSetupFailureIsReportedUnderItsOwnName) {
  NewFlow no_nat_ip = Request();
  no_nat_ip.nat_ips = {};
  EXPECT_EQ(CreateFlow(*table_, *ports_, 0, no_nat_ip, 0).failure, SetupFailure::kNatIpsInvalid);
  EXPECT_EQ(SetupFailureName(SetupFailure::kNatIpsInvalid), "nat_ips_invalid");

  // One port per NAT IP and backend: the third connection finds both NAT IPs' ports in use.
  auto one_port = NatPortAllocator::Create({.first_port = 2000, .last_port = 2000});
  ASSERT_TRUE(one_port.ok());
  ASSERT_TRUE(CreateFlow(*table_, *one_port, 0, Request(1, HostToBe16(1)), 0).ok());
  ASSERT_TRUE(CreateFlow(*table_, *one_port, 0, Request(1, HostToBe16(2)), 0).ok());
  EXPECT_EQ(CreateFlow(*table_, *one_port, 0, Request(1, HostToBe16(3)), 0).failure,
            SetupFailure::kNatPortsExhausted);

  auto small = FlowTable::Create({.capacity = 1});
  ASSERT_TRUE(small.ok());
  ASSERT_TRUE(CreateFlow(**small, *ports_, 0, Request(1, HostToBe16(4)), 0).ok());
  const SetupOutcome<FlowId> full = CreateFlow(**small, *ports_, 0, Request(1, HostToBe16(5)), 0);
  EXPECT_EQ(full.failure, SetupFailure::kFlowTableFull);
  EXPECT_EQ(*full, kInvalidFlowId);
}

// The packet path hands flow setup the hash its lookup computed; the flow is then found by a
// lookup that hashes the key itself.
TEST_F(TranslateTest, FlowSetUpWithTheLookupsHashIsFoundAgain) {
  const FlowKey key{kClient, kPe, kClientPort, kFrontend, 1};
  NewFlow r = Request();
  r.client_to_endpoint = HashedFlowKey(key, HashFlowKey(key));
  auto id = CreateFlow(*table_, *ports_, 0, r, 0);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(table_->Lookup(key).id, *id);
  const FlowBinding& b = table_->entry(*id).binding;
  EXPECT_EQ(table_->Lookup(b.rev).id, *id);
}

// Each direction leaves with the other direction's tuple reversed, and the precomputed deltas
// are those of exactly that rewrite.
TEST_F(TranslateTest, TranslatedTupleIsTheOtherKeyReversed) {
  auto id = CreateFlow(*table_, *ports_, 0, Request(), 0);
  ASSERT_TRUE(id.ok());
  const FlowBinding& b = table_->entry(*id).binding;
  const Tuple in2out = b.TranslatedTuple(FlowDirection::kIn2Out);
  EXPECT_EQ(in2out.src_ip, b.rev.tuple.dst_ip);  // NAT ip:port -> backend
  EXPECT_EQ(in2out.src_port, b.rev.tuple.dst_port);
  EXPECT_EQ(in2out.dst_ip, kBackend);
  EXPECT_EQ(in2out.dst_port, kBackendPort);
  const Tuple out2in = b.TranslatedTuple(FlowDirection::kOut2In);
  EXPECT_EQ(
      out2in,
      (Tuple{.src_ip = kPe, .dst_ip = kClient, .src_port = kFrontend, .dst_port = kClientPort}));
  for (const FlowDirection d : {FlowDirection::kIn2Out, FlowDirection::kOut2In}) {
    EXPECT_EQ(b.Delta(d), ComputeRewriteDelta(b.key(d).tuple, b.TranslatedTuple(d)));
  }
}

}  // namespace
}  // namespace privlink::nat
