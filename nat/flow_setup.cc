#include "nat/flow_setup.h"

#include <cstring>

#include "nat/checksum.h"

namespace privlink::nat {

SetupOutcome<FlowId> CreateFlow(FlowTable& table, NatPortAllocator& ports, uint32_t worker,
                                const NewFlow& request, TimeMs now) {
  const FlowKey& fwd = request.client_to_endpoint.key;
  const FlowHash fwd_hash = request.client_to_endpoint.hash;
  // Spread connections over the NAT IPs by the client key's hash.
  const BackendAddress backend{
      .ip = request.backend_ip, .port = request.backend_port, .proto = fwd.proto};
  const SetupOutcome<NatTuple> nat = ports.Allocate(request.nat_ips, backend, fwd_hash.value, now);
  if (!nat.ok()) return {kInvalidFlowId, nat.failure};

  FlowBinding b;
  b.fwd = fwd;
  b.rev = FlowKey{.tuple = {.src_ip = request.backend_ip,
                            .dst_ip = nat->ip,
                            .src_port = request.backend_port,
                            .dst_port = nat->port},
                  .network = kProviderNetwork,
                  .proto = fwd.proto};
  // Packets of the in2out direction arrive with fwd's tuple and leave with TranslatedTuple
  // (NAT -> backend); out2in runs the same substitution backwards (FlowBinding::Delta).
  b.delta = ComputeRewriteDelta(b.fwd.tuple, b.TranslatedTuple(FlowDirection::kIn2Out));
  if (request.client_mac != nullptr) std::memcpy(b.client_mac, request.client_mac, 6);
  b.service_id = request.service_id;
  b.endpoint_id = static_cast<uint16_t>(request.endpoint_id);
  b.stream_shift = request.stream_shift;
  b.tunnelled = request.tunnelled ? 1 : 0;
  const std::span<const Ipv4Be> slots =
      request.nat_ip_slots.empty() ? request.nat_ips : request.nat_ip_slots;
  size_t nat_ip_index = slots.size();
  for (size_t i = 0; i < slots.size(); ++i) {
    if (slots[i] == nat->ip) nat_ip_index = i;
  }
  if (nat_ip_index >= slots.size() || nat_ip_index > kFlowNatIpIndexMask) {
    // A candidate NAT IP without a position: its flows could not be counted against it.
    ports.ReleaseUnused(*nat, backend).IgnoreError();
    return {kInvalidFlowId, SetupFailure::kNatIpsInvalid};
  }

  const SetupOutcome<FlowId> id =
      table.Insert(worker, {b, fwd_hash, static_cast<uint8_t>(nat_ip_index)}, ToMs32(now));
  if (id.ok() && fwd.proto == kIpProtoTcp) {
    // The backend's first ACK will acknowledge the SYN: a RST is held to that before then.
    table.entry(*id).ExpectAck(FlowDirection::kOut2In, request.syn_seq + 1);
  } else if (!id.ok()) {
    // Never published, never seen by the backend: the port is free again at once. A quarantine
    // here would let a SYN flood against a full table park every port for its length.
    ports.ReleaseUnused(*nat, backend).IgnoreError();
  }
  return id;
}

absl::Status ReleaseFlowPort(NatPortAllocator& ports, const FlowBinding& flow, TimeMs now) {
  const Tuple& rev = flow.rev.tuple;  // backend -> NAT ip:port
  return ports.Release(NatTuple{rev.dst_ip, rev.dst_port},
                       {.ip = rev.src_ip, .port = rev.src_port, .proto = flow.rev.proto}, now);
}

}  // namespace privlink::nat
