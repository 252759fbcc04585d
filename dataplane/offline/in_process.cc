#include "dataplane/offline/in_process.h"

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mempool.h>

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "dataplane/offline/rss.h"

namespace privlink::dataplane {
absl::StatusOr<std::unique_ptr<InProcessDataplane>> InProcessDataplane::Create(
    InProcessOptions options, control::SnapshotPublisher& publisher) {
  if (options.ports.empty() || options.ports.size() > kMaxPorts) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.ports.size(), " ports: 1 to ", kMaxPorts, " can be made"));
  }
  std::unique_ptr<InProcessDataplane> d(new InProcessDataplane());
  // DPDK object names are process-wide (and rings' at most 29 characters): a short prefix each.
  static std::atomic<int> instances{0};
  d->prefix_ = absl::StrCat("ipd", instances.fetch_add(1), "_");
  d->clock_.Set(options.clock_start_ms);

  PartsOptions parts{.name_prefix = d->prefix_,
                     .workers = options.workers,
                     .flow_capacity = options.flow_capacity,
                     .flow_readers = options.flow_readers,
                     .pool_size = options.pool_size,
                     .pool_cache = options.pool_cache,
                     .to_control_ring_size = options.to_control_ring_size,
                     .from_control_ring_size = options.from_control_ring_size,
                     .nat_first_port = options.nat_first_port,
                     .nat_last_port = options.nat_last_port,
                     .nat_quarantine_ms = options.nat_quarantine_ms,
                     .verify_all_tcp_checksums = options.verify_all_tcp_checksums,
                     .clock = &d->clock_,
                     .initial_view = std::move(options.initial_view),
                     .controller = std::move(options.controller),
                     .health_reports = options.health_reports};
  InProcessDataplane* self = d.get();
  PortDriver driver{
      .open = [self, &options](rte_mempool* pool) { return self->OpenPorts(options, pool); },
      .close = [self] { self->ClosePorts(); }};
  auto built = DataplaneParts::Create(std::move(parts), std::move(driver), publisher);
  if (!built.ok()) {
    d->ClosePorts();  // what OpenPorts opened before a later step failed
    return built.status();
  }
  d->parts_ = std::move(*built);
  // Replay and tests poll every worker from this thread: register them all here.
  for (uint32_t w = 0; w < d->worker_count(); ++w) {
    if (absl::Status s = d->parts_->RegisterWorker(d->worker(w)); !s.ok()) return s;
  }
  return d;
}

absl::StatusOr<OpenedPorts> InProcessDataplane::OpenPorts(const InProcessOptions& options,
                                                          rte_mempool* pool) {
  OpenedPorts opened;
  // The modelled NICs (rss.h) take privlink's RSS set-up unless told to act as if they could not.
  if (options.flow_steering != control::FlowSteering::kShared) {
    auto map = nat::RssPortMap::Create(ModelledNicRss(options.workers), options.workers);
    if (!map.ok()) return map.status();
    opened.rss_port_map = *std::move(map);
  }
  std::vector<PortInfo>& infos = opened.ports;
  ports_.resize(options.ports.size());
  uint16_t positions[2] = {0, 0};  // by role
  for (uint16_t i = 0; i < options.ports.size(); ++i) {
    const InProcessPort& config = options.ports[i];
    if (absl::Status s = OpenRingPort(absl::StrCat(prefix_, "p", i), options, pool, ports_[i]);
        !s.ok()) {
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
    info.checksum_verdicts = config.checksum_verdicts;
    info.mss_clamp = config.mss_clamp;
    infos.push_back(std::move(info));
  }
  return opened;
}

absl::Status InProcessDataplane::OpenRingPort(const std::string& name,
                                              const InProcessOptions& options, rte_mempool* pool,
                                              RingPort& p) {
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
                                SOCKET_ID_ANY, nullptr, pool) == 0 &&
         rte_eth_tx_queue_setup(p.ethdev, q, static_cast<uint16_t>(options.tx_ring_size),
                                SOCKET_ID_ANY, nullptr) == 0;
  }
  if (!ok || rte_eth_dev_start(p.ethdev) != 0) {
    return absl::InternalError("cannot start the net_ring port " + name);
  }
  return absl::OkStatus();
}

void InProcessDataplane::ClosePorts() {
  for (RingPort& p : ports_) {
    for (rte_ring* r : p.rx) EmptyRing(r);
    for (rte_ring* r : p.tx) EmptyRing(r);
    if (p.open) {
      rte_eth_dev_stop(p.ethdev);
      rte_eth_dev_close(p.ethdev);
    }
    for (rte_ring* r : p.rx) rte_ring_free(r);
    for (rte_ring* r : p.tx) rte_ring_free(r);
  }
  ports_.clear();
}

uint64_t InProcessDataplane::QueuedMbufs() const {
  uint64_t queued = rte_ring_count(to_control());
  if (from_control() != nullptr) queued += rte_ring_count(from_control());
  for (const RingPort& p : ports_) {
    for (const rte_ring* r : p.rx) queued += rte_ring_count(r);
    for (const rte_ring* r : p.tx) queued += rte_ring_count(r);
  }
  return queued;
}

InProcessDataplane::~InProcessDataplane() = default;

}  // namespace privlink::dataplane
