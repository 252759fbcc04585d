// Packet fixtures on the worker harness (tests/dataplane/worker_harness.h) for what the forward
// tables (forward_table_test.cc, forward_test.cc) leave out: the TCP state each way of closing
// leaves and the exact timeout it gets, odd handshakes (retransmitted SYN, simultaneous open,
// client port reuse), TCP options, frames truncated at every length, malformed IPv4 and TCP
// headers, Ethernet padding, and checksum errors carried through translation.
//
// Every frame the worker sends is checked as it is taken (FixtureHarness::Sent): its IPv4 and TCP
// checksums by the RFC 1071 reference (tests/nat/reference_checksum.h), and its addresses, which
// must be the translated ones on either side. All of them are also written to a pcap that the last
// test hands to scapy (check_checksums.py), a reader independent of both privlink and the builder.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "dataplane/packet/drop_reason.h"
#include "dataplane/packet/parse.h"
#include "nat/tcp_state.h"
#include "tests/dataplane/framework/checksum_residuals.h"
#include "tests/dataplane/framework/fixture_harness.h"
#include "tests/dataplane/framework/forward_frames.h"

namespace privlink::dataplane {
namespace {

using namespace privlink::dataplane::testing;
using nat::FlowState;

absl::Status SetIdleTimeoutMinutes(WorkerHarness& h, uint32_t minutes) {
  return h.Change([minutes](control::Model& m, const control::WorkflowContext&) {
    m.services.MutableAt(kService).idle_timeout_minutes = minutes;
    return absl::OkStatus();
  });
}

// ---- closing: the state each way leaves and its timeout ----

struct CloseCase {
  const char* description;
  std::vector<Segment> segments;  // after the handshake
  FlowState state;
  uint32_t nat::FlowTimeouts::*timeout;
};

TEST(FixtureCloseTest, EachWayOfClosingLeavesItsStateAndExpiresAtItsTimeout) {
  using T = nat::FlowTimeouts;
  constexpr uint8_t kFinAck = kTcpFin | kTcpAck;
  const std::vector<CloseCase> cases = {
      {"idle established flow", {}, FlowState::kEstablished, &T::established_ms},
      {"FIN from the client",
       {{true, kFinAck, 1001, 5001}},
       FlowState::kFinFromClient,
       &T::transitory_ms},
      {"FIN from the backend",
       {{false, kFinAck, 5001, 1001}},
       FlowState::kFinFromServer,
       &T::transitory_ms},
      {"FIN from both, client first, last ACK",
       {{true, kFinAck, 1001, 5001}, {false, kFinAck, 5001, 1002}, {true, kTcpAck, 1002, 5002}},
       FlowState::kClosing,
       &T::transitory_ms},
      {"FIN from both, backend first, last ACK",
       {{false, kFinAck, 5001, 1001}, {true, kFinAck, 1001, 5002}, {false, kTcpAck, 5002, 1002}},
       FlowState::kClosing,
       &T::transitory_ms},
      {"RST from the client", {{true, kTcpRst, 1001, 0}}, FlowState::kReset, &T::reset_ms},
      {"RST from the backend",
       {{false, kTcpRst | kTcpAck, 5001, 1001}},
       FlowState::kReset,
       &T::reset_ms},
      {"RST after the client's FIN",
       {{true, kFinAck, 1001, 5001}, {false, kTcpRst, 5001, 0}},
       FlowState::kReset,
       &T::reset_ms},
  };
  for (const CloseCase& c : cases) {
    for (const Net* net : {&kNetA, &kNetB}) {
      SCOPED_TRACE(::testing::Message() << c.description << " in " << net->port_name);
      FixtureHarness fx;
      // An idle timeout unlike the transitory one, so the two cannot be mistaken.
      ASSERT_TRUE(SetIdleTimeoutMinutes(fx.h, 30).ok());
      ASSERT_NE(fx.Timeouts().established_ms, fx.Timeouts().transitory_ms);
      const Flow f = fx.Establish(*net);
      fx.Play(f, c.segments);
      EXPECT_EQ(fx.StateOf(f), c.state);
      ASSERT_NO_FATAL_FAILURE(fx.ExpectExpiresAfter(f, fx.Timeouts().*c.timeout));

      // Gone from both sides: late packets are dropped, nothing is sent.
      fx.h.Inject(kProvider, BuildTcpFrame(FromBackend(f.backend, f.nat, kTcpAck, 5002, 1002)));
      fx.h.Inject(net->port, BuildTcpFrame(FromClient(*net, Tcp(kTcpAck, 1002, 5002))));
      fx.h.Poll();
      EXPECT_EQ(fx.h.DropCount(DropReason::kNatIpNoFlow), 1u);
      EXPECT_EQ(fx.h.DropCount(DropReason::kNoFlowNotSyn), 1u);
      for (uint16_t p = 0; p < kPortCount; ++p) EXPECT_TRUE(fx.Sent(p).empty());
    }
  }
}

// ---- odd handshakes ----

// A SYN retransmitted after the first was forwarded hits the flow: same backend, same NAT tuple,
// and the embryonic timeout starts again from it.
TEST(FixtureHandshakeTest, RetransmittedSynKeepsItsFlowAndNatTuple) {
  FixtureHarness fx;
  const TcpFrameSpec syn = FromClient(kNetA, Tcp(kTcpSyn, 1000, 0));
  const Flow f = fx.Open(kNetA, kClientPort, syn);
  fx.h.clock().Advance(3000);
  fx.Up(f, syn);
  EXPECT_EQ(fx.h.flows().Size(), 1u);
  EXPECT_EQ(fx.h.worker().counters.flows_created.Read(), 1u);
  EXPECT_EQ(fx.StateOf(f), FlowState::kSynSent);
  fx.ExpectExpiresAfter(f, fx.Timeouts().embryonic_ms);
}

// Simultaneous open (RFC 9293 3.5): the backend's bare SYN crosses the client's. privlink
// forwards every segment of it on the one flow; the backend's SYN moves it to SYN_RECEIVED, the
// SYN-ACKs change nothing, and only the client's ACK establishes it (so until then the flow has
// the embryonic timeout).
TEST(FixtureHandshakeTest, SimultaneousOpenIsForwardedAndEstablishedByTheClientsAck) {
  FixtureHarness fx;
  const Flow f = fx.Open(kNetB, kClientPort);
  fx.Down(f, FromBackend(f.backend, f.nat, kTcpSyn, 5000, 0));
  EXPECT_EQ(fx.StateOf(f), FlowState::kSynReceived);
  fx.Up(f, FromClient(kNetB, Tcp(kTcpSyn | kTcpAck, 1000, 5001)));
  EXPECT_EQ(fx.StateOf(f), FlowState::kSynReceived);
  fx.Down(f, FromBackend(f.backend, f.nat, kTcpSyn | kTcpAck, 5000, 1001));
  EXPECT_EQ(fx.StateOf(f), FlowState::kSynReceived);
  fx.Up(f, FromClient(kNetB, Tcp(kTcpAck | kTcpPsh, 1001, 5001, 20)));
  EXPECT_EQ(fx.StateOf(f), FlowState::kEstablished);
  EXPECT_EQ(fx.h.worker().counters.flows_created.Read(), 1u);
  EXPECT_EQ(fx.h.TotalDrops(), 0u);
}

// Both sides closed: the flow waits out the transitory timeout. Once it has expired, the same
// client port opens a new flow, on another NAT tuple: the old one is in quarantine for that
// backend (nat/port_alloc.h), so the backend, maybe still in TIME_WAIT, never sees it reused.
TEST(FixtureHandshakeTest, ClientPortReusedAfterExpiryOpensANewFlowOnAnotherNatTuple) {
  FixtureHarness fx;
  const Flow old = fx.Establish();
  fx.Up(old, FromClient(kNetA, Tcp(kTcpFin | kTcpAck, 1001, 5001)));
  fx.Down(old, FromBackend(old.backend, old.nat, kTcpFin | kTcpAck, 5001, 1002));
  fx.ExpectExpiresAfter(old, fx.Timeouts().transitory_ms);

  const Flow again = fx.Open(kNetA, kClientPort, FromClient(kNetA, Tcp(kTcpSyn, 90000, 0)));
  EXPECT_EQ(fx.h.worker().counters.flows_created.Read(), 2u);
  EXPECT_EQ(fx.StateOf(again), FlowState::kSynSent);
  EXPECT_EQ(again.backend, old.backend);  // same key, same Maglev pick
  EXPECT_FALSE(again.nat.ip == old.nat.ip && again.nat.port == old.nat.port);
}

// A new SYN from the same client port before the old flow expired hits the old flow: it is
// forwarded on the same backend and NAT tuple. After both FINs or a RST it starts the flow over
// (SYN_SENT, then a normal handshake); after only the client's FIN it is a stray that changes
// nothing (the backend's half of the connection is still open).
TEST(FixtureHandshakeTest, ClientPortReusedBeforeExpiryReusesTheFlow) {
  struct ReuseCase {
    const char* description;
    std::vector<Segment> close;
    FlowState closed;
    FlowState after_syn;
  };
  const std::vector<ReuseCase> cases = {
      {"after FIN from both",
       {{true, kTcpFin | kTcpAck, 1001, 5001}, {false, kTcpFin | kTcpAck, 5001, 1002}},
       FlowState::kClosing,
       FlowState::kSynSent},
      {"after a RST", {{false, kTcpRst, 5001, 0}}, FlowState::kReset, FlowState::kSynSent},
      {"after the client's FIN only",
       {{true, kTcpFin | kTcpAck, 1001, 5001}},
       FlowState::kFinFromClient,
       FlowState::kFinFromClient},
  };
  for (const ReuseCase& c : cases) {
    SCOPED_TRACE(c.description);
    FixtureHarness fx;
    const Flow f = fx.Establish();
    fx.Play(f, c.close);
    EXPECT_EQ(fx.StateOf(f), c.closed);
    fx.h.clock().Advance(1000);
    fx.Up(f, FromClient(kNetA, Tcp(kTcpSyn, 70000, 0)));  // new ISN, same tuple
    EXPECT_EQ(fx.StateOf(f), c.after_syn);
    EXPECT_EQ(fx.h.worker().counters.flows_created.Read(), 1u);
    EXPECT_EQ(fx.h.flows().Size(), 1u);
    if (c.after_syn == FlowState::kSynSent) {
      fx.Down(f, FromBackend(f.backend, f.nat, kTcpSyn | kTcpAck, 8000, 70001));
      fx.Up(f, FromClient(kNetA, Tcp(kTcpAck, 70001, 8001)));
      EXPECT_EQ(fx.StateOf(f), FlowState::kEstablished);
    }
    EXPECT_EQ(fx.h.TotalDrops(), 0u);
  }
}

// ---- TCP options ----

// Options are never parsed or rewritten: MSS, SACK-permitted, SACK blocks, timestamps, window
// scale and an unknown option leave byte for byte as they came (SameFrame compares all bytes).
TEST(FixtureOptionsTest, TcpOptionsAreCarriedUnchangedBothWays) {
  FixtureHarness fx;
  const auto with_options = [](TcpFrameSpec s, std::vector<uint8_t> options) {
    s.tcp.options = std::move(options);
    return s;
  };
  const std::vector<uint8_t> syn_options = TcpOptions()
                                               .Mss(1460)
                                               .SackPermitted()
                                               .Timestamps(0xdeadbeef, 0)
                                               .Nop()
                                               .WindowScale(14)
                                               .Raw({254, 6, 0xf9, 0x89, 0x01, 0x02})
                                               .Build();
  ASSERT_LE(syn_options.size(), 40u);
  const Flow f = fx.Open(kNetB, kClientPort,
                         with_options(FromClient(kNetB, Tcp(kTcpSyn, 1000, 0)), syn_options));
  const std::vector<std::pair<TcpFrameSpec, bool>> segments = {
      {with_options(FromBackend(f.backend, f.nat, kTcpSyn | kTcpAck, 5000, 1001),
                    TcpOptions()
                        .Mss(536)
                        .Nop()
                        .Nop()
                        .SackPermitted()
                        .Nop()
                        .WindowScale(0)
                        .Timestamps(0x11223344, 0xdeadbeef)
                        .Build()),
       false},
      {with_options(FromClient(kNetB, Tcp(kTcpAck, 1001, 5001)),
                    TcpOptions().Nop().Nop().Timestamps(0xdeadbef0, 0x11223344).Build()),
       true},
      // Timestamps and three SACK blocks: the 40-byte maximum.
      {with_options(FromClient(kNetB, Tcp(kTcpAck | kTcpPsh, 1001, 5001, 64)),
                    TcpOptions()
                        .Nop()
                        .Nop()
                        .Timestamps(0xdeadbef1, 0x11223345)
                        .Nop()
                        .Nop()
                        .Sack({{5101, 5201}, {5301, 5401}, {0xfffffff0, 0x10}})
                        .Build()),
       true},
      // Four SACK blocks.
      {with_options(FromBackend(f.backend, f.nat, kTcpAck, 5001, 1001, 10),
                    TcpOptions()
                        .Nop()
                        .Nop()
                        .Sack({{1, 2}, {3, 4}, {5, 6}, {0x80000000, 0x80000001}})
                        .Build()),
       false},
  };
  for (const auto& [spec, up] : segments) {
    ASSERT_LE(spec.tcp.options.size(), 40u);
    if (up) {
      fx.Up(f, spec);
    } else {
      fx.Down(f, spec);
    }
  }
  EXPECT_EQ(fx.StateOf(f), FlowState::kEstablished);
}

// ---- malformed frames ----

// Whether `reason` is one the parser gives (drop_reasons.def lists them first).
bool IsParserReason(DropReason reason) {
  return static_cast<size_t>(reason) <= static_cast<size_t>(DropReason::kTcpBadChecksum);
}

// `frame` in on `port`: dropped under `want` (when given) and under the reason ParsePacket gives
// the same bytes; nothing sent, nothing for the control thread.
void ExpectParserDrop(FixtureHarness& fx, uint16_t port, const Frame& frame,
                      std::optional<DropReason> want) {
  const ParsedPacket parsed = ParsePacket(frame.bytes.data(), frame.size());
  ASSERT_EQ(parsed.verdict, ParseVerdict::kDrop);
  ASSERT_TRUE(IsParserReason(parsed.drop_reason)) << DropReasonName(parsed.drop_reason);
  if (want) {
    EXPECT_EQ(parsed.drop_reason, *want)
        << DropReasonName(parsed.drop_reason) << ", want " << DropReasonName(*want);
  }
  const uint64_t before = fx.h.DropCount(parsed.drop_reason);
  const uint64_t total = fx.h.TotalDrops();
  fx.h.Inject(port, frame);
  ASSERT_EQ(fx.h.Poll(), 1u);
  EXPECT_EQ(fx.h.DropCount(parsed.drop_reason), before + 1) << DropReasonName(parsed.drop_reason);
  EXPECT_EQ(fx.h.TotalDrops(), total + 1);
  for (uint16_t p = 0; p < kPortCount; ++p) EXPECT_TRUE(fx.Sent(p).empty());
  EXPECT_EQ(fx.h.ToControlCount(), 0u);
}

// A SYN without options, so the untagged frame is the shortest TCP frame (54 bytes), and 58 with
// network b's tag. Cut at every shorter length, it is dropped by the parser, which names the
// header it ends in; whole, it opens a flow.
TEST(FixtureMalformedTest, FramesCutAtEveryLengthAreDroppedWhereTheyEnd) {
  for (const Net* net : {&kNetA, &kNetB}) {
    SCOPED_TRACE(net->port_name);
    FixtureHarness fx;
    TcpFrameSpec spec = FromClient(*net, Tcp(kTcpSyn, 1000, 0));
    spec.tcp.options.clear();
    const Frame whole = BuildTcpFrame(spec);
    const size_t l3 = net->vlan != 0 ? kEthHeaderLen + kVlanTagLen : kEthHeaderLen;
    ASSERT_EQ(whole.size(), l3 + 40);
    for (size_t len = 0; len < whole.size(); ++len) {
      SCOPED_TRACE(::testing::Message() << "cut at " << len << " bytes");
      DropReason want = DropReason::kTcpTruncated;
      if (len < kEthHeaderLen) {
        want = DropReason::kEthTruncated;
      } else if (len < l3) {
        want = DropReason::kVlanTruncated;
      } else if (len < l3 + nat::kIpv4MinHeaderLen) {
        want = DropReason::kIpv4Truncated;
      }
      ASSERT_NO_FATAL_FAILURE(ExpectParserDrop(fx, net->port, Frame(whole).Truncate(len), want));
    }
    const Flow f = fx.Open(*net, kClientPort, spec);
    EXPECT_EQ(fx.StateOf(f), FlowState::kSynSent);
  }
}

TEST(FixtureMalformedTest, BadHeaderLengthsAreDroppedWithTheirReason) {
  using R = DropReason;
  // The untagged 54-byte SYN of the test above, with one field changed (checksums recomputed).
  const auto syn = [](auto&& change) {
    TcpFrameSpec s = FromClient(kNetA, Tcp(kTcpSyn, 1000, 0));
    s.tcp.options.clear();
    change(s);
    return BuildTcpFrame(s);
  };
  struct MalformedCase {
    const char* description;
    Frame frame;
    R reason;
  };
  const std::vector<MalformedCase> cases = {
      {"IHL 0", syn([](TcpFrameSpec& s) { s.ip.ihl = 0; }), R::kIpv4IhlTooSmall},
      {"IHL 4", syn([](TcpFrameSpec& s) { s.ip.ihl = 4; }), R::kIpv4IhlTooSmall},
      {"IHL 15, past the frame", syn([](TcpFrameSpec& s) { s.ip.ihl = 15; }), R::kIpv4IhlPastFrame},
      {"IHL 11, one byte past the frame", syn([](TcpFrameSpec& s) { s.ip.ihl = 11; }).Pad(3),
       R::kIpv4IhlPastFrame},
      // IHL 6 on a header without options: the 'options' are the TCP ports.
      {"IHL 6, TCP header then past the frame", syn([](TcpFrameSpec& s) { s.ip.ihl = 6; }),
       R::kTcpTruncated},
      {"IHL 6, TCP header in the padding", syn([](TcpFrameSpec& s) { s.ip.ihl = 6; }).Pad(4),
       R::kIpv4TotalLengthTooShort},
      {"TCP data offset 0", syn([](TcpFrameSpec& s) { s.tcp.data_offset = 0; }),
       R::kTcpDataOffsetTooSmall},
      {"TCP data offset 4", syn([](TcpFrameSpec& s) { s.tcp.data_offset = 4; }),
       R::kTcpDataOffsetTooSmall},
      {"TCP data offset 6, past the segment", syn([](TcpFrameSpec& s) { s.tcp.data_offset = 6; }),
       R::kTcpDataOffsetPastSegment},
      {"TCP data offset 15, past the segment", syn([](TcpFrameSpec& s) { s.tcp.data_offset = 15; }),
       R::kTcpDataOffsetPastSegment},
      {"TCP data offset reaching into Ethernet padding only",
       syn([](TcpFrameSpec& s) { s.tcp.data_offset = 8; }).Pad(20), R::kTcpDataOffsetPastSegment},
      {"IPv4 total length one past the frame", syn([](TcpFrameSpec& s) { s.ip.total_length = 41; }),
       R::kIpv4TotalLengthPastFrame},
      {"IPv4 total length 65535", syn([](TcpFrameSpec& s) { s.ip.total_length = 65535; }),
       R::kIpv4TotalLengthPastFrame},
      {"IPv4 total length 39: no room for the TCP header",
       syn([](TcpFrameSpec& s) { s.ip.total_length = 39; }), R::kIpv4TotalLengthTooShort},
      {"IPv4 total length 20", syn([](TcpFrameSpec& s) { s.ip.total_length = 20; }),
       R::kIpv4TotalLengthTooShort},
      {"IPv4 total length 0", syn([](TcpFrameSpec& s) { s.ip.total_length = 0; }),
       R::kIpv4TotalLengthTooShort},
  };
  FixtureHarness fx;
  for (const MalformedCase& c : cases) {
    SCOPED_TRACE(c.description);
    ASSERT_NO_FATAL_FAILURE(ExpectParserDrop(fx, kConsumer0, c.frame, c.reason));
  }
  // The same faults in a backend's packet on an open flow: the parser drops them first.
  const Flow f = fx.Establish();
  for (const uint8_t data_offset : {uint8_t{3}, uint8_t{9}}) {
    TcpFrameSpec s = FromBackend(f.backend, f.nat, kTcpAck, 5001, 1001);
    s.tcp.data_offset = data_offset;
    ASSERT_NO_FATAL_FAILURE(ExpectParserDrop(fx, kProvider, BuildTcpFrame(s), std::nullopt));
  }
  EXPECT_EQ(fx.StateOf(f), FlowState::kEstablished);
}

// Bytes past the IPv4 total length (Ethernet padding, or any trailer) are not part of the
// datagram: the translated frame keeps the total length, the payload and valid checksums over
// exactly the datagram (checked by Sent with the reference, and by scapy), and leaves without
// the extra bytes (zero-padded to 60 where shorter).
TEST(FixtureMalformedTest, BytesPastTheIpv4TotalLengthAreNotPayload) {
  FixtureHarness fx;
  TcpFrameSpec syn_spec = FromClient(kNetA, Tcp(kTcpSyn, 1000, 0));
  syn_spec.tcp.options.clear();
  const Flow f = fx.Open(kNetA, kClientPort, syn_spec);  // a flow, from the unpadded SYN
  struct PaddedCase {
    const char* description;
    bool up;
    TcpFrameSpec spec;
    size_t pad;
  };
  const std::vector<PaddedCase> cases = {
      {"SYN retransmitted with padding", true, syn_spec, 6},
      {"SYN-ACK with 1 byte of data, padded", false,
       FromBackend(f.backend, f.nat, kTcpSyn | kTcpAck, 5000, 1001, 1), 5},
      {"client data with a 100-byte trailer", true,
       FromClient(kNetA, Tcp(kTcpAck | kTcpPsh, 1001, 5001, 3)), 100},
      {"backend ACK with padding", false, FromBackend(f.backend, f.nat, kTcpAck, 5001, 1004), 6},
  };
  for (const PaddedCase& c : cases) {
    SCOPED_TRACE(c.description);
    Frame in = BuildTcpFrame(c.spec);
    const uint16_t total_len = in.Get16(in.l3_offset + nat::kIpv4TotalLengthOffset);
    in.Pad(c.pad, 0xa5);  // not zeros: bytes that must not matter, whatever they are
    const Frame want = BuildTcpFrame(c.up ? TowardsBackend(c.spec, f.backend, f.nat)
                                          : TowardsClient(c.spec, kNetA));
    const uint16_t out_port = c.up ? kProvider : kConsumer0;
    fx.h.Inject(c.up ? kConsumer0 : kProvider, in);
    fx.h.Poll();
    const std::vector<Bytes> sent = fx.Sent(out_port);
    ASSERT_EQ(sent.size(), 1u);
    const Bytes& out = sent[0];
    ASSERT_GE(out.size(), want.size());
    EXPECT_EQ(Bytes(out.begin(), out.begin() + want.size()), want.bytes);
    EXPECT_EQ(Be16ToHost(Load16(out, kEthHeaderLen + nat::kIpv4TotalLengthOffset)), total_len);
    // What followed the datagram stays behind (cut, as a router would); only zero padding up
    // to Ethernet's 60-byte minimum may follow it.
    EXPECT_EQ(out.size(), std::max<size_t>(want.size(), kEthMinFrameLen));
    EXPECT_EQ(Bytes(out.begin() + want.size(), out.end()), Bytes(out.size() - want.size(), 0));
  }
  EXPECT_EQ(fx.h.TotalDrops(), 0u);
  EXPECT_EQ(fx.StateOf(f), FlowState::kEstablished);
}

// ---- ARP ----

// ARP for the PEs on consumer ports is in forward_table_test.cc; this is the provider side.
TEST(FixtureArpTest, ArpRequestForANatIpGoesToTheControlThread) {
  FixtureHarness fx;
  const Frame request =
      BuildArpFrame({.eth = {.dst = kBroadcastMac, .src = BackendMac(kBackends[1])},
                     .arp = {.sender_mac = BackendMac(kBackends[1]),
                             .sender_ip = kBackends[1],
                             .target_ip = kNatIps[1]}});
  fx.h.Inject(kProvider, request);
  fx.h.Poll();
  const std::vector<ControlFrame> control = fx.h.TakeToControl();
  ASSERT_EQ(control.size(), 1u);
  EXPECT_EQ(control[0].port, kProvider);
  EXPECT_EQ(control[0].bytes, request.bytes);
  EXPECT_EQ(fx.h.TotalDrops(), 0u);
}

// ---- the independent reader: scapy ----

// Runs last (gtest keeps the order of definition): checks every frame the tests above sent, plus
// a conversation of its own with one corrupted packet, so it checks something when run alone.
TEST(FixtureScapyTest, ScapyAgreesOnEveryFrameSent) {
  {
    FixtureHarness fx;
    const Flow f = fx.Establish(kNetB);
    Frame bad = BuildTcpFrame(FromBackend(f.backend, f.nat, kTcpAck | kTcpPsh, 5001, 1001, 7));
    bad.Set16(bad.l4_offset + nat::kTcpChecksumOffset,
              bad.Get16(bad.l4_offset + nat::kTcpChecksumOffset) ^ 0x0f0f);
    fx.h.Inject(kProvider, bad);
    fx.h.Poll();
    ASSERT_EQ(fx.Sent(kConsumer1, *ResidualsOf(bad.bytes)).size(), 1u);
  }
  const char* script = std::getenv("PRIVLINK_CHECK_CHECKSUMS");
  if (script == nullptr) GTEST_SKIP() << "PRIVLINK_CHECK_CHECKSUMS is not set (run through meson)";

  const std::string base = "/tmp/privlink-fixtures-" + std::to_string(getpid());
  const std::vector<SentFrame>& frames = AllSent();
  WriteCapture(base + ".pcap", base + ".expect", frames, kProvider);
  const std::string args = std::string(" '") + script + "' " + base + ".pcap " + base +
                           ".expect --nat-ips " + FormatIpv4(kNatIps[0]) + "," +
                           FormatIpv4(kNatIps[1]) + " --pe-ip " + FormatIpv4(kPeIp) +
                           " --client-ip " + FormatIpv4(kClientIp);
  // scapy comes from Debian's python3-scapy: try Debian's interpreter before whatever python3 is
  // first on the PATH. 77: this interpreter has no scapy.
  RunResult result;
  for (const char* python : {"/usr/bin/python3", "python3"}) {
    result = RunCommand(std::string(python) + args);
    if (result.exit_code != 77) break;
  }
  if (result.exit_code == 77) GTEST_SKIP() << "scapy is not installed (Debian: python3-scapy)";
  std::printf("check_checksums.py: %s", result.output.c_str());
  ASSERT_EQ(result.exit_code, 0) << result.output << "(capture kept: " << base << ".pcap)";
  EXPECT_NE(result.output.find("checked " + std::to_string(frames.size()) + " frames"),
            std::string::npos)
      << result.output;
  std::remove((base + ".pcap").c_str());
  std::remove((base + ".expect").c_str());
}

}  // namespace
}  // namespace privlink::dataplane
