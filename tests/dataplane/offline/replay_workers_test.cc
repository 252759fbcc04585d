// ReplayPipeline with two workers (dataplane/in_process.h): frames reach the queue RSS picks
// (dataplane/rss.h), so a connection's two directions often meet different workers, which share
// the flow table. Every frame of 200 connections must still be translated, with no drop, and
// each worker's counters must show exactly the frames RSS gave its queue.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"

#include "control/config/daemon_config.h"
#include "dataplane/offline/replay.h"
#include "dataplane/offline/rss.h"
#include "tests/dataplane/framework/replay_test_util.h"

namespace privlink::dataplane::testing {
namespace {

using ::testing::AnyOf;

constexpr uint16_t kConsumer0 = 0;
constexpr uint16_t kProvider0 = 2;
constexpr uint16_t kFlows = 200;
constexpr uint32_t kBackendIsn = 5000;
constexpr size_t kRequestBytes = 10;
constexpr size_t kResponseBytes = 20;

uint32_t ClientIsn(uint16_t flow) {
  return 1000u * flow + 1;
}

std::vector<uint8_t> TcpFrame(Ipv4Be src, uint16_t sport, Ipv4Be dst, uint16_t dport) {
  return BuildTcpFrame({.ip = {.src = src, .dst = dst},
                        .tcp = {.src_port = HostToBe16(sport), .dst_port = HostToBe16(dport)}})
      .bytes;
}

// Microsoft's RSS verification suite (IPv4 with TCP ports): with 128 queues the queue is the
// hash's low 7 bits.
TEST(RssTest, MatchesTheToeplitzVerificationSuite) {
  EXPECT_EQ(RssQueue(TcpFrame(Ipv4(66, 9, 149, 187), 2794, Ipv4(161, 142, 100, 80), 1766), 128),
            0x51ccc178u % 128);
  EXPECT_EQ(RssQueue(TcpFrame(Ipv4(199, 92, 111, 2), 14230, Ipv4(65, 69, 140, 83), 4739), 128),
            0xc626b0eau % 128);
  EXPECT_EQ(RssQueue(TcpFrame(Ipv4(24, 19, 198, 95), 12898, Ipv4(12, 22, 207, 184), 38024), 128),
            0x5c2b394au % 128);
}

// Other IPv4 (ICMP errors) hashes on the addresses alone, as a NIC hashing IPv4 does: Microsoft's
// IPv4-only vectors.
TEST(RssTest, HashesOtherIpv4ByItsAddressesOnly) {
  std::vector<uint8_t> icmp = TcpFrame(Ipv4(66, 9, 149, 187), 2794, Ipv4(161, 142, 100, 80), 1766);
  icmp[kEthHeaderLen + 9] = 1;  // protocol: ICMP
  EXPECT_EQ(RssQueue(icmp, 128), 0x323e8fc2u % 128);
  icmp = TcpFrame(Ipv4(199, 92, 111, 2), 14230, Ipv4(65, 69, 140, 83), 4739);
  icmp[kEthHeaderLen + 9] = 1;
  EXPECT_EQ(RssQueue(icmp, 128), 0xd718262au % 128);
}

TEST(RssTest, SteersIpv4TcpByAddressesAndPortsAndNonIpv4ToQueueZero) {
  const auto syn = FromClient(nat::kTcpSyn, 1, 0);
  EXPECT_EQ(RssQueue(syn, 1), 0u);
  EXPECT_EQ(RssQueue(syn, 4), RssQueue(syn, 4)) << "a function of the frame";
  EXPECT_EQ(RssQueue(ArpRequest(kPe), 4), 0u);
  // Over many client ports every queue is used.
  std::vector<int> used(4);
  for (uint16_t port = 0; port < 64; ++port) {
    ++used[RssQueue(FromClient(nat::kTcpSyn, 1, 0, 0, {}, port), 4)];
  }
  for (const int n : used) EXPECT_GT(n, 0);
}

struct WorkersCase {
  uint32_t workers;
  std::string steering;  // dataplane.flowSteering
};

class MultiWorkerReplay : public ::testing::TestWithParam<WorkersCase> {
 protected:
  bool steered() const { return GetParam().steering == "rss-port-choice"; }
  void SetUp() override {
    nlohmann::json json = ReplayTestConfig();
    json["dataplane"]["flowSteering"] = GetParam().steering;
    auto config = control::ParseDaemonConfig(json.dump());
    ASSERT_TRUE(config.ok()) << config.status();
    auto pipeline = ReplayPipeline::Create(*config, {.workers = workers_});
    ASSERT_TRUE(pipeline.ok()) << pipeline.status();
    p_ = std::move(*pipeline);
    p_->OnSent([this](uint16_t port, std::span<const uint8_t> f, uint64_t) {
      std::vector<uint8_t> bytes(f.begin(), f.end());
      if (IsTcp(bytes)) sent_[port].push_back(std::move(bytes));
    });
  }

  // Feeds `frame` and counts it for the worker RSS gives it.
  void Feed(uint16_t port, const std::vector<uint8_t>& frame, uint64_t time) {
    const uint32_t queue = RssQueue(frame, workers_);
    (port == kConsumer0 ? to_providers_ : to_consumers_)[queue]++;
    ASSERT_TRUE(p_->Feed(port, frame, time).ok());
  }
  // The TCP frames sent on `port` since the last call.
  std::vector<std::vector<uint8_t>> Take(uint16_t port) { return std::exchange(sent_[port], {}); }

  std::unique_ptr<ReplayPipeline> p_;
  std::map<uint16_t, std::vector<std::vector<uint8_t>>> sent_;
  const uint32_t workers_ = GetParam().workers;
  std::vector<uint64_t> to_providers_ = std::vector<uint64_t>(workers_);  // client frames per queue
  std::vector<uint64_t> to_consumers_ = std::vector<uint64_t>(workers_);  // backend frames
};

// Shared: RSS is not symmetric and NAT rewrites the tuple, so many flows' two directions meet
// different workers, and the shared table still translates every packet. RSS port choice: the
// NAT port makes each flow's return packets come back to the worker that created it.
TEST_P(MultiWorkerReplay, CarriesEveryConnectionWhereverItsDirectionsLand) {
  using namespace nat;
  uint64_t time = kT0;
  for (uint16_t i = 0; i < kFlows; ++i) {
    Feed(kConsumer0, FromClient(kTcpSyn, ClientIsn(i), 0, 0, {}, i), time);
  }
  p_->Flush();
  // The translated SYNs, by flow (the client's ISN is kept).
  std::map<uint16_t, Tcp> nat_side;
  for (const auto& f : Take(kProvider0)) {
    const Tcp t = ParseTcp(f);
    ASSERT_EQ(t.flags, kTcpSyn);
    ASSERT_EQ((t.seq - 1) % 1000, 0u);
    const auto flow = static_cast<uint16_t>((t.seq - 1) / 1000);
    EXPECT_THAT(t.src, AnyOf(kNatIps[0], kNatIps[1]));
    EXPECT_THAT(t.dst, AnyOf(kBackends[0], kBackends[1], kBackends[2]));
    EXPECT_EQ(t.dport, 8080);
    EXPECT_EQ(DstMac(f), BackendMac(t.dst));
    EXPECT_EQ(SrcMac(f), kProviderMac);
    EXPECT_TRUE(nat_side.emplace(flow, t).second) << "flow " << flow << " translated twice";
  }
  ASSERT_EQ(nat_side.size(), kFlows);

  // Flows whose return traffic RSS gives the other worker.
  int crossing = 0;
  for (uint16_t i = 0; i < kFlows; ++i) {
    const auto syn_ack = FromBackend(nat_side[i], kTcpSyn | kTcpAck, kBackendIsn, ClientIsn(i) + 1);
    crossing += RssQueue(syn_ack, workers_) !=
                RssQueue(FromClient(kTcpSyn, ClientIsn(i), 0, 0, {}, i), workers_);
    Feed(kProvider0, syn_ack, time += 10);
  }
  if (steered()) {
    EXPECT_EQ(crossing, 0) << "every return tuple comes back to its flow's creator";
  } else {
    EXPECT_GT(crossing, kFlows / 5) << "RSS is not symmetric: many flows cross workers";
    EXPECT_LT(crossing, kFlows);
  }
  p_->Flush();
  // The client's ACK and request, then the backend's response.
  for (uint16_t i = 0; i < kFlows; ++i) {
    Feed(kConsumer0, FromClient(kTcpAck, ClientIsn(i) + 1, kBackendIsn + 1, 0, {}, i), time);
    Feed(kConsumer0,
         FromClient(kTcpPsh | kTcpAck, ClientIsn(i) + 1, kBackendIsn + 1, kRequestBytes, {}, i),
         time += 10);
  }
  p_->Flush();
  for (uint16_t i = 0; i < kFlows; ++i) {
    Feed(kProvider0,
         FromBackend(nat_side[i], kTcpPsh | kTcpAck, kBackendIsn + 1,
                     ClientIsn(i) + 1 + kRequestBytes, kResponseBytes),
         time += 10);
  }
  p_->Flush();

  // Every later frame to the provider carries its flow's NAT tuple.
  const auto to_backends = Take(kProvider0);
  ASSERT_EQ(to_backends.size(), 2u * kFlows);
  for (const auto& f : to_backends) {
    const Tcp t = ParseTcp(f);
    const auto flow = static_cast<uint16_t>((t.seq - 1) / 1000);
    ASSERT_TRUE(nat_side.count(flow)) << t.seq;
    const Tcp& syn = nat_side[flow];
    EXPECT_EQ(t.src, syn.src);
    EXPECT_EQ(t.sport, syn.sport);
    EXPECT_EQ(t.dst, syn.dst);
    EXPECT_EQ(t.dport, 8080);
    EXPECT_EQ(DstMac(f), BackendMac(t.dst));
  }
  // And every frame back reaches its client from the PE.
  const auto to_clients = Take(kConsumer0);
  ASSERT_EQ(to_clients.size(), 2u * kFlows);
  std::map<uint16_t, int> per_client;
  for (const auto& f : to_clients) {
    const Tcp t = ParseTcp(f);
    EXPECT_EQ(t.src, kPe);
    EXPECT_EQ(t.sport, 80);
    EXPECT_EQ(t.dst, kClient);
    ASSERT_GE(t.dport, kClientPort);
    const auto flow = static_cast<uint16_t>(t.dport - kClientPort);
    EXPECT_EQ(t.ack, ClientIsn(flow) + 1 + (t.payload == kResponseBytes ? kRequestBytes : 0));
    EXPECT_EQ(DstMac(f), kClientMac);
    EXPECT_EQ(SrcMac(f), kConsumer0Mac);
    ++per_client[flow];
  }
  EXPECT_EQ(per_client.size(), kFlows);

  const ReplaySummary s = p_->Summary();
  EXPECT_EQ(s.drops_total, 0u);
  EXPECT_EQ(s.flows_created, kFlows);
  EXPECT_EQ(s.flows_live, kFlows);
  ASSERT_EQ(s.workers.size(), workers_);
  // Each worker translated exactly the frames its queue received, and both had a share.
  uint64_t created = 0;
  for (uint32_t w = 0; w < workers_; ++w) {
    SCOPED_TRACE(w);
    EXPECT_GT(to_providers_[w], 0u);
    EXPECT_GT(to_consumers_[w], 0u);
    EXPECT_EQ(s.workers[w].translated_to_providers, to_providers_[w]);
    EXPECT_EQ(s.workers[w].translated_to_consumers, to_consumers_[w]);
    EXPECT_GT(s.workers[w].flows_created, 0u);
  }
  for (const ReplayWorkerSummary& w : s.workers) created += w.flows_created;
  EXPECT_EQ(created, kFlows);
  EXPECT_EQ(s.translated_to_providers, 3u * kFlows);
  EXPECT_EQ(s.translated_to_consumers, 2u * kFlows);
  // The worker that received each packet of another's flow counted it.
  if (steered()) {
    EXPECT_EQ(s.foreign_packets, 0u);
  } else {
    EXPECT_EQ(s.foreign_packets, 2u * static_cast<uint64_t>(crossing))
        << "each crossing flow's SYN-ACK and response";
  }
}

// NAT ports under RSS port choice on two workers, with 16 ports per (NAT IP, backend): each
// worker hands out exactly its share of each pair (the ports that come back to it), no tuple
// twice, each one's return tuple steered to its creator; every SYN beyond the shares is dropped
// and counted as nat_ports_exhausted; once the flows expire and the quarantine is over, the same
// SYNs get every port again.
TEST(RssPortChoiceReplay, NatPortsRunOutExactlyPerWorkerAndComeBack) {
  using namespace nat;
  constexpr uint32_t kTwo = 2;
  constexpr uint16_t kFirst = 2000, kLast = 2015;
  nlohmann::json json = ReplayTestConfig();
  json["dataplane"]["flowSteering"] = "rss-port-choice";
  auto config = control::ParseDaemonConfig(json.dump());
  ASSERT_TRUE(config.ok()) << config.status();
  auto created = ReplayPipeline::Create(
      *config, {.workers = kTwo, .nat_first_port = kFirst, .nat_last_port = kLast});
  ASSERT_TRUE(created.ok()) << created.status();
  ReplayPipeline& p = **created;
  std::vector<std::vector<uint8_t>> sent;
  p.OnSent([&](uint16_t port, std::span<const uint8_t> f, uint64_t) {
    if (port == kProvider0 && IsTcp({f.begin(), f.end()})) sent.emplace_back(f.begin(), f.end());
  });
  constexpr uint16_t kSyns = 400;
  const auto send_syns = [&](uint64_t time) {
    std::map<uint32_t, uint32_t> creator_of_isn;
    for (uint16_t i = 0; i < kSyns; ++i) {
      const auto syn = FromClient(kTcpSyn, ClientIsn(i), 0, 0, {}, i);
      creator_of_isn[ClientIsn(i)] = RssQueue(syn, kTwo);
      EXPECT_TRUE(p.Feed(kConsumer0, syn, time).ok());
    }
    p.Flush();
    return creator_of_isn;
  };
  // Every pair's share on each worker, and what is in use of it.
  const auto usage = [&](uint64_t time_us) {
    uint32_t capacity = 0, used = 0;
    for (uint32_t w = 0; w < kTwo; ++w) {
      for (const Ipv4Be nat_ip : kNatIps) {
        for (const Ipv4Be backend : kBackends) {
          const PortUsage u =
              p.mutable_worker(w).ports.Usage(nat_ip, {backend, HostToBe16(8080)}, time_us / 1000);
          capacity += u.capacity;
          used += u.used;
        }
      }
    }
    return std::pair{capacity, used};
  };
  const uint32_t all = (kLast - kFirst + 1) * std::size(kNatIps) * std::size(kBackends);

  for (const uint64_t time : {kT0, kT0 + 200'000'000}) {  // the second after expiry + quarantine
    SCOPED_TRACE(time);
    sent.clear();
    const uint64_t drops_before =
        p.Summary().drops[static_cast<size_t>(DropReason::kNatPortsExhausted)];
    const std::map<uint32_t, uint32_t> creator = send_syns(time);
    std::set<std::tuple<Ipv4Be, uint16_t, Ipv4Be>> given;
    for (const auto& f : sent) {
      const Tcp t = ParseTcp(f);
      EXPECT_GE(t.sport, kFirst);
      EXPECT_LE(t.sport, kLast);
      EXPECT_TRUE(given.insert({t.src, t.sport, t.dst}).second) << "a NAT tuple given twice";
      const auto syn_ack = FromBackend(t, kTcpSyn | kTcpAck, 1, t.seq + 1);
      EXPECT_EQ(RssQueue(syn_ack, kTwo), creator.at(t.seq)) << "return steered to its creator";
    }
    const auto [capacity, used] = usage(time);
    EXPECT_EQ(capacity, all) << "the two workers' shares cover every pair's range";
    EXPECT_EQ(used, sent.size());
    EXPECT_EQ(sent.size(), all) << "every share used up: 400 SYNs are far more than 96 ports";
    EXPECT_EQ(p.Summary().drops[static_cast<size_t>(DropReason::kNatPortsExhausted)] - drops_before,
              kSyns - sent.size());
  }
  EXPECT_EQ(p.Summary().foreign_packets, 0u);
}

// UDP flows are steered like TCP's: each NAT port's return tuple (hashed on addresses and ports, as
// a NIC hashing IPv4/UDP does) comes back to the worker that created the flow, so a query and its
// answer never cross workers.
TEST(RssPortChoiceReplay, UdpAnswersComeBackToTheFlowsWorker) {
  constexpr uint32_t kTwo = 2;
  nlohmann::json json = ReplayTestConfig();
  json["dataplane"]["flowSteering"] = "rss-port-choice";
  json["privateLinkServices"][0]["loadBalancingRules"].push_back(
      {{"frontendPort", 53}, {"backendPort", 5353}, {"protocol", "udp"}});
  auto config = control::ParseDaemonConfig(json.dump());
  ASSERT_TRUE(config.ok()) << config.status();
  auto created = ReplayPipeline::Create(*config, {.workers = kTwo});
  ASSERT_TRUE(created.ok()) << created.status();
  ReplayPipeline& p = **created;
  std::map<uint16_t, std::vector<std::vector<uint8_t>>> sent;
  p.OnSent([&](uint16_t port, std::span<const uint8_t> f, uint64_t) {
    if (f.size() > kEthHeaderLen + 9 && f[kEthHeaderLen + 9] == kIpProtoUdp) {
      sent[port].emplace_back(f.begin(), f.end());
    }
  });
  constexpr uint16_t kQueries = 200;
  std::vector<int> per_queue(kTwo);
  for (uint16_t i = 0; i < kQueries; ++i) {
    const Frame query =
        BuildUdpFrame({.eth = {.dst = kConsumer0Mac, .src = kClientMac},
                       .ip = {.src = kClient, .dst = kPe},
                       .udp = {.src_port = HostToBe16(static_cast<uint16_t>(20000 + i)),
                               .payload = PatternPayload(30)}});
    ++per_queue[RssQueue(query.bytes, kTwo)];
    ASSERT_TRUE(p.Feed(kConsumer0, query.bytes, kT0).ok());
  }
  p.Flush();
  for (const int n : per_queue) EXPECT_GT(n, kQueries / 4) << "both workers create flows";
  ASSERT_EQ(sent[kProvider0].size(), kQueries);
  for (const auto& out : sent[kProvider0]) {
    // The backend answers to the NAT tuple the query came from.
    const Ipv4Be nat_ip = HostToBe32(Be32At(out, kEthHeaderLen + 12));
    const Ipv4Be backend = HostToBe32(Be32At(out, kEthHeaderLen + 16));
    const uint16_t nat_port = Be16At(out, kEthHeaderLen + 20);
    EXPECT_EQ(Be16At(out, kEthHeaderLen + 22), 5353);
    const Frame answer = BuildUdpFrame({.eth = {.dst = kProviderMac, .src = BackendMac(backend)},
                                        .ip = {.src = backend, .dst = nat_ip},
                                        .udp = {.src_port = HostToBe16(5353),
                                                .dst_port = HostToBe16(nat_port),
                                                .payload = PatternPayload(90)}});
    ASSERT_TRUE(p.Feed(kProvider0, answer.bytes, kT0 + 1000).ok());
  }
  p.Flush();
  EXPECT_EQ(sent[kConsumer0].size(), kQueries) << "every answer reaches the client";
  const ReplaySummary s = p.Summary();
  EXPECT_EQ(s.foreign_packets, 0u) << "no answer met another worker";
  EXPECT_EQ(s.flows_created, kQueries);
}

INSTANTIATE_TEST_SUITE_P(
    FlowSteering, MultiWorkerReplay,
    ::testing::Values(WorkersCase{2, "shared"}, WorkersCase{2, "rss-port-choice"},
                      WorkersCase{4, "shared"}, WorkersCase{4, "rss-port-choice"}),
    [](const auto& info) {
      std::string name = absl::StrCat(info.param.workers, "_workers_", info.param.steering);
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

}  // namespace
}  // namespace privlink::dataplane::testing
