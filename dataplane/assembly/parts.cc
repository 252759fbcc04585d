#include "dataplane/assembly/parts.h"

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "dataplane/worker/worker_loop.h"

namespace privlink::dataplane {
void EmptyRing(rte_ring* ring) {
  void* m;
  while (ring != nullptr && rte_ring_dequeue(ring, &m) == 0) {
    rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  }
}

absl::StatusOr<std::unique_ptr<DataplaneParts>> DataplaneParts::Create(
    PartsOptions options, PortDriver ports, control::SnapshotPublisher& publisher) {
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
  std::unique_ptr<DataplaneParts> parts(new DataplaneParts(publisher, std::move(ports)));
  if (absl::Status s = parts->Build(options); !s.ok()) return s;
  return parts;
}

absl::Status DataplaneParts::Build(PartsOptions& options) {
  const std::string& prefix = options.name_prefix;
  const uint32_t workers = options.workers;
  shared_.clock = options.clock;
  shared_.verify_all_tcp_checksums = options.verify_all_tcp_checksums;

  shared_.pool =
      rte_pktmbuf_pool_create((prefix + "pool").c_str(), options.pool_size, options.pool_cache, 0,
                              RTE_MBUF_DEFAULT_BUF_SIZE, options.socket);
  if (shared_.pool == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot allocate ", options.pool_size, " packet buffers: ", rte_strerror(rte_errno),
        " (give DPDK more memory: hugepages, or -m MB with --no-huge)"));
  }

  auto opened = ports_.open(shared_.pool);
  if (!opened.ok()) return opened.status();
  ports_open_ = true;
  shared_.ports = std::move(opened->ports);
  const std::shared_ptr<const nat::RssPortMap> rss_port_map = std::move(opened->rss_port_map);
  shared_.rss_port_choice = rss_port_map != nullptr;
  steering_note_ = std::move(opened->steering_note);
  for (uint16_t i = 0; i < shared_.ports.size(); ++i) {
    if (shared_.ports[i].role == PortRole::kConsumer) shared_.consumer_ports.push_back(i);
  }

  flow_readers_ = options.flow_readers;
  const uint32_t rcu_threads = workers + flow_readers_;
  shared_.flow_rcu = static_cast<rte_rcu_qsbr*>(rte_zmalloc(
      (prefix + "flow_rcu").c_str(), rte_rcu_qsbr_get_memsize(rcu_threads), RTE_CACHE_LINE_SIZE));
  if (shared_.flow_rcu == nullptr || rte_rcu_qsbr_init(shared_.flow_rcu, rcu_threads) != 0) {
    return absl::ResourceExhaustedError("cannot allocate the flow table's RCU variable");
  }
  // Listing readers stay offline except while a listing copies a batch (observe/flow_inspect.h).
  for (uint32_t i = 0; i < flow_readers_; ++i) {
    rte_rcu_qsbr_thread_register(shared_.flow_rcu, flow_reader_id(i));
  }
  auto flows = nat::FlowTable::Create(
      {.capacity = options.flow_capacity, .worker_count = workers, .rcu = shared_.flow_rcu});
  if (!flows.ok()) return flows.status();
  flows_ = std::move(*flows);
  shared_.flows = flows_.get();
  vteps_ = std::make_unique<VtepTable>(workers);
  shared_.vteps = vteps_.get();

  auto initial = options.initial_view != nullptr ? std::move(options.initial_view)
                                                 : std::make_unique<const DataplaneView>();
  view_ = std::make_unique<ViewPublisher>(workers, std::move(initial));
  shared_.view = view_.get();

  // Workers enqueue frames for the control thread (multi-producer), only it dequeues.
  shared_.to_control = rte_ring_create((prefix + "toctl").c_str(), options.to_control_ring_size,
                                       options.socket, RING_F_SC_DEQ);
  if (shared_.to_control == nullptr) {
    return absl::ResourceExhaustedError("cannot create the ring to the control thread");
  }
  if (options.controller) {
    from_control_ = rte_ring_create((prefix + "fromctl").c_str(), options.from_control_ring_size,
                                    options.socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (from_control_ == nullptr) {
      return absl::ResourceExhaustedError("cannot create the ring from the control thread");
    }
  }

  for (uint32_t w = 0; w < workers; ++w) {
    auto alloc = nat::NatPortAllocator::Create({.first_port = options.nat_first_port,
                                                .last_port = options.nat_last_port,
                                                .worker_count = workers,
                                                .worker_index = w,
                                                .quarantine_ms = options.nat_quarantine_ms,
                                                .steering = rss_port_map});
    if (!alloc.ok()) return alloc.status();
    workers_.push_back(std::make_unique<Worker>(w, &shared_, std::move(*alloc)));
    Worker& worker = *workers_.back();
    worker.idle_sleep_us = options.idle_sleep_us;
    worker.shard_begin = flows_->ShardBegin(w);
    worker.shard_ids = flows_->ShardEnd(w) - flows_->ShardBegin(w);
    worker.vteps.emplace(vteps_.get(), w, shared_.flow_rcu);
  }
  registered_.assign(workers, 0);
  // The control thread sends through worker 0 alone.
  workers_[0]->from_control = from_control_;

  if (options.controller) {
    auto reader = publisher_.RegisterReader(workers);
    if (!reader.ok()) return reader.status();
    controller_reader_ = *reader;
    auto controller = Controller::Create(&shared_, view_.get(), *controller_reader_, from_control_,
                                         *options.controller);
    if (!controller.ok()) return controller.status();
    controller_ = std::move(*controller);
    if (options.health_reports != nullptr) {
      controller_->EnableHealthProbes(options.health_reports);
      shared_.health_probes = true;
    }
  }
  return absl::OkStatus();
}

absl::Status DataplaneParts::RegisterWorker(Worker& w) {
  auto snapshot = publisher_.RegisterReader(w.index);
  if (!snapshot.ok()) return snapshot.status();
  auto view = view_->RegisterReader(w.index);
  if (!view.ok()) {
    publisher_.UnregisterReader(*snapshot);
    return view.status();
  }
  w.snapshot = *snapshot;
  w.view = *view;
  rte_rcu_qsbr_thread_register(shared_.flow_rcu, w.index);
  rte_rcu_qsbr_thread_online(shared_.flow_rcu, w.index);
  registered_[w.index] = 1;
  return absl::OkStatus();
}

void DataplaneParts::UnregisterWorker(Worker& w) {
  if (w.index >= registered_.size() || !registered_[w.index]) return;
  view_->UnregisterReader(w.view);
  rte_rcu_qsbr_thread_offline(shared_.flow_rcu, w.index);
  rte_rcu_qsbr_thread_unregister(shared_.flow_rcu, w.index);
  publisher_.UnregisterReader(w.snapshot);
  registered_[w.index] = 0;
}

DataplaneParts::~DataplaneParts() {
  // What is in flight first: held packets, TX queues, the control rings, then the ports.
  if (controller_) controller_->Drain();
  for (auto& w : workers_) DrainWorker(*w);
  EmptyRing(shared_.to_control);
  EmptyRing(from_control_);
  if (ports_open_ && ports_.close) ports_.close();

  // Then the readers, before the domains they read go.
  for (auto& w : workers_) UnregisterWorker(*w);
  if (controller_reader_) publisher_.UnregisterReader(*controller_reader_);
  if (shared_.flow_rcu != nullptr) {
    for (uint32_t i = 0; i < flow_readers_; ++i) {
      rte_rcu_qsbr_thread_unregister(shared_.flow_rcu, flow_reader_id(i));
    }
  }
  controller_.reset();
  workers_.clear();
  view_.reset();
  flows_.reset();
  rte_free(shared_.flow_rcu);
  rte_ring_free(shared_.to_control);
  rte_ring_free(from_control_);
  rte_mempool_free(shared_.pool);
}

}  // namespace privlink::dataplane
