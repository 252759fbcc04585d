#include "nat/flow_setup.h"

#include <cstring>

#include "nat/checksum.h"

namespace privlink::nat {

std::string_view FlowSetupErrorName(FlowSetupError error) {
  switch (error) {
    case FlowSetupError::kNone:
      return "none";
    case FlowSetupError::kNatPortsExhausted:
      return "nat_ports_exhausted";
    case FlowSetupError::kFlowTableFull:
      return "flow_table_full";
    case FlowSetupError::kFlowExists:
      return "flow_exists";
    case FlowSetupError::kInvalidRequest:
      return "invalid_request";
  }
  return "unknown";
}

FlowSetupResult CreateFlow(FlowTable& table, NatPortAllocator& ports, uint32_t worker,
                           const NewFlow& request, TimeMs now) {
  const FlowKey& fwd = request.client_to_endpoint;
  // Spread connections over the NAT IPs by the client tuple's hash.
  absl::StatusOr<NatTuple> nat = ports.Allocate(request.nat_ips, request.backend_ip,
                                                request.backend_port, HashFlowKey(fwd), now);
  if (!nat.ok()) {
    return {kInvalidFlowId, absl::IsResourceExhausted(nat.status())
                                ? FlowSetupError::kNatPortsExhausted
                                : FlowSetupError::kInvalidRequest};
  }

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
  for (size_t i = 0; i < request.nat_ips.size(); ++i) {
    if (request.nat_ips[i] == nat->ip) b.flags = static_cast<uint8_t>(i << kFlowNatIpIndexShift);
  }

  absl::StatusOr<FlowId> id = table.Insert(worker, b, ToMs32(now));
  if (!id.ok()) {
    // Never published, never seen by the backend: the port is free again at once. A quarantine
    // here would let a SYN flood against a full table park every port for its length.
    ports.ReleaseUnused(*nat, request.backend_ip, request.backend_port).IgnoreError();
    return {kInvalidFlowId, absl::IsAlreadyExists(id.status()) ? FlowSetupError::kFlowExists
                                                               : FlowSetupError::kFlowTableFull};
  }
  return {*id, FlowSetupError::kNone};
}

absl::Status ReleaseFlowPort(NatPortAllocator& ports, const FlowBinding& flow, TimeMs now) {
  return ports.Release(NatTuple{flow.rev.dst_ip, flow.rev.dst_port}, flow.rev.src_ip,
                       flow.rev.src_port, now);
}

}  // namespace privlink::nat
