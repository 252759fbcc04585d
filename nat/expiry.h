// Incremental flow expiry, run by each worker over its own shard of the flow table.
//
// Each call inspects at most `budget` flow ids, continuing where the previous call stopped, so a
// worker spends a small bounded time per loop iteration on it and forwarding never pauses. Only
// the owning worker removes a flow, so its NAT port is released exactly once, by the allocator
// slice that handed it out.
#pragma once

#include <cstdint>

#include "nat/flow_table.h"
#include "nat/tcp_state.h"

namespace privlink::nat {

// `timeouts_of(service_id)` returns the flow's service's TcpTimeouts; `on_expire(id, entry)` runs
// before the flow is unlinked (release its NAT port, count it, log it); `on_keep(entry)` sees
// every live flow that stays (statistics by state). Returns flows expired.
struct KeepNothing {
  void operator()(const FlowEntry&) const {}
};
template <typename TimeoutsOf, typename OnExpire, typename OnKeep = KeepNothing>
uint32_t ExpireFlows(FlowTable& table, uint32_t worker, TimeMs32 now, uint32_t budget,
                     TimeoutsOf&& timeouts_of, OnExpire&& on_expire, OnKeep&& on_keep = {}) {
  const FlowId begin = table.ShardBegin(worker);
  const FlowId high_water = table.ShardHighWater(worker);
  if (high_water == begin) return 0;
  uint32_t& cursor = table.ExpiryCursor(worker);
  const uint32_t span = high_water - begin;
  const uint32_t steps = budget < span ? budget : span;
  uint32_t expired = 0;
  for (uint32_t i = 0; i < steps; ++i) {
    if (cursor >= high_water || cursor < begin) cursor = begin;
    FlowEntry& e = table.entry(cursor);
    if ((e.binding.flags & kFlowLive) != 0) {
      const TcpTimeouts& t = timeouts_of(e.binding.service_id);
      const uint32_t idle = ElapsedMs(now, e.last_seen_ms.load(std::memory_order_relaxed));
      if (idle >= TcpStateTimeoutMs(e.state(), t)) {
        on_expire(cursor, e);
        table.Remove(worker, cursor);
        ++expired;
      } else {
        on_keep(e);
      }
    }
    ++cursor;
  }
  return expired;
}

}  // namespace privlink::nat
