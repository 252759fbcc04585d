// DataplaneParts: the one wiring of the dataplane's parts, shared by the daemon (Dataplane, on
// NICs and worker lcores) and the in-process pipeline (InProcessDataplane, on net_ring ports for
// replay, privlink-bench and tests). It makes, in this order: the mbuf pool, the ports (through
// the owner's PortDriver, the one thing the two assemblies do differently), the flow table with
// one shard per worker and its RCU variable, the neighbour view's publisher, the rings to and
// from the control thread, one Worker per queue with its NAT port slice, and (when asked) the
// control thread's Controller; and it takes them down in the reverse order, draining every queue
// first so each mbuf goes back to the pool before the pool goes.
//
// RCU thread ids, the same in both assemblies: on the snapshot publisher, workers 0 .. W-1 and
// the Controller W (the daemon's stats reader takes W+1: control::kDataplaneExtraReaders); on
// the flow table, workers 0 .. W-1 then `flow_readers` offline readers for listings; on the view,
// workers 0 .. W-1.
#pragma once

#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "control/snapshot/snapshot_publisher.h"
#include "dataplane/control_thread/controller.h"
#include "dataplane/worker/worker.h"
#include "nat/clock.h"
#include "nat/flow_table.h"
#include "nat/port_alloc.h"
#include "nat/rss_port_map.h"

namespace privlink::dataplane {

// Frames waiting for the control thread (ARP from every port, packets held for ARP): a burst of
// new connections to a backend whose MAC is unknown lands here at once.
inline constexpr unsigned kToControlRingSize = 4096;
// Frames the control thread sends through worker 0 (ARP, released held packets).
inline constexpr unsigned kFromControlRingSize = 2048;
// Per-lcore mbuf cache: DPDK's usual size, amortises the pool's ring on alloc and free.
inline constexpr unsigned kMbufCacheSize = 256;

// What opening the ports gave: the ports, and how their RSS steers flows.
struct OpenedPorts {
  std::vector<PortInfo> ports;
  // RSS port choice: every port's RSS takes this map's key and RETA, so NAT ports are chosen by
  // it; nullptr: shared steering (return packets may reach any worker).
  std::shared_ptr<const nat::RssPortMap> rss_port_map;
  // Why the ports steer as they do where it is not what was asked or the default would be
  // (flowSteering not written and a device that cannot take the RSS set-up); else empty.
  std::string steering_note;
};

// How an assembly brings its ports up and down: real devices (daemon/ports.h) or net_ring ports.
struct PortDriver {
  // Opens every port with `workers` RX and TX queues, receiving into `pool`.
  std::function<absl::StatusOr<OpenedPorts>(rte_mempool* pool)> open;
  // Stops and closes them, returning every mbuf they hold to the pool. Called once, after the
  // workers and the Controller have drained, before the pool is freed.
  std::function<void()> close;
};

struct PartsOptions {
  std::string name_prefix;  // of the DPDK objects' names (unique per process)
  uint32_t workers = 1;
  uint32_t flow_capacity = 4096;  // flows (each has two keys), split into one shard per worker
  uint32_t flow_readers = 0;      // flow-table RCU ids after the workers', registered offline
  unsigned pool_size = 8191;
  unsigned pool_cache = kMbufCacheSize;  // 0 makes the pool's in-use count exact
  int socket = SOCKET_ID_ANY;
  unsigned to_control_ring_size = kToControlRingSize;
  unsigned from_control_ring_size = kFromControlRingSize;
  uint16_t nat_first_port = nat::kDefaultFirstNatPort;
  uint16_t nat_last_port = nat::kDefaultLastNatPort;
  uint32_t nat_quarantine_ms = nat::kDefaultPortQuarantineMs;
  uint32_t idle_sleep_us = 0;             // a worker's sleep after an empty poll (0 = busy poll)
  bool verify_all_tcp_checksums = false;  // DataplaneShared::verify_all_tcp_checksums
  const nat::Clock* clock = nullptr;
  // The neighbour view workers start with (nullptr: an empty one).
  std::unique_ptr<const DataplaneView> initial_view;
  // A Controller for these provider ports, reading the to-control ring and sending through
  // worker 0's from-control ring. Without one there is no from-control ring, and the owner
  // publishes the view itself.
  std::optional<std::vector<ProviderPortSetup>> controller;
  // With a Controller: probe backends and report to this (nullptr: no probes, as in replay).
  control::HealthReports* health_reports = nullptr;
};

// Frees every mbuf `ring` (of mbuf pointers; may be null) holds.
void EmptyRing(rte_ring* ring);

class DataplaneParts {
 public:
  // `publisher` must outlive the parts and have workers (+ 1 with a Controller) reader slots.
  // The EAL must be initialised.
  static absl::StatusOr<std::unique_ptr<DataplaneParts>> Create(
      PartsOptions options, PortDriver ports, control::SnapshotPublisher& publisher);
  // No worker may be running. Drains the Controller and the workers, closes the ports, then
  // unregisters what is still registered and frees everything.
  ~DataplaneParts();
  DataplaneParts(const DataplaneParts&) = delete;
  DataplaneParts& operator=(const DataplaneParts&) = delete;

  // Registers worker `w` with every RCU domain (snapshot, flow table, view), online, from the
  // calling thread: the worker's own, or one ordered before its first read.
  absl::Status RegisterWorker(Worker& w);
  // From the worker's thread as it ends, or later from any thread ordered after its last read.
  void UnregisterWorker(Worker& w);

  uint32_t worker_count() const { return static_cast<uint32_t>(workers_.size()); }
  Worker& worker(uint32_t index) { return *workers_[index]; }
  const Worker& worker(uint32_t index) const { return *workers_[index]; }
  Controller* controller() const { return controller_.get(); }
  const std::string& steering_note() const { return steering_note_; }
  // The control thread's snapshot handle (only with a Controller).
  control::SnapshotReader& controller_reader() { return *controller_reader_; }
  DataplaneShared& shared() { return shared_; }
  const DataplaneShared& shared() const { return shared_; }
  rte_mempool* pool() const { return shared_.pool; }
  rte_ring* to_control() const { return shared_.to_control; }
  rte_ring* from_control() const { return from_control_; }
  nat::FlowTable& flows() { return *flows_; }
  const nat::FlowTable& flows() const { return *flows_; }
  ViewPublisher& view() { return *view_; }
  // The flow table's RCU id of listing reader `i` (0 .. flow_readers - 1).
  uint32_t flow_reader_id(uint32_t i) const { return worker_count() + i; }

 private:
  DataplaneParts(control::SnapshotPublisher& publisher, PortDriver ports)
      : publisher_(publisher), ports_(std::move(ports)) {}
  absl::Status Build(PartsOptions& options);

  control::SnapshotPublisher& publisher_;
  PortDriver ports_;
  bool ports_open_ = false;
  std::string steering_note_;
  DataplaneShared shared_;
  uint32_t flow_readers_ = 0;
  std::unique_ptr<nat::FlowTable> flows_;
  std::unique_ptr<VtepTable> vteps_;
  std::unique_ptr<ViewPublisher> view_;
  std::vector<std::unique_ptr<Worker>> workers_;
  // By worker index; each worker's thread writes its own byte (not vector<bool>: its bits share
  // words, and workers register concurrently).
  std::vector<uint8_t> registered_;
  rte_ring* from_control_ = nullptr;
  std::optional<control::SnapshotReader> controller_reader_;
  std::unique_ptr<Controller> controller_;
};

}  // namespace privlink::dataplane
