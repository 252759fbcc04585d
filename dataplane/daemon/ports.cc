#include "dataplane/daemon/ports.h"

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "dataplane/assembly/port_setup.h"
#include "dataplane/neighbors/subnet.h"

namespace privlink::dataplane {
namespace {

absl::Status PortError(const control::PortConfig& port, std::string_view what, int rc) {
  std::string message = "port '" + port.name + "' (" + port.device + "): " + std::string(what);
  if (rc != 0) message += std::string(": ") + rte_strerror(-rc);
  return absl::UnavailableError(message);
}

// The device name DPDK registers: the device string up to its first comma
// ("net_af_packet0,iface=x" -> "net_af_packet0", "0000:03:00.0" stays).
std::string DeviceName(const std::string& device) {
  return device.substr(0, device.find(','));
}

absl::StatusOr<uint16_t> ProbeDevice(const control::PortConfig& port) {
  const std::string name = DeviceName(port.device);
  uint16_t id = 0;
  // Already probed (a PCI device the EAL found, or a --vdev): use it as it is.
  if (rte_eth_dev_get_port_by_name(name.c_str(), &id) == 0) return id;
  const int rc = rte_dev_probe(port.device.c_str());
  // rte_dev_probe's code says little (the driver logs the cause): name what to check instead.
  if (rc != 0) {
    return PortError(port, "cannot probe the device (does the interface or PCI device exist?)", 0);
  }
  if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0) {
    return PortError(port, "the device has no ethdev port after probing", 0);
  }
  return id;
}

// Checksum verdicts from the device where it can give them: the worker then skips its own IPv4
// header check and trusts the TCP verdict (dataplane/packet/parse.h). Without them the mbufs say
// "unknown" and the worker computes both.
uint64_t RxChecksumOffloads(const rte_eth_dev_info& info) {
  return (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM) & info.rx_offload_capa;
}

// What starting a port found out about it.
struct StartedPort {
  bool checksum_verdicts = false;  // RX checksum offload is on (PortInfo::checksum_verdicts)
};

absl::StatusOr<StartedPort> StartPort(const control::PortConfig& port, uint16_t id, uint16_t queues,
                                      rte_mempool* pool) {
  rte_eth_dev_info info{};
  if (int rc = rte_eth_dev_info_get(id, &info); rc != 0)
    return PortError(port, "no device info", rc);
  if (info.max_rx_queues < queues || info.max_tx_queues < queues) {
    return PortError(port,
                     absl::StrCat("the device has ", info.max_rx_queues, " RX / ",
                                  info.max_tx_queues, " TX queues, ", queues,
                                  " are needed (one per worker; for net_af_packet set qpairs=N)"),
                     0);
  }
  rte_eth_conf conf{};
  conf.rxmode.offloads = RxChecksumOffloads(info);
  if (queues > 1) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP) & info.flow_type_rss_offloads;
  }
  if (int rc = rte_eth_dev_configure(id, queues, queues, &conf); rc != 0) {
    return PortError(port, "configure failed", rc);
  }
  uint16_t rxd = kRxDescriptors, txd = kTxDescriptors;
  if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(id, &rxd, &txd); rc != 0) {
    return PortError(port, "descriptor counts refused", rc);
  }
  const int socket = rte_eth_dev_socket_id(id) < 0 ? SOCKET_ID_ANY : rte_eth_dev_socket_id(id);
  for (uint16_t q = 0; q < queues; ++q) {
    if (int rc = rte_eth_rx_queue_setup(id, q, rxd, socket, nullptr, pool); rc != 0) {
      return PortError(port, absl::StrCat("RX queue ", q, " setup failed"), rc);
    }
    if (int rc = rte_eth_tx_queue_setup(id, q, txd, socket, nullptr); rc != 0) {
      return PortError(port, absl::StrCat("TX queue ", q, " setup failed"), rc);
    }
  }
  if (port.mac) {
    rte_ether_addr mac;
    std::memcpy(mac.addr_bytes, port.mac->data(), 6);
    if (int rc = rte_eth_dev_default_mac_addr_set(id, &mac); rc != 0 && rc != -ENOTSUP) {
      return PortError(port, "cannot set the MAC address", rc);
    }
  }
  if (int rc = rte_eth_dev_start(id); rc != 0) return PortError(port, "start failed", rc);
  // Frames for a configured MAC the device cannot filter on must still reach us; the worker
  // drops frames for other MACs itself (eth_dst_not_ours).
  rte_eth_promiscuous_enable(id);
  return StartedPort{.checksum_verdicts = conf.rxmode.offloads != 0};
}

}  // namespace

absl::StatusOr<std::vector<PortInfo>> OpenPorts(const control::DataplaneConfig& config,
                                                uint16_t queues, rte_mempool* pool) {
  std::vector<PortInfo> ports;
  uint16_t consumers = 0, providers = 0;
  for (const control::PortConfig& pc : config.ports) {
    absl::StatusOr<uint16_t> id = ProbeDevice(pc);
    absl::StatusOr<StartedPort> started =
        id.ok() ? StartPort(pc, *id, queues, pool) : absl::StatusOr<StartedPort>(id.status());
    if (!started.ok()) {
      if (id.ok()) rte_eth_dev_close(*id);
      ClosePorts(ports);
      return started.status();
    }
    PortInfo info;
    info.name = pc.name;
    info.ethdev = *id;
    info.role = pc.role == control::PortRole::kProvider ? PortRole::kProvider : PortRole::kConsumer;
    info.position = info.role == PortRole::kProvider ? providers++ : consumers++;
    rte_ether_addr mac;
    rte_eth_macaddr_get(*id, &mac);
    std::memcpy(info.mac.data(), mac.addr_bytes, 6);
    if (pc.mac) info.mac = *pc.mac;  // also when the device could not take it (software MAC)
    info.address = info.role == PortRole::kProvider ? ProviderPortAddress(pc) : 0;
    info.promiscuous = true;
    info.checksum_verdicts = started->checksum_verdicts;
    info.mss_clamp = pc.mss_clamp;
    ports.push_back(std::move(info));
  }
  return ports;
}

void ClosePorts(const std::vector<PortInfo>& ports) {
  for (const PortInfo& p : ports) {
    rte_eth_dev_stop(p.ethdev);
    rte_eth_dev_close(p.ethdev);
  }
}

}  // namespace privlink::dataplane
