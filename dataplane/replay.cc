#include "dataplane/replay.h"

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
#include "dataplane/dataplane.h"
#include "dataplane/ports.h"
#include "dataplane/worker_loop.h"

namespace privlink::dataplane {
namespace {

// Frames wait on an RX ring for at most one burst (Feed runs the worker then); the TX rings are
// emptied after every worker iteration, which sends at most a few bursts per port.
constexpr unsigned kRxRingSize = 256;
constexpr unsigned kTxRingSize = 1024;
// As Dataplane::Start sizes them.
constexpr unsigned kToControlRingSize = 4096;
constexpr unsigned kFromControlRingSize = 2048;
constexpr unsigned kMbufCacheSize = 256;
// Frames in flight at once are a few bursts; held packets are bounded per provider port.
constexpr unsigned kBaseMbufs = 8191;
// Snapshot reader ids, numbered as Dataplane::Start numbers them: the worker, then the control
// thread's (the daemon's third, the stats reader, is not needed).
constexpr unsigned kWorkerReader = 0;
constexpr unsigned kControllerReader = 1;
// While the clock crosses a gap between frames it stops at least this often, so neighbour timers
// (the control thread ticks every 100 ms) and flow expiry happen near when they would have.
constexpr nat::TimeMs kTimerStepMs = 100;
// EAL memory for one or two pipelines' pools (about 25 MB each) and rings.
constexpr int kEalMemoryMb = 128;

absl::Status CheckPorts(const control::DataplaneConfig& config) {
  if (config.ports.size() > kMaxPorts) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataplane.ports: ", config.ports.size(), " ports, at most ", kMaxPorts));
  }
  const auto has = [&](control::PortRole role) {
    return std::any_of(config.ports.begin(), config.ports.end(),
                       [&](const control::PortConfig& p) { return p.role == role; });
  };
  if (!has(control::PortRole::kConsumer) || !has(control::PortRole::kProvider)) {
    return absl::InvalidArgumentError(
        "dataplane.ports: at least one consumer and one provider port are needed");
  }
  return absl::OkStatus();
}

}  // namespace

MacAddress DefaultReplayMac(uint16_t port_index) {
  return {0x02, 0x00, 0x00, 0x00, 0x00, static_cast<uint8_t>(port_index + 1)};
}

absl::StatusOr<std::unique_ptr<ReplayPipeline>> ReplayPipeline::Create(
    const control::DaemonConfig& config) {
  std::unique_ptr<ReplayPipeline> p(new ReplayPipeline());
  if (absl::Status s = p->Build(config); !s.ok()) return s;
  return p;
}

absl::Status ReplayPipeline::Build(const control::DaemonConfig& config) {
  const control::DataplaneConfig& dp = config.dataplane;
  if (absl::Status s = CheckPorts(dp); !s.ok()) return s;
  auto providers = ProviderSetups(dp);
  if (!providers.ok()) return providers.status();

  // DPDK object names are process-wide: every pipeline gets its own.
  static std::atomic<int> instances{0};
  const std::string prefix = absl::StrCat("replay", instances.fetch_add(1), "_");

  uuids_ = std::make_unique<control::RandomUuidGenerator>(1);  // aliases: same on every run
  control::ControlPlaneOptions options;
  options.region = dp.region;
  options.consumer_ports = control::ConsumerPortNames(dp);
  options.maglev_table_size = dp.maglev_table_size;
  options.max_readers = 1 + control::kDataplaneExtraReaders;
  auto plane = control::ControlPlane::Create(options, nullptr, config.resources, uuids_.get());
  if (!plane.ok()) return plane.status();
  control_ = std::move(*plane);

  const unsigned mbufs =
      kBaseMbufs + kDefaultMaxHeldTotal * static_cast<unsigned>(providers->size());
  pool_ = rte_pktmbuf_pool_create((prefix + "pool").c_str(), mbufs, kMbufCacheSize, 0,
                                  RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (pool_ == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", mbufs, " packet buffers: ", rte_strerror(rte_errno)));
  }
  shared_.pool = pool_;
  shared_.clock = &clock_;

  ring_ports_.resize(dp.ports.size());
  uint16_t consumers = 0, provider_count = 0;
  for (uint16_t i = 0; i < dp.ports.size(); ++i) {
    const control::PortConfig& pc = dp.ports[i];
    if (absl::Status s = OpenRingPort(absl::StrCat(prefix, "p", i), ring_ports_[i]); !s.ok()) {
      return s;
    }
    PortInfo info;
    info.name = pc.name;
    info.role = pc.role == control::PortRole::kProvider ? PortRole::kProvider : PortRole::kConsumer;
    info.ethdev = ring_ports_[i].ethdev;
    info.mac = pc.mac ? *pc.mac : DefaultReplayMac(i);
    info.position = info.role == PortRole::kProvider ? provider_count++ : consumers++;
    info.address = info.role == PortRole::kProvider ? ProviderPortAddress(pc) : 0;
    info.promiscuous = true;
    if (info.role == PortRole::kConsumer) shared_.consumer_ports.push_back(i);
    shared_.ports.push_back(std::move(info));
  }
  frames_in_.assign(dp.ports.size(), 0);
  frames_out_.assign(dp.ports.size(), 0);

  flow_rcu_ = static_cast<rte_rcu_qsbr*>(
      rte_zmalloc(nullptr, rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE));
  if (flow_rcu_ == nullptr || rte_rcu_qsbr_init(flow_rcu_, 1) != 0) {
    return absl::ResourceExhaustedError("cannot allocate the flow table's RCU variable");
  }
  shared_.flow_rcu = flow_rcu_;
  auto flows = nat::FlowTable::Create(
      {.capacity = dp.flow_table_size / 2, .worker_count = 1, .rcu = flow_rcu_});
  if (!flows.ok()) return flows.status();
  flows_ = std::move(*flows);
  shared_.flows = flows_.get();

  shared_.to_control =
      rte_ring_create((prefix + "toctl").c_str(), kToControlRingSize, SOCKET_ID_ANY, RING_F_SC_DEQ);
  from_control_ = rte_ring_create((prefix + "fromctl").c_str(), kFromControlRingSize, SOCKET_ID_ANY,
                                  RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (shared_.to_control == nullptr || from_control_ == nullptr) {
    return absl::ResourceExhaustedError("cannot create the control thread's rings");
  }
  view_ = std::make_unique<RcuCell<DataplaneView>>(1, std::make_unique<DataplaneView>());
  shared_.view = view_.get();

  auto ports =
      nat::NatPortAllocator::Create({.worker_count = 1,
                                     .worker_index = 0,
                                     .quarantine_ms = dp.nat_port_quarantine_seconds * 1000});
  if (!ports.ok()) return ports.status();
  worker_ = std::make_unique<Worker>(0, &shared_, std::move(*ports));
  worker_->from_control = from_control_;

  // The worker's thread is this one: register it with every RCU domain, as WorkerMain does.
  auto reader = control_->publisher().RegisterReader(kWorkerReader);
  auto controller_reader = control_->publisher().RegisterReader(kControllerReader);
  if (!reader.ok() || !controller_reader.ok()) {
    return absl::InternalError("snapshot readers: no free slot");
  }
  worker_->snapshot = *reader;
  controller_reader_ = *controller_reader;
  rte_rcu_qsbr_thread_register(flow_rcu_, 0);
  rte_rcu_qsbr_thread_online(flow_rcu_, 0);
  view_->RegisterReader(0);
  readers_registered_ = true;

  auto controller =
      Controller::Create(&shared_, view_.get(), controller_reader_, from_control_, *providers);
  if (!controller.ok()) return controller.status();
  controller_ = std::move(*controller);
  return absl::OkStatus();
}

absl::Status ReplayPipeline::OpenRingPort(const std::string& name, RingPort& p) {
  p.rx = rte_ring_create((name + "r").c_str(), kRxRingSize, SOCKET_ID_ANY,
                         RING_F_SP_ENQ | RING_F_SC_DEQ);
  p.tx = rte_ring_create((name + "t").c_str(), kTxRingSize, SOCKET_ID_ANY,
                         RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (p.rx == nullptr || p.tx == nullptr) {
    return absl::ResourceExhaustedError("cannot create a replay port's rings");
  }
  const int id = rte_eth_from_rings(name.c_str(), &p.rx, 1, &p.tx, 1, SOCKET_ID_ANY);
  if (id < 0) return absl::InternalError("cannot create a net_ring port: " + name);
  p.ethdev = static_cast<uint16_t>(id);
  p.open = true;
  rte_eth_conf conf{};
  if (rte_eth_dev_configure(p.ethdev, 1, 1, &conf) != 0 ||
      rte_eth_rx_queue_setup(p.ethdev, 0, kRxRingSize, SOCKET_ID_ANY, nullptr, pool_) != 0 ||
      rte_eth_tx_queue_setup(p.ethdev, 0, kTxRingSize, SOCKET_ID_ANY, nullptr) != 0 ||
      rte_eth_dev_start(p.ethdev) != 0) {
    return absl::InternalError("cannot start the net_ring port " + name);
  }
  return absl::OkStatus();
}

ReplayPipeline::~ReplayPipeline() {
  if (controller_) controller_->Drain();
  if (worker_) DrainWorker(*worker_);
  void* m;
  for (RingPort& p : ring_ports_) {
    for (rte_ring* r : {p.rx, p.tx}) {
      while (r != nullptr && rte_ring_dequeue(r, &m) == 0)
        rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    }
  }
  if (readers_registered_) {
    view_->UnregisterReader(0);
    rte_rcu_qsbr_thread_offline(flow_rcu_, 0);
    rte_rcu_qsbr_thread_unregister(flow_rcu_, 0);
    control_->publisher().UnregisterReader(worker_->snapshot);
    control_->publisher().UnregisterReader(controller_reader_);
  }
  controller_.reset();
  worker_.reset();
  view_.reset();
  flows_.reset();
  rte_free(flow_rcu_);
  for (RingPort& p : ring_ports_) {
    if (p.open) {
      rte_eth_dev_stop(p.ethdev);
      rte_eth_dev_close(p.ethdev);
    }
    rte_ring_free(p.rx);
    rte_ring_free(p.tx);
  }
  rte_ring_free(shared_.to_control);
  rte_ring_free(from_control_);
  rte_mempool_free(pool_);
  control_.reset();
}

std::optional<uint16_t> ReplayPipeline::PortIndex(std::string_view name) const {
  for (uint16_t i = 0; i < shared_.ports.size(); ++i) {
    if (shared_.ports[i].name == name) return i;
  }
  return std::nullopt;
}

void ReplayPipeline::OnDropped(DropSink sink) {
  drop_sink_ = std::move(sink);
  drop_tap_ = {&ReplayPipeline::SeeDrop, this};
  const DropTap* tap = drop_sink_ ? &drop_tap_ : nullptr;
  worker_->counters.drop_tap = tap;
  controller_->set_drop_tap(tap);
}

void ReplayPipeline::SeeDrop(void* context, const rte_mbuf* frame, DropReason reason) {
  auto* self = static_cast<ReplayPipeline*>(context);
  self->scratch_.resize(frame->pkt_len);
  const void* bytes = rte_pktmbuf_read(frame, 0, frame->pkt_len, self->scratch_.data());
  self->drop_sink_(reason, {static_cast<const uint8_t*>(bytes), frame->pkt_len}, self->now_us_);
}

absl::Status ReplayPipeline::Feed(uint16_t port, std::span<const uint8_t> frame,
                                  ReplayTimeUs time) {
  if (port >= ring_ports_.size()) {
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
  // of the last of them), so the worker sees frames in the trace's order.
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
  rte_ring* rx = ring_ports_[port].rx;
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
  clock_.Set(time / 1000);
  stats_.first_time_us = time;
  // The control thread's first round: gratuitous ARP for the NAT IPs, ARP for backends.
  Settle();
}

void ReplayPipeline::AdvanceTo(ReplayTimeUs time) {
  const nat::TimeMs target = time / 1000;
  if (target > clock_.NowMs()) {
    // What waits was received before the clock moves.
    Settle();
    while (clock_.NowMs() < target) {
      const nat::TimeMs next = std::min(target, clock_.NowMs() + kTimerStepMs);
      clock_.Set(next);
      now_us_ = next * 1000;
      if (flows_->Size() != 0) SweepExpiry();
      Settle();  // neighbour timers, and what they send
    }
  }
  now_us_ = std::max(now_us_, time);
}

// One whole expiry pass at the current time, so a flow leaves on the millisecond its timeout
// ends (the daemon's worker meets timeouts within kExpiryPassMs), then what the pass released.
void ReplayPipeline::SweepExpiry() {
  SweepWholeShard(*worker_);
  PollWorker();
}

void ReplayPipeline::PollWorker() {
  const uint64_t start = rte_rdtsc();
  const uint32_t received = PollOnce(*worker_);
  const uint64_t cycles = rte_rdtsc() - start;
  if (received != 0) {
    stats_.busy_cycles += cycles;
    ++stats_.busy_polls;
    stats_.packets_polled += received;
  }
  CollectSent();
}

void ReplayPipeline::CollectSent() {
  rte_mbuf* sent[kRxBurst];
  for (uint16_t port = 0; port < ring_ports_.size(); ++port) {
    unsigned n;
    while ((n = rte_ring_sc_dequeue_burst(ring_ports_[port].tx, reinterpret_cast<void**>(sent),
                                          kRxBurst, nullptr)) != 0) {
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

bool ReplayPipeline::RingsEmpty() const {
  for (const RingPort& p : ring_ports_) {
    if (rte_ring_count(p.rx) != 0) return false;
  }
  return rte_ring_count(shared_.to_control) == 0 && rte_ring_count(from_control_) == 0;
}

void ReplayPipeline::PollControlThread() {
  controller_->Poll();
  control_->publisher().Reclaim();
}

void ReplayPipeline::Settle() {
  do {
    PollWorker();
    controller_->Poll();
  } while (!RingsEmpty());
  waiting_port_.reset();
}

// One segment when the frame fits the mbuf's data room, else a chain (which the worker drops as
// multi_segment, as the daemon does with what a NIC delivers in several buffers).
rte_mbuf* ReplayPipeline::FrameToMbuf(std::span<const uint8_t> frame) {
  rte_mbuf* head = rte_pktmbuf_alloc(pool_);
  if (head == nullptr) return nullptr;
  size_t done = 0;
  rte_mbuf* seg = head;
  for (;;) {
    const size_t chunk = std::min<size_t>(frame.size() - done, rte_pktmbuf_tailroom(seg));
    char* dst = rte_pktmbuf_append(seg, static_cast<uint16_t>(chunk));
    std::memcpy(dst, frame.data() + done, chunk);
    if (seg != head) {
      head->pkt_len += static_cast<uint32_t>(chunk);
    }
    done += chunk;
    if (done == frame.size()) return head;
    rte_mbuf* next = rte_pktmbuf_alloc(pool_);
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
  for (uint16_t i = 0; i < shared_.ports.size(); ++i) {
    s.ports.push_back(
        {shared_.ports[i].name, shared_.ports[i].role, frames_in_[i], frames_out_[i]});
  }
  for (const CounterSet* c : {&std::as_const(worker_->counters), &controller_->counters()}) {
    for (size_t r = 0; r < kDropReasonCount; ++r) s.drops[r] += c->drops[r].Read();
    s.flows_created += c->flows_created.Read();
    s.flows_expired += c->flows_expired.Read();
  }
  for (const uint64_t n : s.drops) s.drops_total += n;
  s.flows_live = flows_->Size();
  for (const auto& service : snapshot().services) {
    if (service == nullptr) continue;
    const DirectionalTraffic& t = worker_->counters.services[service->id];
    s.translated_to_providers += t[nat::FlowDirection::kIn2Out].packets.Read();
    s.translated_to_consumers += t[nat::FlowDirection::kOut2In].packets.Read();
  }
  // Mbufs out of the pool that no ring holds wait in a neighbour's hold queue.
  uint64_t queued = rte_ring_count(shared_.to_control) + rte_ring_count(from_control_);
  for (const RingPort& p : ring_ports_) queued += rte_ring_count(p.rx) + rte_ring_count(p.tx);
  const uint64_t in_use = rte_mempool_in_use_count(pool_);
  s.held_at_end = in_use > queued ? in_use - queued : 0;
  return s;
}

absl::Status InitReplayEal(std::string_view program) {
  // The main lcore is the first CPU this process may run on (any, under taskset).
  int cpu = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set)) ++cpu;
  }
  // DPDK 22.11 refuses --in-memory with --no-huge: --no-shconf and a per-process file prefix
  // give the same isolation, so several replays can run at once.
  std::vector<std::string> args = {std::string(program),
                                   "-l",
                                   std::to_string(cpu),
                                   "--no-huge",
                                   "--no-pci",
                                   "--no-shconf",
                                   "--no-telemetry",
                                   "--file-prefix=privlink-replay-" + std::to_string(getpid()),
                                   "-m",
                                   std::to_string(kEalMemoryMb),
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
