#include "bench/established.h"

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>

#include "absl/strings/str_cat.h"

#include "control/model/model_index.h"
#include "control/model/workflow.h"
#include "dataplane/offline/rss.h"
#include "dataplane/packet/vxlan.h"
#include "dataplane/worker/worker_loop.h"
#include "nat/tcp_state.h"
#include "tools/trace/conversation.h"

namespace privlink::bench {
namespace {

constexpr uint8_t kClientBlock = 1;  // clients 10.1.x.y
constexpr uint32_t kBackendIsn = 0x10000000;
constexpr size_t kFrameStride = 64;  // one pre-built frame per cache line
// Tunnelled client frames are 50 bytes longer: two cache lines each.
constexpr size_t kTunnelledFrameStride = 128;
constexpr MacAddress kVtepMac = {0x02, 0, 0, 0, 0x7e, 0x02};
// The clock follows the TSC every this many iterations (64 packets each): well under 1 ms.
constexpr uint64_t kClockEveryIterations = 64;
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

// A client frame as its VTEP sends it into the tunnel (`vxlan`), else as it is: outer Ethernet,
// IPv4 and UDP (source port from the inner flow's hash, as a VTEP spreads flows) and VXLAN.
std::vector<uint8_t> FromClient(std::vector<uint8_t> inner, uint64_t flow, bool vxlan) {
  if (!vxlan) return inner;
  std::vector<uint8_t> f(dataplane::kVxlanOverhead + inner.size());
  std::memcpy(f.data() + dataplane::kVxlanOverhead, inner.data(), inner.size());
  const ClientTuple c = Client(kClientBlock, flow);
  // WriteVxlanEncap names the fields from privlink's side: here the VTEP sends to privlink.
  dataplane::WriteVxlanEncap(
      f.data(),
      {.vtep_mac = kConsumerMac,
       .port_mac = kVtepMac,
       .local_ip = kBenchVtepIp,
       .vtep_ip = kBenchVxlanLocalIp,
       .vni = kBenchVni,
       .source_port = dataplane::VxlanSourcePort(nat::FlowHash{nat::MixBits32(c.ip ^ c.port)})},
      static_cast<uint16_t>(inner.size()));
  return f;
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

// Every flow live and nothing dropped after the set-up.
bool SetUpCleanly(ReplayPipeline& p, uint64_t flows) {
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

// A UDP datagram's 18 bytes of payload (a 60-byte frame): the flow's index first.
std::array<uint8_t, 18> DatagramPayload(uint64_t flow) {
  std::array<uint8_t, 18> payload{};
  std::memcpy(payload.data(), &flow, sizeof flow);
  return payload;
}

// UDP flows: a datagram from each client, then the backend's answer (an answered flow has the
// UDP timeout); returns each flow's provider side.
bool EstablishUdp(ReplayPipeline& p, uint64_t flows, std::vector<NatSide>& sides, bool vxlan) {
  const uint16_t consumer = *p.PortIndex("consumer0");
  const uint16_t provider = *p.PortIndex("provider0");
  sides.assign(flows, {});
  uint64_t seen = 0;
  p.OnSent([&](uint16_t port, std::span<const uint8_t> f, uint64_t) {
    // Translated datagrams: untagged IPv4/UDP; the payload names the flow.
    if (port != provider || f.size() < 60 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 17) return;
    const size_t l4 = 14 + (f[14] & 0x0f) * 4;
    uint64_t flow;
    std::memcpy(&flow, &f[l4 + nat::kUdpHeaderLen], sizeof flow);
    if (flow >= flows) return;
    NatSide& s = sides[flow];
    std::memcpy(&s.nat_ip, &f[26], 4);
    std::memcpy(&s.backend, &f[30], 4);
    std::memcpy(&s.nat_port, &f[l4], 2);
    ++seen;
  });
  const bool fed = FeedAll(p, consumer, flows, "datagrams", [&](uint64_t i) {
    return FromClient(trace::BuildDatagramFrame(ClientWire(i), DatagramPayload(i)), i, vxlan);
  });
  p.OnSent(nullptr);
  if (!fed || seen != flows) {
    std::fprintf(stderr, "only %llu of %llu datagrams were translated\n",
                 static_cast<unsigned long long>(seen), static_cast<unsigned long long>(flows));
    return false;
  }
  return FeedAll(p, provider, flows, "answers",
                 [&](uint64_t i) {
                   return trace::BuildDatagramFrame(BackendWire(sides[i]), DatagramPayload(i));
                 }) &&
         SetUpCleanly(p, flows);
}

// Handshakes for `flows` flows through Feed; returns each flow's provider side.
bool Establish(ReplayPipeline& p, uint64_t flows, std::vector<NatSide>& sides, bool vxlan) {
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
  const bool fed = FeedAll(p, consumer, flows, "SYNs", [&](uint64_t i) {
    const trace::Segment s{
        .from = trace::Side::kClient, .flags = nat::kTcpSyn, .seq = ClientIsn(i)};
    return FromClient(trace::BuildSegmentFrame(s, ClientWire(i)), i, vxlan);
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
      !FeedAll(p, consumer, flows, "ACKs", [&](uint64_t i) {
        const trace::Segment s{.from = trace::Side::kClient,
                               .flags = nat::kTcpAck,
                               .seq = ClientIsn(i) + 1,
                               .ack = kBackendIsn + 1};
        return FromClient(trace::BuildSegmentFrame(s, ClientWire(i)), i, vxlan);
      })) {
    return false;
  }
  return SetUpCleanly(p, flows);
}

// Takes `expected` frames off a TX ring and checks each: IPv4/TCP with the addresses of its side
// (NAT IP -> backend:8080 on the provider port, PE:80 -> a client on the consumer port).
// `tunnelled`: frames to clients leave inside a VXLAN tunnel (checked to the VTEP; their inner
// IPv4 header is read).
bool CheckSent(rte_ring* ring, unsigned expected, bool to_backend, bool tunnelled) {
  rte_mbuf* sent[2 * kBurst];
  const unsigned n =
      rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(sent), 2 * kBurst, nullptr);
  bool ok = n == expected;
  for (unsigned i = 0; i < n; ++i) {
    const uint8_t* f = rte_pktmbuf_mtod(sent[i], const uint8_t*);
    if (tunnelled && !to_backend) {
      Ipv4Be outer_dst;
      std::memcpy(&outer_dst, f + 30, 4);
      ok &= outer_dst == kBenchVtepIp && (f[36] << 8 | f[37]) == dataplane::kVxlanPort;
      f += dataplane::kVxlanOverhead;
    }
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
    auto& list = control::ServiceToChange(m, "web")->backends;
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

// One worker's share: the frames RSS steers to its queue (kFrameStride apart, both directions'
// pure ACKs), and the generator that queues bursts of them on its RX rings, polls the worker and
// empties its TX rings. Only the worker's own lcore touches it while a phase runs.
struct WorkerLoad {
  dataplane::Worker* worker = nullptr;
  rte_mempool* pool = nullptr;
  rte_ring* consumer_rx = nullptr;
  rte_ring* provider_rx = nullptr;
  rte_ring* consumer_tx = nullptr;
  rte_ring* provider_tx = nullptr;
  std::vector<uint8_t> to_provider;          // client -> PE frames, sent on the consumer port
  std::vector<uint8_t> to_consumer;          // backend -> NAT IP frames, sent on the provider port
  size_t to_provider_stride = kFrameStride;  // tunnelled client frames take two lines
  std::vector<uint16_t> to_provider_lens;
  std::vector<uint16_t> to_consumer_lens;
  bool tunnelled = false;
  std::vector<const uint8_t*> frames = std::vector<const uint8_t*>(kBurst);
  uint64_t rng = 0;

  void Fill(rte_ring* ring, const std::vector<uint8_t>& all, size_t stride,
            const std::vector<uint16_t>& lens, uint64_t tsc) {
    const uint64_t count = all.size() / stride;
    for (uint16_t i = 0; i < kBurst; ++i) {
      rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;  // xorshift64
      frames[i] = all.data() + (rng % count) * stride;
    }
    EnqueueFrames(pool, ring, frames, lens, tsc);
  }
  void FillBoth(uint64_t tsc) {
    Fill(consumer_rx, to_provider, to_provider_stride, to_provider_lens, tsc);
    Fill(provider_rx, to_consumer, kFrameStride, to_consumer_lens, tsc);
  }
  void Iterate(ThroughputSample& s, LatencyHistogram* latency) {
    const uint64_t stamp = rte_rdtsc();
    FillBoth(stamp);
    const uint64_t t0 = rte_rdtsc();
    s.packets_in += dataplane::PollOnce(*worker);
    s.worker_cycles += rte_rdtsc() - t0;
    s.forwarded += DrainTx(provider_tx, latency) + DrainTx(consumer_tx, latency);
  }
  // One iteration whose output is checked to be the translation expected, each frame on the
  // other side's port, so "forwarded" below means forwarded correctly.
  bool Check() {
    FillBoth(0);
    return dataplane::PollOnce(*worker) == 2 * kBurst &&
           CheckSent(provider_tx, kBurst, /*to_backend=*/true, tunnelled) &&
           CheckSent(consumer_tx, kBurst, /*to_backend=*/false, tunnelled);
  }
};

// One phase of every worker at once: each runs until it has received `packets_per_worker`
// packets or, with 0, until worker 0 sets `stop` (it is checked between iterations, as seldom
// as the clock is updated).
struct Phase {
  std::vector<WorkerLoad>* loads = nullptr;
  uint64_t packets_per_worker = 0;
  bool latency = false;
  std::atomic<bool> stop{false};
  std::vector<ThroughputSample> samples;
  std::vector<LatencyHistogram> histograms;
  uint64_t launched_tsc = 0;

  explicit Phase(std::vector<WorkerLoad>& all, uint64_t packets, bool with_latency)
      : loads(&all),
        packets_per_worker(packets),
        latency(with_latency),
        samples(all.size()),
        histograms(with_latency ? all.size() : 0) {}
  LatencyHistogram* histogram(uint32_t w) { return latency ? &histograms[w] : nullptr; }
  bool Done(uint32_t w, uint64_t iteration) const {
    if (packets_per_worker != 0 && samples[w].packets_in >= packets_per_worker) return true;
    return iteration % kClockEveryIterations == 0 && stop.load(std::memory_order_relaxed);
  }
};

struct RemoteLaunch {
  Phase* phase = nullptr;
  uint32_t worker = 0;
};

// Workers 1 .. W-1, each on its own lcore.
int RemoteWorkerMain(void* arg) {
  const auto& launch = *static_cast<const RemoteLaunch*>(arg);
  Phase& phase = *launch.phase;
  const uint32_t w = launch.worker;
  WorkerLoad& load = (*phase.loads)[w];
  ThroughputSample& s = phase.samples[w];
  LatencyHistogram* latency = phase.histogram(w);
  const uint64_t start = rte_rdtsc();
  for (uint64_t i = 1; !phase.Done(w, i); ++i) load.Iterate(s, latency);
  s.harness_cycles = rte_rdtsc() - start;
  return 0;
}

// Starts workers 1 .. W-1 on the EAL's worker lcores, in order.
bool LaunchRemoteWorkers(Phase& phase, std::vector<RemoteLaunch>& launches) {
  launches.assign(phase.loads->size(), {});
  phase.launched_tsc = rte_rdtsc();
  uint32_t w = 1;
  unsigned lcore = 0;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (w == launches.size()) break;
    launches[w] = {&phase, w};
    if (rte_eal_remote_launch(&RemoteWorkerMain, &launches[w], lcore) != 0) {
      std::fprintf(stderr, "cannot launch worker %u on lcore %u\n", w, lcore);
      phase.stop.store(true, std::memory_order_relaxed);
      rte_eal_mp_wait_lcore();
      return false;
    }
    ++w;
  }
  if (w != launches.size()) {
    std::fprintf(stderr, "%zu workers need %zu lcores; the EAL has %u\n", launches.size(),
                 launches.size(), rte_lcore_count());
    phase.stop.store(true, std::memory_order_relaxed);
    rte_eal_mp_wait_lcore();
    return false;
  }
  return true;
}

void SetLatency(ThroughputSample& s, const LatencyHistogram& latency) {
  s.latency_p50 = latency.Quantile(0.5);
  s.latency_p90 = latency.Quantile(0.9);
  s.latency_p99 = latency.Quantile(0.99);
  s.latency_p999 = latency.Quantile(0.999);
}

// Waits for workers 1 .. W-1 (a timed phase's are told to stop first) and sums the phase:
// counts and worker cycles over workers, latency over every packet, harness cycles from the
// launch to the last worker's end.
ThroughputSample FinishPhase(Phase& phase) {
  if (phase.packets_per_worker == 0) phase.stop.store(true, std::memory_order_relaxed);
  rte_eal_mp_wait_lcore();
  ThroughputSample total;
  total.harness_cycles = rte_rdtsc() - phase.launched_tsc;
  LatencyHistogram latency;
  for (size_t w = 0; w < phase.samples.size(); ++w) {
    ThroughputSample& s = phase.samples[w];
    total.packets_in += s.packets_in;
    total.forwarded += s.forwarded;
    total.worker_cycles += s.worker_cycles;
    total.config_changes += s.config_changes;
    if (phase.latency) {
      SetLatency(s, phase.histograms[w]);
      latency.Merge(phase.histograms[w]);
    }
  }
  SetLatency(total, latency);
  return total;
}

// Both directions' pure ACKs (UDP: datagrams) of every flow, 60 bytes (64 on the wire with the
// FCS), each in the load of the worker whose queue RSS gives it.
void BuildFrames(uint64_t flows, const std::vector<NatSide>& sides, std::span<WorkerLoad> loads,
                 bool udp, bool vxlan) {
  const auto workers = static_cast<uint32_t>(loads.size());
  size_t client_len = 0;
  size_t backend_len = 0;
  for (WorkerLoad& load : loads) {
    load.tunnelled = vxlan;
    load.to_provider_stride = vxlan ? kTunnelledFrameStride : kFrameStride;
  }
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
    const std::vector<uint8_t> cf =
        FromClient(udp ? trace::BuildDatagramFrame(ClientWire(i), DatagramPayload(i))
                       : trace::BuildSegmentFrame(c, ClientWire(i)),
                   i, vxlan);
    const std::vector<uint8_t> bf =
        udp ? trace::BuildDatagramFrame(BackendWire(sides[i]), DatagramPayload(i))
            : trace::BuildSegmentFrame(b, BackendWire(sides[i]));
    for (const auto& [frame, to_provider] : {std::pair{&cf, true}, std::pair{&bf, false}}) {
      WorkerLoad& load = loads[dataplane::RssQueue(*frame, workers)];
      std::vector<uint8_t>& all = to_provider ? load.to_provider : load.to_consumer;
      const size_t stride = to_provider ? load.to_provider_stride : kFrameStride;
      all.resize(all.size() + stride);
      std::memcpy(&all[all.size() - stride], frame->data(), frame->size());
      (to_provider ? client_len : backend_len) = frame->size();  // every frame's of its side
    }
    if ((i & 0xffff) == 0) progress.Update(i);
  }
  for (WorkerLoad& load : loads) {
    load.to_provider_lens.assign(kBurst, static_cast<uint16_t>(client_len));
    load.to_consumer_lens.assign(kBurst, static_cast<uint16_t>(backend_len));
  }
  progress.Done();
}

// Grows the model by `count` endpoints that never send (see EstablishedOptions::model_endpoints),
// in one change.
bool GrowModel(ReplayPipeline& p, uint64_t count) {
  control::ResourceDocument document;
  for (uint64_t i = 0; i < count; ++i) {
    control::PrivateEndpoint e;
    e.name = absl::StrCat("idle-pe-", i);
    e.subscription = "sub-c";
    e.network = "contoso";
    e.ip = Ipv4(10, static_cast<uint8_t>(128 + i / 62500), static_cast<uint8_t>(i / 250 % 250),
                static_cast<uint8_t>(i % 250 + 1));
    e.private_link_service = "web";
    document.endpoints.push_back(std::move(e));
  }
  const absl::Status s =
      p.control_plane().Change([&](control::Model& m, const control::WorkflowContext& context) {
        auto summary = control::ApplyDocument(m, document, context);
        return summary.ok() ? absl::OkStatus() : summary.status();
      });
  if (!s.ok()) std::fprintf(stderr, "growing the model: %s\n", s.ToString().c_str());
  return s.ok();
}

// The pipelines of a run (one, or one per worker for the private tables) and the flows of each,
// with their counters summed.
struct Pipelines {
  std::vector<std::unique_ptr<ReplayPipeline>> all;
  std::vector<uint64_t> flows;  // by pipeline

  std::vector<ReplayPipeline*> pointers() const {
    std::vector<ReplayPipeline*> out;
    for (const auto& p : all) out.push_back(p.get());
    return out;
  }
  DropCounts Drops() const {
    DropCounts sum{};
    for (const auto& p : all) {
      const DropCounts d = p->Summary().drops;
      for (size_t i = 0; i < sum.size(); ++i) sum[i] += d[i];
    }
    return sum;
  }
  uint64_t ForeignPackets() const {
    uint64_t n = 0;
    for (const auto& p : all) n += p->Summary().foreign_packets;
    return n;
  }
};

}  // namespace

std::string_view WorkerSharingName(WorkerSharing sharing) {
  switch (sharing) {
    case WorkerSharing::kRssPortChoice:
      return "rss-port-choice";
    case WorkerSharing::kShared:
      return "shared";
    case WorkerSharing::kPrivateTables:
      return "private";
  }
  return "";
}

double AggregateMpps(const std::vector<ThroughputSample>& workers, double hz) {
  double total = 0;
  for (const ThroughputSample& s : workers) total += s.worker_mpps(hz);
  return total;
}

bool RunEstablished(const EstablishedOptions& options, EstablishedResult& r) {
  const uint64_t flows = options.flows;
  const uint32_t workers = options.workers;
  r.flows = flows;
  r.workers = workers;
  r.verify_all_tcp_checksums = options.verify_all_tcp_checksums;
  r.protocol = options.protocol;
  r.vxlan = options.vxlan;
  const bool udp = options.protocol == nat::kIpProtoUdp;
  r.sharing = options.sharing;
  const bool private_tables = options.sharing == WorkerSharing::kPrivateTables;
  const int backends = BackendsFor(flows);
  // The ceiling's pipelines each carry their worker's part of the flows.
  Pipelines pipelines;
  const uint32_t pipeline_count = private_tables ? workers : 1;
  for (uint32_t k = 0; k < pipeline_count; ++k) {
    const uint64_t part = flows * (k + 1) / pipeline_count - flows * k / pipeline_count;
    pipelines.flows.push_back(part);
    pipelines.all.push_back(
        MakePipeline({.flow_capacity = part,
                      .backends = backends,
                      .workers = private_tables ? 1 : workers,
                      .verify_all_tcp_checksums = options.verify_all_tcp_checksums,
                      .flow_steering = options.sharing == WorkerSharing::kShared ? "shared" : ""}));
    if (pipelines.all.back() == nullptr) return false;
  }
  ReplayPipeline& p = *pipelines.all[0];
  std::fprintf(stderr, "%llu %s flows%s, %u worker%s (%s)%s:\n",
               static_cast<unsigned long long>(flows), udp ? "UDP" : "TCP",
               options.vxlan ? " behind a VXLAN tunnel" : "", workers, workers == 1 ? "" : "s",
               std::string(WorkerSharingName(options.sharing)).c_str(),
               options.verify_all_tcp_checksums ? ", every TCP checksum verified" : "");
  const double hz = static_cast<double>(rte_get_tsc_hz());
  const uint64_t setup_start = rte_rdtsc();
  std::vector<WorkerLoad> loads(workers);
  for (uint32_t w = 0; w < workers; ++w) {
    ReplayPipeline& q = *pipelines.all[private_tables ? w : 0];
    const uint32_t index = private_tables ? 0 : w;
    const uint16_t consumer = *q.PortIndex("consumer0");
    const uint16_t provider = *q.PortIndex("provider0");
    WorkerLoad& load = loads[w];
    load.worker = &q.mutable_worker(index);
    load.pool = q.pool();
    load.consumer_rx = q.rx_ring(consumer, index);
    load.provider_rx = q.rx_ring(provider, index);
    load.consumer_tx = q.tx_ring(consumer, index);
    load.provider_tx = q.tx_ring(provider, index);
    load.rng = 0x9e3779b97f4a7c15ull + w;
  }
  for (uint32_t k = 0; k < pipeline_count; ++k) {
    std::vector<NatSide> sides;
    const bool set_up =
        udp ? EstablishUdp(*pipelines.all[k], pipelines.flows[k], sides, options.vxlan)
            : Establish(*pipelines.all[k], pipelines.flows[k], sides, options.vxlan);
    if (!set_up) return false;
    const std::span<WorkerLoad> served =
        private_tables ? std::span<WorkerLoad>(&loads[k], 1) : std::span<WorkerLoad>(loads);
    BuildFrames(pipelines.flows[k], sides, served, udp, options.vxlan);
    r.table_bytes += pipelines.all[k]->flows().MemoryBytes();
    r.table_capacity += pipelines.all[k]->flows().capacity();
  }
  if (!private_tables && options.model_endpoints > 0 && !GrowModel(p, options.model_endpoints)) {
    return false;
  }
  r.model_endpoints = p.control_plane().model()->endpoints.size();
  r.churn_interval_seconds = options.churn_interval_seconds;
  r.setup_seconds = (rte_rdtsc() - setup_start) / hz;
  TscClock clock(pipelines.pointers());
  clock.Update();
  for (uint32_t w = 0; w < workers; ++w) {
    if (loads[w].to_provider.empty() || loads[w].to_consumer.empty()) {
      std::fprintf(stderr, "worker %u: RSS gives its queue no flow of a direction (more flows)\n",
                   w);
      return false;
    }
    if (!loads[w].Check()) return false;
  }

  std::vector<RemoteLaunch> launches;
  // Warm-up: every flow's entry touched about twice, so caches and TLBs are in steady state.
  {
    const uint64_t warmup = std::max<uint64_t>(2 * flows, 1'000'000) / workers + 1;
    Phase warm(loads, warmup, false);
    if (!LaunchRemoteWorkers(warm, launches)) return false;
    Progress progress("warm-up", warmup);
    for (uint64_t i = 1; !warm.Done(0, i); ++i) {
      loads[0].Iterate(warm.samples[0], nullptr);
      if (i % kClockEveryIterations == 0) clock.Update();
      if ((i & 0x3ff) == 0) progress.Update(warm.samples[0].packets_in);
    }
    FinishPhase(warm);
    progress.Done();
  }

  // Worker 0 runs on this lcore between the control thread's work: the clock, the time budget,
  // the model changes.
  auto measure = [&](ThroughputSample& total, std::vector<ThroughputSample>& by_worker, bool churn,
                     const char* what) {
    const DropCounts drops_before = pipelines.Drops();
    const uint64_t per_worker =
        options.packet_limit == 0 ? 0 : (options.packet_limit + workers - 1) / workers;
    Phase phase(loads, per_worker, true);
    const uint64_t budget = static_cast<uint64_t>(options.seconds * hz);
    const uint64_t churn_every = static_cast<uint64_t>(options.churn_interval_seconds * hz);
    if (!LaunchRemoteWorkers(phase, launches)) return false;
    ThroughputSample& s = phase.samples[0];
    LatencyHistogram* latency = phase.histogram(0);
    const uint64_t start = rte_rdtsc();
    uint64_t now = start, next_change = start + churn_every;
    Progress progress(what, budget);
    bool ok = true;
    for (uint64_t i = 1;; ++i) {
      loads[0].Iterate(s, latency);
      if (i % kClockEveryIterations == 0) {
        clock.Update();
        now = rte_rdtsc();
        progress.Update(now - start);
        if (churn && now >= next_change) {
          // The control thread's part runs here, between worker 0's iterations (in the daemon
          // it runs on its own core): the workers pay for the new snapshot and view they read.
          if (absl::Status st = ChangeModel(p, s.config_changes, backends); !st.ok()) {
            std::fprintf(stderr, "\nconfig change: %s\n", st.ToString().c_str());
            ok = false;
            phase.stop.store(true, std::memory_order_relaxed);  // the other workers too
            break;
          }
          p.PollControlThread();
          ++s.config_changes;
          next_change += churn_every;
        }
        if (options.packet_limit == 0 && now - start >= budget) break;
      }
      if (per_worker != 0 && s.packets_in >= per_worker) {
        now = rte_rdtsc();
        break;
      }
    }
    s.harness_cycles = now - start;
    total = FinishPhase(phase);
    progress.Done();
    if (!ok) return false;
    by_worker = phase.samples;
    DropsSince drops = CountDropsSince(drops_before, pipelines.Drops());
    total.dropped = drops.total;
    total.drop_reasons = std::move(drops.by_reason);
    return true;
  };
  const uint64_t foreign_before = pipelines.ForeignPackets();
  if (!measure(r.steady, r.steady_by_worker, false, "measuring")) return false;
  r.foreign_packets = pipelines.ForeignPackets() - foreign_before;
  if (options.churn && !private_tables) {
    r.measured_churn = true;
    if (!measure(r.churn, r.churn_by_worker, true, "measuring with config churn")) return false;
    // Steady again after the churn, both counted: a machine that is still warming up (caches,
    // TLBs, page tables of a 10M-flow table) must not pass for the cost of churn.
    ThroughputSample after;
    std::vector<ThroughputSample> after_by_worker;
    if (!measure(after, after_by_worker, false, "measuring again without churn")) return false;
    const auto add = [](ThroughputSample& to, const ThroughputSample& from) {
      to.packets_in += from.packets_in;
      to.forwarded += from.forwarded;
      to.dropped += from.dropped;
      to.worker_cycles += from.worker_cycles;
      to.harness_cycles += from.harness_cycles;
    };
    add(r.steady, after);
    for (uint32_t w = 0; w < workers; ++w) add(r.steady_by_worker[w], after_by_worker[w]);
  }
  return true;
}

}  // namespace privlink::bench
