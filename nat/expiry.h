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

// One call's share of a worker's sweep: the worker's shard, the time flows are judged at, and
// how many flow ids it may inspect.
struct ExpirySlice {
  uint32_t worker = 0;
  TimeMs32 now = 0;
  uint32_t budget = 0;
};

struct KeepNothing {
  void operator()(const FlowEntry&) const {}
};
struct EndNothingEarly {
  bool operator()(const FlowEntry&) const { return false; }
};

// What the sweep asks and tells its caller: `timeouts_of(service_id)` returns the flow's
// service's FlowTimeouts; `on_expire(id, entry)` runs before the flow is unlinked (release its NAT
// port, count it, log it); `on_keep(entry)` sees every live flow that stays (statistics by
// state); `ends_early(entry)` ends a flow before its timeout (its backend went down). Built as
// ExpiryHooks{timeouts_of, on_expire}, {.., on_keep} or {.., on_keep, ends_early}.
template <typename TimeoutsOf, typename OnExpire, typename OnKeep = KeepNothing,
          typename EndsEarly = EndNothingEarly>
struct ExpiryHooks {
  TimeoutsOf timeouts_of;
  OnExpire on_expire;
  OnKeep on_keep{};
  EndsEarly ends_early{};
};
// Deduction guides: clang 14 (the fuzz and tidy builds) does not deduce an aggregate's template
// arguments from its initializer (C++20's P1816) by itself.
template <typename TimeoutsOf, typename OnExpire>
ExpiryHooks(TimeoutsOf, OnExpire) -> ExpiryHooks<TimeoutsOf, OnExpire>;
template <typename TimeoutsOf, typename OnExpire, typename OnKeep>
ExpiryHooks(TimeoutsOf, OnExpire, OnKeep) -> ExpiryHooks<TimeoutsOf, OnExpire, OnKeep>;
template <typename TimeoutsOf, typename OnExpire, typename OnKeep, typename EndsEarly>
ExpiryHooks(TimeoutsOf, OnExpire, OnKeep, EndsEarly)
    -> ExpiryHooks<TimeoutsOf, OnExpire, OnKeep, EndsEarly>;

// Returns flows expired.
template <typename TimeoutsOf, typename OnExpire, typename OnKeep, typename EndsEarly>
uint32_t ExpireFlows(FlowTable& table, const ExpirySlice& slice,
                     const ExpiryHooks<TimeoutsOf, OnExpire, OnKeep, EndsEarly>& hooks) {
  const uint32_t worker = slice.worker;
  const FlowId begin = table.ShardBegin(worker);
  const FlowId high_water = table.ShardHighWater(worker);
  if (high_water == begin) return 0;
  uint32_t& cursor = table.ExpiryCursor(worker);
  const uint32_t span = high_water - begin;
  const uint32_t steps = slice.budget < span ? slice.budget : span;
  uint32_t expired = 0;
  for (uint32_t i = 0; i < steps; ++i) {
    if (cursor >= high_water || cursor < begin) cursor = begin;
    FlowEntry& e = table.entry(cursor);
    if (e.live()) {
      const FlowTimeouts& t = hooks.timeouts_of(e.binding.service_id);
      const uint32_t idle = ElapsedMs(slice.now, e.last_seen_ms.load(std::memory_order_relaxed));
      if (idle >= FlowTimeoutMs(e, t) || hooks.ends_early(e)) {
        hooks.on_expire(cursor, e);
        table.Remove(worker, cursor);
        ++expired;
      } else {
        hooks.on_keep(e);
      }
    }
    ++cursor;
  }
  return expired;
}

}  // namespace privlink::nat
