// What both assemblies (the daemon's on NICs, the in-process one on net_ring) read from the
// dataplane config before they open a port: whether the ports make a dataplane at all, each
// provider port's own address, and the provider ports' addressing the Controller needs.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "control/config/dataplane_config.h"
#include "dataplane/control_thread/controller.h"

namespace privlink::dataplane {

// At most kMaxPorts ports, and at least one consumer and one provider port.
absl::Status CheckPorts(const control::DataplaneConfig& config);

// The provider port's own address: the host part of its configured subnet when one is written
// ("192.168.10.1/24"), else 0.
Ipv4Be ProviderPortAddress(const control::PortConfig& port);

// The provider ports' addressing for the Controller (subnet with its host bits cleared, gateway,
// static neighbours), from the config; indices are positions in config.ports.
absl::StatusOr<std::vector<ProviderPortSetup>> ProviderSetups(
    const control::DataplaneConfig& config);

}  // namespace privlink::dataplane
