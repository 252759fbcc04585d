// ReplayPipeline (dataplane/replay.h), in process: the daemon's worker and control thread on
// frames fed with trace timestamps. A connection is translated both ways and every frame leaves
// at the time the worker ran; the same trace gives the same frames, times and drops on every
// run; the clock is the trace's, to the millisecond (a flow idle 30.001 s after its SYN is gone,
// one idle 29.999 s is not; unanswered ARP gives up after its retries across a gap); dropped
// frames reach the drop sink with their reason, from the worker and the control thread alike.
#include "dataplane/offline/replay.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>

#include "control/config/daemon_config.h"
#include "tests/dataplane/framework/replay_test_util.h"

namespace privlink::dataplane::testing {
namespace {

using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::Ge;
using ::testing::Le;

struct Sent {
  uint16_t port = 0;
  uint64_t time = 0;
  std::vector<uint8_t> bytes;
  bool operator==(const Sent&) const = default;
};
struct Dropped {
  DropReason reason{};
  uint64_t time = 0;
  std::vector<uint8_t> bytes;
  bool operator==(const Dropped&) const = default;
};

constexpr uint16_t kConsumer0 = 0;
constexpr uint16_t kProvider0 = 2;

class Replay {
 public:
  explicit Replay(bool static_neighbors = true) {
    auto config = control::ParseDaemonConfig(ReplayTestConfig(static_neighbors).dump());
    EXPECT_TRUE(config.ok()) << config.status();
    auto pipeline = ReplayPipeline::Create(*config);
    EXPECT_TRUE(pipeline.ok()) << pipeline.status();
    p_ = std::move(*pipeline);
    p_->OnSent([this](uint16_t port, std::span<const uint8_t> f, uint64_t time) {
      sent.push_back({port, time, {f.begin(), f.end()}});
    });
    p_->OnDropped([this](DropReason reason, std::span<const uint8_t> f, uint64_t time) {
      drops.push_back({reason, time, {f.begin(), f.end()}});
    });
  }
  void Feed(uint16_t port, const std::vector<uint8_t>& frame, uint64_t time) {
    ASSERT_TRUE(p_->Feed(port, frame, time).ok());
  }
  // TCP frames sent on `port`, oldest first.
  std::vector<Sent> Tcp(uint16_t port) const {
    std::vector<Sent> out;
    for (const Sent& s : sent) {
      if (s.port == port && IsTcp(s.bytes)) out.push_back(s);
    }
    return out;
  }
  ReplayPipeline& operator*() { return *p_; }
  ReplayPipeline* operator->() { return p_.get(); }

  std::vector<Sent> sent;
  std::vector<Dropped> drops;

 private:
  std::unique_ptr<ReplayPipeline> p_;
};

TEST(ReplayPipelineTest, PortsAreTheConfigsInOrder) {
  Replay r;
  ASSERT_EQ(r->ports().size(), 3u);
  EXPECT_EQ(r->PortIndex("consumer0"), 0);
  EXPECT_EQ(r->PortIndex("provider0"), 2);
  EXPECT_EQ(r->PortIndex("nowhere"), std::nullopt);
  EXPECT_EQ(r->ports()[kProvider0].mac, kProviderMac);
  EXPECT_EQ(r->ports()[kProvider0].role, PortRole::kProvider);
  EXPECT_EQ(DefaultReplayMac(3), (MacAddress{0x02, 0, 0, 0, 0, 0x04}));
  EXPECT_FALSE(r->Feed(3, FromClient(nat::kTcpSyn, 1, 0), kT0).ok());
}

TEST(ReplayPipelineTest, TranslatesAConnectionBothWaysAtTheTimesTheWorkerRan) {
  using namespace nat;
  Replay r;
  const auto syn = FromClient(kTcpSyn, 1000, 0, 0, TypicalSynOptions());
  r.Feed(kConsumer0, ArpRequest(kPe), kT0);
  r.Feed(kConsumer0, syn, kT0 + 100);
  r->Flush();

  // The control thread's first round, at the first frame's time: gratuitous ARP for each NAT IP.
  ASSERT_GE(r.sent.size(), 4u);
  EXPECT_EQ(r.sent[0].port, kProvider0);
  EXPECT_EQ(r.sent[0].time, kT0);
  EXPECT_EQ(r.sent[1].port, kProvider0);
  // The frames of one millisecond went through together, after the last of them arrived.
  const std::vector<Sent> syns = r.Tcp(kProvider0);
  ASSERT_EQ(syns.size(), 1u);
  EXPECT_EQ(syns[0].time, kT0 + 100);
  const Sent& reply = r.sent.back();
  EXPECT_EQ(reply.port, kConsumer0);
  EXPECT_EQ(Be16At(reply.bytes, 12), kEtherTypeArp);
  EXPECT_EQ(Be16At(reply.bytes, 20), kArpOpReply);
  EXPECT_EQ(DstMac(reply.bytes), kClientMac);
  EXPECT_EQ(reply.time, kT0 + 100);

  const Tcp out_syn = ParseTcp(syns[0].bytes);
  EXPECT_THAT(out_syn.src, AnyOf(kNatIps[0], kNatIps[1]));
  EXPECT_THAT(out_syn.dst, AnyOf(kBackends[0], kBackends[1], kBackends[2]));
  EXPECT_EQ(out_syn.dport, 8080);
  EXPECT_EQ(out_syn.seq, 1000u);
  EXPECT_EQ(DstMac(syns[0].bytes), BackendMac(out_syn.dst));
  EXPECT_EQ(SrcMac(syns[0].bytes), kProviderMac);
  // Options ride unchanged.
  EXPECT_TRUE(std::equal(syn.begin() + 54, syn.begin() + 74, syns[0].bytes.begin() + 54));

  // The rest of the conversation, a millisecond apart: each frame leaves when it arrived.
  r.Feed(kProvider0, FromBackend(out_syn, kTcpSyn | kTcpAck, 5000, 1001), kT0 + 1'000);
  r.Feed(kConsumer0, FromClient(kTcpAck | kTcpPsh, 1001, 5001, 100), kT0 + 2'000);
  r.Feed(kProvider0, FromBackend(out_syn, kTcpAck | kTcpPsh, 5001, 1101, 200), kT0 + 3'000);
  r.Feed(kConsumer0, FromClient(kTcpFin | kTcpAck, 1101, 5201), kT0 + 4'000);
  r.Feed(kProvider0, FromBackend(out_syn, kTcpFin | kTcpAck, 5201, 1102), kT0 + 5'000);
  r.Feed(kConsumer0, FromClient(kTcpAck, 1102, 5202), kT0 + 6'000);
  r->Flush();

  const std::vector<Sent> back = r.Tcp(kConsumer0);
  ASSERT_EQ(back.size(), 3u);
  const uint8_t back_flags[] = {kTcpSyn | kTcpAck, kTcpAck | kTcpPsh, kTcpFin | kTcpAck};
  const size_t back_payload[] = {0, 200, 0};
  for (size_t i = 0; i < back.size(); ++i) {
    SCOPED_TRACE(i);
    const Tcp t = ParseTcp(back[i].bytes);
    EXPECT_EQ(t.src, kPe);
    EXPECT_EQ(t.sport, 80);
    EXPECT_EQ(t.dst, kClient);
    EXPECT_EQ(t.dport, kClientPort);
    EXPECT_EQ(t.flags, back_flags[i]);
    EXPECT_EQ(t.payload, back_payload[i]);
    EXPECT_EQ(DstMac(back[i].bytes), kClientMac);
    EXPECT_EQ(SrcMac(back[i].bytes), kConsumer0Mac);
    EXPECT_EQ(back[i].time, kT0 + 1'000 + 2'000 * i);
  }
  const std::vector<Sent> out = r.Tcp(kProvider0);
  ASSERT_EQ(out.size(), 4u);
  for (size_t i = 0; i < out.size(); ++i) {
    SCOPED_TRACE(i);
    const Tcp t = ParseTcp(out[i].bytes);
    EXPECT_EQ(std::tie(t.src, t.sport, t.dst, t.dport),
              std::tie(out_syn.src, out_syn.sport, out_syn.dst, out_syn.dport));
    if (i > 0) {
      EXPECT_EQ(out[i].time, kT0 + 2'000 * i);
    }
  }
  EXPECT_EQ(ParseTcp(out[1].bytes).payload, 100u);
  EXPECT_TRUE(r.drops.empty());

  const ReplaySummary s = r->Summary();
  EXPECT_EQ(s.flows_created, 1u);
  EXPECT_EQ(s.flows_expired, 0u);
  EXPECT_EQ(s.flows_live, 1u);
  EXPECT_EQ(s.translated_to_providers, 4u);
  EXPECT_EQ(s.translated_to_consumers, 3u);
  EXPECT_EQ(s.drops_total, 0u);
  EXPECT_EQ(s.held_at_end, 0u);
  EXPECT_EQ(s.ports[kConsumer0].frames_in, 5u);
  EXPECT_EQ(s.ports[kConsumer0].frames_out, 4u);
  EXPECT_EQ(s.ports[kProvider0].frames_in, 3u);
  EXPECT_EQ(s.ports[kProvider0].frames_out, 6u);
  EXPECT_EQ(s.packets_polled, 8u);  // the ARP request included
  EXPECT_GT(s.busy_cycles, 0u);
  EXPECT_EQ(s.first_time_us, kT0);
  EXPECT_EQ(s.last_time_us, kT0 + 6'000);
}

// A trace of several clients, strays and drops; returns everything the pipeline emitted.
std::pair<std::vector<Sent>, std::vector<Dropped>> RunTrace() {
  using namespace nat;
  Replay r;
  for (uint16_t c = 0; c < 40; ++c) {
    r.Feed(kConsumer0, FromClient(kTcpSyn, 1000 + c, 0, 0, {}, c), kT0 + 37 * c);
  }
  for (uint16_t c = 0; c < 40; ++c) {
    r.Feed(kConsumer0, FromClient(kTcpAck, 1001 + c, 1, 10, {}, c), kT0 + 5'000 + 11 * c);
  }
  r.Feed(kConsumer0, FromClient(kTcpAck, 7, 7, 0, {}, 999), kT0 + 6'000);  // no flow
  r.Feed(kConsumer0, ArpRequest(Ipv4(10, 0, 0, 99)), kT0 + 6'001);         // not a PE
  r->Flush();
  EXPECT_EQ(r->Summary().flows_created, 40u);
  return {r.sent, r.drops};
}

TEST(ReplayPipelineTest, TheSameTraceGivesTheSameFramesTimesAndDrops) {
  const auto first = RunTrace();
  const auto second = RunTrace();
  EXPECT_EQ(first.first.size(), 2u + 80u);
  EXPECT_EQ(first.second.size(), 2u);
  EXPECT_TRUE(first == second);
}

TEST(ReplayPipelineTest, TimeoutsFollowTheTraceTimestampsToTheMillisecond) {
  // A half-open flow lives 30 s (embryonic timeout) after its last packet: SYNs retransmitted
  // every 29.999 s keep it; a packet 30.001 s after the last one finds it gone.
  using namespace nat;
  const auto syn = FromClient(kTcpSyn, 1000, 0);
  const auto late_ack = FromClient(kTcpAck, 1001, 1);
  const auto udp = BuildUdpFrame({.eth = {.dst = kConsumer0Mac}}).PadToMinimum().bytes;
  for (const uint64_t last : {89'997'000, 89'999'000}) {
    SCOPED_TRACE(last);
    Replay r;
    r.Feed(kConsumer0, syn, kT0);
    r.Feed(kConsumer0, syn, kT0 + 29'999'000);
    r.Feed(kConsumer0, syn, kT0 + 59'998'000);
    r.Feed(kConsumer0, udp, kT0 + 60'000'000);
    r.Feed(kConsumer0, late_ack, kT0 + last);
    r->Flush();
    const bool expired = last > 59'998'000 + 30'000'000;
    EXPECT_EQ(r.Tcp(kProvider0).size(), expired ? 3u : 4u);
    const ReplaySummary s = r->Summary();
    EXPECT_EQ(s.flows_expired, expired ? 1u : 0u);
    EXPECT_EQ(s.flows_live, expired ? 0u : 1u);
    // The service has no UDP rule: the datagram finds no endpoint and does not touch the flow.
    std::vector<Dropped> want = {{DropReason::kNoEndpoint, kT0 + 60'000'000, udp}};
    if (expired) want.push_back({DropReason::kNoFlowNotSyn, kT0 + last, late_ack});
    EXPECT_EQ(r.drops, want);
    EXPECT_EQ(s.drops[static_cast<size_t>(DropReason::kNoFlowNotSyn)], expired ? 1u : 0u);
  }
}

TEST(ReplayPipelineTest, EveryFlowExpiresWhenItsTimeoutComesNotOnlyTheFirstHundreds) {
  // 1,000 SYNs in the trace's first millisecond and 500 in its second: 30 s later (the
  // embryonic timeout) the first 1,000 expire exactly in the millisecond they reach it, the
  // rest one millisecond after. The worker's own expiry slice covers 256 flows per iteration,
  // so this takes the whole sweep the replay runs when its clock moves.
  Replay r;
  for (uint16_t c = 0; c < 1500; ++c) {
    r.Feed(kConsumer0, FromClient(nat::kTcpSyn, 1, 0, 0, {}, c), kT0 + c);
  }
  const auto udp = BuildUdpFrame({.eth = {.dst = kConsumer0Mac}}).PadToMinimum().bytes;
  r.Feed(kConsumer0, udp, kT0 + 29'999'999);
  r->Flush();
  EXPECT_EQ(r->Summary().flows_created, 1500u);
  EXPECT_EQ(r->Summary().flows_expired, 0u);
  r.Feed(kConsumer0, udp, kT0 + 30'000'500);
  r->Flush();
  EXPECT_EQ(r->Summary().flows_expired, 1000u);
  r.Feed(kConsumer0, udp, kT0 + 30'001'000);
  r->Flush();
  EXPECT_EQ(r->Summary().flows_expired, 1500u);
  EXPECT_EQ(r->Summary().flows_live, 0u);
}

TEST(ReplayPipelineTest, DropsFromTheControlThreadAndBadFramesReachTheSink) {
  Replay r;
  const auto not_ours = ArpRequest(Ipv4(10, 0, 0, 99));
  auto other_mac = FromClient(nat::kTcpSyn, 1, 0);
  other_mac[5] = 0x77;  // destination MAC not the port's
  auto truncated = FromClient(nat::kTcpSyn, 1, 0);
  truncated.resize(30);  // inside the IPv4 header
  r.Feed(kConsumer0, not_ours, kT0);
  r.Feed(kConsumer0, other_mac, kT0 + 1'000);
  r.Feed(kConsumer0, truncated, kT0 + 2'000);
  r.Feed(kProvider0, FromClient(nat::kTcpSyn, 1, 0), kT0 + 3'000);  // to no NAT IP
  r->Flush();
  EXPECT_THAT(r.drops, ElementsAre(Dropped{DropReason::kArpTargetNotOurs, kT0, not_ours},
                                   Dropped{DropReason::kEthDstNotOurs, kT0 + 1'000, other_mac},
                                   Dropped{DropReason::kIpv4Truncated, kT0 + 2'000, truncated},
                                   Field(&Dropped::reason, DropReason::kEthDstNotOurs)));
  EXPECT_EQ(r->Summary().drops_total, 4u);
}

TEST(ReplayPipelineTest, UnansweredArpGivesUpAcrossAGapAsTheDaemonWould) {
  // No static neighbours: the SYN waits for its backend's MAC; nobody answers, so after three
  // requests a second apart the control thread drops it, while the trace is silent.
  Replay r(/*static_neighbors=*/false);
  r.Feed(kConsumer0, FromClient(nat::kTcpSyn, 1000, 0), kT0);
  r.Feed(kConsumer0, ArpRequest(kPe), kT0 + 10'000'000);
  r->Flush();
  EXPECT_TRUE(r.Tcp(kProvider0).empty());
  ASSERT_EQ(r.drops.size(), 1u);
  EXPECT_EQ(r.drops[0].reason, DropReason::kNeighbourUnresolved);
  EXPECT_THAT(r.drops[0].time, Ge(kT0 + 2'000'000));
  EXPECT_THAT(r.drops[0].time, Le(kT0 + 4'000'000));
  // ARP requests for the SYN's backend went out at the start and then about once a second.
  std::vector<uint64_t> request_times;
  for (const Sent& s : r.sent) {
    if (s.port == kProvider0 && Be16At(s.bytes, 12) == kEtherTypeArp &&
        Be16At(s.bytes, 20) == kArpOpRequest &&
        !std::equal(s.bytes.begin() + 28, s.bytes.begin() + 32, s.bytes.begin() + 38)) {
      request_times.push_back(s.time);
    }
  }
  ASSERT_GE(request_times.size(), 3u);
  EXPECT_EQ(request_times.front(), kT0);
  EXPECT_THAT(request_times.back(), Ge(kT0 + 1'000'000));
  EXPECT_EQ(r->Summary().held_at_end, 0u);
}

}  // namespace
}  // namespace privlink::dataplane::testing
