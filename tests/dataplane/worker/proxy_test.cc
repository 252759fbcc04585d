// enableProxyProtocol through the real worker (tests/dataplane/worker_harness.h): the client's ACK
// that completes the handshake makes privlink write the PROXY protocol v2 header (built here byte
// by byte from the spec, not by privlink's writer) at the start of the backend's stream; every
// later client sequence number is 36 higher at the backend, every acknowledgement and SACK block
// of the backend 36 lower at the client, the SYN-ACK's MSS 36 lower, and an ICMP error's quote
// is shifted back. A header the backend does not acknowledge is sent again. Frames are compared
// byte for byte, checksums included.
#include <gtest/gtest.h>

#include <vector>

#include "dataplane/packet/icmp.h"
#include "dataplane/worker/proxy_stream.h"
#include "nat/tcp_state.h"
#include "tests/dataplane/framework/conversation_fixture.h"

namespace privlink::dataplane {
namespace {

using namespace privlink::dataplane::testing;

constexpr uint32_t kShift = 36;

void AppendBe(Bytes& out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// PROXY v2 (haproxy's proxy-protocol.txt 2.2): signature, version 2 + PROXY, AF_INET + STREAM,
// the address block's length, source and destination address and port, then Azure's TLV 0xEE
// (length 5: subtype 0x01, the LinkID in little endian).
Bytes ExpectedHeader(uint16_t client_port, uint32_t link_id) {
  Bytes h = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11};
  AppendBe(h, 12 + 8, 2);
  AppendBe(h, Be32ToHost(kClientIp), 4);
  AppendBe(h, Be32ToHost(kPeIp), 4);
  AppendBe(h, client_port, 2);
  AppendBe(h, kFrontendPort, 2);
  h.insert(h.end(), {0xEE, 0x00, 0x05, 0x01});
  for (int i = 0; i < 4; ++i) h.push_back(static_cast<uint8_t>(link_id >> (8 * i)));
  return h;
}

class ProxyTest : public ConversationFixture {
 protected:
  void SetUp() override {
    ASSERT_TRUE(h_.Change([](control::Model& m, const control::WorkflowContext&) {
                    m.services.MutableAt(kService).enable_proxy_protocol = true;
                    return absl::OkStatus();
                  }).ok());
    link_id_ = h_.control().model()->endpoints.at(kEndpointA).link_id;
    ASSERT_NE(link_id_, 0u);
  }

  // The header segment privlink writes: from the NAT tuple, at the client's ISN + 1.
  TcpFrameSpec Header(const OpenedFlow& flow, uint16_t window, uint16_t client_port = kClientPort) {
    TcpFrameSpec s =
        Reset({.dst = BackendMac(flow.backend), .src = kProviderMac}, flow.nat.ip,
              Be16ToHost(flow.nat.port), flow.backend, kBackendPort, 1001, 5001, kTcpAck | kTcpPsh);
    s.tcp.window = window;
    s.tcp.payload = ExpectedHeader(client_port, link_id_);
    return s;
  }

  // SYN, SYN-ACK (its MSS 36 lower at the client), then the client's ACK: the header and the
  // ACK, shifted, leave for the backend in that order.
  void EstablishShifted(OpenedFlow* flow, uint16_t client_port = kClientPort) {
    ASSERT_NO_FATAL_FAILURE(Open(kNetA, client_port, flow));
    const TcpFrameSpec syn_ack =
        FromBackend(flow->backend, flow->nat, kTcpSyn | kTcpAck, 5000, 1001);
    TcpFrameSpec offered = TowardsClient(syn_ack, kNetA, client_port);
    offered.tcp.options = TcpOptions()
                              .Mss(1460 - kShift)
                              .SackPermitted()
                              .Timestamps(0x01020304, 0)
                              .Nop()
                              .WindowScale(7)
                              .Build();
    ASSERT_NO_FATAL_FAILURE(ExpectRoute(kProvider, syn_ack, kNetA.port, offered));
    const TcpFrameSpec ack = FromClient(kNetA, Tcp(kTcpAck, 1001, 5001, 0, client_port));
    h_.Inject(kNetA.port, BuildTcpFrame(ack));
    h_.Poll();
    const std::vector<Bytes> sent = h_.TakeSent(kProvider);
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_TRUE(SameFrame(sent[0], BuildTcpFrame(Header(*flow, ack.tcp.window, client_port))));
    EXPECT_TRUE(SameFrame(sent[1], BuildTcpFrame(Shifted(ack, *flow))));
  }

  // A client segment as the backend gets it: translated, its sequence number shifted.
  TcpFrameSpec Shifted(TcpFrameSpec s, const OpenedFlow& flow) const {
    s.tcp.seq += kShift;
    return TowardsBackend(std::move(s), flow.backend, flow.nat);
  }
  bool Pending(uint16_t client_port = kClientPort) {
    return h_.flows().entry(h_.flows().Lookup(ClientKey(kNetA, client_port)).id).proxy_pending();
  }

  uint32_t link_id_ = 0;
};

TEST_F(ProxyTest, TheHeaderStartsTheStreamAndEverythingAfterItShifts) {
  OpenedFlow flow;
  ASSERT_NO_FATAL_FAILURE(EstablishShifted(&flow));
  EXPECT_TRUE(Pending());
  EXPECT_EQ(h_.worker().counters.proxy_headers_sent.Read(), 1u);

  // The client's first 100 bytes land after the header.
  const TcpFrameSpec up = FromClient(kNetA, Tcp(kTcpAck | kTcpPsh, 1001, 5001, 100));
  ASSERT_NO_FATAL_FAILURE(ExpectRoute(kNetA.port, up, kProvider, Shifted(up, flow)));
  // The backend acknowledges the header alone: the client sees nothing of it.
  TcpFrameSpec header_acked = FromBackend(flow.backend, flow.nat, kTcpAck, 5001, 1001 + kShift);
  TcpFrameSpec seen = TowardsClient(header_acked, kNetA);
  seen.tcp.ack = 1001;
  ASSERT_NO_FATAL_FAILURE(ExpectRoute(kProvider, header_acked, kNetA.port, seen));
  EXPECT_FALSE(Pending()) << "the backend has all of the header";
  // Then the data, with 200 bytes of its own and a SACK block past a hole.
  TcpFrameSpec down =
      FromBackend(flow.backend, flow.nat, kTcpAck | kTcpPsh, 5001, 1101 + kShift, 200);
  down.tcp.options = TcpOptions().Nop().Nop().Sack({{1301 + kShift, 1401 + kShift}}).Build();
  TcpFrameSpec down_seen = TowardsClient(down, kNetA);
  down_seen.tcp.ack = 1101;
  down_seen.tcp.options = TcpOptions().Nop().Nop().Sack({{1301, 1401}}).Build();
  ASSERT_NO_FATAL_FAILURE(ExpectRoute(kProvider, down, kNetA.port, down_seen));
  // A client's RST is judged where it lands: exactly what the backend expects.
  const TcpFrameSpec rst = FromClient(kNetA, Tcp(kTcpRst, 1101, 0));
  ASSERT_NO_FATAL_FAILURE(ExpectRoute(kNetA.port, rst, kProvider, Shifted(rst, flow)));
  EXPECT_EQ(h_.DropCount(DropReason::kTcpRstOutOfWindow), 0u);
  EXPECT_EQ(h_.worker().counters.proxy_headers_resent.Read(), 0u);
}

TEST_F(ProxyTest, AHeaderTheBackendLostIsSentAgain) {
  OpenedFlow flow;
  ASSERT_NO_FATAL_FAILURE(EstablishShifted(&flow));
  // A duplicate ACK below the header: forwarded as it was, and the header goes again.
  const TcpFrameSpec dup = FromBackend(flow.backend, flow.nat, kTcpAck, 5001, 1001);
  h_.Inject(kProvider, BuildTcpFrame(dup));
  h_.Poll();
  std::vector<Bytes> to_client = h_.TakeSent(kNetA.port);
  ASSERT_EQ(to_client.size(), 1u);
  EXPECT_TRUE(SameFrame(to_client[0], BuildTcpFrame(TowardsClient(dup, kNetA))));
  std::vector<Bytes> again = h_.TakeSent(kProvider);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(SameFrame(again[0], BuildTcpFrame(Header(flow, kProxyResendWindow))));
  // Idle and still unacknowledged at the sweep's visit: again.
  h_.clock().Advance(kProxyResendIdleMs + nat::TimeMs{1000});
  for (int i = 0; i < 3; ++i) h_.Poll();
  again = h_.TakeSent(kProvider);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(SameFrame(again[0], BuildTcpFrame(Header(flow, kProxyResendWindow))));
  EXPECT_EQ(h_.worker().counters.proxy_headers_resent.Read(), 2u);
  // Acknowledged: no more.
  h_.Inject(kProvider,
            BuildTcpFrame(FromBackend(flow.backend, flow.nat, kTcpAck, 5001, 1001 + kShift)));
  h_.Poll();
  h_.TakeSent(kNetA.port);
  h_.clock().Advance(2000);
  for (int i = 0; i < 3; ++i) h_.Poll();
  EXPECT_TRUE(h_.TakeSent(kProvider).empty());
  EXPECT_EQ(h_.worker().counters.proxy_headers_resent.Read(), 2u);
}

TEST_F(ProxyTest, AnIcmpErrorsQuoteIsShiftedBack) {
  OpenedFlow flow;
  ASSERT_NO_FATAL_FAILURE(EstablishShifted(&flow));
  const TcpFrameSpec up = FromClient(kNetA, Tcp(kTcpAck | kTcpPsh, 1001, 5001, 1400));
  const size_t kLong = nat::kIpv4MinHeaderLen + kTcpMinHeaderLen + 8;  // TCP checksum included
  for (const size_t quote : {size_t{nat::kIpv4MinHeaderLen + kIcmpQuotedL4Min}, kLong}) {
    SCOPED_TRACE(quote);
    const Frame error =
        IcmpErrorFrame({.dst = kProviderMac, .src = BackendMac(flow.backend)},
                       Ipv4(192, 168, 10, 1), flow.nat.ip, kIcmpDestinationUnreachable,
                       kIcmpFragmentationNeeded, BuildTcpFrame(Shifted(up, flow)), quote);
    h_.Inject(kProvider, error);
    h_.Poll();
    const std::vector<Bytes> sent = h_.TakeSent(kNetA.port);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_TRUE(
        SameFrame(sent[0], IcmpErrorFrame(EthTo(kNetA, kClientMac, kNetA.mac), kPeIp, kClientIp,
                                          kIcmpDestinationUnreachable, kIcmpFragmentationNeeded,
                                          BuildTcpFrame(up), quote)));
  }
}

// A client that closes at once: its FIN rides on the ACK that completes the handshake. The
// header still goes first, and the FIN lands after it.
TEST_F(ProxyTest, AConnectionClosedAtOnceStillDeliversItsHeader) {
  OpenedFlow flow;
  ASSERT_NO_FATAL_FAILURE(Open(kNetA, kClientPort, &flow));
  h_.Inject(kProvider,
            BuildTcpFrame(FromBackend(flow.backend, flow.nat, kTcpSyn | kTcpAck, 5000, 1001)));
  h_.Poll();
  h_.TakeSent(kNetA.port);
  const TcpFrameSpec ack_fin = FromClient(kNetA, Tcp(kTcpAck | kTcpFin, 1001, 5001));
  h_.Inject(kNetA.port, BuildTcpFrame(ack_fin));
  h_.Poll();
  const std::vector<Bytes> sent = h_.TakeSent(kProvider);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_TRUE(SameFrame(sent[0], BuildTcpFrame(Header(flow, ack_fin.tcp.window))));
  EXPECT_TRUE(SameFrame(sent[1], BuildTcpFrame(Shifted(ack_fin, flow))));
}

TEST_F(ProxyTest, FlowsOfServicesWithoutTheFlagCarryNoHeader) {
  ASSERT_TRUE(h_.Change([](control::Model& m, const control::WorkflowContext&) {
                  m.services.MutableAt(kService).enable_proxy_protocol = false;
                  return absl::OkStatus();
                }).ok());
  OpenedFlow flow;
  ASSERT_NO_FATAL_FAILURE(Establish(kNetA, kClientPort, &flow));
  ASSERT_NO_FATAL_FAILURE(ExpectDataBothWays(kNetA, kClientPort, flow, 1001));
  EXPECT_EQ(h_.worker().counters.proxy_headers_sent.Read(), 0u);
}

}  // namespace
}  // namespace privlink::dataplane
