// Corrupt packets on the worker: nothing corrupt creates a flow, takes a NAT port or changes a
// flow's state, and a RST ends a flow only when its sequence number is the one its receiver
// expects (RFC 5961). Tables of {segment, which checksum is wrong (or none), what the NIC says,
// the verification mode} -> {forwarded with these checksums, or dropped under this reason; the
// flow's state after}, each case on a fresh single-worker dataplane (fixture_harness.h: every
// frame sent is checked by the RFC 1071 reference and, at the end of the run, by scapy).
#include <rte_mbuf_core.h>

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "dataplane/packet/drop_reason.h"
#include "dataplane/packet/parse.h"
#include "nat/tcp_state.h"
#include "tests/dataplane/framework/checksum_residuals.h"
#include "tests/dataplane/framework/fixture_harness.h"
#include "tests/dataplane/framework/forward_frames.h"

namespace privlink::dataplane {
namespace {

using namespace privlink::dataplane::testing;
using nat::FlowDirection;
using nat::FlowState;
using nat::kTcpRst;

constexpr uint8_t kRstAck = kTcpRst | kTcpAck;

// ---- the NIC's verdict, as the mbuf's offload flags carry it ----

enum class Layer { kIpv4, kTcp };

struct Nic {
  const char* name;
  NicVerdict verdict;
};
constexpr Nic kNics[] = {{"unknown", NicVerdict::kUnknown},
                         {"good", NicVerdict::kGood},
                         {"bad", NicVerdict::kBad},
                         {"none", NicVerdict::kNone}};

uint64_t OlFlags(Layer layer, NicVerdict v) {
  const bool ip = layer == Layer::kIpv4;
  const uint64_t good = ip ? RTE_MBUF_F_RX_IP_CKSUM_GOOD : RTE_MBUF_F_RX_L4_CKSUM_GOOD;
  const uint64_t bad = ip ? RTE_MBUF_F_RX_IP_CKSUM_BAD : RTE_MBUF_F_RX_L4_CKSUM_BAD;
  switch (v) {
    case NicVerdict::kUnknown:
      return 0;
    case NicVerdict::kGood:
      return good;
    case NicVerdict::kBad:
      return bad;
    case NicVerdict::kNone:
      return good | bad;
  }
  return 0;
}

// The checksum field of `layer` made wrong.
Frame Corrupted(Frame f, Layer layer) {
  const size_t at = layer == Layer::kIpv4 ? f.l3_offset + nat::kIpv4ChecksumOffset
                                          : f.l4_offset + nat::kTcpChecksumOffset;
  f.Set16(at, static_cast<uint16_t>(f.Get16(at) ^ 0x0101));
  return f;
}

// ---- where a segment meets its flow ----

// Client ISN 1000, backend ISN 5000 (FixtureHarness::Establish).
enum class Stage { kNoFlow, kSynSent, kSynReceived, kEstablished };

struct SegmentCase {
  const char* description;
  Stage stage;
  bool from_client;
  uint8_t flags;
  uint32_t seq;
  uint32_t ack;
  size_t payload = 0;
};

std::vector<SegmentCase> Segments() {
  constexpr uint8_t kFinAck = kTcpFin | kTcpAck;
  constexpr uint8_t kData = kTcpAck | kTcpPsh;
  return {
      {"SYN", Stage::kNoFlow, true, kTcpSyn, 1000, 0},
      {"SYN-ACK", Stage::kSynSent, false, kTcpSyn | kTcpAck, 5000, 1001},
      {"the ACK completing the handshake", Stage::kSynReceived, true, kTcpAck, 1001, 5001},
      {"FIN from the client", Stage::kEstablished, true, kFinAck, 1001, 5001},
      {"FIN from the backend", Stage::kEstablished, false, kFinAck, 5001, 1001},
      {"RST from the client", Stage::kEstablished, true, kRstAck, 1001, 5001},
      {"RST from the backend", Stage::kEstablished, false, kRstAck, 5001, 1001},
      {"data from the client", Stage::kEstablished, true, kData, 1001, 5001, 100},
      {"data from the backend", Stage::kEstablished, false, kData, 5001, 1001, 51},
  };
}

FlowState StateOfStage(Stage s) {
  switch (s) {
    case Stage::kSynReceived:
      return FlowState::kSynReceived;
    case Stage::kEstablished:
      return FlowState::kEstablished;
    default:
      return FlowState::kSynSent;
  }
}

// A harness with a flow brought to `stage` (none for kNoFlow).
struct Staged {
  explicit Staged(Stage stage, const HarnessOptions& options = {}) : fx(options) {
    switch (stage) {
      case Stage::kNoFlow:
        break;
      case Stage::kSynSent:
        flow = fx.Open(kNetA, kClientPort);
        break;
      case Stage::kSynReceived:
        flow = fx.Open(kNetA, kClientPort);
        fx.Down(flow, FromBackend(flow.backend, flow.nat, kTcpSyn | kTcpAck, 5000, 1001));
        break;
      case Stage::kEstablished:
        flow = fx.Establish(kNetA, kClientPort);
        break;
    }
  }
  TcpFrameSpec Spec(const SegmentCase& c) const {
    return c.from_client ? FromClient(kNetA, Tcp(c.flags, c.seq, c.ack, c.payload, kClientPort))
                         : FromBackend(flow.backend, flow.nat, c.flags, c.seq, c.ack, c.payload);
  }
  uint32_t NatPortsUsed() {
    uint32_t used = 0;
    for (const Ipv4Be ip : kNatIps)
      used += fx.h.worker().ports.Usage(ip, fx.h.clock().NowMs()).used;
    return used;
  }

  FixtureHarness fx;
  Flow flow;
};

// One case: inject, then check what left, the drop counters, the flow and the NAT ports.
struct Outcome {
  std::optional<DropReason> drop;  // else forwarded, with these residuals
  Residuals residuals;
  std::optional<FlowState> state;  // the flow's state after; nullopt: no flow
};

void Check(Staged& s, const SegmentCase& c, const Frame& in, uint64_t ol_flags,
           const Outcome& want) {
  FixtureHarness& fx = s.fx;
  const uint32_t ports_before = s.NatPortsUsed();
  const uint64_t drops_before = want.drop ? fx.h.DropCount(*want.drop) : 0;
  const uint64_t all_drops_before = fx.h.TotalDrops();
  const uint16_t in_port = c.from_client ? kConsumer0 : kProvider;
  const uint16_t out_port = c.from_client ? kProvider : kConsumer0;
  if (c.stage == Stage::kNoFlow) s.flow.backend = MaglevBackend(fx.h, kNetA, s.Spec(c));
  fx.h.Inject(in_port, in, ol_flags);
  fx.h.Poll();
  for (uint16_t p = 0; p < kPortCount; ++p) {
    const std::vector<Bytes> sent = fx.Sent(p, want.residuals);
    if (want.drop || p != out_port) {
      EXPECT_TRUE(sent.empty()) << sent.size() << " frames sent on port " << p;
      continue;
    }
    ASSERT_EQ(sent.size(), 1u) << "not forwarded";
    if (c.stage == Stage::kNoFlow) s.flow.nat = ReadNat(sent[0]);
    const TcpFrameSpec spec = s.Spec(c);
    const Frame translated = c.from_client
                                 ? BuildTcpFrame(TowardsBackend(spec, s.flow.backend, s.flow.nat))
                                 : BuildTcpFrame(TowardsClient(spec, kNetA, kClientPort));
    EXPECT_TRUE(SameFrame(sent[0], WithResiduals(translated, want.residuals)));
  }
  if (want.drop) {
    EXPECT_EQ(fx.h.DropCount(*want.drop), drops_before + 1) << DropReasonName(*want.drop);
    EXPECT_EQ(fx.h.TotalDrops(), all_drops_before + 1);
    EXPECT_EQ(s.NatPortsUsed(), ports_before) << "a dropped packet took or gave a NAT port";
  } else {
    EXPECT_EQ(fx.h.TotalDrops(), all_drops_before);
  }
  EXPECT_EQ(fx.StateOf(s.flow), want.state);
}

// Every segment, intact or with one checksum wrong, with each NIC verdict on that checksum, in
// both modes. The IPv4 checksum is always checked; the TCP one for segments that would create a
// flow or change its state, and for all of them under verifyTcpChecksum: all. A checksum the NIC
// calls good is trusted, bad drops the segment even when it is right, and none (virtio: the data
// is intact, the field is not filled in) lets it through with the field completed on the way out.
TEST(ChecksumFixtureTest, NothingCorruptCreatesAFlowOrChangesItsState) {
  int cases = 0;
  for (const SegmentCase& c : Segments()) {
    for (const Layer layer : {Layer::kIpv4, Layer::kTcp}) {
      for (const bool corrupt : {false, true}) {
        for (const Nic& nic : kNics) {
          for (const bool all : {false, true}) {
            // The mode concerns the TCP checksum only: the IPv4 cases run once.
            if (layer == Layer::kIpv4 && all) continue;
            SCOPED_TRACE(::testing::Message()
                         << c.description << ", " << (corrupt ? "wrong " : "intact ")
                         << (layer == Layer::kIpv4 ? "IPv4" : "TCP") << " checksum, NIC says "
                         << nic.name << (all ? ", verifyTcpChecksum: all" : ""));
            Staged s(c.stage, {.verify_all_tcp_checksums = all});
            const FlowState before = StateOfStage(c.stage);
            const FlowDirection dir =
                c.from_client ? FlowDirection::kIn2Out : FlowDirection::kOut2In;
            const bool creates = c.stage == Stage::kNoFlow;
            const bool changes = creates || nat::NextTcpState(before, dir, c.flags) != before;
            const bool verified = layer == Layer::kIpv4 || changes || all;
            const bool refused = nic.verdict == NicVerdict::kBad ||
                                 (nic.verdict == NicVerdict::kUnknown && corrupt && verified);
            Frame in = BuildTcpFrame(s.Spec(c));
            if (corrupt) in = Corrupted(in, layer);
            const Residuals in_residuals = *ResidualsOf(in.bytes);

            Outcome want;
            if (refused) {
              want.drop = layer == Layer::kIpv4 ? DropReason::kIpv4BadChecksum
                                                : DropReason::kTcpBadChecksum;
              if (!creates) want.state = before;
            } else {
              // A field the NIC did not fill in leaves filled in; any other error leaves as it
              // came (the rewrite's incremental update keeps it exactly as wrong).
              want.residuals = nic.verdict == NicVerdict::kNone ? Residuals{} : in_residuals;
              want.state = creates ? FlowState::kSynSent : nat::NextTcpState(before, dir, c.flags);
            }
            Check(s, c, in, OlFlags(layer, nic.verdict), want);
            ++cases;
          }
        }
      }
    }
  }
  EXPECT_EQ(cases, 9 * 2 * 4 * (1 + 2));  // segments, intact or not, NIC verdicts, modes
}

// A virtio port (NIC verdict none on both): the IPv4 field holds zero and the TCP field the
// pseudo-header sum, as the guest's stack left them for offload; both leave filled in.
TEST(ChecksumFixtureTest, PartialChecksumsFromVirtioLeaveComplete) {
  Staged s(Stage::kNoFlow);
  const SegmentCase syn{"SYN", Stage::kNoFlow, true, kTcpSyn, 1000, 0, 20};
  Frame in = BuildTcpFrame(s.Spec(syn));
  const uint16_t tcp_len = static_cast<uint16_t>(in.bytes.size() - in.l4_offset);
  in.Set16(in.l3_offset + nat::kIpv4ChecksumOffset, 0);
  const uint16_t pseudo = nat::TcpPseudoHeaderChecksum(kClientIp, kPeIp, tcp_len);
  std::memcpy(in.bytes.data() + in.l4_offset + nat::kTcpChecksumOffset, &pseudo, sizeof pseudo);
  ASSERT_NE(*ResidualsOf(in.bytes), Residuals{});
  Check(s, syn, in,
        OlFlags(Layer::kIpv4, NicVerdict::kNone) | OlFlags(Layer::kTcp, NicVerdict::kNone),
        {.state = FlowState::kSynSent});
}

// RFC 1624: 0x0000 and 0xffff are the same one's-complement value, so a SYN whose checksum
// computes to 0x0000 opens a flow with either in the field, whatever the NIC says but bad (none:
// the field is filled in on the way out). Every frame sent is checked valid (FixtureHarness).
TEST(ChecksumFixtureTest, ZeroAndFFFFTcpChecksumsBothVerify) {
  for (const uint16_t field : {uint16_t{0x0000}, uint16_t{0xffff}}) {
    for (const Nic& nic : kNics) {
      SCOPED_TRACE(::testing::Message()
                   << "TCP checksum field " << std::hex << field << ", NIC says " << nic.name);
      Staged s(Stage::kNoFlow);
      const SegmentCase syn{
          "SYN with two bytes of data", Stage::kNoFlow, true, kTcpSyn, 1000, 0, 2};
      Frame in = BuildTcpFrame(s.Spec(syn));
      const size_t data = in.l4_offset + 20;
      in.Set16(data, 0).FixChecksums();
      in.Set16(data, in.Get16(in.l4_offset + nat::kTcpChecksumOffset)).FixChecksums();
      ASSERT_EQ(in.Get16(in.l4_offset + nat::kTcpChecksumOffset), 0x0000);
      in.Set16(in.l4_offset + nat::kTcpChecksumOffset, field);
      ASSERT_EQ(*ResidualsOf(in.bytes), Residuals{});
      const uint32_t used = s.NatPortsUsed();
      const uint64_t bad = s.fx.h.DropCount(DropReason::kTcpBadChecksum);
      s.fx.h.Inject(kConsumer0, in, OlFlags(Layer::kTcp, nic.verdict));
      s.fx.h.Poll();
      const std::vector<Bytes> sent = s.fx.Sent(kProvider);
      if (nic.verdict == NicVerdict::kBad) {
        EXPECT_TRUE(sent.empty());
        EXPECT_EQ(s.fx.h.DropCount(DropReason::kTcpBadChecksum), bad + 1);
        EXPECT_EQ(s.NatPortsUsed(), used);
        EXPECT_EQ(s.fx.StateOf(s.flow), std::nullopt);
      } else {
        EXPECT_EQ(sent.size(), 1u);
        EXPECT_EQ(s.NatPortsUsed(), used + 1);
        EXPECT_EQ(s.fx.StateOf(s.flow), FlowState::kSynSent);
      }
    }
  }
}

// ---- RST: held to what its receiver expects (RFC 5961) ----

struct RstCase {
  const char* description;
  Stage stage;
  std::vector<Segment> before;  // after the stage, e.g. data moving the expected numbers
  SegmentCase rst;
  std::optional<DropReason> drop;  // tcp_rst_out_of_window, or forwarded
  FlowState state;                 // after
};

std::vector<RstCase> RstCases() {
  constexpr uint8_t kData = kTcpAck | kTcpPsh;
  const auto client = [](uint8_t flags, uint32_t seq, uint32_t ack) {
    return SegmentCase{"", Stage::kEstablished, true, flags, seq, ack};
  };
  const auto backend = [](uint8_t flags, uint32_t seq, uint32_t ack) {
    return SegmentCase{"", Stage::kEstablished, false, flags, seq, ack};
  };
  const DropReason kOut = DropReason::kTcpRstOutOfWindow;
  const FlowState kEst = FlowState::kEstablished;
  const FlowState kReset = FlowState::kReset;
  return {
      {"client RST at the backend's next expected number",
       Stage::kEstablished,
       {},
       client(kRstAck, 1001, 5001),
       std::nullopt,
       kReset},
      {"client RST without ACK at it",
       Stage::kEstablished,
       {},
       client(kTcpRst, 1001, 0),
       std::nullopt,
       kReset},
      {"client RST one behind", Stage::kEstablished, {}, client(kRstAck, 1000, 5001), kOut, kEst},
      {"client RST far behind",
       Stage::kEstablished,
       {},
       client(kTcpRst, 1001 - 70000, 0),
       kOut,
       kEst},
      {"client RST ahead (in the window, perhaps): forwarded, the end challenges it",
       Stage::kEstablished,
       {},
       client(kTcpRst, 1001 + 1000, 0),
       std::nullopt,
       kEst},
      {"backend RST at the client's next expected number",
       Stage::kEstablished,
       {},
       backend(kRstAck, 5001, 1001),
       std::nullopt,
       kReset},
      {"backend RST behind", Stage::kEstablished, {}, backend(kRstAck, 4000, 1001), kOut, kEst},
      {"after 333 bytes the backend acknowledged, the old number is behind",
       Stage::kEstablished,
       {{true, kData, 1001, 5001}, {false, kTcpAck, 5001, 1334}},
       client(kTcpRst, 1001, 0),
       kOut,
       kEst},
      {"and the new one ends the flow",
       Stage::kEstablished,
       {{true, kData, 1001, 5001}, {false, kTcpAck, 5001, 1334}},
       client(kTcpRst, 1334, 0),
       std::nullopt,
       kReset},
      {"SYN sent: the backend still holds an old connection on the NAT tuple and answers the "
       "SYN with a challenge ACK of its number; the client's RST at that number reaches it",
       Stage::kSynSent,
       {{false, kTcpAck, 777000, 424242}},
       client(kTcpRst, 424242, 0),
       std::nullopt,
       kReset},
      {"SYN sent: the backend's RST must acknowledge the SYN",
       Stage::kSynSent,
       {},
       backend(kRstAck, 0, 1001),
       std::nullopt,
       kReset},
      {"SYN sent: a RST acknowledging something else",
       Stage::kSynSent,
       {},
       backend(kRstAck, 0, 999),
       kOut,
       FlowState::kSynSent},
      {"SYN sent: a RST without ACK",
       Stage::kSynSent,
       {},
       backend(kTcpRst, 0, 0),
       kOut,
       FlowState::kSynSent},
      {"SYN sent: the client's RST after its SYN",
       Stage::kSynSent,
       {},
       client(kTcpRst, 1001, 0),
       std::nullopt,
       kReset},
      {"SYN received: the backend's RST after its SYN-ACK",
       Stage::kSynReceived,
       {},
       backend(kTcpRst, 5001, 0),
       std::nullopt,
       kReset},
      {"SYN received: the client's RST at the backend's expected number",
       Stage::kSynReceived,
       {},
       client(kTcpRst, 1001, 0),
       std::nullopt,
       kReset},
  };
}

TEST(ChecksumFixtureTest, ARstEndsAFlowOnlyAtTheNumberItsReceiverExpects) {
  for (RstCase c : RstCases()) {
    SCOPED_TRACE(c.description);
    Staged s(c.stage);
    for (const Segment& seg : c.before) {
      if (seg.from_client) {
        s.fx.Up(s.flow, FromClient(kNetA, Tcp(seg.flags, seg.seq, seg.ack,
                                              (seg.flags & kTcpPsh) ? 333 : 0, kClientPort)));
      } else {
        s.fx.Down(s.flow, FromBackend(s.flow.backend, s.flow.nat, seg.flags, seg.seq, seg.ack));
      }
    }
    c.rst.stage = c.stage;
    Check(s, c.rst, BuildTcpFrame(s.Spec(c.rst)), 0, {.drop = c.drop, .state = c.state});
  }
}

// A RST at the right number but with a wrong TCP checksum ends nothing either.
TEST(ChecksumFixtureTest, ACorruptRstAtTheRightNumberEndsNothing) {
  Staged s(Stage::kEstablished);
  const SegmentCase rst{"RST", Stage::kEstablished, true, kRstAck, 1001, 5001};
  Check(s, rst, Corrupted(BuildTcpFrame(s.Spec(rst)), Layer::kTcp), 0,
        {.drop = DropReason::kTcpBadChecksum, .state = FlowState::kEstablished});
}

}  // namespace
}  // namespace privlink::dataplane
