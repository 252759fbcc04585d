// What the dataplane derives for its workers besides the control snapshot: how to reach
// backends on the provider side. Built by the control thread, published in an RcuCell,
// immutable once published.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "dataplane/neighbor_table.h"
#include "dataplane/subnet.h"

namespace privlink::dataplane {

struct ProviderRoute {
  uint16_t port = 0;  // index into the dataplane's ports
  std::optional<Ipv4Subnet> subnet;
  std::optional<Ipv4Be> gateway;
  std::shared_ptr<const NeighborSnapshot> neighbors;  // never null
};

struct DataplaneView {
  std::vector<ProviderRoute> providers;  // config order

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

}  // namespace privlink::dataplane
