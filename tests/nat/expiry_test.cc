// Incremental expiry with a virtual clock: every timeout class, bounded work per call, and the
// NAT port returned exactly once.
#include "nat/expiry.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "nat/flow_setup.h"
#include "nat/translate.h"
#include "tests/nat/flow_test_util.h"
#include "tests/nat/packet_bytes.h"

namespace privlink::nat {
namespace {

constexpr FlowTimeouts kTimeouts{
    .embryonic_ms = 30'000, .established_ms = 240'000, .transitory_ms = 60'000, .reset_ms = 10'000};

struct Harness {
  std::unique_ptr<FlowTable> table = std::move(*FlowTable::Create({.capacity = 1024}));
  NatPortAllocator ports = std::move(*NatPortAllocator::Create({}));
  std::vector<Ipv4Be> nat_ips = {Ipv4(192, 168, 10, 200)};
  uint32_t released = 0;

  FlowId Open(uint16_t client_port, TimeMs now) {
    NewFlow r{.client_to_endpoint = FlowKey{Ipv4(10, 0, 0, 2), Ipv4(10, 0, 0, 100),
                                            HostToBe16(client_port), HostToBe16(80), 1},
              .backend_ip = Ipv4(192, 168, 10, 11),
              .backend_port = HostToBe16(8080),
              .nat_ips = nat_ips};
    return *CreateFlow(*table, ports, 0, r, now);
  }
  void Segment(FlowId id, FlowDirection dir, uint8_t flags, TimeMs now) {
    auto p = testing::MakeIpv4Tcp(0, 0, 0, 0, flags);
    TranslateOnFlow(table->entry(id), dir, {{p.ip(), p.tcp()}, flags, 54}, ToMs32(now));
  }
  uint32_t Expire(TimeMs now, uint32_t budget = 1024) {
    return ExpireFlows(*table, {.worker = 0, .now = ToMs32(now), .budget = budget},
                       ExpiryHooks{[](uint16_t) -> const FlowTimeouts& { return kTimeouts; },
                                   [&](FlowId, FlowEntry& e) {
                                     EXPECT_TRUE(ReleaseFlowPort(ports, e.binding, now).ok());
                                     ++released;
                                   }});
  }
  uint32_t PortsUsed(TimeMs now) { return ports.Usage(nat_ips[0], now).used; }
};

TEST(Expiry, EmbryonicFlowExpiresAfterEmbryonicTimeoutEvenWithRetransmits) {
  Harness h;
  const FlowId id = h.Open(40000, 0);
  for (TimeMs t = 1000; t < 60'000; t += 1000) {  // SYN and SYN-ACK retransmitted, never ACKed
    h.Segment(id, FlowDirection::kIn2Out, kTcpSyn, t);
    h.Segment(id, FlowDirection::kOut2In, kTcpSyn | kTcpAck, t);
    ASSERT_NE(h.table->entry(id).state(), FlowState::kEstablished);
  }
  EXPECT_EQ(h.Expire(59'000 + 29'999), 0u);
  EXPECT_EQ(h.Expire(59'000 + 30'000), 1u);
  EXPECT_EQ(h.table->Size(), 0u);
  EXPECT_EQ(h.PortsUsed(100'000), 0u);
  EXPECT_EQ(h.released, 1u);
}

TEST(Expiry, EstablishedSurvivesShortIdleAndExpiresAfterIdleTimeout) {
  Harness h;
  const FlowId id = h.Open(40000, 0);
  h.Segment(id, FlowDirection::kOut2In, kTcpSyn | kTcpAck, 10);
  h.Segment(id, FlowDirection::kIn2Out, kTcpAck, 20);
  ASSERT_EQ(h.table->entry(id).state(), FlowState::kEstablished);
  // Idle periods shorter than the timeout, with traffic in between.
  TimeMs t = 20;
  for (int i = 0; i < 5; ++i) {
    t += 239'000;
    EXPECT_EQ(h.Expire(t), 0u);
    h.Segment(id, FlowDirection::kIn2Out, kTcpAck, t);
  }
  EXPECT_EQ(h.Expire(t + 239'999), 0u);
  EXPECT_EQ(h.Expire(t + 240'000), 1u);
  EXPECT_EQ(h.released, 1u);
}

TEST(Expiry, ClosedAndResetFlowsLeaveWithinTheirTimeoutsAndPortsReturnOnce) {
  Harness h;
  const FlowId fin = h.Open(40000, 0);
  const FlowId rst = h.Open(40001, 0);
  for (FlowId id : {fin, rst}) {
    h.Segment(id, FlowDirection::kOut2In, kTcpSyn | kTcpAck, 1);
    h.Segment(id, FlowDirection::kIn2Out, kTcpAck, 2);
  }
  h.Segment(fin, FlowDirection::kIn2Out, kTcpFin | kTcpAck, 100);
  h.Segment(fin, FlowDirection::kOut2In, kTcpFin | kTcpAck, 110);
  EXPECT_EQ(h.table->entry(fin).state(), FlowState::kClosing);
  h.Segment(rst, FlowDirection::kOut2In, kTcpRst, 100);
  EXPECT_EQ(h.table->entry(rst).state(), FlowState::kReset);
  EXPECT_EQ(h.PortsUsed(100), 2u);
  EXPECT_EQ(h.Expire(100 + 10'000), 1u) << "the reset flow goes first";
  EXPECT_EQ(h.Expire(110 + 60'000), 1u);
  EXPECT_EQ(h.released, 2u);
  EXPECT_EQ(h.PortsUsed(200'000), 0u);
  EXPECT_EQ(h.Expire(1'000'000), 0u) << "nothing is expired twice";
  // The client reuses its source port right after: a new flow gets through.
  h.table->Reclaim(0);
  EXPECT_NE(h.Open(40000, 200'000), kInvalidFlowId);
}

TEST(Expiry, WorkPerCallIsBounded) {
  Harness h;
  for (uint16_t p = 0; p < 100; ++p) h.Open(static_cast<uint16_t>(30000 + p), 0);
  uint32_t total = 0, calls = 0;
  while (h.table->Size() > 0 && calls < 100) {
    const uint32_t n = h.Expire(31'000, /*budget=*/16);
    EXPECT_LE(n, 16u);
    total += n;
    ++calls;
  }
  EXPECT_EQ(total, 100u);
  EXPECT_GE(calls, 7u);
}

}  // namespace
}  // namespace privlink::nat
