// What the dataplane derives for its workers besides the control snapshot: how to reach
// backends on the provider side. Built by the control thread, published by a ViewPublisher (QSBR
// RCU), immutable once published.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "control/snapshot/qsbr_publisher.h"
#include "dataplane/neighbors/subnet.h"
#include "dataplane/packet/wire_format.h"
#include "nat/inet.h"

namespace privlink::control {
struct Snapshot;
}
namespace privlink::dataplane {
struct PortInfo;
}

namespace privlink::dataplane {

// The slow path (a backend missing from BackendHops) reads it; the hot path never does.
class NeighborSnapshot;

struct ProviderRoute {
  uint16_t port = 0;  // index into the dataplane's ports
  std::optional<Ipv4Subnet> subnet;
  std::optional<Ipv4Be> gateway;
  std::shared_ptr<const NeighborSnapshot> neighbors;  // never null
};

// How a backend's frames leave, resolved in advance: the provider port, and both MACs of the
// Ethernet header. One slot per backend whose next hop has a MAC.
struct BackendHop {
  Ipv4Be backend = 0;  // 0: empty slot (backends are unicast)
  uint16_t port = 0;
  MacAddress dst_mac{};
  MacAddress src_mac{};
};
static_assert(sizeof(BackendHop) == 20);

// An open-addressing table of BackendHop keyed by backend address, built whole by the control
// thread and read-only afterwards, so the in2out path finds port and MACs with one hash and
// usually one cache line, instead of routing, choosing a next hop and searching a neighbour map
// per packet. A backend missing here (no MAC yet, or gone from the model while flows still use
// it) takes the slower path through the routes.
class BackendHops {
 public:
  BackendHops() = default;
  explicit BackendHops(std::span<const BackendHop> hops) {
    // Load factor at most 1/2: linear probes stay short, and a miss meets an empty slot soon.
    const size_t size = std::bit_ceil(std::max<size_t>(2 * hops.size(), 8));
    slots_.assign(size, BackendHop{});
    mask_ = static_cast<uint32_t>(size - 1);
    for (const BackendHop& h : hops) {
      for (uint32_t i = Home(h.backend);; i = (i + 1) & mask_) {
        if (slots_[i].backend == 0 || slots_[i].backend == h.backend) {
          slots_[i] = h;
          break;
        }
      }
    }
  }

  const BackendHop* Find(Ipv4Be backend) const {
    if (slots_.empty()) return nullptr;
    for (uint32_t i = Home(backend);; i = (i + 1) & mask_) {
      const BackendHop& slot = slots_[i];
      if (slot.backend == backend) [[likely]] {
        return &slot;
      }
      if (slot.backend == 0) return nullptr;
    }
  }
  size_t capacity() const { return slots_.size(); }

 private:
  // Fibonacci hashing: backends are often consecutive addresses; the multiply spreads them.
  uint32_t Home(Ipv4Be ip) const {
    return static_cast<uint32_t>((uint64_t{ip} * 0x9e3779b97f4a7c15ull) >> 32) & mask_;
  }
  std::vector<BackendHop> slots_;
  uint32_t mask_ = 0;
};

struct DataplaneView {
  std::vector<ProviderRoute> providers;  // config order
  BackendHops backend_hops;              // the model's backends with a resolved next hop

  // The provider port a backend is reached through: the first whose subnet holds it, else the
  // first with a gateway; nullptr when none can reach it.
  const ProviderRoute* RouteTo(Ipv4Be ip) const {
    const ProviderRoute* via_gateway = nullptr;
    for (const ProviderRoute& r : providers) {
      if (r.subnet && r.subnet->Contains(ip)) return &r;
      if (r.gateway && via_gateway == nullptr) via_gateway = &r;
    }
    return via_gateway;
  }
};

// Every backend of `snap` whose next hop has a MAC in `view`'s routes, with the port and MACs
// its frames get: the answer the routes give per packet (RouteTo, NextHop, FindMac), worked out
// once by the control thread each time the model or a neighbour table changes.
BackendHops ResolveBackendHops(const DataplaneView& view, const control::Snapshot& snap,
                               std::span<const PortInfo> ports);

// The view's publisher (the control thread writes) and a worker's handle on it.
using ViewPublisher = control::QsbrPublisher<DataplaneView>;
using ViewReader = control::QsbrReader<DataplaneView>;

}  // namespace privlink::dataplane
