#include "dataplane/worker/view.h"

#include "control/snapshot/snapshot.h"
#include "dataplane/neighbors/neighbor_table.h"
#include "dataplane/worker/port_info.h"

namespace privlink::dataplane {

BackendHops ResolveBackendHops(const DataplaneView& view, const control::Snapshot& snap,
                               std::span<const PortInfo> ports) {
  std::vector<BackendHop> hops;
  for (const auto& service : snap.services) {
    if (service == nullptr) continue;
    for (const control::SnapshotBackend& b : service->backends) {
      const ProviderRoute* route = view.RouteTo(b.ip);
      if (route == nullptr) continue;
      const std::optional<Ipv4Be> hop = route->neighbors->NextHop(b.ip);
      const MacAddress* mac = hop ? route->neighbors->FindMac(*hop) : nullptr;
      if (mac == nullptr) continue;
      hops.push_back({.backend = b.ip,
                      .port = route->port,
                      .dst_mac = *mac,
                      .src_mac = ports[route->port].mac});
    }
  }
  return BackendHops(hops);
}

}  // namespace privlink::dataplane
