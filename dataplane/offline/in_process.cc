#include "dataplane/offline/in_process.h"

#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mempool.h>

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "dataplane/worker/worker_loop.h"

namespace privlink::dataplane {
namespace {

// Frees every mbuf `ring` holds.
void EmptyRing(rte_ring* ring) {
  void* m;
  while (ring != nullptr && rte_ring_dequeue(ring, &m) == 0) {
    rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<InProcessDataplane>> InProcessDataplane::Create(
    InProcessOptions options, control::SnapshotPublisher& publisher) {
  if (options.ports.empty() || options.ports.size() > kMaxPorts) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.ports.size(), " ports: 1 to ", kMaxPorts, " can be made"));
  }
  if (options.workers == 0 || options.workers > nat::kMaxFlowWorkers) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.workers, " workers: 1 to ", nat::kMaxFlowWorkers, " can be made"));
  }
  const uint32_t readers = options.workers + (options.controller ? 1 : 0);
  if (publisher.max_readers() < readers) {
    return absl::InvalidArgumentError(absl::StrCat("the snapshot publisher has ",
                                                   publisher.max_readers(), " reader slots; ",
                                                   readers, " are needed"));
  }
  std::unique_ptr<InProcessDataplane> d(new InProcessDataplane(publisher));
  if (absl::Status s = d->Build(options); !s.ok()) return s;
  return d;
}

absl::Status InProcessDataplane::Build(InProcessOptions& options) {
  // DPDK object names are process-wide (and rings' at most 29 characters): a short prefix each.
  static std::atomic<int> instances{0};
  prefix_ = absl::StrCat("ipd", instances.fetch_add(1), "_");
  const uint32_t workers = options.workers;
  clock_.Set(options.clock_start_ms);
  shared_.clock = &clock_;

  shared_.pool =
      rte_pktmbuf_pool_create((prefix_ + "pool").c_str(), options.pool_size, options.pool_cache, 0,
                              RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (shared_.pool == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate ", options.pool_size,
                                                     " packet buffers: ", rte_strerror(rte_errno)));
  }

  ports_.resize(options.ports.size());
  uint16_t positions[2] = {0, 0};  // by role
  for (uint16_t i = 0; i < options.ports.size(); ++i) {
    const InProcessPort& config = options.ports[i];
    if (absl::Status s = OpenRingPort(absl::StrCat(prefix_, "p", i), options, ports_[i]); !s.ok()) {
      return s;
    }
    PortInfo info;
    info.name = config.name;
    info.role = config.role;
    info.ethdev = ports_[i].ethdev;
    info.mac = config.mac;
    info.position = positions[static_cast<size_t>(config.role)]++;
    info.address = config.address;
    info.promiscuous = true;  // net_ring delivers every frame queued, whatever its MAC
    if (info.role == PortRole::kConsumer) shared_.consumer_ports.push_back(i);
    shared_.ports.push_back(std::move(info));
  }

  // Readers: the workers (ids 0 .. workers - 1), then the flow readers, as Dataplane::Start.
  first_flow_reader_ = workers;
  flow_readers_ = options.flow_readers;
  const uint32_t rcu_threads = workers + flow_readers_;
  shared_.flow_rcu = static_cast<rte_rcu_qsbr*>(
      rte_zmalloc(nullptr, rte_rcu_qsbr_get_memsize(rcu_threads), RTE_CACHE_LINE_SIZE));
  if (shared_.flow_rcu == nullptr || rte_rcu_qsbr_init(shared_.flow_rcu, rcu_threads) != 0) {
    return absl::ResourceExhaustedError("cannot allocate the flow table's RCU variable");
  }
  for (uint32_t r = workers; r < rcu_threads; ++r) {
    rte_rcu_qsbr_thread_register(shared_.flow_rcu, r);  // offline until a listing reads
  }
  auto flows = nat::FlowTable::Create(
      {.capacity = options.flow_capacity, .worker_count = workers, .rcu = shared_.flow_rcu});
  if (!flows.ok()) return flows.status();
  flows_ = std::move(*flows);
  shared_.flows = flows_.get();

  auto initial = options.initial_view != nullptr ? std::move(options.initial_view)
                                                 : std::make_unique<const DataplaneView>();
  view_ = std::make_unique<RcuCell<DataplaneView>>(workers, std::move(initial));
  shared_.view = view_.get();

  // Workers enqueue frames for the control thread (multi-producer), only it dequeues.
  shared_.to_control = rte_ring_create((prefix_ + "toctl").c_str(), options.to_control_ring_size,
                                       SOCKET_ID_ANY, RING_F_SC_DEQ);
  if (shared_.to_control == nullptr) {
    return absl::ResourceExhaustedError("cannot create the ring to the control thread");
  }
  if (options.controller) {
    from_control_ = rte_ring_create((prefix_ + "fromctl").c_str(), options.from_control_ring_size,
                                    SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (from_control_ == nullptr) {
      return absl::ResourceExhaustedError("cannot create the ring from the control thread");
    }
  }

  for (uint32_t w = 0; w < workers; ++w) {
    auto ports = nat::NatPortAllocator::Create({.first_port = options.nat_first_port,
                                                .last_port = options.nat_last_port,
                                                .worker_count = workers,
                                                .worker_index = w,
                                                .quarantine_ms = options.nat_quarantine_ms});
    if (!ports.ok()) return ports.status();
    workers_.push_back(std::make_unique<Worker>(w, &shared_, std::move(*ports)));
  }
  // The control thread sends through worker 0 alone, as in the daemon.
  workers_[0]->from_control = from_control_;
  if (absl::Status s = RegisterReaders(options.controller.has_value()); !s.ok()) return s;

  if (options.controller) {
    auto controller = Controller::Create(&shared_, view_.get(), *controller_reader_, from_control_,
                                         *options.controller);
    if (!controller.ok()) return controller.status();
    controller_ = std::move(*controller);
  }
  return absl::OkStatus();
}

absl::Status InProcessDataplane::RegisterReaders(bool controller) {
  for (auto& w : workers_) {
    auto reader = publisher_.RegisterReader(w->index);
    if (!reader.ok()) return reader.status();
    w->snapshot = *reader;
    rte_rcu_qsbr_thread_register(shared_.flow_rcu, w->index);
    rte_rcu_qsbr_thread_online(shared_.flow_rcu, w->index);
    view_->RegisterReader(w->index);
    ++registered_workers_;
  }
  if (controller) {
    auto reader = publisher_.RegisterReader(worker_count());
    if (!reader.ok()) return reader.status();
    controller_reader_ = *reader;
  }
  return absl::OkStatus();
}

absl::Status InProcessDataplane::OpenRingPort(const std::string& name,
                                              const InProcessOptions& options, RingPort& p) {
  const uint32_t queues = options.workers;
  for (uint32_t q = 0; q < queues; ++q) {
    // Each queue is its worker's alone: one producer and one consumer on either ring.
    p.rx.push_back(rte_ring_create(absl::StrCat(name, "r", q).c_str(), options.rx_ring_size,
                                   SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ));
    p.tx.push_back(rte_ring_create(absl::StrCat(name, "t", q).c_str(), options.tx_ring_size,
                                   SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ));
    if (p.rx.back() == nullptr || p.tx.back() == nullptr) {
      return absl::ResourceExhaustedError("cannot create the rings of port " + name);
    }
  }
  const int id =
      rte_eth_from_rings(name.c_str(), p.rx.data(), queues, p.tx.data(), queues, SOCKET_ID_ANY);
  if (id < 0) return absl::InternalError("cannot create the net_ring port " + name);
  p.ethdev = static_cast<uint16_t>(id);
  p.open = true;
  // As DPDK's own ring PMD test does: the fast-path ops are installed by rte_eth_dev_start.
  rte_eth_conf conf{};
  bool ok = rte_eth_dev_configure(p.ethdev, static_cast<uint16_t>(queues),
                                  static_cast<uint16_t>(queues), &conf) == 0;
  for (uint16_t q = 0; ok && q < queues; ++q) {
    ok = rte_eth_rx_queue_setup(p.ethdev, q, static_cast<uint16_t>(options.rx_ring_size),
                                SOCKET_ID_ANY, nullptr, shared_.pool) == 0 &&
         rte_eth_tx_queue_setup(p.ethdev, q, static_cast<uint16_t>(options.tx_ring_size),
                                SOCKET_ID_ANY, nullptr) == 0;
  }
  if (!ok || rte_eth_dev_start(p.ethdev) != 0) {
    return absl::InternalError("cannot start the net_ring port " + name);
  }
  return absl::OkStatus();
}

uint64_t InProcessDataplane::QueuedMbufs() const {
  uint64_t queued = rte_ring_count(shared_.to_control);
  if (from_control_ != nullptr) queued += rte_ring_count(from_control_);
  for (const RingPort& p : ports_) {
    for (const rte_ring* r : p.rx) queued += rte_ring_count(r);
    for (const rte_ring* r : p.tx) queued += rte_ring_count(r);
  }
  return queued;
}

InProcessDataplane::~InProcessDataplane() {
  // What is in flight first: held packets, TX queues, every ring.
  if (controller_) controller_->Drain();
  for (auto& w : workers_) DrainWorker(*w);
  for (RingPort& p : ports_) {
    for (rte_ring* r : p.rx) EmptyRing(r);
    for (rte_ring* r : p.tx) EmptyRing(r);
  }
  EmptyRing(shared_.to_control);
  EmptyRing(from_control_);

  // Then the readers, before the domains they read go.
  for (uint32_t w = 0; w < registered_workers_; ++w) {
    view_->UnregisterReader(w);
    rte_rcu_qsbr_thread_offline(shared_.flow_rcu, w);
    rte_rcu_qsbr_thread_unregister(shared_.flow_rcu, w);
    publisher_.UnregisterReader(workers_[w]->snapshot);
  }
  if (controller_reader_) publisher_.UnregisterReader(*controller_reader_);
  if (shared_.flow_rcu != nullptr) {
    for (uint32_t r = first_flow_reader_; r < first_flow_reader_ + flow_readers_; ++r) {
      rte_rcu_qsbr_thread_unregister(shared_.flow_rcu, r);
    }
  }
  controller_.reset();
  workers_.clear();
  view_.reset();
  flows_.reset();
  rte_free(shared_.flow_rcu);

  for (RingPort& p : ports_) {
    if (p.open) {
      rte_eth_dev_stop(p.ethdev);
      rte_eth_dev_close(p.ethdev);
    }
    for (rte_ring* r : p.rx) rte_ring_free(r);
    for (rte_ring* r : p.tx) rte_ring_free(r);
  }
  rte_ring_free(shared_.to_control);
  rte_ring_free(from_control_);
  rte_mempool_free(shared_.pool);
}

}  // namespace privlink::dataplane
