#include "dataplane/worker/tunnel.h"

#include <variant>

#include "dataplane/packet/vxlan.h"

namespace privlink::dataplane {
namespace {

// Inner Ethernet to `client_mac` from the port's MAC (the one privlink answers ARP with for the
// network's endpoints inside the tunnel), then the outer headers, then out of `port`.
void FrameInTunnel(Worker& w, uint16_t port, Datagram d, const MacAddress& client_mac,
                   const VxlanEncap& encap) {
  if (!FrameDatagram(d, client_mac, w.shared->ports[port].mac, 0)) [[unlikely]] {
    return DropPacket(w.counters, d.m, DropReason::kMbufPoolExhausted);
  }
  rte_mbuf* const m = d.m;
  const auto inner_len = static_cast<uint16_t>(m->data_len);
  auto* out = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, kVxlanOverhead));
  if (out == nullptr) [[unlikely]] {
    return DropPacket(w.counters, m, DropReason::kMbufPoolExhausted);
  }
  WriteVxlanEncap(out, encap, inner_len);
  Send(w, port, m);
}

}  // namespace

TunnelVerdict OpenTunnel(Worker& w, const BurstContext& ctx, uint16_t port, rte_mbuf* m,
                         ParsedPacket& p, TunnelSource& source) {
  auto opened = ParseVxlan(PacketView(FrameOf(m), m->data_len), p);
  if (const DropReason* reason = std::get_if<DropReason>(&opened)) {
    DropPacket(w.counters, m, *reason);
    return TunnelVerdict::kHandled;
  }
  VxlanFrame& tunnel = std::get<VxlanFrame>(opened);
  const PortInfo& info = w.shared->ports[port];
  const nat::NetworkId network = ctx.snapshot->VxlanNetwork(info.position, tunnel.vni);
  // The VNI names a network only at its own local IP (the address its answers come from).
  if (network == control::kNoNetwork ||
      ctx.snapshot->Attachment(network).local_ip != p.key.tuple.dst_ip) {
    DropPacket(w.counters, m, DropReason::kVxlanUnknownVni);
    return TunnelVerdict::kHandled;
  }
  // The frame ends where the datagram does: whatever follows (Ethernet padding) is no part of the
  // inner frame, and every later view of the mbuf stops there.
  const uint32_t datagram_end =
      p.l4_offset +
      PacketView(FrameOf(m), m->data_len).LoadHost16(p.l4_offset + nat::kUdpLengthOffset);
  if (m->data_len > datagram_end)
    rte_pktmbuf_trim(m, static_cast<uint16_t>(m->data_len - datagram_end));
  if (tunnel.inner.verdict == ParseVerdict::kArp) {
    SendToControl(w, port, m);  // answered inside the tunnel by the control thread
    return TunnelVerdict::kHandled;
  }
  if (!SameMac(tunnel.inner.dst_mac, info.mac)) {
    DropPacket(w.counters, m, DropReason::kEthDstNotOurs);
    return TunnelVerdict::kHandled;
  }
  p = tunnel.inner;
  p.key.network = network;
  source = {.vtep_ip = tunnel.vtep_ip, .vtep_mac = tunnel.vtep_mac};
  return p.verdict == ParseVerdict::kDrop ? TunnelVerdict::kIcmpError : TunnelVerdict::kFlow;
}

void EmitTunnelled(Worker& w, const BurstContext& ctx, Datagram d, const nat::FlowBinding& b) {
  const control::NetworkAttachment at = ctx.snapshot->Attachment(b.fwd.network);
  if (at.consumer_port >= w.shared->consumer_ports.size() || at.vni == 0) [[unlikely]] {
    return DropPacket(w.counters, d.m, DropReason::kUnknownNetwork);
  }
  const VtepHop& hop = w.shared->vteps->at(VtepIndexOf(b));
  FrameInTunnel(w, w.shared->consumer_ports[at.consumer_port], d, hop.client_mac,
                {.vtep_mac = hop.vtep_mac,
                 .port_mac = w.shared->ports[w.shared->consumer_ports[at.consumer_port]].mac,
                 .local_ip = at.local_ip,
                 .vtep_ip = hop.vtep_ip,
                 .vni = at.vni,
                 .source_port = VxlanSourcePort(nat::HashFlowKey(b.fwd))});
}

void SendTunnelledBack(Worker& w, const BurstContext& ctx, Datagram d, const TunnelReply& to) {
  const control::NetworkAttachment at = ctx.snapshot->Attachment(to.network);
  if (at.vni == 0) [[unlikely]] {
    return DropPacket(w.counters, d.m, DropReason::kUnknownNetwork);
  }
  FrameInTunnel(w, to.port, d, to.client_mac,
                {.vtep_mac = to.source.vtep_mac,
                 .port_mac = w.shared->ports[to.port].mac,
                 .local_ip = at.local_ip,
                 .vtep_ip = to.source.vtep_ip,
                 .vni = at.vni,
                 .source_port = VxlanSourcePort(to.hash)});
}

}  // namespace privlink::dataplane
