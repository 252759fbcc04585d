#include "dataplane/worker/worker_loop.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include <algorithm>

#include "dataplane/worker/forward.h"
#include "dataplane/worker/proxy_stream.h"
#include "dataplane/worker/tx.h"
#include "nat/expiry.h"
#include "nat/flow_setup.h"

namespace privlink::dataplane {
namespace {

// Frames the control thread queued for this worker to send (ARP, released held packets).
void SendFromControl(Worker& w) {
  if (w.from_control == nullptr) return;
  rte_mbuf* pkts[kRxBurst];
  const unsigned n =
      rte_ring_sc_dequeue_burst(w.from_control, reinterpret_cast<void**>(pkts), kRxBurst, nullptr);
  for (unsigned i = 0; i < n; ++i) Send(w, pkts[i]->port, pkts[i]);
}

// Copies a frame dropped while the worker handles a burst of the captured port.
void CaptureDrop(void* context, const rte_mbuf* m, DropReason reason) {
  Worker& w = *static_cast<Worker*>(context);
  rte_mbuf* frame = const_cast<rte_mbuf*>(m);
  w.shared->capture->Copy(w.capture, &frame, 1, reason);
}

// Loads the capture filter for this poll. A drop capture sets the drop tap for the bursts of its
// port only (PollOnce). The daemon sets no other tap (replay, which does, has no capture).
void LoadCaptureFilter(Worker& w) {
  if (w.shared->capture == nullptr) return;
  w.capture = w.shared->capture->filter();
  w.capture_drop_tap = {&CaptureDrop, &w};
  w.counters.drop_tap = nullptr;
}

// Visits up to `budget` flows of the worker's shard, continuing the current pass.
void ExpireSlice(Worker& w, const BurstContext& ctx, uint32_t budget_limit) {
  nat::FlowTable& table = *w.shared->flows;
  const control::Snapshot& snap = *ctx.snapshot;
  const nat::FlowTimeouts defaults;
  auto timeouts_of = [&](uint16_t service) -> const nat::FlowTimeouts& {
    const control::SnapshotService* s = snap.Service(service);
    return s != nullptr ? s->timeouts : defaults;
  };
  // probe.onDown reset: a flow whose backend is down ends at the sweep's next visit.
  auto backend_down = [&](const nat::FlowEntry& e) -> bool {
    const control::SnapshotService* s = snap.Service(e.binding.service_id);
    if (s == nullptr || s->reset_backends.empty()) [[likely]] {
      return false;
    }
    const Ipv4Be backend = e.binding.rev.tuple.src_ip;
    return std::find(s->reset_backends.begin(), s->reset_backends.end(), backend) !=
           s->reset_backends.end();
  };
  // A UDP flow of an endpoint torn down under the reset policy drops every datagram (there is no
  // reset to send): it ends at once rather than holding its NAT port for the UDP timeout.
  auto udp_torn_down = [&](const nat::FlowEntry& e) {
    if (e.state() != nat::FlowState::kUdp) [[likely]] {
      return false;
    }
    const control::EndpointEntry endpoint = snap.Endpoint(e.binding.endpoint_id);
    return !endpoint.carries_traffic && endpoint.teardown == control::TeardownPolicy::kReset;
  };
  auto ends_early = [&](const nat::FlowEntry& e) { return backend_down(e) || udp_torn_down(e); };
  auto on_expire = [&](nat::FlowId, const nat::FlowEntry& e) {
    const nat::FlowBinding& b = e.binding;
    FlowEndReason reason = EndReasonOf(e, snap);
    if (backend_down(e)) {
      // Both ends learn at once; the client's next connection goes to a healthy backend.
      if (e.state() == nat::FlowState::kEstablished) ResetIdleFlow(w, ctx, e);
      reason = FlowEndReason::kBackendDown;
      w.counters.flows_backend_down_reset.Add(1);
    } else if (reason == FlowEndReason::kIdleTimeout && e.state() == nat::FlowState::kEstablished) {
      const control::SnapshotService* service = snap.Service(b.service_id);
      if (service != nullptr && service->tcp_reset_on_idle) {
        ResetIdleFlow(w, ctx, e);
        reason = FlowEndReason::kIdleReset;
        w.counters.flows_idle_reset.Add(1);
      }
    }
    if (w.audit != nullptr) PushAudit(w, e, AuditEvent::kEnd, reason, ctx.now32);
    (void)nat::ReleaseFlowPort(w.ports, b, ctx.now);
    if (b.tunnelled != 0) w.vteps->Release(VtepIndexOf(b));
    w.counters.nat_ports[b.service_id].in_use[e.nat_ip_index()].Subtract(1);
    w.counters.flows_expired.Add(1);
  };
  auto on_keep = [&](const nat::FlowEntry& e) {
    ++w.sweep.by_state[static_cast<size_t>(e.state())];
    // A PROXY header the backend has not acknowledged while the flow sat idle: lost.
    if (e.binding.stream_shift != 0 && e.proxy_pending() && PastHandshake(e.state()) &&
        nat::ElapsedMs(ctx.now32, e.last_seen_ms.load(std::memory_order_relaxed)) >=
            kProxyResendIdleMs) [[unlikely]] {
      SendProxyHeader(w, ctx, e, ProxySend::kResend, kProxyResendWindow);
    }
  };
  const uint32_t span = table.ShardHighWater(w.index) - table.ShardBegin(w.index);
  // A pass counts each flow once: its last slice stops exactly at the pass's end (the expiry
  // cursor wraps inside the shard, so a full budget would count the first flows twice).
  if (w.sweep.visited >= span) w.sweep.visited = 0;
  const uint32_t left = span - w.sweep.visited;
  const uint32_t budget = std::min(budget_limit, left);
  nat::ExpireFlows(table, {.worker = w.index, .now = ctx.now32, .budget = budget},
                   nat::ExpiryHooks{timeouts_of, on_expire, on_keep, ends_early});
  w.sweep.visited += budget;
  // A whole pass over the shard: publish what it counted (flows by state) and start again.
  if (w.sweep.visited >= span) {
    for (size_t s = 0; s < kFlowStateCount; ++s) {
      w.counters.flows_by_state[s].Set(w.sweep.by_state[s]);
      w.sweep.by_state[s] = 0;
    }
    w.sweep.visited = 0;
  }
}

// The sweep's share of this iteration: time since the last share earns span/kExpiryPassMs
// flows a millisecond (at least one, so a small shard is still swept), spent kExpiryBudget at a
// time. Unspent credit is capped at one pass: after a long stall the sweep catches up with one
// pass, not several.
uint32_t SweepBudget(Worker& w, nat::TimeMs now) {
  const nat::FlowTable& table = *w.shared->flows;
  const uint64_t span = table.ShardHighWater(w.index) - table.ShardBegin(w.index);
  if (now > w.sweep.credited_ms) {
    const uint64_t earned = span * (now - w.sweep.credited_ms) / kExpiryPassMs + 1;
    w.sweep.credit = static_cast<uint32_t>(std::min<uint64_t>(w.sweep.credit + earned, span));
    w.sweep.credited_ms = now;
  }
  const uint32_t budget = std::min(w.sweep.credit, kExpiryBudget);
  w.sweep.credit -= budget;
  return budget;
}

void Housekeeping(Worker& w, const BurstContext& ctx) {
  if (const uint32_t budget = SweepBudget(w, ctx.now); budget != 0) ExpireSlice(w, ctx, budget);
  if (ctx.now >= w.next_port_expiry_ms) {
    w.ports.Expire(ctx.now);
    w.next_port_expiry_ms = ctx.now + kPortExpiryIntervalMs;
  }
  w.shared->flows->Reclaim(w.index);
}

BurstContext LoadContext(Worker& w) {
  BurstContext ctx;
  ctx.snapshot = w.snapshot.Current();
  ctx.view = w.view.Current();
  ctx.now = w.shared->clock->NowMs();
  ctx.now32 = nat::ToMs32(ctx.now);
  return ctx;
}

}  // namespace

void SweepWholeShard(Worker& w) {
  const BurstContext ctx = LoadContext(w);
  const nat::FlowTable& table = *w.shared->flows;
  const uint32_t span = table.ShardHighWater(w.index) - table.ShardBegin(w.index);
  // A pass under way saw its first flows at an earlier time: finish it, then one whole pass sees
  // every flow at `now` (and publishes flows by state).
  if (w.sweep.visited != 0) ExpireSlice(w, ctx, span);
  ExpireSlice(w, ctx, span);
  w.sweep.credited_ms = ctx.now;
  w.sweep.credit = 0;
}

uint32_t PollOnce(Worker& w) {
  const DataplaneShared& shared = *w.shared;
  const BurstContext ctx = LoadContext(w);
  LoadCaptureFilter(w);

  uint32_t received = 0;
  rte_mbuf* pkts[kRxBurst];
  for (uint16_t port = 0; port < shared.ports.size(); ++port) {
    const uint16_t n = rte_eth_rx_burst(shared.ports[port].ethdev, w.index, pkts, kRxBurst);
    if (n == 0) continue;
    received += n;
    if (w.capture.direction != CaptureDirection::kNone) [[unlikely]] {
      if (w.capture.Matches(port, CaptureDirection::kRx)) shared.capture->Copy(w.capture, pkts, n);
      const bool drops = w.capture.Matches(port, CaptureDirection::kDrop);
      w.counters.drop_tap = drops ? &w.capture_drop_tap : nullptr;
    }
    ProcessBurstOf(w, ctx, port, pkts, n);
  }
  if (w.capture.direction == CaptureDirection::kDrop) w.counters.drop_tap = nullptr;
  SendFromControl(w);
  FlushAll(w);
  Housekeeping(w, ctx);

  // Nothing from this iteration is held past here: snapshot, view and flow entries may go.
  w.snapshot.Quiescent();
  w.view.Quiescent();
  rte_rcu_qsbr_quiescent(shared.flow_rcu, w.index);
  return received;
}

void RunWorker(Worker& w, const std::atomic<bool>& stop) {
  uint64_t last = rte_rdtsc();
  while (!stop.load(std::memory_order_relaxed)) {
    const uint64_t start = rte_rdtsc();
    const uint32_t received = PollOnce(w);
    const uint64_t end = rte_rdtsc();
    // Cycles since the last iteration's end (idle sleep included), busy when it received.
    w.counters.loop_cycles.Add(end - last);
    if (received != 0) w.counters.busy_cycles.Add(end - start);
    last = end;
    if (received == 0 && w.idle_sleep_us != 0) rte_delay_us_sleep(w.idle_sleep_us);
  }
}

void DrainWorker(Worker& w) {
  for (TxQueue& q : w.tx) {
    for (uint16_t i = 0; i < q.count; ++i) rte_pktmbuf_free(q.pkts[i]);
    q.count = 0;
  }
  if (w.from_control == nullptr) return;
  void* m;
  while (rte_ring_sc_dequeue(w.from_control, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
}

}  // namespace privlink::dataplane
