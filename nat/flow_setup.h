// The slow path's engine step: turn a consumer's first SYN (or a UDP flow's first datagram) into a
// NAT flow.
//
// The caller (dataplane slow path) has already found the private endpoint, checked its
// connection is Approved and picked the backend with Maglev; this allocates the NAT ip:port,
// builds both keys and the checksum delta once, and publishes the flow. On any failure nothing
// is left allocated.
#pragma once

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "nat/flow_table.h"
#include "nat/port_alloc.h"
#include "nat/setup_failure.h"

namespace privlink::nat {

struct NewFlow {
  // The SYN's key (client ip:port -> PE ip:frontend port, network, protocol) and the hash its
  // lookup used: it spreads flows over the NAT IPs and places the forward key.
  HashedFlowKey client_to_endpoint;
  Ipv4Be backend_ip = 0;
  PortBe backend_port = 0;          // the rule's backend port
  std::span<const Ipv4Be> nat_ips;  // those the flow may take (a draining NAT IP takes none)
  // Every NAT IP of the service at the position the flow records (FlowEntry::nat_ip_index);
  // empty: nat_ips are those positions.
  std::span<const Ipv4Be> nat_ip_slots;
  uint16_t service_id = 0;
  uint32_t endpoint_id = 0;
  const uint8_t* client_mac = nullptr;  // 6 bytes, or nullptr
  uint32_t syn_seq = 0;                 // the SYN's sequence number, host order (TCP)
  uint8_t stream_shift = 0;             // FlowBinding::stream_shift
  bool tunnelled = false;               // FlowBinding::tunnelled: client_mac holds a hop index
};

// The new flow's id, or the failure (nat/setup_failures.def) the dataplane counts the SYN under:
// each step reports its own, so nothing is translated on the way. On failure nothing is left
// allocated.
SetupOutcome<FlowId> CreateFlow(FlowTable& table, NatPortAllocator& ports, uint32_t worker,
                                const NewFlow& request, TimeMs now);

// Returns the flow's NAT port to its allocator (call once, when the owner removes the flow).
absl::Status ReleaseFlowPort(NatPortAllocator& ports, const FlowBinding& flow, TimeMs now);

}  // namespace privlink::nat
