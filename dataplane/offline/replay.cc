#include "dataplane/offline/replay.h"

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "dataplane/assembly/port_setup.h"
#include "dataplane/offline/rss.h"
#include "dataplane/worker/worker_loop.h"

namespace privlink::dataplane {
namespace {

// Frames wait on an RX ring for at most one burst (Feed runs the workers then); the TX rings are
// emptied after every worker iteration, which sends at most a few bursts per port.
constexpr unsigned kRxRingSize = 256;
constexpr unsigned kTxRingSize = 1024;
// Frames in flight at once are a few bursts; held packets are bounded per provider port.
constexpr unsigned kBaseMbufs = 8191;
// Each further worker: its lcore's cache and, in privlink-bench, the two bursts per port it
// queues itself and what its TX queues hold.
constexpr unsigned kMbufsPerExtraWorker = 2048;
// While the clock crosses a gap between frames it stops at least this often, so neighbour timers
// (the control thread ticks every 100 ms) and flow expiry happen near when they would have.
constexpr nat::TimeMs kTimerStepMs = 100;
// EAL memory for one or two pipelines' pools (about 25 MB each) and rings, and each further
// lcore's pool share (about 5 MB).
constexpr int kEalMemoryMb = 128;
constexpr int kEalMemoryPerExtraLcoreMb = 8;

}  // namespace

MacAddress DefaultReplayMac(uint16_t port_index) {
  return {0x02, 0x00, 0x00, 0x00, 0x00, static_cast<uint8_t>(port_index + 1)};
}

absl::StatusOr<std::unique_ptr<ReplayPipeline>> ReplayPipeline::Create(
    const control::DaemonConfig& config, const ReplayOptions& options) {
  std::unique_ptr<ReplayPipeline> p(new ReplayPipeline());
  if (absl::Status s = p->Build(config, options); !s.ok()) return s;
  return p;
}

absl::Status ReplayPipeline::Build(const control::DaemonConfig& config,
                                   const ReplayOptions& options) {
  const control::DataplaneConfig& dp = config.dataplane;
  if (absl::Status s = CheckPorts(dp); !s.ok()) return s;
  auto providers = ProviderSetups(dp);
  if (!providers.ok()) return providers.status();
  if (options.workers == 0) return absl::InvalidArgumentError("a pipeline needs a worker");

  uuids_ = std::make_unique<control::RandomUuidGenerator>(1);  // aliases: same on every run
  control::ControlPlaneOptions plane_options;
  plane_options.region = dp.region;
  plane_options.consumer_ports = control::ConsumerPortNames(dp);
  plane_options.provider_ports = control::ProviderPortReaches(dp);
  plane_options.maglev_table_size = dp.maglev_table_size;
  plane_options.max_readers = options.workers + control::kDataplaneExtraReaders;
  auto plane =
      control::ControlPlane::Create(plane_options, nullptr, config.resources, uuids_.get());
  if (!plane.ok()) return plane.status();
  control_ = std::move(*plane);

  InProcessOptions in;
  for (uint16_t i = 0; i < dp.ports.size(); ++i) {
    const control::PortConfig& pc = dp.ports[i];
    const bool provider = pc.role == control::PortRole::kProvider;
    in.ports.push_back({.name = pc.name,
                        .role = provider ? PortRole::kProvider : PortRole::kConsumer,
                        .mac = pc.mac ? *pc.mac : DefaultReplayMac(i),
                        .address = provider ? ProviderPortAddress(pc) : 0,
                        .mss_clamp = pc.mss_clamp});
  }
  in.workers = options.workers;
  in.flow_capacity = dp.flow_table_size / 2;
  in.pool_size = kBaseMbufs + kDefaultMaxHeldTotal * static_cast<unsigned>(providers->size()) +
                 (options.workers - 1) * kMbufsPerExtraWorker;
  in.rx_ring_size = kRxRingSize;
  in.tx_ring_size = kTxRingSize;
  in.nat_quarantine_ms = dp.nat_port_quarantine_seconds * 1000;
  in.verify_all_tcp_checksums = dp.verify_tcp_checksum == control::TcpChecksumVerification::kAll;
  in.flow_steering = dp.flow_steering;
  in.nat_first_port = options.nat_first_port;
  in.nat_last_port = options.nat_last_port;
  in.controller = *providers;
  auto dataplane = InProcessDataplane::Create(std::move(in), control_->publisher());
  if (!dataplane.ok()) return dataplane.status();
  dataplane_ = std::move(*dataplane);
  frames_in_.assign(dp.ports.size(), 0);
  frames_out_.assign(dp.ports.size(), 0);
  stats_.workers.assign(options.workers, {});
  return absl::OkStatus();
}

ReplayPipeline::~ReplayPipeline() {
  dataplane_.reset();  // unregisters its readers from the control plane's publisher
  control_.reset();
}

std::optional<uint16_t> ReplayPipeline::PortIndex(std::string_view name) const {
  for (uint16_t i = 0; i < ports().size(); ++i) {
    if (ports()[i].name == name) return i;
  }
  return std::nullopt;
}

void ReplayPipeline::OnDropped(DropSink sink) {
  drop_sink_ = std::move(sink);
  drop_tap_ = {&ReplayPipeline::SeeDrop, this};
  const DropTap* tap = drop_sink_ ? &drop_tap_ : nullptr;
  for (uint32_t w = 0; w < worker_count(); ++w) dataplane_->worker(w).counters.drop_tap = tap;
  dataplane_->controller()->set_drop_tap(tap);
}

void ReplayPipeline::SeeDrop(void* context, const rte_mbuf* frame, DropReason reason) {
  auto* self = static_cast<ReplayPipeline*>(context);
  self->scratch_.resize(frame->pkt_len);
  const void* bytes = rte_pktmbuf_read(frame, 0, frame->pkt_len, self->scratch_.data());
  self->drop_sink_(reason, {static_cast<const uint8_t*>(bytes), frame->pkt_len}, self->now_us_);
}

absl::Status ReplayPipeline::Feed(uint16_t port, std::span<const uint8_t> frame,
                                  ReplayTimeUs time) {
  if (port >= ports().size()) {
    return absl::InvalidArgumentError(absl::StrCat("no port ", port));
  }
  if (frame.size() > kMaxReplayFrame) {
    return absl::InvalidArgumentError(absl::StrCat("a frame of ", frame.size(), " bytes (at most ",
                                                   kMaxReplayFrame, " can be replayed)"));
  }
  if (!started_) Start(time);
  if (time < now_us_) {
    ++stats_.reordered;
    time = now_us_;
  }
  // Ports are polled in config order: frames of another port are processed first (at the time
  // of the last of them), so each worker sees its frames in the trace's order (frames that RSS
  // gives different workers' queues are handled worker by worker, as on a NIC).
  if (waiting_port_ && *waiting_port_ != port) Settle();
  AdvanceTo(time);

  rte_mbuf* m = FrameToMbuf(frame);
  if (m == nullptr) {
    Settle();
    m = FrameToMbuf(frame);
    if (m == nullptr) {
      return absl::ResourceExhaustedError(
          "no mbuf left (frames held for ARP fill the pool: does the provider trace answer ARP?)");
    }
  }
  rte_ring* rx = dataplane_->rx_ring(port, RssQueue(frame, worker_count()));
  if (rte_ring_sp_enqueue(rx, m) != 0) {
    Settle();
    if (rte_ring_sp_enqueue(rx, m) != 0) {
      rte_pktmbuf_free(m);
      return absl::InternalError("RX ring stays full");
    }
  }
  ++frames_in_[port];
  waiting_port_ = port;
  if (rte_ring_count(rx) >= kRxBurst) Settle();
  return absl::OkStatus();
}

void ReplayPipeline::Flush() {
  if (!started_) Start(now_us_);
  Settle();
}

void ReplayPipeline::Start(ReplayTimeUs time) {
  started_ = true;
  now_us_ = time;
  clock().Set(time / 1000);
  stats_.first_time_us = time;
  // The control thread's first round: gratuitous ARP for the NAT IPs, ARP for backends.
  Settle();
}

void ReplayPipeline::AdvanceTo(ReplayTimeUs time) {
  const nat::TimeMs target = time / 1000;
  if (target > clock().NowMs()) {
    // What waits was received before the clock moves.
    Settle();
    while (clock().NowMs() < target) {
      const nat::TimeMs next = std::min(target, clock().NowMs() + kTimerStepMs);
      clock().Set(next);
      now_us_ = next * 1000;
      if (flows().Size() != 0) SweepExpiry();
      Settle();  // neighbour timers, and what they send
    }
  }
  now_us_ = std::max(now_us_, time);
}

// One whole expiry pass of every shard at the current time, so a flow leaves on the millisecond
// its timeout ends (the daemon's workers meet timeouts within kExpiryPassMs), then what the
// passes released.
void ReplayPipeline::SweepExpiry() {
  for (uint32_t w = 0; w < worker_count(); ++w) SweepWholeShard(dataplane_->worker(w));
  PollWorkers();
}

// One iteration of each worker in index order, then what they sent.
void ReplayPipeline::PollWorkers() {
  for (uint32_t w = 0; w < worker_count(); ++w) {
    const uint64_t start = rte_rdtsc();
    const uint32_t received = PollOnce(dataplane_->worker(w));
    const uint64_t cycles = rte_rdtsc() - start;
    if (received != 0) {
      stats_.workers[w].busy_cycles += cycles;
      stats_.workers[w].packets_polled += received;
      ++stats_.busy_polls;
    }
  }
  CollectSent();
}

void ReplayPipeline::CollectSent() {
  rte_mbuf* sent[kRxBurst];
  for (uint16_t port = 0; port < ports().size(); ++port) {
    for (uint32_t queue = 0; queue < worker_count(); ++queue) {
      rte_ring* tx = dataplane_->tx_ring(port, queue);
      unsigned n;
      while ((n = rte_ring_sc_dequeue_burst(tx, reinterpret_cast<void**>(sent), kRxBurst,
                                            nullptr)) != 0) {
        frames_out_[port] += n;
        for (unsigned i = 0; i < n; ++i) {
          rte_mbuf* m = sent[i];
          if (sent_sink_) {
            scratch_.resize(m->pkt_len);
            const void* bytes = rte_pktmbuf_read(m, 0, m->pkt_len, scratch_.data());
            sent_sink_(port, {static_cast<const uint8_t*>(bytes), m->pkt_len}, now_us_);
          }
          rte_pktmbuf_free(m);
        }
      }
    }
  }
}

bool ReplayPipeline::RingsEmpty() const {
  for (uint16_t port = 0; port < ports().size(); ++port) {
    for (uint32_t queue = 0; queue < worker_count(); ++queue) {
      if (rte_ring_count(dataplane_->rx_ring(port, queue)) != 0) return false;
    }
  }
  return rte_ring_count(dataplane_->to_control()) == 0 &&
         rte_ring_count(dataplane_->from_control()) == 0;
}

void ReplayPipeline::PollControlThread() {
  dataplane_->controller()->Poll();
  control_->publisher().Reclaim();
}

void ReplayPipeline::Settle() {
  do {
    PollWorkers();
    dataplane_->controller()->Poll();
  } while (!RingsEmpty());
  waiting_port_.reset();
}

// One segment when the frame fits the mbuf's data room, else a chain (which the worker drops as
// multi_segment, as the daemon does with what a NIC delivers in several buffers).
rte_mbuf* ReplayPipeline::FrameToMbuf(std::span<const uint8_t> frame) {
  rte_mbuf* head = rte_pktmbuf_alloc(pool());
  if (head == nullptr) return nullptr;
  size_t done = 0;
  rte_mbuf* seg = head;
  for (;;) {
    const size_t chunk = std::min<size_t>(frame.size() - done, rte_pktmbuf_tailroom(seg));
    char* dst = rte_pktmbuf_append(seg, static_cast<uint16_t>(chunk));
    // An empty frame (a pcap record of no bytes) may come with no buffer at all: memcpy from a
    // null pointer is undefined even for 0 bytes, and the worker drops it as a runt either way.
    if (chunk != 0) std::memcpy(dst, frame.data() + done, chunk);
    if (seg != head) {
      head->pkt_len += static_cast<uint32_t>(chunk);
    }
    done += chunk;
    if (done == frame.size()) return head;
    rte_mbuf* next = rte_pktmbuf_alloc(pool());
    if (next == nullptr) {
      rte_pktmbuf_free(head);
      return nullptr;
    }
    seg->next = next;
    ++head->nb_segs;
    seg = next;
  }
}

ReplaySummary ReplayPipeline::Summary() const {
  ReplaySummary s = stats_;
  s.last_time_us = now_us_;
  for (uint16_t i = 0; i < ports().size(); ++i) {
    s.ports.push_back({ports()[i].name, ports()[i].role, frames_in_[i], frames_out_[i]});
  }
  const auto add_counters = [&](const CounterSet& c) {
    for (size_t r = 0; r < kDropReasonCount; ++r) s.drops[r] += c.drops[r].Read();
    s.flows_created += c.flows_created.Read();
    s.flows_expired += c.flows_expired.Read();
  };
  add_counters(dataplane_->controller()->counters());
  for (uint32_t w = 0; w < worker_count(); ++w) {
    const CounterSet& c = worker(w).counters;
    add_counters(c);
    ReplayWorkerSummary& ws = s.workers[w];
    ws.flows_created = c.flows_created.Read();
    ws.foreign_packets = c.foreign_packets.Read();
    ws.foreign_icmp_errors = c.foreign_icmp_errors.Read();
    s.foreign_packets += ws.foreign_packets;
    s.foreign_icmp_errors += ws.foreign_icmp_errors;
    for (const auto& service : snapshot().services) {
      if (service == nullptr) continue;
      const DirectionalTraffic& t = c.services[service->id];
      ws.translated_to_providers += t[nat::FlowDirection::kIn2Out].packets.Read();
      ws.translated_to_consumers += t[nat::FlowDirection::kOut2In].packets.Read();
    }
    s.translated_to_providers += ws.translated_to_providers;
    s.translated_to_consumers += ws.translated_to_consumers;
    s.busy_cycles += ws.busy_cycles;
    s.packets_polled += ws.packets_polled;
  }
  for (const uint64_t n : s.drops) s.drops_total += n;
  s.flows_live = flows().Size();
  // Mbufs out of the pool that no ring holds wait in a neighbour's hold queue.
  const uint64_t queued = dataplane_->QueuedMbufs();
  const uint64_t in_use = rte_mempool_in_use_count(pool());
  s.held_at_end = in_use > queued ? in_use - queued : 0;
  return s;
}

absl::Status InitReplayEal(std::string_view program, unsigned lcores) {
  // The lcores are the first CPUs this process may run on (any, under taskset).
  std::string cpus;
  unsigned found = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) CPU_SET(0, &set);
  for (int cpu = 0; cpu < CPU_SETSIZE && found < lcores; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    absl::StrAppend(&cpus, found == 0 ? "" : ",", cpu);
    ++found;
  }
  if (found < lcores) {
    return absl::ResourceExhaustedError(
        absl::StrCat(lcores, " lcores asked for, but this process may run on ", found, " CPUs"));
  }
  // DPDK 22.11 refuses --in-memory with --no-huge: --no-shconf and a per-process file prefix
  // give the same isolation, so several replays can run at once.
  std::vector<std::string> args = {
      std::string(program),
      "-l",
      cpus,
      "--no-huge",
      "--no-pci",
      "--no-shconf",
      "--no-telemetry",
      "--file-prefix=privlink-replay-" + std::to_string(getpid()),
      "-m",
      std::to_string(kEalMemoryMb + kEalMemoryPerExtraLcoreMb * static_cast<int>(lcores - 1)),
      "--log-level=*:error"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    return absl::InternalError(
        absl::StrCat("DPDK EAL initialisation failed: ", rte_strerror(rte_errno)));
  }
  return absl::OkStatus();
}

}  // namespace privlink::dataplane
