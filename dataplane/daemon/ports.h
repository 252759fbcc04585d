// Bringing up the configured ports: probe each device (a PCI address bound to vfio-pci, or a
// virtual device spec), one RX and one TX queue per worker, RSS over IPv4/TCP where the device
// has several queues, promiscuous mode, start. Errors name the port and what failed.
//
// RSS port choice (dataplane.flowSteering): with several workers, every port is programmed with
// privlink's Toeplitz key and one redirection table (the same on every port: entry i -> queue
// i % workers over the smallest table of all ports, repeated on larger ones), and the NAT ports
// are chosen by the map built from them (nat/rss_port_map.h). A device that cannot take it
// (no redirection table, no settable key, no IPv4/TCP hash: net_af_packet, net_ring, net_null)
// refuses start under rss-port-choice, naming the fallback; unwritten, the ports run shared.
#pragma once

#include <rte_mempool.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "control/config/dataplane_config.h"
#include "dataplane/assembly/parts.h"
#include "dataplane/worker/worker.h"

namespace privlink::dataplane {

// Descriptor ring sizes: enough to ride out a short stall of the worker at line rate on a 10G
// port (1024 x 1500 B = 1.2 ms), small enough to stay cache-friendly.
inline constexpr uint16_t kRxDescriptors = 1024;
inline constexpr uint16_t kTxDescriptors = 1024;

// Opens every port of `config.ports` in order (indices match). On error, ports already opened
// are closed again.
absl::StatusOr<OpenedPorts> OpenPorts(const control::DataplaneConfig& config, uint16_t queues,
                                      rte_mempool* pool);

void ClosePorts(const std::vector<PortInfo>& ports);

}  // namespace privlink::dataplane
