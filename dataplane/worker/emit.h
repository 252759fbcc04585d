// Leaving: the L2 header of the side a translated datagram goes to, then its TX queue. Used by the
// fast path, resets and the frames a worker writes itself (PROXY protocol headers).
#pragma once

#include <cstring>

#include "dataplane/worker/tunnel.h"
#include "dataplane/worker/tx.h"
#include "dataplane/worker/view.h"
#include "dataplane/worker/worker.h"
#include "nat/flow_entry.h"

namespace privlink::dataplane {

// Each takes an IPv4 datagram and frames it for its side (FrameDatagram: header, length,
// padding).

// Towards a backend the view has not resolved: routed per packet, and a next hop without a MAC
// sends the frame to the control thread, which holds it and asks by ARP (emit.cc).
void EmitToProviderRouted(Worker& w, const BurstContext& ctx, Datagram d, Ipv4Be backend);

[[gnu::always_inline]] inline void EmitToProvider(Worker& w, const BurstContext& ctx, Datagram d,
                                                  Ipv4Be backend) {
  const BackendHop* hop = ctx.view->backend_hops.Find(backend);
  if (hop == nullptr) [[unlikely]] {
    return EmitToProviderRouted(w, ctx, d, backend);
  }
  if (!FrameDatagram(d, hop->dst_mac, hop->src_mac, 0)) [[unlikely]] {
    return DropPacket(w.counters, d.m, DropReason::kMbufPoolExhausted);
  }
  Send(w, hop->port, d.m);
}

// Towards a client: its network's consumer port and VLAN, the MAC its first packet came from;
// or, behind a tunnel, into the tunnel to the VTEP its first packet came from (tunnel.h).
[[gnu::always_inline]] inline void EmitToConsumer(Worker& w, const BurstContext& ctx, Datagram d,
                                                  const nat::FlowBinding& b) {
  if (b.tunnelled != 0) [[unlikely]] {
    return EmitTunnelled(w, ctx, d, b);
  }
  const control::NetworkAttachment at = ctx.snapshot->Attachment(b.fwd.network);
  // A flow of a network that has since become a VXLAN one has no tunnel hop: nothing is sent
  // untagged into the port instead.
  if (at.consumer_port >= w.shared->consumer_ports.size() || at.vni != 0) [[unlikely]] {
    return DropPacket(w.counters, d.m, DropReason::kUnknownNetwork);
  }
  const uint16_t port = w.shared->consumer_ports[at.consumer_port];
  MacAddress client;
  std::memcpy(client.data(), b.client_mac, client.size());
  if (!FrameDatagram(d, client, w.shared->ports[port].mac, at.vlan)) [[unlikely]] {
    return DropPacket(w.counters, d.m, DropReason::kMbufPoolExhausted);
  }
  Send(w, port, d.m);
}

// A datagram of flow `b` travelling in kDir, translated: to the backend or to the client.
template <nat::FlowDirection kDir>
[[gnu::always_inline]] inline void Emit(Worker& w, const BurstContext& ctx, Datagram d,
                                        const nat::FlowBinding& b) {
  if constexpr (kDir == nat::FlowDirection::kIn2Out) {
    EmitToProvider(w, ctx, d, b.rev.tuple.src_ip);
  } else {
    EmitToConsumer(w, ctx, d, b);
  }
}

// For the cold paths, where the direction is a value.
inline void Emit(Worker& w, const BurstContext& ctx, Datagram d, const nat::FlowBinding& b,
                 nat::FlowDirection dir) {
  if (dir == nat::FlowDirection::kIn2Out) {
    Emit<nat::FlowDirection::kIn2Out>(w, ctx, d, b);
  } else {
    Emit<nat::FlowDirection::kOut2In>(w, ctx, d, b);
  }
}

}  // namespace privlink::dataplane
