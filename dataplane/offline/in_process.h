// The daemon's dataplane assembled in one process without NICs, for replay (offline/replay.h),
// privlink-bench and the dataplane tests: the same parts, wired by the same DataplaneParts
// (assembly/parts.h), as privlinkd's Dataplane, with one net_ring port per configured port that
// has one RX and one TX queue per worker (queue q is worker q's, as the daemon opens real ports)
// and a virtual clock. Nothing runs by itself: the owner calls PollOnce on each worker and
// Controller::Poll.
//
// RCU: every worker is registered with every RCU domain (snapshot, view, flow table) on the
// thread that calls Create, as an online reader with its index as thread id. Replay and tests
// poll all workers from that thread; privlink-bench runs worker w on lcore w, which is correct
// because rte_eal_remote_launch orders the registration before the worker's first read and
// rte_eal_wait_lcore orders its last report before the destructor.
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "control/config/dataplane_config.h"
#include "control/snapshot/snapshot_publisher.h"
#include "dataplane/assembly/parts.h"
#include "dataplane/control_thread/controller.h"
#include "dataplane/worker/view.h"
#include "dataplane/worker/worker.h"
#include "nat/clock.h"
#include "nat/flow_table.h"
#include "nat/port_alloc.h"

namespace privlink::dataplane {

struct InProcessPort {
  std::string name;
  PortRole role = PortRole::kConsumer;
  MacAddress mac{};
  Ipv4Be address = 0;  // a provider port's own address (its ARP sender), or 0
  // Read the mbufs' RX checksum flags as a NIC with checksum offload sets them (tests inject
  // them); net_ring itself sets none.
  bool checksum_verdicts = false;
  uint16_t mss_clamp = 0;  // PortInfo::mss_clamp
};

struct InProcessOptions {
  std::vector<InProcessPort> ports;  // at most kMaxPorts; positions among a role follow this order
  uint32_t workers = 1;
  uint32_t flow_capacity = 4096;  // flows (each has two keys), split into one shard per worker
  // Flow-table RCU thread ids after the workers' (workers .. workers + flow_readers - 1),
  // registered but offline: what a FlowReader needs (the daemon's API listing).
  uint32_t flow_readers = 0;
  unsigned pool_size = 8191;
  // Per-lcore mbuf cache (DPDK's usual 256); 0 makes the pool's in-use count exact.
  unsigned pool_cache = kMbufCacheSize;
  unsigned rx_ring_size = 256;  // every queue's rings, a power of two (they hold one less)
  unsigned tx_ring_size = 1024;
  unsigned to_control_ring_size = kToControlRingSize;
  unsigned from_control_ring_size = kFromControlRingSize;
  uint16_t nat_first_port = nat::kDefaultFirstNatPort;
  uint16_t nat_last_port = nat::kDefaultLastNatPort;
  uint32_t nat_quarantine_ms = nat::kDefaultPortQuarantineMs;
  bool verify_all_tcp_checksums = false;  // dataplane.verifyTcpChecksum: all
  // kShared: NAT ports as if RSS could not be programmed; otherwise the modelled NIC (rss.h)
  // takes privlink's RSS set-up and NAT ports are chosen by it.
  control::FlowSteering flow_steering = control::FlowSteering::kAuto;
  nat::TimeMs clock_start_ms = 0;
  // The neighbour view workers start with (nullptr: an empty one).
  std::unique_ptr<const DataplaneView> initial_view;
  // A Controller for these provider ports, reading the to-control ring and sending through
  // worker 0's from-control ring. Without one there is no from-control ring, and the owner
  // publishes the view itself.
  std::optional<std::vector<ProviderPortSetup>> controller;
  // With a Controller: probe backends, reporting to this (PartsOptions::health_reports).
  control::HealthReports* health_reports = nullptr;
};

class InProcessDataplane {
 public:
  // `publisher` hands out snapshot reader ids 0 .. workers - 1 to the workers and `workers` to
  // the Controller, so it needs workers (+ 1 with a Controller) slots; it must outlive this.
  // The EAL must be initialised. DPDK object names are unique per instance, so several may live
  // in one process.
  static absl::StatusOr<std::unique_ptr<InProcessDataplane>> Create(
      InProcessOptions options, control::SnapshotPublisher& publisher);
  // The Controller and the workers drain what they hold, every ring is emptied, then readers
  // are unregistered and everything is freed: no worker may be running.
  ~InProcessDataplane();
  InProcessDataplane(const InProcessDataplane&) = delete;
  InProcessDataplane& operator=(const InProcessDataplane&) = delete;

  uint32_t worker_count() const { return parts_->worker_count(); }
  Worker& worker(uint32_t index) { return parts_->worker(index); }
  const Worker& worker(uint32_t index) const { return parts_->worker(index); }
  Controller* controller() const { return parts_->controller(); }
  // Port `port`'s queue `queue` (= worker index): the RX ring frames are queued on, the TX ring
  // the worker sends on.
  rte_ring* rx_ring(uint16_t port, uint32_t queue) const { return ports_[port].rx[queue]; }
  rte_ring* tx_ring(uint16_t port, uint32_t queue) const { return ports_[port].tx[queue]; }
  rte_ring* to_control() const { return parts_->to_control(); }
  rte_ring* from_control() const { return parts_->from_control(); }
  rte_mempool* pool() const { return parts_->pool(); }
  nat::VirtualClock& clock() { return clock_; }
  const nat::VirtualClock& clock() const { return clock_; }
  nat::FlowTable& flows() { return parts_->flows(); }
  const nat::FlowTable& flows() const { return parts_->flows(); }
  ViewPublisher& view() { return parts_->view(); }
  DataplaneShared& shared() { return parts_->shared(); }
  const std::vector<PortInfo>& ports() const { return parts_->shared().ports; }
  // Mbufs that some ring holds now (every queue of every port, and the control rings).
  uint64_t QueuedMbufs() const;

 private:
  struct RingPort {
    std::vector<rte_ring*> rx;  // one per queue
    std::vector<rte_ring*> tx;
    uint16_t ethdev = 0;
    bool open = false;
  };

  InProcessDataplane() = default;
  absl::StatusOr<OpenedPorts> OpenPorts(const InProcessOptions& options, rte_mempool* pool);
  absl::Status OpenRingPort(const std::string& name, const InProcessOptions& options,
                            rte_mempool* pool, RingPort& port);
  void ClosePorts();

  std::string prefix_;  // of this instance's DPDK object names
  nat::VirtualClock clock_;
  std::vector<RingPort> ports_;
  std::unique_ptr<DataplaneParts> parts_;  // last: its destructor closes ports_ through the driver
};

}  // namespace privlink::dataplane
