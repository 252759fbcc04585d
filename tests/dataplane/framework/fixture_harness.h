// The packet fixtures' harness (worker/fixture_test.cc, worker/checksum_test.cc): a
// WorkerHarness whose every sent frame is checked as it is taken (FixtureHarness::Sent): its IPv4
// and TCP checksums by the RFC 1071 reference (tests/nat/reference_checksum.h), and its
// addresses, which must be the translated ones on either side. All of them are kept (AllSent) for
// scapy (check_checksums.py), a reader independent of both privlink and the builder.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "nat/tcp_state.h"
#include "tests/dataplane/framework/checksum_residuals.h"
#include "tests/dataplane/framework/forward_frames.h"

namespace privlink::dataplane::testing {

using nat::FlowState;

// ---- the independent checker ----

// Every frame any test here saw leave, for the scapy check at the end.
inline std::vector<SentFrame>& AllSent() {
  static std::vector<SentFrame> frames;
  return frames;
}

inline bool IsNatIp(Ipv4Be ip) {
  return ip == kNatIps[0] || ip == kNatIps[1];
}
inline bool IsBackend(Ipv4Be ip) {
  for (const Ipv4Be b : kBackends) {
    if (ip == b) return true;
  }
  return ip == kExtraBackend;
}

// A frame leaving on `port`: checksums as expected (valid unless the input's were wrong) and
// nothing untranslated: the provider side sees only NAT tuples and backends, untagged; a consumer
// network sees only the PE talking to its client, on the network's VLAN.
inline void CheckLeaving(uint16_t port, const Bytes& frame, Residuals expected) {
  SCOPED_TRACE(::testing::Message() << "frame of " << frame.size() << " bytes sent on port " << port
                                    << ": " << Hex(frame, 0, 64));
  const std::optional<Residuals> got = ResidualsOf(frame);
  ASSERT_TRUE(got.has_value()) << "not a readable IPv4 TCP frame";
  EXPECT_EQ(got->ip, expected.ip) << "IPv4 header checksum";
  EXPECT_EQ(got->tcp, expected.tcp) << "TCP checksum";
  AllSent().push_back({port, frame, expected});

  const size_t l3 = L3OffsetOf(frame);
  const size_t l4 = l3 + size_t{frame[l3] & 0x0fu} * 4;
  const Ipv4Be src = Load32(frame, l3 + nat::kIpv4SrcOffset);
  const Ipv4Be dst = Load32(frame, l3 + nat::kIpv4DstOffset);
  const uint16_t sport = Be16ToHost(Load16(frame, l4 + nat::kTcpSrcPortOffset));
  const uint16_t dport = Be16ToHost(Load16(frame, l4 + nat::kTcpDstPortOffset));
  EXPECT_EQ(Bytes(frame.begin() + kEthSrcOffset, frame.begin() + kEthSrcOffset + 6),
            Bytes(kPortMacs[port].begin(), kPortMacs[port].end()));
  if (port == kProvider) {
    EXPECT_EQ(l3, kEthHeaderLen) << "tagged on the provider side";
    EXPECT_TRUE(IsNatIp(src)) << "source " << FormatIpv4(src) << " is not a NAT IP";
    EXPECT_TRUE(IsBackend(dst)) << "destination " << FormatIpv4(dst) << " is not a backend";
    EXPECT_GE(sport, kFirstNatPort);
    EXPECT_EQ(dport, kBackendPort);
  } else {
    EXPECT_EQ(l3, port == kConsumer1 ? kEthHeaderLen + kVlanTagLen : kEthHeaderLen);
    if (port == kConsumer1) {
      EXPECT_EQ(Be16ToHost(Load16(frame, kVlanTciOffset)) & kVlanIdMask, kNetworkBVlan);
    }
    EXPECT_EQ(src, kPeIp) << "source " << FormatIpv4(src) << " is not the PE";
    EXPECT_EQ(dst, kClientIp) << "destination " << FormatIpv4(dst) << " is not the client";
    EXPECT_EQ(sport, kFrontendPort);
  }
}

// ---- conversations ----

struct Flow {
  const Net* net = &kNetA;
  uint16_t client_port = kClientPort;
  Ipv4Be backend = 0;
  NatTuple nat;
};

// A segment of a conversation, without payload.
struct Segment {
  bool from_client;
  uint8_t flags;
  uint32_t seq;
  uint32_t ack;
};

// A harness whose every sent frame goes through CheckLeaving; at the end, whatever is still
// queued is checked too and no mbuf may be left over.
class FixtureHarness {
 public:
  FixtureHarness() = default;
  explicit FixtureHarness(const HarnessOptions& options) : h(options) {}
  ~FixtureHarness() {
    for (uint16_t p = 0; p < kPortCount; ++p) Sent(p);
    DrainAndCheckNoLeak(h);
  }

  std::vector<Bytes> Sent(uint16_t port, Residuals expected = {}) {
    std::vector<Bytes> got = h.TakeSent(port);
    for (const Bytes& f : got) CheckLeaving(port, f, expected);
    return got;
  }

  // One frame in; it must leave on `out_port` only, as `want`.
  void Route(uint16_t in_port, const Frame& in, uint16_t out_port, const Frame& want,
             Residuals expected = {}) {
    const uint64_t drops = h.TotalDrops();
    h.Inject(in_port, in);
    h.Poll();
    for (uint16_t p = 0; p < kPortCount; ++p) {
      SCOPED_TRACE(::testing::Message() << "port " << p);
      const std::vector<Bytes> sent = Sent(p, expected);
      if (p != out_port) {
        EXPECT_TRUE(sent.empty());
      } else if (sent.size() != 1) {
        ADD_FAILURE() << sent.size() << " frames sent, want 1";
      } else {
        EXPECT_TRUE(SameFrame(sent[0], want));
      }
    }
    EXPECT_EQ(h.TotalDrops(), drops);
    EXPECT_EQ(h.ToControlCount(), 0u);
  }
  void Up(const Flow& f, const TcpFrameSpec& s) {
    Route(f.net->port, BuildTcpFrame(s), kProvider,
          BuildTcpFrame(TowardsBackend(s, f.backend, f.nat)));
  }
  void Down(const Flow& f, const TcpFrameSpec& s) {
    Route(kProvider, BuildTcpFrame(s), f.net->port,
          BuildTcpFrame(TowardsClient(s, *f.net, f.client_port)));
  }

  void Play(const Flow& f, const std::vector<Segment>& segments) {
    for (const Segment& s : segments) {
      if (s.from_client) {
        Up(f, FromClient(*f.net, Tcp(s.flags, s.seq, s.ack, 0, f.client_port)));
      } else {
        Down(f, FromBackend(f.backend, f.nat, s.flags, s.seq, s.ack));
      }
    }
  }

  // A client SYN (`syn`, or a plain one) that must open a flow to its Maglev backend.
  Flow Open(const Net& net, uint16_t client_port, std::optional<TcpFrameSpec> syn = std::nullopt) {
    Flow f{&net, client_port, 0, {}};
    const TcpFrameSpec s = syn.value_or(FromClient(net, Tcp(kTcpSyn, 1000, 0, 0, client_port)));
    f.backend = MaglevBackend(h, net, s);
    h.Inject(net.port, BuildTcpFrame(s));
    h.Poll();
    const std::vector<Bytes> sent = Sent(kProvider);
    if (sent.size() != 1) {
      ADD_FAILURE() << "the SYN opened no flow";
      return f;
    }
    f.nat = ReadNat(sent[0]);
    EXPECT_TRUE(SameFrame(sent[0], BuildTcpFrame(TowardsBackend(s, f.backend, f.nat))));
    return f;
  }
  // SYN, SYN-ACK, ACK: client ISN 1000, backend ISN 5000; next sequences 1001 and 5001.
  Flow Establish(const Net& net = kNetA, uint16_t client_port = kClientPort) {
    const Flow f = Open(net, client_port);
    Down(f, FromBackend(f.backend, f.nat, kTcpSyn | kTcpAck, 5000, 1001));
    Up(f, FromClient(net, Tcp(kTcpAck, 1001, 5001, 0, client_port)));
    EXPECT_EQ(StateOf(f), FlowState::kEstablished);
    return f;
  }

  nat::FlowRef Find(const Flow& f) {
    nat::FlowKey key;
    key.tuple.src_ip = kClientIp;
    key.tuple.dst_ip = kPeIp;
    key.tuple.src_port = HostToBe16(f.client_port);
    key.tuple.dst_port = HostToBe16(kFrontendPort);
    key.network = NetworkOf(h, *f.net);
    return h.flows().Lookup(key);
  }
  std::optional<FlowState> StateOf(const Flow& f) {
    const nat::FlowRef ref = Find(f);
    if (!ref.found()) return std::nullopt;
    return h.flows().entry(ref.id).state();
  }
  const nat::FlowTimeouts& Timeouts() const {
    const uint16_t service =
        h.snapshot().FindPe({NetworkOf(h, kNetA), HostToBe16(kFrontendPort), kPeIp})->service;
    return h.snapshot().Service(service)->timeouts;
  }

  // The flow is alive `timeout_ms` - 1 after its last packet and gone at `timeout_ms`.
  void ExpectExpiresAfter(const Flow& f, uint32_t timeout_ms) {
    const uint64_t expired = h.worker().counters.flows_expired.Read();
    h.clock().Advance(timeout_ms - 1);
    for (int i = 0; i < 2; ++i) h.Poll();
    EXPECT_TRUE(Find(f).found()) << "expired before " << timeout_ms << " ms";
    h.clock().Advance(1);
    h.Poll();
    EXPECT_FALSE(Find(f).found()) << "alive at " << timeout_ms << " ms";
    EXPECT_EQ(h.worker().counters.flows_expired.Read(), expired + 1);
  }

  WorkerHarness h;
};

struct RunResult {
  int exit_code = -1;
  std::string output;
};

inline RunResult RunCommand(const std::string& command) {
  RunResult r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[512];
  while (fgets(buf, sizeof buf, pipe) != nullptr) r.output += buf;
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace privlink::dataplane::testing
