// The slow path's engine step: turn a consumer's first SYN into a NAT flow.
//
// The caller (dataplane slow path) has already found the private endpoint, checked its
// connection is Approved and picked the backend with Maglev; this allocates the NAT ip:port,
// builds both keys and both checksum deltas once, and publishes the flow. On any error nothing
// is left allocated.
#pragma once

#include <cstdint>
#include <span>

#include <string_view>

#include "absl/status/statusor.h"
#include "nat/flow_table.h"
#include "nat/port_alloc.h"

namespace privlink::nat {

struct NewFlow {
  FlowKey client_to_endpoint;  // the SYN's key: client ip:port -> PE ip:frontend port, network
  Ipv4Be backend_ip = 0;
  PortBe backend_port = 0;  // the rule's backend port
  std::span<const Ipv4Be> nat_ips;
  uint16_t service_id = 0;
  uint32_t endpoint_id = 0;
  uint16_t backend_index = 0;
  const uint8_t* client_mac = nullptr;  // 6 bytes, or nullptr
};

// Why a flow could not be created: each maps to one drop reason in the dataplane. An enum, not a
// Status: under a SYN flood against a full table this runs per packet and must not format text.
enum class FlowSetupError : uint8_t {
  kNone,
  kNatPortsExhausted,  // no NAT IP has a free port for this backend
  kFlowTableFull,      // the worker's shard, or both buckets of a key, are full
  kFlowExists,         // a key is already present (a SYN raced another worker's)
  kInvalidRequest,     // no NAT IPs, or more than a service may have
};
std::string_view FlowSetupErrorName(FlowSetupError error);

struct FlowSetupResult {
  FlowId id = kInvalidFlowId;
  FlowSetupError error = FlowSetupError::kNone;
  bool ok() const { return error == FlowSetupError::kNone; }
  FlowId operator*() const { return id; }
};

// On any error nothing is left allocated.
FlowSetupResult CreateFlow(FlowTable& table, NatPortAllocator& ports, uint32_t worker,
                           const NewFlow& request, TimeMs now);

// Returns the flow's NAT port to its allocator (call once, when the owner removes the flow).
absl::Status ReleaseFlowPort(NatPortAllocator& ports, const FlowBinding& flow, TimeMs now);

}  // namespace privlink::nat
