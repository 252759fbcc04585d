// Per-service NAT IP and port allocation, endpoint-dependent, as Azure Private Link does it.
//
// Each NAT IP has ports [first, last] (default 1024-65535 = 64,512). A NAT ip:port may serve several
// backends at once (the provider-side tuple still differs), so every (NAT IP, backend ip:port) pair
// has its own port space. Each worker owns a disjoint slice of every NAT IP's ports, so allocation
// takes no lock and a port can never be handed out twice. A released port stays in quarantine for
// that backend (default 120 s) so a backend still in TIME_WAIT never sees the tuple reused.
#pragma once

#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "nat/clock.h"
#include "nat/inet.h"

namespace privlink::nat {

inline constexpr uint16_t kDefaultFirstNatPort = 1024;
inline constexpr uint16_t kDefaultLastNatPort = 65535;
inline constexpr uint32_t kDefaultPortQuarantineMs = 120'000;
inline constexpr size_t kMaxNatIpsPerService = 8;

struct PortAllocatorConfig {
  uint16_t first_port = kDefaultFirstNatPort;  // host order
  uint16_t last_port = kDefaultLastNatPort;    // host order, inclusive
  uint32_t worker_count = 1;
  uint32_t worker_index = 0;  // which slice this allocator owns
  uint32_t quarantine_ms = kDefaultPortQuarantineMs;
};

struct NatTuple {
  Ipv4Be ip = 0;
  PortBe port = 0;
};

struct PortUsage {
  uint32_t used = 0;         // handed out and not released
  uint32_t quarantined = 0;  // released, not yet reusable for that backend
  uint32_t capacity = 0;     // this slice's ports per (NAT IP, backend)
};

}  // namespace privlink::nat
