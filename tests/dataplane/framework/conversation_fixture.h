// A worker harness with conversations on it: a client opens (SYN) or establishes (the handshake)
// a flow through the real worker and the test reads back the backend and NAT tuple it got; each
// step checks the frames that leave byte for byte (tests/dataplane/framework/forward_frames.h).
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "nat/tcp_state.h"
#include "tests/dataplane/framework/forward_frames.h"

namespace privlink::dataplane::testing {

// ---- conversations ----

struct OpenedFlow {
  TcpFrameSpec syn;
  Ipv4Be backend = 0;
  NatTuple nat;
};

class ConversationFixture : public ::testing::Test {
 protected:
  void TearDown() override { DrainAndCheckNoLeak(h_); }

  // Sends a client SYN and checks it leaves on the provider port, translated, to its Maglev
  // backend; returns the flow's provider-side tuple.
  void Open(const Net& net, uint16_t client_port, OpenedFlow* flow, uint32_t isn = 1000) {
    flow->syn = FromClient(net, Tcp(kTcpSyn, isn, 0, 0, client_port));
    flow->backend = MaglevBackend(h_, net, flow->syn);
    h_.Inject(net.port, BuildTcpFrame(flow->syn));
    h_.Poll();
    const std::vector<Bytes> sent = h_.TakeSent(kProvider);
    ASSERT_EQ(sent.size(), 1u);
    flow->nat = ReadNat(sent[0]);
    EXPECT_TRUE(
        SameFrame(sent[0], BuildTcpFrame(TowardsBackend(flow->syn, flow->backend, flow->nat))));
  }

  // One packet in, exactly `want` out on `out_port` and nothing anywhere else.
  void ExpectRoute(uint16_t in_port, const TcpFrameSpec& in, uint16_t out_port,
                   const TcpFrameSpec& want) {
    ExpectRoute(in_port, BuildTcpFrame(in), out_port, BuildTcpFrame(want));
  }
  void ExpectRoute(uint16_t in_port, const Frame& in, uint16_t out_port, const Frame& want) {
    const uint64_t drops = h_.TotalDrops();
    h_.Inject(in_port, in);
    h_.Poll();
    for (uint16_t p = 0; p < kPortCount; ++p) {
      SCOPED_TRACE(::testing::Message() << "port " << p);
      const std::vector<Bytes> sent = h_.TakeSent(p);
      if (p != out_port) {
        EXPECT_TRUE(sent.empty());
        continue;
      }
      ASSERT_EQ(sent.size(), 1u);
      EXPECT_TRUE(SameFrame(sent[0], want));
    }
    EXPECT_EQ(h_.TotalDrops(), drops);
  }

  // SYN, SYN-ACK, ACK: the flow is established. Client ISN 1000, backend ISN 5000.
  void Establish(const Net& net, uint16_t client_port, OpenedFlow* flow) {
    ASSERT_NO_FATAL_FAILURE(Open(net, client_port, flow));
    const TcpFrameSpec syn_ack =
        FromBackend(flow->backend, flow->nat, kTcpSyn | kTcpAck, 5000, 1001);
    ASSERT_NO_FATAL_FAILURE(
        ExpectRoute(kProvider, syn_ack, net.port, TowardsClient(syn_ack, net, client_port)));
    const TcpFrameSpec ack = FromClient(net, Tcp(kTcpAck, 1001, 5001, 0, client_port));
    ASSERT_NO_FATAL_FAILURE(
        ExpectRoute(net.port, ack, kProvider, TowardsBackend(ack, flow->backend, flow->nat)));
  }

  // Data both ways on an open flow goes to the same backend and NAT tuple.
  void ExpectDataBothWays(const Net& net, uint16_t client_port, const OpenedFlow& flow,
                          uint32_t seq) {
    const TcpFrameSpec up = FromClient(net, Tcp(kTcpAck | kTcpPsh, seq, 5001, 100, client_port));
    ASSERT_NO_FATAL_FAILURE(
        ExpectRoute(net.port, up, kProvider, TowardsBackend(up, flow.backend, flow.nat)));
    const TcpFrameSpec down =
        FromBackend(flow.backend, flow.nat, kTcpAck | kTcpPsh, 5001, seq + 100, 200);
    ASSERT_NO_FATAL_FAILURE(
        ExpectRoute(kProvider, down, net.port, TowardsClient(down, net, client_port)));
  }

  nat::FlowKey ClientKey(const Net& net, uint16_t client_port) const {
    nat::FlowKey key;
    key.tuple.src_ip = kClientIp;
    key.tuple.dst_ip = kPeIp;
    key.tuple.src_port = HostToBe16(client_port);
    key.tuple.dst_port = HostToBe16(kFrontendPort);
    key.network = NetworkOf(h_, net);
    return key;
  }

  // Packets the endpoint at kPeIp in `net` carried in `dir`, as its counters say.
  uint64_t EndpointPackets(const Net& net, nat::FlowDirection dir) {
    const auto endpoint = h_.snapshot().endpoints_by_ip.at({NetworkOf(h_, net), kPeIp});
    return h_.worker().counters.endpoints[endpoint][dir].packets.Read();
  }

  WorkerHarness h_;
};

}  // namespace privlink::dataplane::testing
