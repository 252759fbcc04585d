// A worker's side of VXLAN consumer networks (dataplane/packet/vxlan.h): opening a tunnelled
// frame on the way in, and framing a datagram into its flow's tunnel on the way out.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "dataplane/packet/parse.h"
#include "dataplane/worker/tx.h"
#include "dataplane/worker/worker.h"
#include "nat/flow_entry.h"

namespace privlink::dataplane {

// The sending VTEP of a tunnelled frame: what a new flow records to answer through.
struct TunnelSource {
  Ipv4Be vtep_ip = 0;
  MacAddress vtep_mac{};
};

// What the burst loop does with a frame that came in a tunnel.
enum class TunnelVerdict : uint8_t {
  kFlow,       // `p` now holds the inner TCP or UDP frame, its network set: look its flow up
  kIcmpError,  // `p` now holds the inner ICMP frame (parsed as kDrop/kIcmp), its network set
  kHandled,    // dropped (counted), or handed to the control thread (ARP)
};

// `p`, parsed from `m` on consumer port `port` as UDP to kVxlanPort on a local IP of the port:
// the tunnel's VNI names the network; the inner frame replaces `p` (offsets into the same frame).
TunnelVerdict OpenTunnel(Worker& w, const BurstContext& ctx, uint16_t port, rte_mbuf* m,
                         ParsedPacket& p, TunnelSource& source);

// Frames `d` (an IPv4 datagram of a tunnelled flow travelling to its client) into the tunnel:
// inner Ethernet to the client's MAC from the port's, then the outer headers to the flow's VTEP,
// and sends it on its network's consumer port.
void EmitTunnelled(Worker& w, const BurstContext& ctx, Datagram d, const nat::FlowBinding& b);

// The same for a datagram that belongs to no flow (a RST refusing a SYN): back through the tunnel
// it came in, on `port`, to `client_mac` behind `source`.
struct TunnelReply {
  uint16_t port = 0;
  nat::NetworkId network = 0;
  MacAddress client_mac{};
  TunnelSource source;
  nat::FlowHash hash;  // of the packet's key: the outer source port
};
void SendTunnelledBack(Worker& w, const BurstContext& ctx, Datagram d, const TunnelReply& to);

}  // namespace privlink::dataplane
