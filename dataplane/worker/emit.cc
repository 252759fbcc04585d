#include "dataplane/worker/emit.h"

#include "dataplane/neighbors/neighbor_table.h"

namespace privlink::dataplane {

// Towards a backend: the provider port that reaches it, the next hop's MAC, no VLAN tag. The
// view has both resolved in advance for the model's backends; any other (a next hop without a
// MAC yet, a backend removed while flows still use it) is routed here, and a next hop without a
// MAC sends the frame to the control thread, which holds it and asks by ARP.
void EmitToProviderRouted(Worker& w, const BurstContext& ctx, Datagram d, Ipv4Be backend) {
  const ProviderRoute* route = ctx.view->RouteTo(backend);
  if (route == nullptr) return DropPacket(w.counters, d.m, DropReason::kNoProviderRoute);
  const std::optional<Ipv4Be> hop = route->neighbors->NextHop(backend);
  const MacAddress* mac = hop ? route->neighbors->FindMac(*hop) : nullptr;
  const PortInfo& port = w.shared->ports[route->port];
  if (!FrameDatagram(d, mac != nullptr ? *mac : kZeroMac, port.mac, 0)) {
    return DropPacket(w.counters, d.m, DropReason::kMbufPoolExhausted);
  }
  if (mac != nullptr) {
    Send(w, route->port, d.m);
  } else {
    SendToControl(w, route->port, d.m);
  }
}

}  // namespace privlink::dataplane
