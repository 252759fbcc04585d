#include "dataplane/assembly/port_setup.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace privlink::dataplane {

absl::Status CheckPorts(const control::DataplaneConfig& config) {
  if (config.ports.size() > kMaxPorts) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataplane.ports: ", config.ports.size(), " ports, at most ", kMaxPorts));
  }
  const auto has = [&](control::PortRole role) {
    return std::any_of(config.ports.begin(), config.ports.end(),
                       [&](const control::PortConfig& p) { return p.role == role; });
  };
  if (!has(control::PortRole::kConsumer) || !has(control::PortRole::kProvider)) {
    return absl::InvalidArgumentError(
        "dataplane.ports: at least one consumer and one provider port are needed");
  }
  return absl::OkStatus();
}

Ipv4Be ProviderPortAddress(const control::PortConfig& port) {
  if (!port.subnet || port.subnet->length >= 32) return port.subnet ? port.subnet->address : 0;
  const Ipv4Subnet written{port.subnet->address, port.subnet->length};
  return (written.network & ~written.Mask()) != 0 ? written.network : 0;
}

absl::StatusOr<std::vector<ProviderPortSetup>> ProviderSetups(
    const control::DataplaneConfig& config) {
  std::vector<ProviderPortSetup> out;
  for (uint16_t i = 0; i < config.ports.size(); ++i) {
    const control::PortConfig& pc = config.ports[i];
    if (pc.role != control::PortRole::kProvider) continue;
    ProviderPortSetup setup;
    setup.port = i;
    if (pc.subnet) {
      // Host bits name the port's own address (ProviderPortAddress); the subnet drops them.
      const Ipv4Subnet written{pc.subnet->address, pc.subnet->length};
      auto subnet = Ipv4Subnet::Make(written.network & written.Mask(), written.prefix_len);
      if (!subnet.ok()) return subnet.status();
      setup.subnet = *subnet;
    }
    setup.gateway = pc.gateway;
    for (const auto& n : pc.static_neighbors) setup.static_neighbors.push_back({n.ip, n.mac});
    out.push_back(std::move(setup));
  }
  return out;
}

}  // namespace privlink::dataplane
