#include "bench/established.h"

#include <rte_cycles.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

#include "control/workflow.h"
#include "dataplane/worker_loop.h"
#include "nat/tcp_state.h"
#include "tools/trace/conversation.h"

namespace privlink::bench {
namespace {

constexpr uint8_t kClientBlock = 1;  // clients 10.1.x.y
constexpr uint32_t kBackendIsn = 0x10000000;
constexpr size_t kFrameStride = 64;  // one pre-built frame per cache line
// The clock follows the TSC every this many iterations (64 packets each): well under 1 ms.
constexpr uint64_t kClockEveryIterations = 64;
constexpr double kChurnIntervalSeconds = 1.0;

// The provider side of a flow, as the translated SYN showed it.
struct NatSide {
  Ipv4Be nat_ip = 0;
  PortBe nat_port = 0;
  Ipv4Be backend = 0;
};

trace::WireTuple ClientWire(uint64_t flow) {
  const ClientTuple c = Client(kClientBlock, flow);
  return {.src_mac = kClientMac,
          .dst_mac = kConsumerMac,
          .src_ip = c.ip,
          .dst_ip = kPeIp,
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

// Feeds one segment per flow through the pipeline, with progress.
template <typename Build>
bool FeedAll(ReplayPipeline& p, uint16_t port, uint64_t flows, const char* what, Build build) {
  Progress progress(what, flows);
  for (uint64_t i = 0; i < flows; ++i) {
    if (!p.Feed(port, build(i), kT0Us).ok()) return false;
    if ((i & 0xffff) == 0) progress.Update(i);
  }
  p.Flush();
  progress.Done();
  return true;
}

// Handshakes for `flows` flows through Feed; returns each flow's provider side.
bool Establish(ReplayPipeline& p, uint64_t flows, std::vector<NatSide>& sides) {
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
  const bool fed = FeedAll(p, consumer, flows, "SYNs", [](uint64_t i) {
    const trace::Segment s{
        .from = trace::Side::kClient, .flags = nat::kTcpSyn, .seq = ClientIsn(i)};
    return trace::BuildSegmentFrame(s, ClientWire(i));
  });
  p.OnSent(nullptr);
  if (!fed || syns_seen != flows) {
    std::fprintf(stderr, "only %llu of %llu SYNs were translated\n",
                 static_cast<unsigned long long>(syns_seen),
                 static_cast<unsigned long long>(flows));
    return false;
  }
  if (!FeedAll(p, provider, flows, "SYN-ACKs",
               [&](uint64_t i) {
                 const trace::Segment s{.from = trace::Side::kBackend,
                                        .flags = nat::kTcpSyn | nat::kTcpAck,
                                        .seq = kBackendIsn,
                                        .ack = ClientIsn(i) + 1};
                 return trace::BuildSegmentFrame(s, BackendWire(sides[i]));
               }) ||
      !FeedAll(p, consumer, flows, "ACKs", [](uint64_t i) {
        const trace::Segment s{.from = trace::Side::kClient,
                               .flags = nat::kTcpAck,
                               .seq = ClientIsn(i) + 1,
                               .ack = kBackendIsn + 1};
        return trace::BuildSegmentFrame(s, ClientWire(i));
      })) {
    return false;
  }
  const dataplane::ReplaySummary s = p.Summary();
  if (s.drops_total != 0 || s.flows_live != flows) {
    std::fprintf(stderr, "setup: %llu flows live of %llu, %llu drops\n",
                 static_cast<unsigned long long>(s.flows_live),
                 static_cast<unsigned long long>(flows),
                 static_cast<unsigned long long>(s.drops_total));
    return false;
  }
  return true;
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
            (src_host & 0xff) < 200 + kNatIpCount && (dst_host >> 8) == 0xc0a80a &&
            (dst_host & 0xff) >= 11 && dport == kBackendPort;
    } else {
      ok &= src == kPeIp && sport == kFrontendPort && (dst_host >> 16) == 0x0a01 && dport >= 10000;
    }
  }
  rte_pktmbuf_free_bulk(sent, n);
  if (!ok) {
    std::fprintf(stderr, "check: %u frames on the %s port, or a frame not translated as expected\n",
                 n, to_backend ? "provider" : "consumer");
  }
  return ok;
}

// One model change of the churn cycle: a spare backend added, then removed again, then the
// second endpoint's connection rejected or approved (it carries no traffic: the measured flows'
// endpoint and backends are left alone, as the "changes that do not concern them").
absl::Status ChangeModel(ReplayPipeline& p, uint64_t step, int backends) {
  const Ipv4Be spare = BackendIp(backends + static_cast<int>((step / 3) % kSpareBackends));
  return p.control_plane().Change([&](control::Model& m, const control::WorkflowContext&) {
    auto& list = m.services.at("web").backends;
    switch (step % 3) {
      case 0:
        list.push_back({spare, 1, {}});
        return absl::OkStatus();
      case 1:
        std::erase_if(list, [&](const auto& b) { return b.ip == spare; });
        return absl::OkStatus();
      default: {
        const bool reject = (step / 3) % 2 == 0;
        auto changed = reject ? control::RejectConnection(m, "web", "pe2", "")
                              : control::ApproveConnection(m, "web", "pe2", "");
        return changed.ok() ? absl::OkStatus() : changed.status();
      }
    }
  });
}

}  // namespace

bool RunEstablished(const EstablishedOptions& options, EstablishedResult& r) {
  const uint64_t flows = options.flows;
  r.flows = flows;
  const int backends = BackendsFor(flows);
  const std::unique_ptr<ReplayPipeline> pipeline =
      MakePipeline({.flow_capacity = flows, .backends = backends});
  if (pipeline == nullptr) return false;
  ReplayPipeline& p = *pipeline;
  std::fprintf(stderr, "%llu flows:\n", static_cast<unsigned long long>(flows));
  const double hz = static_cast<double>(rte_get_tsc_hz());
  const uint64_t setup_start = rte_rdtsc();
  std::vector<NatSide> sides;
  if (!Establish(p, flows, sides)) return false;
  r.setup_seconds = (rte_rdtsc() - setup_start) / hz;
  r.table_bytes = p.flows().MemoryBytes();
  r.table_capacity = p.flows().capacity();

  // Both directions' pure ACKs of every flow, 60 bytes (64 on the wire with the FCS).
  std::vector<uint8_t> to_provider(flows * kFrameStride), to_consumer(flows * kFrameStride);
  uint16_t len = 0;
  {
    Progress progress("frames", flows);
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
      if ((i & 0xffff) == 0) progress.Update(i);
    }
    progress.Done();
  }

  dataplane::Worker& worker = p.mutable_worker();
  const uint16_t consumer = *p.PortIndex("consumer0");
  const uint16_t provider = *p.PortIndex("provider0");
  rte_mempool* pool = p.pool();
  TscClock clock(p);
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  std::vector<const uint8_t*> frames(kBurst);
  const std::vector<uint16_t> lens(kBurst, len);
  auto fill = [&](rte_ring* ring, const std::vector<uint8_t>& all, uint64_t tsc) {
    for (uint16_t i = 0; i < kBurst; ++i) {
      rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;  // xorshift64
      frames[i] = all.data() + (rng % flows) * kFrameStride;
    }
    EnqueueFrames(pool, ring, frames, lens, tsc);
  };
  auto iterate = [&](ThroughputSample& s, LatencyHistogram* latency) {
    const uint64_t stamp = rte_rdtsc();
    fill(p.rx_ring(consumer), to_provider, stamp);
    fill(p.rx_ring(provider), to_consumer, stamp);
    const uint64_t t0 = rte_rdtsc();
    s.packets_in += dataplane::PollOnce(worker);
    s.worker_cycles += rte_rdtsc() - t0;
    s.forwarded += DrainTx(p.tx_ring(provider), latency) + DrainTx(p.tx_ring(consumer), latency);
  };

  // Before anything is timed: one iteration's output is checked to be the translation expected,
  // each frame on the other side's port, so "forwarded" below means forwarded correctly.
  clock.Update();
  fill(p.rx_ring(consumer), to_provider, 0);
  fill(p.rx_ring(provider), to_consumer, 0);
  if (dataplane::PollOnce(worker) != 2 * kBurst ||
      !CheckSent(p.tx_ring(provider), kBurst, /*to_backend=*/true) ||
      !CheckSent(p.tx_ring(consumer), kBurst, /*to_backend=*/false)) {
    return false;
  }

  // Warm-up: every flow's entry touched about twice, so caches and TLBs are in steady state.
  {
    ThroughputSample warm;
    const uint64_t warmup = std::max<uint64_t>(2 * flows, 1'000'000);
    Progress progress("warm-up", warmup);
    for (uint64_t i = 1; warm.packets_in < warmup; ++i) {
      iterate(warm, nullptr);
      if (i % kClockEveryIterations == 0) clock.Update();
      if ((i & 0x3ff) == 0) progress.Update(warm.packets_in);
    }
    progress.Done();
  }

  auto measure = [&](ThroughputSample& s, bool churn, const char* what) {
    const auto drops_before = p.Summary().drops;
    LatencyHistogram latency;
    const uint64_t budget = static_cast<uint64_t>(options.seconds * hz);
    const uint64_t churn_every = static_cast<uint64_t>(kChurnIntervalSeconds * hz);
    const uint64_t start = rte_rdtsc();
    uint64_t now = start, next_change = start + churn_every;
    Progress progress(what, budget);
    for (uint64_t i = 1;; ++i) {
      iterate(s, &latency);
      if (i % kClockEveryIterations == 0) {
        clock.Update();
        now = rte_rdtsc();
        progress.Update(now - start);
        if (churn && now >= next_change) {
          // The control thread's part runs here, between worker iterations (in the daemon it
          // runs on its own core): the worker pays for the new snapshot and view it then reads.
          if (absl::Status st = ChangeModel(p, s.config_changes, backends); !st.ok()) {
            std::fprintf(stderr, "\nconfig change: %s\n", st.ToString().c_str());
            return false;
          }
          p.PollControlThread();
          ++s.config_changes;
          next_change += churn_every;
        }
        if (now - start >= budget) break;
      }
      if (options.packet_limit != 0 && s.packets_in >= options.packet_limit) {
        now = rte_rdtsc();
        break;
      }
    }
    progress.Done();
    s.harness_cycles = now - start;
    DropsSince drops = CountDropsSince(drops_before, p);
    s.dropped = drops.total;
    s.drop_reasons = std::move(drops.by_reason);
    s.latency_p50 = latency.Quantile(0.5);
    s.latency_p90 = latency.Quantile(0.9);
    s.latency_p99 = latency.Quantile(0.99);
    s.latency_p999 = latency.Quantile(0.999);
    return true;
  };
  if (!measure(r.steady, false, "measuring")) return false;
  if (options.churn) {
    r.measured_churn = true;
    if (!measure(r.churn, true, "measuring with config churn")) return false;
    // Steady again after the churn, both counted: a machine that is still warming up (caches,
    // TLBs, page tables of a 10M-flow table) must not pass for the cost of churn.
    ThroughputSample after;
    if (!measure(after, false, "measuring again without churn")) return false;
    r.steady.packets_in += after.packets_in;
    r.steady.forwarded += after.forwarded;
    r.steady.dropped += after.dropped;
    r.steady.worker_cycles += after.worker_cycles;
    r.steady.harness_cycles += after.harness_cycles;
  }
  return true;
}

}  // namespace privlink::bench
