// Flow listings for the API (privlinkctl flows): the flow table read from a thread that is not a
// worker, without a lock and without pausing forwarding.
//
// Safety. The reader walks the table's buckets (never the entry array: free and half-built
// entries are written without synchronisation) and reads an entry only after an acquire load of
// one of its slots, which pairs with the inserter's release, so the binding written before it is
// visible. The reader is registered on the flow table's RCU variable (rte_rcu_qsbr) and stays
// online while it copies a batch of buckets: a flow removed meanwhile goes to its owner's limbo,
// and its id is reused (its binding overwritten) only after every online reader reported a
// quiescent state, i.e. after the reader went offline at the end of the batch. So every copy is
// of one flow, never a mix of two. Between batches the reader is offline, so workers reclaim
// ids at most one batch late. Fields that change while the flow lives are atomics (state, last
// seen, counters) and are read as such; binding.flags, written by the owner on removal, is not
// read at all.
#pragma once

#include <rte_rcu_qsbr.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/snapshot/snapshot.h"
#include "dataplane/worker/counters.h"
#include "nat/flow_table.h"

namespace privlink::dataplane {

// Buckets copied per online period: about 32k slots, tens of microseconds, so reclamation of
// removed flows is never held up longer than that.
inline constexpr uint32_t kFlowScanBatchBuckets = 4096;

// One flow as a reader copied it.
struct FlowRecord {
  nat::FlowId id = nat::kInvalidFlowId;
  nat::FlowKey fwd;  // client -> private endpoint, in its consumer network
  nat::FlowKey rev;  // backend -> NAT ip:port
  uint32_t endpoint_id = 0;
  uint16_t service_id = 0;
  uint8_t owner_worker = 0;
  nat::FlowState state = nat::FlowState::kSynSent;
  uint32_t age_ms = 0;
  uint32_t idle_ms = 0;
  uint64_t packets[2] = {};  // indexed by nat::FlowDirection
  uint64_t bytes[2] = {};
};

struct FlowFilter {
  std::optional<uint32_t> endpoint_id;
  std::optional<uint16_t> service_id;
  bool Matches(const FlowRecord& r) const {
    return (!endpoint_id || *endpoint_id == r.endpoint_id) &&
           (!service_id || *service_id == r.service_id);
  }
};

struct FlowList {
  std::vector<FlowRecord> flows;
  bool truncated = false;  // more flows matched than the limit
};

using FlowCounts = std::array<uint64_t, kFlowStateCount>;  // indexed by nat::FlowState

// Reads `table` as RCU thread `rcu_thread_id` of `rcu` (nullptr: the table is used from one
// thread only). The caller registers that id before and unregisters it after; one thread uses a
// reader at a time.
class FlowReader {
 public:
  FlowReader(const nat::FlowTable& table, rte_rcu_qsbr* rcu, uint32_t rcu_thread_id)
      : table_(table), rcu_(rcu), rcu_thread_id_(rcu_thread_id) {}

  // Up to `limit` flows matching `filter`, in table order.
  FlowList List(const FlowFilter& filter, size_t limit, nat::TimeMs32 now) const;
  // Flows matching `filter` by TCP state.
  FlowCounts Count(const FlowFilter& filter) const;

 private:
  // fn(record) for every flow matching `filter` until it returns false.
  template <typename Fn>
  void Scan(const FlowFilter& filter, nat::TimeMs32 now, Fn&& fn) const;

  const nat::FlowTable& table_;
  rte_rcu_qsbr* rcu_;
  uint32_t rcu_thread_id_;
};

// {"id", "endpoint", "service", "network", "protocol", "client", "endpointAddress", "nat",
// "backend", "state", "ageSeconds", "idleSeconds", "bytesOut", "bytesIn", "packetsOut",
// "packetsIn", "worker"}; names from `snap` (null when gone). Out = from the client, In = towards
// it.
nlohmann::json FlowRecordJson(const FlowRecord& r, const control::Snapshot& snap);
// {"total": n, "byState": {"established": n, ...}}.
nlohmann::json FlowCountsJson(const FlowCounts& counts);

}  // namespace privlink::dataplane
