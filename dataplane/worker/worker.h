// The state a worker lcore runs on: what every worker shares read-only (ports, tables, rings),
// and one cache-aligned Worker per lcore holding everything only it writes.
#pragma once

#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "control/snapshot/snapshot.h"
#include "dataplane/packet/wire_format.h"
#include "dataplane/worker/audit_record.h"
#include "dataplane/worker/capture_tap.h"
#include "dataplane/worker/counters.h"
#include "dataplane/worker/port_info.h"
#include "dataplane/worker/view.h"
#include "dataplane/worker/vtep_table.h"
#include "nat/clock.h"
#include "nat/flow_table.h"
#include "nat/port_alloc.h"

namespace privlink::dataplane {

// Packets per rx burst: DPDK's usual 32 amortises the PMD call and fills the bulk lookup.
inline constexpr uint16_t kRxBurst = 32;
// A burst can emit up to two frames per packet (both resets of a torn-down flow) plus what the
// control thread hands over; the queue is flushed when full and after every loop iteration.
inline constexpr uint16_t kTxQueueCapacity = 4 * kRxBurst;
// The expiry sweep visits every flow of the worker's shard once per this period, so a flow
// outlives its timeout by at most this much. Pacing by time, not by loop iteration, keeps the
// sweep's cost per packet proportional to flows / period rather than to the poll rate; a
// second is well below every default timeout (the shortest is 10 s) and keeps the sweep far
// ahead of flow creation (a shard of S flows with timeout T >= 1 s is created at most S/T a
// second).
inline constexpr nat::TimeMs kExpiryPassMs = 1000;
// Flow ids one loop iteration inspects at most: a few microseconds, so forwarding never pauses
// even when the sweep has fallen behind (a clock jump, a huge shard).
inline constexpr uint32_t kExpiryBudget = 256;
// Quarantined NAT ports are returned to their pools this often (the allocator also does it lazily
// on each allocation).
inline constexpr nat::TimeMs kPortExpiryIntervalMs = 1000;
// ICMP errors about flows forwarded per service per second by one worker (and as a burst): enough
// for path MTU discovery and traceroute, while a flood of forged errors (each costs a flow lookup
// and a rewrite) stays bounded, as routers rate-limit the errors they send (RFC 1812 4.3.2.8).
inline constexpr uint32_t kIcmpErrorsPerSecond = 100;

// A token bucket per service for kIcmpErrorsPerSecond.
struct IcmpRateLimit {
  struct Bucket {
    uint32_t tokens = kIcmpErrorsPerSecond;
    nat::TimeMs refilled_ms = 0;
  };
  absl::flat_hash_map<uint16_t, Bucket> by_service;

  bool Take(uint16_t service, nat::TimeMs now) {
    Bucket& b = by_service[service];
    if (now > b.refilled_ms) {
      const uint64_t earned = (now - b.refilled_ms) * kIcmpErrorsPerSecond / 1000;
      if (earned > 0) {
        b.tokens =
            static_cast<uint32_t>(std::min<uint64_t>(kIcmpErrorsPerSecond, b.tokens + earned));
        b.refilled_ms = now;
      }
    }
    if (b.tokens == 0) return false;
    --b.tokens;
    return true;
  }
};

// Read-only after start; every worker and the control thread point at the same one.
struct DataplaneShared {
  std::vector<PortInfo> ports;
  std::vector<uint16_t> consumer_ports;  // consumer position -> port index
  nat::FlowTable* flows = nullptr;
  rte_rcu_qsbr* flow_rcu = nullptr;  // the flow table's readers: RCU thread id = worker index
  ViewPublisher* view = nullptr;
  rte_mempool* pool = nullptr;     // for frames privlink builds (resets)
  rte_ring* to_control = nullptr;  // ARP and packets waiting for a neighbour (MP/SC)
  const nat::Clock* clock = nullptr;
  CaptureTap* capture = nullptr;  // nullptr: no capture possible (replay)
  // dataplane.verifyTcpChecksum: all. Otherwise only the segments that would create a flow or
  // change its state are verified (before they do).
  bool verify_all_tcp_checksums = false;
  // The control thread runs a health prober: provider segments to a probe port are its answers.
  bool health_probes = false;
  // NAT ports are chosen so that return packets come back to the worker that created the flow
  // (dataplane.flowSteering: rss-port-choice).
  bool rss_port_choice = false;
  VtepTable* vteps = nullptr;  // tunnelled flows' client hops (each worker writes its slice)
};

struct TxQueue {
  uint16_t count = 0;
  rte_mbuf* pkts[kTxQueueCapacity];
};

// Everything one burst needs besides the packets: loaded once per loop iteration.
struct BurstContext {
  const control::Snapshot* snapshot = nullptr;
  const DataplaneView* view = nullptr;
  nat::TimeMs now = 0;
  nat::TimeMs32 now32 = 0;
};

struct alignas(RTE_CACHE_LINE_SIZE) Worker {
  Worker(uint32_t index, const DataplaneShared* shared, nat::NatPortAllocator ports)
      : index(index), shared(shared), ports(std::move(ports)) {}

  uint32_t index = 0;  // also its RX/TX queue on every port and its flow-table shard
  const DataplaneShared* shared = nullptr;
  // The ids of its flow-table shard, [shard_begin, shard_begin + shard_ids): a flow id outside
  // is another worker's flow (counters.foreign_packets).
  nat::FlowId shard_begin = 0;
  uint32_t shard_ids = 0;
  bool OwnsFlow(nat::FlowId id) const { return id - shard_begin < shard_ids; }
  nat::NatPortAllocator ports;
  control::SnapshotReader snapshot;
  ViewReader view;
  rte_ring* from_control = nullptr;  // frames the control thread sends through this worker
  nat::TimeMs next_port_expiry_ms = 0;
  uint32_t idle_sleep_us = 0;  // sleep this long after an empty poll (0 = busy poll)
  // The expiry sweep's running count of flows by state (published to counters once per pass).
  struct {
    uint64_t by_state[kFlowStateCount] = {};
    uint32_t visited = 0;
    uint32_t credit = 0;          // flows the sweep may visit now (earned by elapsed time)
    nat::TimeMs credited_ms = 0;  // the time credit was last earned at
  } sweep;
  std::array<TxQueue, kMaxPorts> tx{};
  CounterSet counters;
  // Packet capture: the filter, loaded once per poll, and the drop tap copying dropped frames
  // while a drop capture runs (installed as counters.drop_tap for that poll only).
  CaptureFilter capture;
  DropTap capture_drop_tap;
  // Connection audit log: this worker's record ring (nullptr: off) and the records it lost.
  rte_ring* audit = nullptr;
  Counter audit_lost;
  IcmpRateLimit icmp_rate;
  std::optional<VtepTable::Slice> vteps;  // this worker's slice of DataplaneShared::vteps
};

// Queues an audit record of flow `e` when the audit log is on; a full ring loses it (counted).
inline void PushAudit(Worker& w, const nat::FlowEntry& e, AuditEvent event, FlowEndReason reason,
                      nat::TimeMs32 now) {
  if (w.audit == nullptr) return;
  AuditRecord record = MakeAuditRecord(e, event, reason, now);
  if (rte_ring_sp_enqueue_elem(w.audit, &record, sizeof record) != 0) w.audit_lost.Add(1);
}

}  // namespace privlink::dataplane
