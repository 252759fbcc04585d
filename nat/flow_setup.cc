#include "nat/flow_setup.h"

#include <cstring>

#include "nat/checksum.h"

namespace privlink::nat {

absl::StatusOr<FlowId> CreateFlow(FlowTable& table, NatPortAllocator& ports, uint32_t worker,
                                  const NewFlow& request, TimeMs now) {
  const FlowKey& fwd = request.client_to_endpoint;
  // Spread connections over the NAT IPs by the client tuple's hash.
  absl::StatusOr<NatTuple> nat = ports.Allocate(request.nat_ips, request.backend_ip,
                                                request.backend_port, HashFlowKey(fwd), now);
  if (!nat.ok()) return nat.status();

  FlowBinding b;
  b.fwd = fwd;
  b.rev = FlowKey{.src_ip = request.backend_ip,
                  .dst_ip = nat->ip,
                  .src_port = request.backend_port,
                  .dst_port = nat->port,
                  .network = kProviderNetwork,
                  .proto = fwd.proto};
  // in2out: (client -> PE) becomes (NAT -> backend); out2in: (backend -> NAT) becomes (PE ->
  // client).
  b.delta[static_cast<int>(FlowDirection::kIn2Out)] =
      ComputeRewriteDelta(fwd.src_ip, fwd.src_port, fwd.dst_ip, fwd.dst_port, b.rev.dst_ip,
                          b.rev.dst_port, b.rev.src_ip, b.rev.src_port);
  b.delta[static_cast<int>(FlowDirection::kOut2In)] =
      ComputeRewriteDelta(b.rev.src_ip, b.rev.src_port, b.rev.dst_ip, b.rev.dst_port, fwd.dst_ip,
                          fwd.dst_port, fwd.src_ip, fwd.src_port);
  if (request.client_mac != nullptr) std::memcpy(b.client_mac, request.client_mac, 6);
  b.service_id = request.service_id;
  b.endpoint_id = request.endpoint_id;
  b.backend_index = request.backend_index;

  absl::StatusOr<FlowId> id = table.Insert(worker, b, ToMs32(now));
  if (!id.ok()) {
    // Never published: the port goes straight back (its quarantine is harmless).
    ports.Release(*nat, request.backend_ip, request.backend_port, now).IgnoreError();
  }
  return id;
}

absl::Status ReleaseFlowPort(NatPortAllocator& ports, const FlowBinding& flow, TimeMs now) {
  return ports.Release(NatTuple{flow.rev.dst_ip, flow.rev.dst_port}, flow.rev.src_ip,
                       flow.rev.src_port, now);
}

}  // namespace privlink::nat
