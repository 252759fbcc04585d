// Deterministic flow bindings for flow table tests and benchmarks.
#pragma once

#include <cstdint>

#include "nat/flow_entry.h"
#include "nat/inet.h"

namespace privlink::nat::testing {

// Flow number i: a distinct client tuple on `network` towards one PE, and a distinct provider
// tuple, both derived from i so a reader can check that what it found is self-consistent.
inline FlowBinding MakeBinding(uint32_t i, NetworkId network = 1) {
  FlowBinding b;
  b.fwd = FlowKey{.tuple = {.src_ip = HostToBe32(0x0a000000u + (i >> 14)),
                            .dst_ip = Ipv4(10, 255, 0, 100),
                            .src_port = HostToBe16(static_cast<uint16_t>(1024 + (i & 0x3fff))),
                            .dst_port = HostToBe16(80)},
                  .network = network};
  b.rev = FlowKey{.tuple = {.src_ip = HostToBe32(0xc0a80a00u + (i % 200)),
                            .dst_ip = HostToBe32(0xc0a8c800u + ((i >> 16) & 0xff) + (network << 8)),
                            .src_port = HostToBe16(8080),
                            .dst_port = HostToBe16(static_cast<uint16_t>(1 + (i & 0xffff)))},
                  .network = kProviderNetwork};
  b.endpoint_id = static_cast<uint16_t>(i);  // a tag: torn entries mismatch their keys
  b.service_id = static_cast<uint16_t>(i & 0x7);
  return b;
}

}  // namespace privlink::nat::testing
