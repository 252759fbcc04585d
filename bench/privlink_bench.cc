// privlink-bench: throughput of the real worker loop (PollOnce, the code privlinkd runs) on
// established flows. A ReplayPipeline gives the daemon's dataplane for one worker on net_ring
// ports; F flows are set up through it with full handshakes (the backend answers the NAT tuple
// read from the translated SYN). Then 64-byte ACK segments of random flows go both ways: each
// iteration puts a burst of 32 consumer->provider frames on the consumer port's RX ring and 32
// provider->consumer frames (what a reflecting backend sends back) on the provider port's, runs
// PollOnce once and empties the TX rings. Frames are pre-built per flow; the generator only
// copies 60 bytes into a recycled mbuf, and its time is kept apart from the worker's.
//
//   privlink-bench [--flows 1000,100000,1000000] [--seconds 3] [--packets N] [--json FILE]
#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "control/daemon_config.h"
#include "dataplane/replay.h"
#include "dataplane/worker_loop.h"
#include "nat/inet.h"
#include "nat/tcp_state.h"
#include "tools/trace/conversation.h"

namespace privlink::bench {
namespace {

using dataplane::MacAddress;
using dataplane::ReplayPipeline;

constexpr int kBackendCount = 8;  // 8 backends x 4 NAT IPs: 2M NAT ports, room for 1M flows
constexpr int kNatIpCount = 4;
constexpr uint16_t kFrontendPort = 80;
constexpr uint16_t kBackendPort = 8080;
constexpr uint32_t kFramesPerClientIp = 50000;   // client ports 10000..59999 per client IP
constexpr uint64_t kT0 = 1'700'000'000'000'000;  // µs; the virtual clock never moves
constexpr uint32_t kBackendIsn = 0x10000000;
constexpr size_t kFrameStride = 64;  // one pre-built frame per cache line
constexpr uint16_t kBurst = dataplane::kRxBurst;

constexpr MacAddress kClientMac = {0x02, 0, 0, 0, 0xaa, 0x01};
constexpr MacAddress kConsumerMac = {0x02, 0, 0, 0, 0xc0, 0x00};
constexpr MacAddress kProviderMac = {0x02, 0, 0, 0, 0xb0, 0x00};

Ipv4Be BackendIp(int i) {
  return Ipv4(192, 168, 10, static_cast<uint8_t>(11 + i));
}
MacAddress BackendMac(Ipv4Be ip) {
  return {0x02, 0, 0, 0, 0xbe, static_cast<uint8_t>(Be32ToHost(ip))};
}
std::string MacText(const MacAddress& m) {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return text;
}

// One consumer port, one provider port, one service with static neighbours (no ARP in the way).
std::string BenchConfig(uint64_t flows) {
  std::string backends, neighbors, nat_ips;
  for (int i = 0; i < kBackendCount; ++i) {
    const std::string ip = FormatIpv4(BackendIp(i));
    absl::StrAppend(&backends, i ? "," : "", "{\"ip\":\"", ip, "\"}");
    absl::StrAppend(&neighbors, i ? "," : "", "{\"ip\":\"", ip, "\",\"mac\":\"",
                    MacText(BackendMac(BackendIp(i))), "\"}");
  }
  for (int i = 0; i < kNatIpCount; ++i) {
    absl::StrAppend(&nat_ips, i ? "," : "", "\"192.168.10.", 200 + i, "\"");
  }
  // Two keys per flow, plus slack so the last inserts do not meet a full table.
  const uint64_t table_size = 2 * flows + flows / 8 + 1024;
  return absl::StrCat(
      R"({"dataplane":{"region":"bench","workers":1,"flowTableSize":)", table_size,
      R"(,"api":{"listen":"unix:/nonexistent/unused.sock"},"stateDir":"",)",
      R"("ports":[{"name":"consumer0","role":"consumer","device":"net_null0",)", R"("mac":")",
      MacText(kConsumerMac), R"("},)",
      R"({"name":"provider0","role":"provider","device":"net_null1",)", R"("mac":")",
      MacText(kProviderMac), R"(","subnet":"192.168.10.1/24","staticNeighbors":[)", neighbors,
      "]}]},", R"("networks":[{"name":"contoso","port":"consumer0","vlan":0}],)",
      R"("privateLinkServices":[{"name":"web","subscription":"sub-p",)",
      R"("loadBalancingRules":[{"frontendPort":80,"backendPort":8080}],)", R"("backends":[)",
      backends, "],\"natIps\":[", nat_ips, R"(],"visibility":["*"],"autoApproval":["sub-c"]}],)",
      R"("privateEndpoints":[{"name":"pe","subscription":"sub-c",)",
      R"("network":"contoso","ip":"10.0.0.100","privateLinkService":"web"}]})");
}

struct ClientTuple {
  Ipv4Be ip;
  PortBe port;
};
ClientTuple Client(uint64_t flow) {
  const uint32_t host =
      ((10u << 24) | (1u << 16)) + static_cast<uint32_t>(flow / kFramesPerClientIp);
  return {HostToBe32(host), HostToBe16(static_cast<uint16_t>(10000 + flow % kFramesPerClientIp))};
}

// The provider side of a flow, as the translated SYN showed it.
struct NatSide {
  Ipv4Be nat_ip = 0;
  PortBe nat_port = 0;
  Ipv4Be backend = 0;
};

trace::WireTuple ClientWire(uint64_t flow) {
  const ClientTuple c = Client(flow);
  return {.src_mac = kClientMac,
          .dst_mac = kConsumerMac,
          .src_ip = c.ip,
          .dst_ip = Ipv4(10, 0, 0, 100),
          .src_port = c.port,
          .dst_port = HostToBe16(kFrontendPort)};
}
trace::WireTuple BackendWire(const NatSide& n) {
  return {.src_mac = BackendMac(n.backend),
          .dst_mac = kProviderMac,
          .src_ip = n.backend,
          .dst_ip = n.nat_ip,
          .src_port = HostToBe16(kBackendPort),
          .dst_port = n.nat_port};
}
uint32_t ClientIsn(uint64_t flow) {
  return static_cast<uint32_t>(flow) * 4 + 1;
}

struct Result {
  uint64_t flows = 0;
  uint64_t established = 0;
  double setup_seconds = 0;
  uint64_t packets_in = 0;
  uint64_t forwarded = 0;
  uint64_t dropped = 0;
  std::vector<std::pair<std::string, uint64_t>> drop_reasons;
  uint64_t worker_cycles = 0;   // inside PollOnce
  uint64_t harness_cycles = 0;  // PollOnce plus generator and TX drain
  double tsc_hz = 0;
  uint64_t table_bytes = 0;
  uint64_t table_capacity = 0;
  double worker_mpps() const { return packets_in / (worker_cycles / tsc_hz) / 1e6; }
  double harness_mpps() const { return packets_in / (harness_cycles / tsc_hz) / 1e6; }
  double cycles_per_packet() const { return static_cast<double>(worker_cycles) / packets_in; }
  double bytes_per_flow() const { return static_cast<double>(table_bytes) / table_capacity; }
};

std::array<uint64_t, dataplane::kDropReasonCount> Drops(const ReplayPipeline& p) {
  return p.Summary().drops;
}

// Handshakes for `flows` flows through Feed; returns each flow's provider side.
bool Establish(ReplayPipeline& p, uint64_t flows, std::vector<NatSide>& sides, Result& r) {
  const uint16_t consumer = *p.PortIndex("consumer0");
  const uint16_t provider = *p.PortIndex("provider0");
  sides.assign(flows, {});
  uint64_t syns_seen = 0;
  p.OnSent([&](uint16_t port, std::span<const uint8_t> f, uint64_t) {
    // Translated SYNs: untagged IPv4/TCP with SYN alone; the client ISN names the flow.
    if (port != provider || f.size() < 54 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 6) return;
    const size_t l4 = 14 + (f[14] & 0x0f) * 4;
    if ((f[l4 + 13] & (nat::kTcpSyn | nat::kTcpAck)) != nat::kTcpSyn) return;
    uint32_t seq;
    std::memcpy(&seq, &f[l4 + 4], 4);
    const uint64_t flow = (Be32ToHost(seq) - 1) / 4;
    if (flow >= flows) return;
    NatSide& s = sides[flow];
    std::memcpy(&s.nat_ip, &f[26], 4);
    std::memcpy(&s.backend, &f[30], 4);
    std::memcpy(&s.nat_port, &f[l4], 2);
    ++syns_seen;
  });
  trace::Segment seg;
  for (uint64_t i = 0; i < flows; ++i) {
    seg = {.from = trace::Side::kClient, .flags = nat::kTcpSyn, .seq = ClientIsn(i)};
    if (!p.Feed(consumer, trace::BuildSegmentFrame(seg, ClientWire(i)), kT0).ok()) return false;
  }
  p.Flush();
  p.OnSent(nullptr);
  if (syns_seen != flows) {
    std::fprintf(stderr, "only %llu of %llu SYNs were translated\n",
                 static_cast<unsigned long long>(syns_seen),
                 static_cast<unsigned long long>(flows));
    return false;
  }
  for (uint64_t i = 0; i < flows; ++i) {
    seg = {.from = trace::Side::kBackend,
           .flags = nat::kTcpSyn | nat::kTcpAck,
           .seq = kBackendIsn,
           .ack = ClientIsn(i) + 1};
    if (!p.Feed(provider, trace::BuildSegmentFrame(seg, BackendWire(sides[i])), kT0).ok()) {
      return false;
    }
  }
  p.Flush();
  for (uint64_t i = 0; i < flows; ++i) {
    seg = {.from = trace::Side::kClient,
           .flags = nat::kTcpAck,
           .seq = ClientIsn(i) + 1,
           .ack = kBackendIsn + 1};
    if (!p.Feed(consumer, trace::BuildSegmentFrame(seg, ClientWire(i)), kT0).ok()) return false;
  }
  p.Flush();
  const dataplane::ReplaySummary s = p.Summary();
  r.established = s.flows_live;
  if (s.drops_total != 0 || s.flows_live != flows) {
    std::fprintf(stderr, "setup: %llu flows live of %llu, %llu drops\n",
                 static_cast<unsigned long long>(s.flows_live),
                 static_cast<unsigned long long>(flows),
                 static_cast<unsigned long long>(s.drops_total));
    return false;
  }
  return true;
}

// Copies frames of random flows into a burst of fresh mbufs and queues them on `ring`.
inline void FillBurst(rte_mempool* pool, rte_ring* ring, const uint8_t* frames, uint16_t len,
                      uint64_t flows, uint64_t& rng, rte_mbuf** burst) {
  if (rte_pktmbuf_alloc_bulk(pool, burst, kBurst) != 0) {
    std::fprintf(stderr, "mbuf pool empty\n");
    std::abort();
  }
  for (uint16_t i = 0; i < kBurst; ++i) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;  // xorshift64
    const uint64_t flow = rng % flows;
    rte_mbuf* m = burst[i];
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), frames + flow * kFrameStride, len);
    m->data_len = len;
    m->pkt_len = len;
  }
  if (rte_ring_sp_enqueue_bulk(ring, reinterpret_cast<void**>(burst), kBurst, nullptr) == 0) {
    std::fprintf(stderr, "RX ring full\n");
    std::abort();
  }
}

uint64_t DrainTx(rte_ring* ring) {
  rte_mbuf* sent[64];
  uint64_t total = 0;
  unsigned n;
  while ((n = rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(sent), 64, nullptr)) != 0) {
    rte_pktmbuf_free_bulk(sent, n);
    total += n;
  }
  return total;
}

// Takes `expected` frames off a TX ring and checks each: IPv4/TCP with the addresses of its side
// (NAT IP -> backend:8080 on the provider port, PE:80 -> a client on the consumer port).
bool CheckSent(rte_ring* ring, unsigned expected, bool to_backend) {
  rte_mbuf* sent[2 * kBurst];
  const unsigned n =
      rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(sent), 2 * kBurst, nullptr);
  bool ok = n == expected;
  for (unsigned i = 0; i < n; ++i) {
    const uint8_t* f = rte_pktmbuf_mtod(sent[i], const uint8_t*);
    Ipv4Be src, dst;
    std::memcpy(&src, f + 26, 4);
    std::memcpy(&dst, f + 30, 4);
    const uint16_t sport = static_cast<uint16_t>(f[34] << 8 | f[35]);
    const uint16_t dport = static_cast<uint16_t>(f[36] << 8 | f[37]);
    const uint32_t src_host = Be32ToHost(src), dst_host = Be32ToHost(dst);
    if (to_backend) {
      ok &= (src_host >> 8) == 0xc0a80a && (src_host & 0xff) >= 200 &&
            (src_host & 0xff) < 200 + kNatIpCount && (dst_host & 0xff) >= 11 &&
            (dst_host & 0xff) < 11 + kBackendCount && dport == kBackendPort;
    } else {
      ok &= src == Ipv4(10, 0, 0, 100) && sport == kFrontendPort && (dst_host >> 16) == 0x0a01 &&
            dport >= 10000;
    }
  }
  rte_pktmbuf_free_bulk(sent, n);
  if (!ok) {
    std::fprintf(stderr, "check: %u frames on the %s port, or a frame not translated as expected\n",
                 n, to_backend ? "provider" : "consumer");
  }
  return ok;
}

bool Run(uint64_t flows, double seconds, uint64_t packet_limit, Result& r) {
  r.flows = flows;
  auto config = control::ParseDaemonConfig(BenchConfig(flows));
  if (!config.ok()) {
    std::fprintf(stderr, "config: %s\n", config.status().ToString().c_str());
    return false;
  }
  auto created = ReplayPipeline::Create(*config);
  if (!created.ok()) {
    std::fprintf(stderr, "pipeline: %s\n", created.status().ToString().c_str());
    return false;
  }
  ReplayPipeline& p = **created;
  std::fprintf(stderr, "%llu flows: handshakes...\n", static_cast<unsigned long long>(flows));
  const uint64_t setup_start = rte_rdtsc();
  std::vector<NatSide> sides;
  if (!Establish(p, flows, sides, r)) return false;
  r.tsc_hz = static_cast<double>(rte_get_tsc_hz());
  r.setup_seconds = (rte_rdtsc() - setup_start) / r.tsc_hz;
  r.table_bytes = p.flows().MemoryBytes();
  r.table_capacity = p.flows().capacity();

  // Both directions' pure ACKs of every flow, 60 bytes (64 on the wire with the FCS).
  std::vector<uint8_t> to_provider(flows * kFrameStride), to_consumer(flows * kFrameStride);
  uint16_t len = 0;
  for (uint64_t i = 0; i < flows; ++i) {
    const trace::Segment c = {.from = trace::Side::kClient,
                              .flags = nat::kTcpAck,
                              .seq = ClientIsn(i) + 1,
                              .ack = kBackendIsn + 1};
    const trace::Segment b = {.from = trace::Side::kBackend,
                              .flags = nat::kTcpAck,
                              .seq = kBackendIsn + 1,
                              .ack = ClientIsn(i) + 1};
    const std::vector<uint8_t> cf = trace::BuildSegmentFrame(c, ClientWire(i));
    const std::vector<uint8_t> bf = trace::BuildSegmentFrame(b, BackendWire(sides[i]));
    len = static_cast<uint16_t>(cf.size());
    std::memcpy(&to_provider[i * kFrameStride], cf.data(), cf.size());
    std::memcpy(&to_consumer[i * kFrameStride], bf.data(), bf.size());
  }

  dataplane::Worker& worker = p.mutable_worker();
  const uint16_t consumer = *p.PortIndex("consumer0");
  const uint16_t provider = *p.PortIndex("provider0");
  rte_mempool* pool = p.pool();
  rte_mbuf* burst[kBurst];
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  auto iterate = [&](uint64_t& in, uint64_t& out, uint64_t& worker_cycles) {
    FillBurst(pool, p.rx_ring(consumer), to_provider.data(), len, flows, rng, burst);
    FillBurst(pool, p.rx_ring(provider), to_consumer.data(), len, flows, rng, burst);
    const uint64_t t0 = rte_rdtsc();
    in += dataplane::PollOnce(worker);
    worker_cycles += rte_rdtsc() - t0;
    out += DrainTx(p.tx_ring(provider)) + DrainTx(p.tx_ring(consumer));
  };

  // Before anything is timed: one iteration's output is checked to be the translation expected,
  // each frame on the other side's port, so "forwarded" below means forwarded correctly.
  {
    FillBurst(pool, p.rx_ring(consumer), to_provider.data(), len, flows, rng, burst);
    FillBurst(pool, p.rx_ring(provider), to_consumer.data(), len, flows, rng, burst);
    if (dataplane::PollOnce(worker) != 2 * kBurst ||
        !CheckSent(p.tx_ring(provider), kBurst, /*to_backend=*/true) ||
        !CheckSent(p.tx_ring(consumer), kBurst, /*to_backend=*/false)) {
      return false;
    }
  }

  // Warm-up: every flow's entry touched about twice, so caches and TLBs are in steady state.
  std::fprintf(stderr, "%llu flows: warm-up...\n", static_cast<unsigned long long>(flows));
  uint64_t in = 0, out = 0, cycles = 0;
  const uint64_t warmup = std::max<uint64_t>(2 * flows, 1'000'000);
  while (in < warmup) iterate(in, out, cycles);

  std::fprintf(stderr, "%llu flows: measuring...\n", static_cast<unsigned long long>(flows));
  const auto drops_before = Drops(p);
  const uint64_t budget = static_cast<uint64_t>(seconds * r.tsc_hz);
  in = out = cycles = 0;
  const uint64_t start = rte_rdtsc();
  uint64_t now = start;
  for (uint64_t i = 1;; ++i) {
    iterate(in, out, cycles);
    if ((i & 1023) == 0) {
      now = rte_rdtsc();
      if (now - start >= budget) break;
    }
    if (packet_limit != 0 && in >= packet_limit) {
      now = rte_rdtsc();
      break;
    }
  }
  r.harness_cycles = now - start;
  r.worker_cycles = cycles;
  r.packets_in = in;
  r.forwarded = out;
  const auto drops_after = Drops(p);
  for (size_t i = 0; i < dataplane::kDropReasonCount; ++i) {
    const uint64_t d = drops_after[i] - drops_before[i];
    r.dropped += d;
    if (d != 0) {
      r.drop_reasons.emplace_back(dataplane::DropReasonName(static_cast<dataplane::DropReason>(i)),
                                  d);
    }
  }
  return true;
}

std::vector<uint64_t> ParseList(const std::string& text) {
  std::vector<uint64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::strtoull(item.c_str(), nullptr, 10));
  return out;
}

void PrintTable(const std::vector<Result>& results) {
  std::printf("\nprivlink-bench: one worker, 64-byte TCP ACKs of established flows, both ways\n");
  std::printf("%10s %12s %10s %12s %12s %12s %10s %10s\n", "flows", "packets", "worker", "cycles",
              "harness", "forwarded", "dropped", "bytes");
  std::printf("%10s %12s %10s %12s %12s %12s %10s %10s\n", "", "", "Mpps", "/packet", "Mpps", "",
              "", "/flow");
  for (const Result& r : results) {
    std::printf("%10llu %12llu %10.2f %12.1f %12.2f %11.3f%% %10llu %10.1f\n",
                static_cast<unsigned long long>(r.flows),
                static_cast<unsigned long long>(r.packets_in), r.worker_mpps(),
                r.cycles_per_packet(), r.harness_mpps(), 100.0 * r.forwarded / r.packets_in,
                static_cast<unsigned long long>(r.dropped), r.bytes_per_flow());
    for (const auto& [reason, n] : r.drop_reasons) {
      std::printf("%10s drop %s: %llu\n", "", reason.c_str(), static_cast<unsigned long long>(n));
    }
  }
  if (!results.empty()) std::printf("TSC: %.3f GHz\n", results[0].tsc_hz / 1e9);
}

bool WriteJson(const std::string& path, const std::vector<Result>& results) {
  std::ofstream f(path);
  if (!f) return false;
  f << "{\"tsc_hz\":" << (results.empty() ? 0.0 : results[0].tsc_hz) << ",\"results\":[";
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    f << (i ? "," : "") << "{\"flows\":" << r.flows << ",\"established\":" << r.established
      << ",\"setup_seconds\":" << r.setup_seconds << ",\"packets\":" << r.packets_in
      << ",\"forwarded\":" << r.forwarded << ",\"dropped\":" << r.dropped
      << ",\"worker_cycles\":" << r.worker_cycles << ",\"harness_cycles\":" << r.harness_cycles
      << ",\"worker_mpps\":" << r.worker_mpps()
      << ",\"cycles_per_packet\":" << r.cycles_per_packet()
      << ",\"harness_mpps\":" << r.harness_mpps() << ",\"flow_table_bytes\":" << r.table_bytes
      << ",\"flow_table_capacity\":" << r.table_capacity
      << ",\"bytes_per_flow\":" << r.bytes_per_flow() << ",\"drops\":{";
    for (size_t j = 0; j < r.drop_reasons.size(); ++j) {
      f << (j ? "," : "") << "\"" << r.drop_reasons[j].first << "\":" << r.drop_reasons[j].second;
    }
    f << "}}";
  }
  f << "]}\n";
  return static_cast<bool>(f);
}

int Main(int argc, char** argv) {
  std::vector<uint64_t> flow_counts = {1000, 100000, 1000000};
  double seconds = 3;
  uint64_t packets = 0;
  std::string json;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--flows" && has_value) {
      flow_counts = ParseList(argv[++i]);
    } else if (a == "--seconds" && has_value) {
      seconds = std::atof(argv[++i]);
    } else if (a == "--packets" && has_value) {
      packets = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--json" && has_value) {
      json = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: privlink-bench [--flows 1000,100000,1000000] [--seconds S] "
                   "[--packets N] [--json FILE]\n");
      return 2;
    }
  }
  for (const uint64_t f : flow_counts) {
    if (f == 0 || f > 2'000'000) {
      std::fprintf(stderr, "--flows: each count must be 1..2000000 (NAT ports of the config)\n");
      return 2;
    }
  }
  if (absl::Status s = dataplane::InitReplayEal("privlink-bench"); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  std::vector<Result> results;
  for (const uint64_t f : flow_counts) {
    Result r;
    if (!Run(f, seconds, packets, r)) return 1;
    results.push_back(r);
  }
  PrintTable(results);
  if (!json.empty() && !WriteJson(json, results)) {
    std::fprintf(stderr, "cannot write %s\n", json.c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace privlink::bench

int main(int argc, char** argv) {
  return privlink::bench::Main(argc, argv);
}
