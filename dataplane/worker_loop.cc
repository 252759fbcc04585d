#include "dataplane/worker_loop.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include "dataplane/forward.h"
#include "dataplane/tx.h"
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

void ExpireSlice(Worker& w, const BurstContext& ctx) {
  nat::FlowTable& table = *w.shared->flows;
  const control::Snapshot& snap = *ctx.snapshot;
  const nat::TcpTimeouts defaults;
  auto timeouts_of = [&](uint16_t service) -> const nat::TcpTimeouts& {
    const control::SnapshotService* s = snap.Service(service);
    return s != nullptr ? s->timeouts : defaults;
  };
  auto on_expire = [&](nat::FlowId, const nat::FlowEntry& e) {
    const nat::FlowBinding& b = e.binding;
    if (w.audit != nullptr) {
      PushAudit(w, e, AuditEvent::kEnd, EndReasonOf(e, snap), ctx.now32);
    }
    (void)nat::ReleaseFlowPort(w.ports, b, ctx.now);
    w.counters.nat_ports[b.service_id].in_use[b.nat_ip_index()].Subtract(1);
    w.counters.flows_expired.Add(1);
  };
  auto on_keep = [&](const nat::FlowEntry& e) {
    ++w.sweep.by_state[static_cast<size_t>(e.state())];
  };
  const uint32_t span = table.ShardHighWater(w.index) - table.ShardBegin(w.index);
  // A pass counts each flow once: its last slice stops exactly at the pass's end (the expiry
  // cursor wraps inside the shard, so a full budget would count the first flows twice).
  if (w.sweep.visited >= span) w.sweep.visited = 0;
  const uint32_t left = span - w.sweep.visited;
  const uint32_t budget = kExpiryBudget < left ? kExpiryBudget : left;
  nat::ExpireFlows(table, w.index, ctx.now32, budget, timeouts_of, on_expire, on_keep);
  w.sweep.visited += budget;
  // A whole pass over the shard: publish what it counted (flows by state) and start again.
  if (w.sweep.visited >= span) {
    for (size_t s = 0; s < kTcpStateCount; ++s) {
      w.counters.flows_by_state[s].Set(w.sweep.by_state[s]);
      w.sweep.by_state[s] = 0;
    }
    w.sweep.visited = 0;
  }
}

void Housekeeping(Worker& w, const BurstContext& ctx) {
  ExpireSlice(w, ctx);
  if (ctx.now >= w.next_port_expiry_ms) {
    w.ports.Expire(ctx.now);
    w.next_port_expiry_ms = ctx.now + kPortExpiryIntervalMs;
  }
  w.shared->flows->Reclaim(w.index);
}

}  // namespace

uint32_t PollOnce(Worker& w) {
  const DataplaneShared& shared = *w.shared;
  BurstContext ctx;
  ctx.snapshot = w.snapshot.Current();
  ctx.view = shared.view->Current();
  ctx.now = shared.clock->NowMs();
  ctx.now32 = nat::ToMs32(ctx.now);
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
    if (shared.ports[port].role == PortRole::kConsumer) {
      ProcessBurst<PortRole::kConsumer>(w, ctx, port, pkts, n);
    } else {
      ProcessBurst<PortRole::kProvider>(w, ctx, port, pkts, n);
    }
  }
  if (w.capture.direction == CaptureDirection::kDrop) w.counters.drop_tap = nullptr;
  SendFromControl(w);
  FlushAll(w);
  Housekeeping(w, ctx);

  // Nothing from this iteration is held past here: snapshot, view and flow entries may go.
  w.snapshot.Quiescent();
  shared.view->Quiescent(w.index);
  rte_rcu_qsbr_quiescent(shared.flow_rcu, w.index);
  return received;
}

void RunWorker(Worker& w, const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed)) {
    if (PollOnce(w) == 0 && w.idle_sleep_us != 0) rte_delay_us_sleep(w.idle_sleep_us);
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
