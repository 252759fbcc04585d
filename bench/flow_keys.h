// Random flow keys for benchmarks: uniformly spread, like real client tuples after hashing.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "nat/flow_entry.h"

namespace privlink::bench {

inline std::vector<nat::FlowBinding> RandomBindings(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<nat::FlowBinding> v(n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t a = rng(), b = rng();
    v[i].fwd =
        nat::FlowKey{static_cast<Ipv4Be>(a), static_cast<Ipv4Be>(a >> 32), static_cast<PortBe>(b),
                     static_cast<PortBe>(b >> 16), static_cast<nat::NetworkId>((b >> 32) % 64)};
    const uint64_t c = rng();
    v[i].rev =
        nat::FlowKey{static_cast<Ipv4Be>(c), static_cast<Ipv4Be>(c >> 32),
                     static_cast<PortBe>(b >> 48), static_cast<PortBe>(i), nat::kProviderNetwork};
    v[i].endpoint_id = static_cast<uint32_t>(i);
  }
  return v;
}

}  // namespace privlink::bench
