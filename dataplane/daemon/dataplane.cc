#include "dataplane/daemon/dataplane.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "dataplane/assembly/port_setup.h"
#include "dataplane/daemon/ports.h"
#include "dataplane/worker/worker_loop.h"

namespace privlink::dataplane {
namespace {

using nlohmann::json;

// Frames waiting for the control thread (ARP from every port, packets held for ARP): a burst of
// new connections to a backend whose MAC is unknown lands here at once.
constexpr unsigned kToControlRingSize = 4096;
// Frames the control thread sends through worker 0 (ARP, released held packets).
constexpr unsigned kFromControlRingSize = 2048;
// Per-lcore mbuf cache: DPDK's usual size, amortises the pool's ring on alloc and free.
constexpr unsigned kMbufCacheSize = 256;

struct WorkerLaunch {
  Dataplane* dataplane;
  Worker* worker;
};

absl::StatusOr<rte_mempool*> CreatePool(size_t ports, uint32_t workers, uint32_t extra) {
  // Every RX and TX ring full, each worker's TX queues full, the rings to and from the control
  // thread full, held packets, the lcore caches, and what the config adds (dataplane.extraMbufs).
  const size_t mbufs = ports * workers * (kRxDescriptors + kTxDescriptors) +
                       size_t{workers} * (ports * kTxQueueCapacity + kRxBurst) +
                       kToControlRingSize + kFromControlRingSize + kDefaultMaxHeldTotal * ports +
                       size_t{workers + 1} * kMbufCacheSize + 1024 + extra;
  rte_mempool* pool =
      rte_pktmbuf_pool_create("privlink_mbufs", static_cast<unsigned>(mbufs), kMbufCacheSize, 0,
                              RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
  if (pool == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", mbufs, " packet buffers: ", rte_strerror(rte_errno),
                     " (give DPDK more memory: hugepages, or -m MB with --no-huge)"));
  }
  return pool;
}

absl::Status CheckConfig(const control::DataplaneConfig& config) {
  if (absl::Status s = CheckPorts(config); !s.ok()) return s;
  const unsigned worker_lcores = rte_lcore_count() - 1;
  if (config.workers > worker_lcores) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataplane.workers is ", config.workers, " but the EAL has ", worker_lcores,
                     " worker lcores (give it more with -l, e.g. -l 0-", config.workers, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Dataplane>> Dataplane::Start(const control::DataplaneConfig& config,
                                                            control::SnapshotPublisher& publisher,
                                                            const DataplaneOptions& options) {
  if (absl::Status s = CheckConfig(config); !s.ok()) return s;
  auto providers = ProviderSetups(config);
  if (!providers.ok()) return providers.status();
  const uint32_t workers = config.workers;
  if (publisher.max_readers() < workers + control::kDataplaneExtraReaders) {
    return absl::InternalError("snapshot publisher has too few reader slots");
  }

  std::unique_ptr<Dataplane> d(new Dataplane());
  d->publisher_ = &publisher;
  DataplaneShared& shared = d->shared_;
  shared.clock = &d->clock_;

  auto pool = CreatePool(config.ports.size(), workers, config.extra_mbufs);
  if (!pool.ok()) return pool.status();
  shared.pool = *pool;

  // Readers: the workers (ids 0 .. workers-1) and the API's flow listings (id `workers`).
  const size_t qsbr_size = rte_rcu_qsbr_get_memsize(workers + 1);
  shared.flow_rcu =
      static_cast<rte_rcu_qsbr*>(rte_zmalloc("privlink_flow_rcu", qsbr_size, RTE_CACHE_LINE_SIZE));
  if (shared.flow_rcu == nullptr || rte_rcu_qsbr_init(shared.flow_rcu, workers + 1) != 0) {
    return absl::ResourceExhaustedError("cannot allocate the flow table's RCU variable");
  }
  // Registered for good but offline except while a listing copies a batch (flow_inspect.h).
  d->flow_reader_id_ = workers;
  rte_rcu_qsbr_thread_register(shared.flow_rcu, d->flow_reader_id_);
  d->flow_reader_registered_ = true;
  auto flows = nat::FlowTable::Create(
      {.capacity = config.flow_table_size / 2, .worker_count = workers, .rcu = shared.flow_rcu});
  if (!flows.ok()) return flows.status();
  d->flows_ = std::move(*flows);
  shared.flows = d->flows_.get();

  auto ports = OpenPorts(config, static_cast<uint16_t>(workers), shared.pool);
  if (!ports.ok()) return ports.status();
  shared.ports = std::move(*ports);
  for (uint16_t i = 0; i < shared.ports.size(); ++i) {
    if (shared.ports[i].role == PortRole::kConsumer) shared.consumer_ports.push_back(i);
  }

  const int socket = static_cast<int>(rte_socket_id());
  shared.to_control =
      rte_ring_create("privlink_to_control", kToControlRingSize, socket, RING_F_SC_DEQ);
  d->from_control_ = rte_ring_create("privlink_from_control", kFromControlRingSize, socket,
                                     RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (shared.to_control == nullptr || d->from_control_ == nullptr) {
    d->Stop();
    return absl::ResourceExhaustedError("cannot create the control thread's rings");
  }
  d->view_ = std::make_unique<RcuCell<DataplaneView>>(workers, std::make_unique<DataplaneView>());
  shared.view = d->view_.get();
  auto capture = PacketCapture::Create("privlink_capture", socket);
  if (!capture.ok()) {
    d->Stop();
    return capture.status();
  }
  d->capture_ = std::move(*capture);
  shared.capture = d->capture_.get();
  d->controller_capture_tap_ = {&Dataplane::CaptureControllerDrop, d.get()};
  if (!options.audit_log_path.empty()) {
    auto audit = AuditLog::Create(options.audit_log_path, "privlink_audit", workers, socket);
    if (!audit.ok()) {
      d->Stop();
      return audit.status();
    }
    d->audit_ = std::move(*audit);
  }

  for (uint32_t w = 0; w < workers; ++w) {
    auto alloc =
        nat::NatPortAllocator::Create({.worker_count = workers,
                                       .worker_index = w,
                                       .quarantine_ms = config.nat_port_quarantine_seconds * 1000});
    if (!alloc.ok()) {
      d->Stop();
      return alloc.status();
    }
    auto worker = std::make_unique<Worker>(w, &d->shared_, std::move(*alloc));
    worker->idle_sleep_us = options.idle_sleep_us;
    if (w == 0) worker->from_control = d->from_control_;
    if (d->audit_) worker->audit = d->audit_->ring(w);
    d->workers_.push_back(std::move(worker));
  }

  auto controller_reader = publisher.RegisterReader(workers);
  auto stats_reader = publisher.RegisterReader(workers + 1);
  if (!controller_reader.ok() || !stats_reader.ok()) {
    d->Stop();
    return !controller_reader.ok() ? controller_reader.status() : stats_reader.status();
  }
  d->controller_reader_ = *controller_reader;
  d->stats_reader_ = *stats_reader;
  d->readers_registered_ = true;
  d->stats_reader_.Offline();  // online only while a stats request reads names
  auto controller = Controller::Create(&d->shared_, d->view_.get(), d->controller_reader_,
                                       d->from_control_, *providers);
  if (!controller.ok()) {
    d->Stop();
    return controller.status();
  }
  d->controller_ = std::move(*controller);
  d->drop_warnings_ = std::make_unique<DropWarnings>(d->clock_);

  unsigned lcore = 0;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (d->worker_lcores_.size() == workers) break;
    d->worker_lcores_.push_back(lcore);
  }
  d->launched_ = true;
  for (uint32_t w = 0; w < workers; ++w) {
    auto* launch = new WorkerLaunch{d.get(), d->workers_[w].get()};
    if (rte_eal_remote_launch(&Dataplane::WorkerMain, launch, d->worker_lcores_[w]) != 0) {
      delete launch;
      d->Stop();
      return absl::InternalError(
          absl::StrCat("cannot launch worker ", w, " on lcore ", d->worker_lcores_[w]));
    }
  }
  return d;
}

int Dataplane::WorkerMain(void* arg) {
  std::unique_ptr<WorkerLaunch> launch(static_cast<WorkerLaunch*>(arg));
  Dataplane& d = *launch->dataplane;
  Worker& w = *launch->worker;
  // Register with every RCU domain from the worker's own thread, before the first read.
  auto reader = d.publisher_->RegisterReader(w.index);
  if (!reader.ok()) return -1;
  w.snapshot = *reader;
  rte_rcu_qsbr_thread_register(d.shared_.flow_rcu, w.index);
  rte_rcu_qsbr_thread_online(d.shared_.flow_rcu, w.index);
  d.view_->RegisterReader(w.index);

  RunWorker(w, d.stop_);

  d.view_->UnregisterReader(w.index);
  rte_rcu_qsbr_thread_offline(d.shared_.flow_rcu, w.index);
  rte_rcu_qsbr_thread_unregister(d.shared_.flow_rcu, w.index);
  d.publisher_->UnregisterReader(w.snapshot);
  return 0;
}

uint32_t Dataplane::Poll() {
  uint32_t handled = 0;
  if (controller_) {
    // The control thread's own drops (ARP, held packets) go into a drop capture too.
    controller_capture_ = capture_->filter();
    controller_->set_drop_tap(controller_capture_.direction == CaptureDirection::kDrop
                                  ? &controller_capture_tap_
                                  : nullptr);
    handled += controller_->Poll();
    handled += capture_->Drain();
    // The controller's snapshot stays valid until its next round reports quiescence.
    if (audit_) handled += audit_->Drain(*controller_reader_.Current());
  }
  if (drop_warnings_ && clock_.NowMs() >= next_drop_check_ms_) {
    drop_warnings_->Observe(DropTotals());
    next_drop_check_ms_ = clock_.NowMs() + kDropCheckIntervalMs;
  }
  return handled;
}

void Dataplane::CaptureControllerDrop(void* context, const rte_mbuf* m, DropReason reason) {
  Dataplane& d = *static_cast<Dataplane*>(context);
  // Frames handed to the control thread carry the port index in m->port.
  if (m->port != d.controller_capture_.port) return;
  rte_mbuf* frame = const_cast<rte_mbuf*>(m);
  d.capture_->Copy(d.controller_capture_, &frame, 1, reason);
}

void Dataplane::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stop_.store(true, std::memory_order_relaxed);
  if (launched_) {
    for (unsigned lcore : worker_lcores_) rte_eal_wait_lcore(lcore);
  }
  // Workers are gone: nothing reads the queues, rings or tables any more.
  for (auto& w : workers_) DrainWorker(*w);
  if (controller_) controller_->Drain();
  // Records the workers pushed before they stopped.
  if (audit_ && readers_registered_) audit_->Drain(*controller_reader_.Current());
  ClosePorts(shared_.ports);
  controller_.reset();
  if (readers_registered_) {
    publisher_->UnregisterReader(controller_reader_);
    {
      std::lock_guard<std::mutex> lock(stats_mutex_);
      publisher_->UnregisterReader(stats_reader_);
    }
  }
  rte_ring_free(shared_.to_control);
  rte_ring_free(from_control_);
  shared_.to_control = nullptr;
  from_control_ = nullptr;
  view_.reset();
  flows_.reset();
  if (flow_reader_registered_) {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    rte_rcu_qsbr_thread_unregister(shared_.flow_rcu, flow_reader_id_);
    flow_reader_registered_ = false;
  }
  audit_.reset();
  shared_.capture = nullptr;
  capture_.reset();
  rte_free(shared_.flow_rcu);
  shared_.flow_rcu = nullptr;
  rte_mempool_free(shared_.pool);
  shared_.pool = nullptr;
}

Dataplane::~Dataplane() {
  Stop();
}

}  // namespace privlink::dataplane
