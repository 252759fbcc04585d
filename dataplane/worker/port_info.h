// A port as the workers know it: its role, DPDK port id, MAC and address. Read-only after start.
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/packet/wire_format.h"
#include "nat/inet.h"

namespace privlink::dataplane {

enum class PortRole : uint8_t { kConsumer, kProvider };

struct PortInfo {
  std::string name;
  PortRole role = PortRole::kConsumer;
  uint16_t ethdev = 0;       // DPDK port id
  MacAddress mac{};          // what we send from and answer ARP with
  uint16_t position = 0;     // among ports of its role, config order
  Ipv4Be address = 0;        // provider: the port's own IP (ARP sender), or 0
  bool promiscuous = false;  // frames for other MACs reach us: filter them
  // The device reports RX checksum verdicts in the mbufs' flags (offload on): the port's loop
  // reads them; on any other port it is specialised to compute the checks itself.
  bool checksum_verdicts = false;
  uint16_t mss_clamp = 0;  // the port's mssClamp (0: off)
};

}  // namespace privlink::dataplane
