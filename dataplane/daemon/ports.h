// Bringing up the configured ports: probe each device (a PCI address bound to vfio-pci, or a
// virtual device spec), one RX and one TX queue per worker, RSS over IPv4/TCP where the device
// has several queues, promiscuous mode, start. Errors name the port and what failed.
#pragma once

#include <rte_mempool.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "control/config/dataplane_config.h"
#include "dataplane/worker/worker.h"

namespace privlink::dataplane {

// Descriptor ring sizes: enough to ride out a short stall of the worker at line rate on a 10G
// port (1024 x 1500 B = 1.2 ms), small enough to stay cache-friendly.
inline constexpr uint16_t kRxDescriptors = 1024;
inline constexpr uint16_t kTxDescriptors = 1024;

// Opens every port of `config.ports` in order (indices match). On error, ports already opened
// are closed again.
absl::StatusOr<std::vector<PortInfo>> OpenPorts(const control::DataplaneConfig& config,
                                                uint16_t queues, rte_mempool* pool);

void ClosePorts(const std::vector<PortInfo>& ports);

}  // namespace privlink::dataplane
