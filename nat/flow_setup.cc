#include "nat/flow_setup.h"

#include <cstring>

#include "nat/checksum.h"

namespace privlink::nat {

SetupOutcome<FlowId> CreateFlow(FlowTable& table, NatPortAllocator& ports, uint32_t worker,
                                const NewFlow& request, TimeMs now) {
  const FlowKey& fwd = request.client_to_endpoint.key;
  const FlowHash fwd_hash = request.client_to_endpoint.hash;
  // Spread connections over the NAT IPs by the client key's hash.
  const SetupOutcome<NatTuple> nat = ports.Allocate(request.nat_ips, request.backend_ip,
                                                    request.backend_port, fwd_hash.value, now);
  if (!nat.ok()) return {kInvalidFlowId, nat.failure};

  FlowBinding b;
  b.fwd = fwd;
  b.rev = FlowKey{.tuple = {.src_ip = request.backend_ip,
                            .dst_ip = nat->ip,
                            .src_port = request.backend_port,
                            .dst_port = nat->port},
                  .network = kProviderNetwork,
                  .proto = fwd.proto};
  // Each direction's packets arrive with its key's tuple and leave with TranslatedTuple: in2out
  // (client -> PE) becomes (NAT -> backend), out2in (backend -> NAT) becomes (PE -> client).
  for (const FlowDirection d : {FlowDirection::kIn2Out, FlowDirection::kOut2In}) {
    b.delta[static_cast<int>(d)] = ComputeRewriteDelta(b.key(d).tuple, b.TranslatedTuple(d));
  }
  if (request.client_mac != nullptr) std::memcpy(b.client_mac, request.client_mac, 6);
  b.service_id = request.service_id;
  b.endpoint_id = request.endpoint_id;
  b.backend_index = request.backend_index;
  for (size_t i = 0; i < request.nat_ips.size(); ++i) {
    if (request.nat_ips[i] == nat->ip) b.flags = static_cast<uint8_t>(i << kFlowNatIpIndexShift);
  }

  const SetupOutcome<FlowId> id = table.Insert(worker, b, fwd_hash, ToMs32(now));
  if (!id.ok()) {
    // Never published, never seen by the backend: the port is free again at once. A quarantine
    // here would let a SYN flood against a full table park every port for its length.
    ports.ReleaseUnused(*nat, request.backend_ip, request.backend_port).IgnoreError();
  }
  return id;
}

absl::Status ReleaseFlowPort(NatPortAllocator& ports, const FlowBinding& flow, TimeMs now) {
  const Tuple& rev = flow.rev.tuple;  // backend -> NAT ip:port
  return ports.Release(NatTuple{rev.dst_ip, rev.dst_port}, rev.src_ip, rev.src_port, now);
}

}  // namespace privlink::nat
