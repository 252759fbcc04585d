// One NAT flow: both directions' keys, the precomputed rewrite, and its live state.
//
// 96 bytes. The first 56 (and created_ticks) are written once, before the entry is published in
// the table, and only read afterwards; the other fields after them change per packet. A translated
// header is the tuple of the *other* direction's key, reversed (TranslatedTuple):
//   in2out (consumer -> provider): src := rev.dst (NAT ip:port), dst := rev.src (backend ip:port)
//   out2in (provider -> consumer): src := fwd.dst (PE ip:frontend port), dst := fwd.src (client)
#pragma once

#include <atomic>
#include <cstdint>

#include "nat/checksum.h"
#include "nat/clock.h"
#include "nat/flow_key.h"
#include "nat/tcp_state.h"

namespace privlink::nat {

using FlowId = uint32_t;
inline constexpr FlowId kInvalidFlowId = 0xffffffffu;

// Per-direction counters. Each direction of a flow is written by one worker only (RSS keeps a
// 5-tuple on one queue), so the counters use relaxed load + store: no locked instruction on the
// fast path, and readers on other threads (stats, flow listings) still see untorn values.
struct DirectionCounters {
  std::atomic<uint64_t> packets{0};
  std::atomic<uint64_t> bytes{0};

  void Add(uint32_t frame_bytes) {
    packets.store(packets.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    bytes.store(bytes.load(std::memory_order_relaxed) + frame_bytes, std::memory_order_relaxed);
  }
};

// What a flow is bound to: written once, before the entry is published, then only read.
inline constexpr uint8_t kFlowLive = 0x01;
inline constexpr unsigned kFlowNatIpIndexShift = 4;  // bits 4..7: up to 16 NAT IPs per service

struct FlowBinding {
  FlowKey fwd;                 // consumer side: client -> PE, on the consumer network
  FlowKey rev;                 // provider side: backend -> NAT ip:port
  RewriteDelta delta[2];       // checksum deltas, indexed by FlowDirection (computed at creation)
  uint8_t client_mac[6] = {};  // where out2in frames go (learned from the flow's first packet)
  uint16_t service_id = 0;     // control plane ids: stats and timeouts are looked up by them
  uint32_t endpoint_id = 0;
  uint16_t backend_index = 0;  // the Maglev choice, kept so table changes never move the flow
  uint8_t owner_worker = 0;    // the worker that created it: it alone expires and frees it
  uint8_t flags = 0;           // owner-only bookkeeping (kFlowLive, NAT IP position)

  // Position of the flow's NAT IP in its service's list (lists only grow), for per-NAT-IP gauges
  // that must go down when the flow ends even if the service is gone by then.
  uint8_t nat_ip_index() const { return flags >> kFlowNatIpIndexShift; }

  const FlowKey& key(FlowDirection d) const { return d == FlowDirection::kIn2Out ? fwd : rev; }
  // The tuple a packet travelling in `d` leaves with: the other direction's, reversed.
  Tuple TranslatedTuple(FlowDirection d) const {
    return (d == FlowDirection::kIn2Out ? rev : fwd).tuple.Reversed();
  }
};
static_assert(sizeof(FlowBinding) == 56);

// A flow's creation time fits the 3 bytes left in the entry as 24-bit ticks of 256 ms: they wrap
// after 49.7 days, like TimeMs32 itself, at a resolution fine for ages and audit durations.
inline constexpr unsigned kFlowTickShift = 8;
inline constexpr uint32_t kFlowTickMask = 0xffffff;

struct alignas(32) FlowEntry {
  FlowBinding binding;

  // ---- mutable ----
  std::atomic<TcpState> tcp_state{TcpState::kSynSent};  // both directions may advance it (CAS)
  uint8_t created_ticks[3] = {};  // written with the binding (see SetCreated), then only read
  std::atomic<TimeMs32> last_seen_ms{0};  // both directions store "now"; any interleaving is fine
  DirectionCounters counters[2];          // indexed by FlowDirection

  DirectionCounters& counter(FlowDirection d) { return counters[static_cast<int>(d)]; }
  const DirectionCounters& counter(FlowDirection d) const { return counters[static_cast<int>(d)]; }
  TcpState state() const { return tcp_state.load(std::memory_order_relaxed); }

  void SetCreated(TimeMs32 now) {
    const uint32_t t = now >> kFlowTickShift;
    for (int i = 0; i < 3; ++i) created_ticks[i] = static_cast<uint8_t>(t >> (8 * i));
  }
  // Milliseconds since the flow was created (256 ms resolution, modulo 49.7 days).
  uint32_t AgeMs(TimeMs32 now) const {
    const uint32_t created =
        created_ticks[0] | (uint32_t{created_ticks[1]} << 8) | (uint32_t{created_ticks[2]} << 16);
    return (((now >> kFlowTickShift) - created) & kFlowTickMask) << kFlowTickShift;
  }

  // Advances the TCP state for a segment. Only flag-carrying segments get here (the caller checks
  // TcpFlagsMayChangeState first), and the CAS keeps a FIN seen by one worker from being lost to
  // a concurrent FIN seen by another.
  void AdvanceTcpState(FlowDirection dir, uint8_t tcp_flags) {
    TcpState cur = tcp_state.load(std::memory_order_relaxed);
    for (;;) {
      const TcpState next = NextTcpState(cur, dir, tcp_flags);
      if (next == cur || tcp_state.compare_exchange_weak(cur, next, std::memory_order_relaxed)) {
        return;
      }
    }
  }
};

static_assert(sizeof(FlowEntry) == 96, "flow entry must stay at 96 bytes (memory per flow target)");

}  // namespace privlink::nat
