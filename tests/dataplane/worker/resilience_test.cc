// Reliability and security of the packet path (issue 8) on the single-worker harness
// (tests/dataplane/worker_harness.h) with its virtual clock:
//   - resources: NAT ports of a service exhausted, flow table full, TX ring full, mbuf pool empty,
//     10 million packets with every count checked after (scenarios 7, 8, 10, 11);
//   - a flood of spoofed SYNs for 30 s of virtual time (9);
//   - the control model changed every 10 ms for 30 s while established flows carry traffic
//     (12, 13);
//   - what must never pass: unsolicited provider packets, guessed NAT ports, PEs used to reach
//     anything but their own service, one consumer network's traffic in another (15, 16, 17).
// Established flows are checked byte for byte: a packet each way must leave exactly as
// translated on the flow's own NAT tuple and backend, on its own network, and nowhere else.
#include <gtest/gtest.h>
#include <rte_mempool.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "control/model/workflow.h"
#include "dataplane/packet/drop_reason.h"
#include "tests/dataplane/framework/forward_frames.h"

namespace privlink::dataplane {
namespace {

using namespace privlink::dataplane::testing;

// Sanitizer builds run the load tests with fewer packets (ASan is ~10x slower per packet).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

constexpr uint32_t kEmbryonicMs = nat::FlowTimeouts{}.embryonic_ms;

struct Seen {
  Ipv4Be src = 0, dst = 0;
  uint16_t sport = 0, dport = 0;  // host order
  uint8_t flags = 0;
};

// The IPv4/TCP fields of a frame the worker sent (tagged or not).
Seen ReadTcp(const Bytes& f) {
  const size_t l3 = Be16ToHost(Load16(f, kEthTypeOffset)) == kEtherTypeVlan
                        ? kEthHeaderLen + kVlanTagLen
                        : kEthHeaderLen;
  const size_t l4 = l3 + size_t{f.at(l3) & 0x0fu} * 4;
  Seen s;
  s.src = Load32(f, l3 + nat::kIpv4SrcOffset);
  s.dst = Load32(f, l3 + nat::kIpv4DstOffset);
  s.sport = Be16ToHost(Load16(f, l4 + nat::kTcpSrcPortOffset));
  s.dport = Be16ToHost(Load16(f, l4 + nat::kTcpDstPortOffset));
  s.flags = f.at(l4 + 13);
  return s;
}

bool IsNatIp(Ipv4Be ip) {
  return ip == kNatIps[0] || ip == kNatIps[1];
}

Bytes SynFrom(const Net& net, uint16_t client_port, Ipv4Be pe = kPeIp) {
  return BuildTcpFrame(FromClient(net, Tcp(kTcpSyn, 1000, 0, 0, client_port), pe)).bytes;
}

// An established flow and one data segment each way, with what each must become.
struct Conn {
  const Net* net = nullptr;
  uint16_t client_port = 0;
  Ipv4Be pe = kPeIp;
  NatTuple nat;
  Ipv4Be backend = 0;
  Bytes client_data, backend_data;
  Frame to_backend, to_client;
};

// Opens a flow by a full handshake (SYN, SYN-ACK, ACK); fails the test if any step is not
// forwarded.
Conn Open(WorkerHarness& h, const Net& net, uint16_t client_port, Ipv4Be pe = kPeIp) {
  Conn c;
  c.net = &net;
  c.client_port = client_port;
  c.pe = pe;
  h.Inject(net.port, SynFrom(net, client_port, pe));
  h.Poll();
  std::vector<Bytes> out = h.TakeSent(kProvider);
  if (out.size() != 1) {
    ADD_FAILURE() << "SYN from client port " << client_port << " not forwarded";
    return c;
  }
  c.nat = ReadNat(out[0]);
  c.backend = ReadTcp(out[0]).dst;
  h.Inject(kProvider, BuildTcpFrame(FromBackend(c.backend, c.nat, kTcpSyn | kTcpAck, 5000, 1001)));
  h.Poll();
  EXPECT_EQ(h.TakeSent(net.port).size(), 1u) << "SYN-ACK";
  h.Inject(net.port, BuildTcpFrame(FromClient(net, Tcp(kTcpAck, 1001, 5001, 0, client_port), pe)));
  h.Poll();
  EXPECT_EQ(h.TakeSent(kProvider).size(), 1u) << "ACK";

  TcpFrameSpec data = FromClient(net, Tcp(kTcpAck | kTcpPsh, 1001, 5001, 10, client_port), pe);
  c.client_data = BuildTcpFrame(data).bytes;
  c.to_backend = BuildTcpFrame(TowardsBackend(data, c.backend, c.nat));
  TcpFrameSpec reply = FromBackend(c.backend, c.nat, kTcpAck | kTcpPsh, 5001, 1011, 10);
  c.backend_data = BuildTcpFrame(reply).bytes;
  TcpFrameSpec back = TowardsClient(reply, net, client_port);
  back.ip.src = pe;
  c.to_client = BuildTcpFrame(back);
  return c;
}

// One data segment each way on every flow: each must leave exactly translated, on its own flow's
// NAT tuple and backend, on its own network's port, and nothing else may leave. Flows go in
// groups the RX rings hold; the worker polls consumer ports before the provider's, so a group's
// frames to backends leave in port order.
::testing::AssertionResult CarryAll(WorkerHarness& h, const std::vector<Conn>& conns) {
  constexpr size_t kGroup = 16;
  for (size_t first = 0; first < conns.size(); first += kGroup) {
    const size_t end = std::min(conns.size(), first + kGroup);
    std::array<std::vector<const Frame*>, kPortCount> want;
    for (uint16_t in_port : {kConsumer0, kConsumer1}) {
      for (size_t i = first; i < end; ++i) {
        if (conns[i].net->port != in_port) continue;
        h.Inject(in_port, conns[i].client_data);
        want[kProvider].push_back(&conns[i].to_backend);
      }
    }
    for (size_t i = first; i < end; ++i) {
      h.Inject(kProvider, conns[i].backend_data);
      want[conns[i].net->port].push_back(&conns[i].to_client);
    }
    while (h.Poll() != 0) {
    }
    for (uint16_t port = 0; port < kPortCount; ++port) {
      const std::vector<Bytes> got = h.TakeSent(port);
      if (got.size() != want[port].size()) {
        return ::testing::AssertionFailure()
               << got.size() << " frames on port " << port << ", want " << want[port].size();
      }
      for (size_t i = 0; i < got.size(); ++i) {
        if (::testing::AssertionResult same = SameFrame(got[i], *want[port][i]); !same) {
          return same << " (port " << port << ", frame " << i << ")";
        }
      }
    }
    if (h.ToControlCount() != 0) return ::testing::AssertionFailure() << "frames to control";
  }
  return ::testing::AssertionSuccess();
}

uint32_t ServiceIdOf(const WorkerHarness& h, const std::string& name) {
  for (const auto& s : h.snapshot().services) {
    if (s != nullptr && s->name == name) return s->id;
  }
  ADD_FAILURE() << "no service " << name;
  return 0;
}

uint64_t NatPortsInUse(WorkerHarness& h) {
  uint64_t in_use = 0;
  for (const Counter& c : h.worker().counters.nat_ports[ServiceIdOf(h, kService)].in_use) {
    in_use += c.Read();
  }
  return in_use;
}

// Polls until the expiry sweep has passed over the whole shard a few times.
void Sweep(WorkerHarness& h) {
  const uint32_t passes = 2 + h.flows().capacity() / kExpiryBudget;
  for (uint32_t i = 0; i < passes; ++i) h.Poll();
}

// Injects SYNs from client ports first_port.. (in bursts the RX ring holds) and returns the
// frames forwarded to the provider; nothing may leave towards a consumer.
std::vector<Bytes> SendSyns(WorkerHarness& h, uint16_t first_port, unsigned count) {
  constexpr unsigned kBurst = 32;
  std::vector<Bytes> forwarded;
  for (unsigned i = 0; i < count; i += kBurst) {
    for (unsigned j = i; j < std::min(count, i + kBurst); ++j) {
      h.Inject(kConsumer0, SynFrom(kNetA, static_cast<uint16_t>(first_port + j)));
    }
    while (h.Poll() != 0) {
    }
    for (Bytes& f : h.TakeSent(kProvider)) forwarded.push_back(std::move(f));
    EXPECT_TRUE(h.TakeSent(kConsumer0).empty());
  }
  return forwarded;
}

// ---- 7: NAT ports exhausted ----

TEST(ResourceTest, NatPortsExhaustedDropsAndCountsTheSynAndServiceResumesAsFlowsExpire) {
  constexpr uint16_t kFirst = 1024, kLast = 1031;  // 8 ports per (NAT IP, backend)
  constexpr uint32_t kQuarantineMs = 1000;
  HarnessOptions options;
  options.nat_first_port = kFirst;
  options.nat_last_port = kLast;
  options.nat_quarantine_ms = kQuarantineMs;
  WorkerHarness h(options);
  const uint32_t per_pair = kLast - kFirst + 1;
  const uint32_t all = per_pair * kNatIps.size() * kBackends.size();

  constexpr unsigned kSyns = 200;
  const std::vector<Bytes> forwarded = SendSyns(h, 20000, kSyns);
  std::set<std::tuple<Ipv4Be, uint16_t, Ipv4Be>> given;
  for (const Bytes& f : forwarded) {
    const Seen s = ReadTcp(f);
    EXPECT_TRUE(IsNatIp(s.src)) << "untranslated source " << FormatIpv4(s.src);
    EXPECT_GE(s.sport, kFirst);
    EXPECT_LE(s.sport, kLast);
    EXPECT_TRUE(given.insert({s.src, s.sport, s.dst}).second)
        << "NAT tuple " << FormatIpv4(s.src) << ":" << s.sport << " given twice";
  }
  EXPECT_EQ(forwarded.size(), all);
  EXPECT_EQ(h.DropCount(DropReason::kNatPortsExhausted), kSyns - all);
  EXPECT_EQ(h.TotalDrops(), kSyns - all);
  // Every pair's ports in use: none free.
  const nat::TimeMs now = h.clock().NowMs();
  for (const Ipv4Be nat_ip : kNatIps) {
    for (const Ipv4Be backend : kBackends) {
      const nat::PortUsage u =
          h.worker().ports.Usage(nat_ip, {backend, HostToBe16(kBackendPort)}, now);
      EXPECT_EQ(u.used, per_pair);
      EXPECT_EQ(u.capacity - u.used - u.quarantined, 0u) << "ports free";
    }
  }
  EXPECT_EQ(NatPortsInUse(h), all);

  // The embryonic flows expire; their ports wait out the quarantine, then serve again.
  h.clock().Advance(kEmbryonicMs + 1);
  Sweep(h);
  EXPECT_EQ(h.worker().counters.flows_expired.Read(), all);
  EXPECT_EQ(h.flows().Size(), 0u);
  EXPECT_EQ(NatPortsInUse(h), 0u);
  h.clock().Advance(kQuarantineMs + 1);
  // The same client ports again: the same backends, every pair's ports usable again.
  const std::vector<Bytes> again = SendSyns(h, 20000, kSyns);
  EXPECT_EQ(again.size(), all) << "service resumes with every port";
  EXPECT_EQ(h.DropCount(DropReason::kNatPortsExhausted), 2 * (kSyns - all));
  DrainAndCheckNoLeak(h);
}

// ---- 8: flow table full ----

TEST(ResourceTest, FullFlowTableDropsNewFlowsKeepsOldOnesAndReclaimsSpace) {
  HarnessOptions options;
  options.flow_capacity = 64;
  WorkerHarness h(options);
  const std::vector<Conn> conns = {Open(h, kNetA, 40000)};
  ASSERT_TRUE(CarryAll(h, conns));

  constexpr unsigned kSyns = 200;
  const size_t forwarded = SendSyns(h, 20000, kSyns).size();
  EXPECT_LE(h.flows().Size(), options.flow_capacity);
  EXPECT_LT(forwarded, options.flow_capacity);
  EXPECT_GT(forwarded, options.flow_capacity / 2);
  EXPECT_EQ(h.DropCount(DropReason::kFlowTableFull), kSyns - forwarded);
  EXPECT_EQ(h.TotalDrops(), kSyns - forwarded);
  EXPECT_TRUE(CarryAll(h, conns)) << "the established flow keeps forwarding";

  h.clock().Advance(kEmbryonicMs + 1);
  Sweep(h);
  EXPECT_EQ(h.flows().Size(), 1u) << "embryonic flows gone, the established one kept";
  EXPECT_EQ(SendSyns(h, 30000, 10).size(), 10u) << "space reclaimed";
  EXPECT_TRUE(CarryAll(h, conns));
  DrainAndCheckNoLeak(h);
}

// ---- 10: TX ring full, mbuf pool empty ----

TEST(ResourceTest, FullTxRingDropsAndCountsAndLeaksNoMbuf) {
  HarnessOptions options;
  options.tx_ring_size = 32;  // holds 31
  WorkerHarness h(options);
  const std::vector<Conn> conns = {Open(h, kNetA, 40000)};
  constexpr unsigned kPackets = 60;
  h.InjectCopies(kConsumer0, conns[0].client_data, kPackets);
  while (h.Poll() != 0) {
  }  // nobody empties the provider's TX ring meanwhile
  const unsigned sent = h.DiscardSent(kProvider);
  EXPECT_EQ(sent, options.tx_ring_size - 1);
  EXPECT_EQ(h.DropCount(DropReason::kTxRingFull), kPackets - sent);
  EXPECT_EQ(h.MbufsInUse(), 0u) << "pool back to full";
  EXPECT_TRUE(CarryAll(h, conns));
  DrainAndCheckNoLeak(h);
}

TEST(ResourceTest, EmptyMbufPoolDropsTheResetItCannotBuildAndLeaksNoMbuf) {
  WorkerHarness h;
  const Conn c = Open(h, kNetA, 40000);
  ASSERT_TRUE(h.RejectConnection(kEndpointA).ok());
  // Take every mbuf but one: the client's packet gets it, the reset back to the client none.
  std::vector<rte_mbuf*> held;
  while (rte_mbuf* m = rte_pktmbuf_alloc(h.pool())) held.push_back(m);
  ASSERT_FALSE(held.empty());
  rte_pktmbuf_free(held.back());
  held.pop_back();
  h.Inject(kConsumer0, c.client_data);
  ASSERT_EQ(h.Poll(), 1u);
  EXPECT_EQ(h.DropCount(DropReason::kConnectionTornDown), 1u);
  EXPECT_EQ(h.DropCount(DropReason::kMbufPoolExhausted), 1u);
  const std::vector<Bytes> to_backend = h.TakeSent(kProvider);
  ASSERT_EQ(to_backend.size(), 1u) << "the reset riding on the packet still goes on";
  EXPECT_NE(ReadTcp(to_backend[0]).flags & kTcpRst, 0);
  EXPECT_TRUE(h.TakeSent(kConsumer0).empty());
  for (rte_mbuf* m : held) rte_pktmbuf_free(m);
  DrainAndCheckNoLeak(h);
  EXPECT_EQ(rte_mempool_avail_count(h.pool()), HarnessOptions{}.pool_size);
}

// ---- 11: millions of packets, then every count ----

TEST(LoadTest, TenMillionPacketsLeaveEveryMbufInItsPoolAndCountsConsistent) {
  const uint64_t packets = kSanitized ? 500'000 : 10'000'000;
  constexpr unsigned kFlowsPerNetwork = 32;
  constexpr unsigned kCopies = 8;  // of each segment per burst: 32 packets a round
  WorkerHarness h;
  std::vector<Conn> a, b;
  for (unsigned i = 0; i < kFlowsPerNetwork; ++i) {
    a.push_back(Open(h, kNetA, static_cast<uint16_t>(40000 + i)));
    b.push_back(Open(h, kNetB, static_cast<uint16_t>(40000 + i)));
  }
  const auto start = std::chrono::steady_clock::now();
  std::array<uint64_t, kPortCount> out{};
  uint64_t in = 0;
  for (unsigned round = 0; in < packets; ++round) {
    const unsigned i = round % kFlowsPerNetwork;
    h.InjectCopies(kConsumer0, a[i].client_data, kCopies);
    h.InjectCopies(kConsumer1, b[i].client_data, kCopies);
    h.InjectCopies(kProvider, a[i].backend_data, kCopies);
    h.InjectCopies(kProvider, b[i].backend_data, kCopies);
    in += 4 * kCopies;
    h.Poll();
    for (uint16_t p = 0; p < kPortCount; ++p) out[p] += h.DiscardSent(p);
    if (round % 1024 == 0) h.clock().Advance(1);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%llu packets through the worker in %.2f s (%.2f Mpps with the test's own work)\n",
              static_cast<unsigned long long>(in), seconds, in / seconds / 1e6);
  ::testing::Test::RecordProperty("packets", std::to_string(in));

  EXPECT_EQ(out[kProvider], in / 2);
  EXPECT_EQ(out[kConsumer0], in / 4);
  EXPECT_EQ(out[kConsumer1], in / 4);
  EXPECT_EQ(h.TotalDrops(), 0u);
  EXPECT_EQ(h.MbufsInUse(), 0u);
  EXPECT_EQ(rte_mempool_avail_count(h.pool()), HarnessOptions{}.pool_size);
  EXPECT_EQ(h.flows().Size(), 2 * kFlowsPerNetwork);
  EXPECT_EQ(h.worker().counters.flows_created.Read(), 2 * kFlowsPerNetwork);
  EXPECT_EQ(NatPortsInUse(h), 2 * kFlowsPerNetwork);
  uint32_t ports_used = 0;
  for (const Ipv4Be nat_ip : kNatIps) ports_used += h.worker().ports.Usage(nat_ip, 0).used;
  EXPECT_EQ(ports_used, 2 * kFlowsPerNetwork);
  std::vector<Conn> all = a;
  all.insert(all.end(), b.begin(), b.end());
  EXPECT_TRUE(CarryAll(h, all));
  DrainAndCheckNoLeak(h);
}

// ---- 9: SYN flood ----

TEST(LoadTest, SpoofedSynFloodKeepsMemoryBoundedAndEstablishedFlowsForwarding) {
  constexpr nat::TimeMs kFloodMs = 30'000;
  const unsigned per_ms = kSanitized ? 8 : 32;  // SYNs per millisecond of virtual time
  WorkerHarness h;
  std::vector<Conn> conns;
  for (uint16_t i = 0; i < 4; ++i) {
    conns.push_back(Open(h, kNetA, static_cast<uint16_t>(40000 + i)));
    conns.push_back(Open(h, kNetB, static_cast<uint16_t>(40000 + i)));
  }
  const size_t table_bytes = h.flows().MemoryBytes();
  Frame syn = BuildTcpFrame(FromClient(kNetA, Tcp(kTcpSyn, 1000, 0, 0, 1)));
  constexpr size_t kIpSrc = kEthHeaderLen + nat::kIpv4SrcOffset;
  constexpr size_t kTcpSrcPort = kEthHeaderLen + nat::kIpv4MinHeaderLen + nat::kTcpSrcPortOffset;
  uint64_t seed = 0x9e3779b97f4a7c15;
  auto next = [&seed] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };

  uint64_t syns = 0, forwarded = 0, to_consumers = 0;
  uint32_t peak_flows = 0;
  const auto start = std::chrono::steady_clock::now();
  for (nat::TimeMs t = 0; t < kFloodMs; ++t) {
    for (unsigned i = 0; i < per_ms; ++i) {
      const uint64_t r = next();
      syn.Set16(kIpSrc, static_cast<uint16_t>(0x0a80 | ((r >> 48) & 0x7f)))  // 10.128/9
          .Set16(kIpSrc + 2, static_cast<uint16_t>(r >> 32))
          .Set16(kTcpSrcPort, static_cast<uint16_t>(1024 + (r & 0xefff)))
          .FixChecksums();
      h.Inject(kConsumer0, syn);
    }
    syns += per_ms;
    while (h.Poll() != 0) {
    }
    forwarded += h.DiscardSent(kProvider);
    to_consumers += h.DiscardSent(kConsumer0) + h.DiscardSent(kConsumer1);
    peak_flows = std::max(peak_flows, h.flows().Size());
    if (t % 1000 == 0) {
      ASSERT_TRUE(CarryAll(h, conns)) << "at " << t << " ms";
    }
    h.clock().Advance(1);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const uint64_t full = h.DropCount(DropReason::kFlowTableFull);
  const uint64_t expired_during = h.worker().counters.flows_expired.Read();
  EXPECT_TRUE(CarryAll(h, conns));
  EXPECT_LE(peak_flows, h.flows().capacity());
  EXPECT_EQ(h.flows().MemoryBytes(), table_bytes);
  std::string drops;
  for (size_t r = 0; r < kDropReasonCount; ++r) {
    if (const uint64_t n = h.DropCount(static_cast<DropReason>(r)); n != 0) {
      drops +=
          std::string(DropReasonName(static_cast<DropReason>(r))) + "=" + std::to_string(n) + " ";
    }
  }
  EXPECT_EQ(forwarded + full, syns)
      << "every SYN forwarded or dropped as flow_table_full: " << drops;
  EXPECT_EQ(to_consumers, 0u);
  EXPECT_GT(full, 0u);
  EXPECT_EQ(h.MbufsInUse(), 0u);

  // The flood stops: every embryonic flow expires at its timeout, the established ones stay.
  for (nat::TimeMs t = 0; t <= kEmbryonicMs; t += 100) {
    h.clock().Advance(100);
    Sweep(h);
  }
  EXPECT_EQ(h.flows().Size(), conns.size());
  EXPECT_EQ(h.worker().counters.flows_expired.Read(), forwarded);
  EXPECT_TRUE(CarryAll(h, conns));
  // New clients get through at once: the refused SYNs parked no NAT port.
  EXPECT_EQ(SendSyns(h, 20000, 64).size(), 64u);
  EXPECT_EQ(h.DropCount(DropReason::kNatPortsExhausted), 0u);
  std::printf(
      "SYN flood: %llu spoofed SYNs in %llu s of virtual time (%u per ms) took %.2f s "
      "(%.0f SYN/s); %llu got a flow, %llu dropped as flow_table_full; peak %u flows of %u; "
      "table %zu bytes throughout; %llu embryonic flows expired during the flood, all %llu "
      "after; %zu established flows forwarded throughout\n",
      static_cast<unsigned long long>(syns), static_cast<unsigned long long>(kFloodMs / 1000),
      per_ms, seconds, syns / seconds, static_cast<unsigned long long>(forwarded),
      static_cast<unsigned long long>(full), peak_flows, h.flows().capacity(), table_bytes,
      static_cast<unsigned long long>(expired_during), static_cast<unsigned long long>(forwarded),
      conns.size());
  DrainAndCheckNoLeak(h);
}

// ---- 12, 13: config churn under traffic ----

absl::Status RemoveBackend(WorkerHarness& h, Ipv4Be backend) {
  return h.Change([&](control::Model& m, const control::WorkflowContext&) {
    auto& list = m.services.MutableAt(kService).backends;
    std::erase_if(list, [&](const control::Backend& b) { return b.ip == backend; });
    return absl::OkStatus();
  });
}

absl::Status AddSvc2NatIp(WorkerHarness& h) {
  return h.Change([&](control::Model& m, const control::WorkflowContext&) {
    auto& ips = m.services.MutableAt("svc2").nat_ips;
    if (ips.size() == 1) ips.push_back(Ipv4(192, 168, 10, 211));
    return absl::OkStatus();
  });
}

absl::Status DeleteUnrelatedResources(WorkerHarness& h) {
  return h.Change([&](control::Model& m, const control::WorkflowContext&) {
    if (absl::Status s = control::DeleteEndpoint(m, "pe-c"); !s.ok()) return s;
    if (absl::Status s = control::DeleteService(m, "svc2"); !s.ok()) return s;
    return control::DeleteNetwork(m, "c");
  });
}

TEST(ChurnTest, ChangesEveryTenMillisecondsForThirtySecondsLeaveUnrelatedFlowsAlone) {
  constexpr nat::TimeMs kRunMs = 30'000, kStepMs = 10;
  HarnessOptions options;
  options.maglev_table_size = 1031;  // a snapshot per change: keep each build quick
  WorkerHarness h(options);
  std::vector<Conn> conns;
  for (uint16_t i = 0; i < 4; ++i) {
    conns.push_back(Open(h, kNetA, static_cast<uint16_t>(40000 + i)));
    conns.push_back(Open(h, kNetB, static_cast<uint16_t>(40000 + i)));
  }
  ASSERT_TRUE(CarryAll(h, conns));

  unsigned changes = 0, torn_down = 0;
  Conn pending_flow;
  for (nat::TimeMs t = 0; t < kRunMs; t += kStepMs) {
    const unsigned step = static_cast<unsigned>(t / kStepMs);
    absl::Status s;
    switch (step % 10) {
      case 0:
        s = h.AddBackend(kExtraBackend);  // Maglev moves keys; flows stay pinned
        break;
      case 1:
        s = h.AddUnrelatedResources();  // network c, service svc2, endpoint pe-c
        break;
      case 2:
        s = h.ApproveConnection("pe-a-pending");
        break;
      case 3:
        // A flow of the endpoint about to be rejected (client port: fresh each cycle).
        pending_flow = Open(h, kNetA, static_cast<uint16_t>(50000 + step / 10), kPendingPeIp);
        ASSERT_TRUE(CarryAll(h, {pending_flow})) << "at " << t << " ms";
        break;
      case 4:
        s = AddSvc2NatIp(h);
        break;
      case 5:
        s = RemoveBackend(h, kExtraBackend);
        break;
      case 6:
        s = h.RejectConnection("pe-a-pending");
        break;
      case 7: {
        // 13: the rejected endpoint's flow is torn down (a reset each way), no one else's.
        const uint64_t before = h.DropCount(DropReason::kConnectionTornDown);
        h.Inject(kConsumer0, pending_flow.client_data);
        h.Poll();
        EXPECT_EQ(h.DropCount(DropReason::kConnectionTornDown), before + 1);
        const std::vector<Bytes> back = h.TakeSent(kConsumer0);
        const std::vector<Bytes> on = h.TakeSent(kProvider);
        EXPECT_TRUE(back.size() == 1 && (ReadTcp(back[0]).flags & kTcpRst) != 0);
        EXPECT_TRUE(on.size() == 1 && (ReadTcp(on[0]).flags & kTcpRst) != 0);
        torn_down += back.size() == 1 && on.size() == 1;
        break;
      }
      case 8:
        s = DeleteUnrelatedResources(h);
        break;
      case 9:
        s = h.AddBackend(kExtraBackend);
        if (s.ok()) s = RemoveBackend(h, kExtraBackend);
        break;
    }
    ASSERT_TRUE(s.ok()) << "step " << step << ": " << s;
    changes += step % 10 != 3 && step % 10 != 7;
    ASSERT_TRUE(CarryAll(h, conns)) << "at " << t << " ms, after step " << step % 10;
    // The worker has passed a quiescent state since the change: nothing may wait.
    ASSERT_EQ(h.control().publisher().Reclaim(), 0u) << "snapshots not reclaimed";
    h.clock().Advance(kStepMs);
  }
  std::printf("%u changes, %u rejected flows torn down, %zu flows untouched\n", changes, torn_down,
              conns.size());
  EXPECT_EQ(torn_down, kRunMs / kStepMs / 10);
  DrainAndCheckNoLeak(h);
}

// ---- 15, 16, 17: what must never pass ----

TEST(SecurityTest, NothingUnsolicitedReachesAConsumerAndPesReachOnlyTheirService) {
  WorkerHarness h;
  ASSERT_TRUE(h.AddUnrelatedResources().ok());  // svc2 (443 -> 8443) behind pe-c in network c
  // Identical client tuples in networks a and b, and one more flow in b only.
  const std::vector<Conn> conns = {Open(h, kNetA, 40000), Open(h, kNetB, 40000),
                                   Open(h, kNetB, 40001)};
  ASSERT_TRUE(CarryAll(h, conns));
  const Conn& a = conns[0];
  const Conn& b_only = conns[2];
  // A backend with no flow on a's NAT tuple (ports are allocated per NAT IP and backend, so
  // another backend may hold the same NAT tuple legitimately).
  Ipv4Be other_backend = 0;
  for (const Ipv4Be backend : kBackends) {
    if (std::none_of(conns.begin(), conns.end(), [&](const Conn& c) {
          return c.nat.ip == a.nat.ip && c.nat.port == a.nat.port && c.backend == backend;
        })) {
      other_backend = backend;
    }
  }
  ASSERT_NE(other_backend, 0u);
  const Ipv4Be other_nat_ip = a.nat.ip == kNatIps[0] ? kNatIps[1] : kNatIps[0];
  // A guess near a live NAT port that no flow holds with a's backend (the allocator hands ports
  // out in order, so b's flows may hold the neighbours).
  const auto live = [&](Ipv4Be ip, PortBe port) {
    return std::any_of(conns.begin(), conns.end(), [&](const Conn& c) {
      return c.nat.ip == ip && c.nat.port == port && c.backend == a.backend;
    });
  };
  const auto guess = [&](Ipv4Be ip, int delta) {
    for (uint16_t port = static_cast<uint16_t>(Be16ToHost(a.nat.port) + delta);;
         port += delta < 0 ? -1 : 1) {
      if (!live(ip, HostToBe16(port))) return NatTuple{ip, HostToBe16(port)};
    }
  };
  const auto from_backend = [](Ipv4Be backend, NatTuple nat, uint8_t flags,
                               uint16_t backend_port = kBackendPort) {
    TcpFrameSpec s = FromBackend(backend, nat, flags, 7, 7);
    s.tcp.src_port = HostToBe16(backend_port);
    return BuildTcpFrame(s).bytes;
  };
  const auto client_to = [](const Net& net, uint8_t flags, Ipv4Be dst, uint16_t dst_port,
                            uint16_t client_port = kClientPort) {
    TcpFrameSpec s = FromClient(net, Tcp(flags, 1, 0, 0, client_port), dst);
    s.tcp.dst_port = HostToBe16(dst_port);
    return BuildTcpFrame(s).bytes;
  };
  using R = DropReason;
  struct Case {
    std::string description;
    uint16_t port;
    Bytes frame;
    R reason;
  };
  const std::vector<Case> cases = {
      // 15: the provider side cannot open or guess its way in.
      {"spoofed backend address on a live NAT tuple", kProvider,
       from_backend(other_backend, a.nat, kTcpAck), R::kNatIpNoFlow},
      {"the flow's backend from another source port", kProvider,
       from_backend(a.backend, a.nat, kTcpAck, kBackendPort + 1), R::kNatIpNoFlow},
      {"guessed NAT port just above a live one", kProvider,
       from_backend(a.backend, guess(a.nat.ip, 1), kTcpAck), R::kNatIpNoFlow},
      {"guessed NAT port just below a live one", kProvider,
       from_backend(a.backend, guess(a.nat.ip, -1), kTcpAck | kTcpPsh), R::kNatIpNoFlow},
      {"the live NAT port (or the next free) on the other NAT IP", kProvider,
       from_backend(a.backend, guess(other_nat_ip, 0), kTcpAck), R::kNatIpNoFlow},
      {"RST to a guessed NAT port", kProvider, from_backend(a.backend, guess(a.nat.ip, 2), kTcpRst),
       R::kNatIpNoFlow},
      {"SYN-ACK to a guessed NAT port", kProvider,
       from_backend(a.backend, guess(a.nat.ip, 3), kTcpSyn | kTcpAck), R::kNatIpNoFlow},
      {"ACK with no flow from a client", kConsumer0,
       client_to(kNetA, kTcpAck, kPeIp, kFrontendPort, 40002), R::kNoFlowNotSyn},
      // 16: a PE reaches only its own service's rules.
      {"SYN to the PE on a port with no rule", kConsumer0,
       client_to(kNetA, kTcpSyn, kPeIp, 22, 40003), R::kNoEndpoint},
      {"SYN to the PE on the backend port", kConsumer0,
       client_to(kNetA, kTcpSyn, kPeIp, kBackendPort, 40003), R::kNoEndpoint},
      {"SYN to the PE on another service's port (svc2's 443)", kConsumer0,
       client_to(kNetA, kTcpSyn, kPeIp, 443, 40003), R::kNoEndpoint},
      {"SYN straight to a backend", kConsumer0,
       client_to(kNetA, kTcpSyn, a.backend, kBackendPort, 40003), R::kNoEndpoint},
      {"SYN straight to a NAT IP", kConsumer0,
       client_to(kNetA, kTcpSyn, a.nat.ip, Be16ToHost(a.nat.port), 40003), R::kNoEndpoint},
      {"ACK to a live NAT tuple from a client", kConsumer1,
       client_to(kNetB, kTcpAck, a.nat.ip, Be16ToHost(a.nat.port), 40003), R::kNoFlowNotSyn},
      // 17: network a does not share network b's flows, even with the same addresses.
      {"ACK in network a on a tuple only network b has a flow for", kConsumer0,
       client_to(kNetA, kTcpAck, kPeIp, kFrontendPort, b_only.client_port), R::kNoFlowNotSyn},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.description);
    const uint64_t before = h.DropCount(c.reason);
    const uint64_t total = h.TotalDrops();
    h.Inject(c.port, c.frame);
    ASSERT_EQ(h.Poll(), 1u);
    EXPECT_EQ(h.DropCount(c.reason), before + 1) << "want " << DropReasonName(c.reason);
    EXPECT_EQ(h.TotalDrops(), total + 1);
    for (uint16_t p = 0; p < kPortCount; ++p) EXPECT_TRUE(h.TakeSent(p).empty()) << "port " << p;
    EXPECT_EQ(h.ToControlCount(), 0u);
  }
  EXPECT_EQ(h.flows().Size(), conns.size()) << "no flow created by any of them";
  EXPECT_TRUE(CarryAll(h, conns)) << "each network's flows still its own";
  DrainAndCheckNoLeak(h);
}

}  // namespace
}  // namespace privlink::dataplane
