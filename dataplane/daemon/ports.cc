#include "dataplane/daemon/ports.h"

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "control/model/str_cat.h"
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

// What every refusal of RSS port choice tells the operator to do instead.
constexpr std::string_view kSharedFallback = "set dataplane.flowSteering to shared to run without";

// A probed device: its ethdev id and what it says it can do.
struct ProbedPort {
  const control::PortConfig* config = nullptr;
  uint16_t id = 0;
  rte_eth_dev_info info{};
};

// What RSS port choice needs of a device, or why it cannot have it.
std::optional<std::string> WhyNoRssPortChoice(const rte_eth_dev_info& info) {
  if (info.reta_size == 0) return "it has no RSS redirection table";
  if (!std::has_single_bit(info.reta_size)) {
    return absl::StrCat("its RSS redirection table has ", info.reta_size,
                        " entries, not a power of two");
  }
  if (info.hash_key_size < nat::kRssKeyMinBytes) {
    return absl::StrCat("its RSS key has ", info.hash_key_size, " bytes, ", nat::kRssKeyMinBytes,
                        " are needed");
  }
  if ((info.flow_type_rss_offloads & RTE_ETH_RSS_NONFRAG_IPV4_TCP) == 0) {
    return "it does not hash IPv4/TCP ports";
  }
  if ((info.flow_type_rss_offloads & RTE_ETH_RSS_NONFRAG_IPV4_UDP) == 0) {
    return "it does not hash IPv4/UDP ports";
  }
  return std::nullopt;
}

// The steering every port will take: a map to program (RSS port choice) or none (shared, with
// the note saying why where it was not asked for).
struct SteeringChoice {
  std::shared_ptr<const nat::RssPortMap> map;
  std::string note;
};

absl::StatusOr<SteeringChoice> ChooseSteering(const control::DataplaneConfig& config,
                                              const std::vector<ProbedPort>& ports,
                                              uint16_t queues) {
  using control::FlowSteering;
  if (config.flow_steering == FlowSteering::kShared) return SteeringChoice{};
  uint32_t entries = 1u << nat::kMaxRssClassBits;
  if (queues > 1) {
    for (const ProbedPort& p : ports) {
      std::optional<std::string> why = WhyNoRssPortChoice(p.info);
      if (!why && p.info.reta_size < queues) {
        why = absl::StrCat("its RSS redirection table has ", p.info.reta_size, " entries for ",
                           queues, " workers");
      }
      if (!why) {
        entries = std::min<uint32_t>(entries, p.info.reta_size);
        continue;
      }
      const std::string what =
          absl::StrCat("port '", p.config->name, "' (", p.config->device, "): ", *why);
      if (config.flow_steering == FlowSteering::kRssPortChoice) {
        return absl::FailedPreconditionError(
            control::Cat(what,
                         "; flowSteering rss-port-choice needs every port to take privlink's RSS "
                         "key and redirection table: ",
                         kSharedFallback));
      }
      return SteeringChoice{.note = absl::StrCat("flowSteering shared: ", what)};
    }
  }
  // With one queue every return packet reaches it: the map is made, nothing is programmed
  // (StartPort), and the allocator keeps its one slice (NatPortAllocator).
  auto map = nat::RssPortMap::Create(nat::PrivlinkRss(queues > 1 ? entries : 2, queues), queues);
  if (!map.ok()) return map.status();
  return SteeringChoice{.map = *std::move(map)};
}

// Programs `map`'s redirection table on a device with a table of `reta_size` entries (the map's
// repeated), after configure and before start.
absl::Status ProgramReta(const ProbedPort& p, const nat::RssPortMap& map) {
  std::vector<rte_eth_rss_reta_entry64> reta(p.info.reta_size / RTE_ETH_RETA_GROUP_SIZE + 1);
  for (uint32_t i = 0; i < p.info.reta_size; ++i) {
    rte_eth_rss_reta_entry64& group = reta[i / RTE_ETH_RETA_GROUP_SIZE];
    group.mask |= uint64_t{1} << (i % RTE_ETH_RETA_GROUP_SIZE);
    group.reta[i % RTE_ETH_RETA_GROUP_SIZE] = map.QueueOfEntry(i % map.class_count());
  }
  if (int rc = rte_eth_dev_rss_reta_update(p.id, reta.data(), p.info.reta_size); rc != 0) {
    return PortError(
        *p.config,
        control::Cat("the device refused privlink's RSS redirection table (", kSharedFallback, ")"),
        rc);
  }
  return absl::OkStatus();
}

absl::StatusOr<StartedPort> StartPort(const ProbedPort& p, uint16_t queues, rte_mempool* pool,
                                      const nat::RssPortMap* steering) {
  const control::PortConfig& port = *p.config;
  const uint16_t id = p.id;
  const rte_eth_dev_info& info = p.info;
  if (info.max_rx_queues < queues || info.max_tx_queues < queues) {
    return PortError(port,
                     absl::StrCat("the device has ", info.max_rx_queues, " RX / ",
                                  info.max_tx_queues, " TX queues, ", queues,
                                  " are needed (one per worker; for net_af_packet set qpairs=N)"),
                     0);
  }
  rte_eth_conf conf{};
  conf.rxmode.offloads = RxChecksumOffloads(info);
  // privlink's key, padded to the device's key length (a 96-bit tuple reads only the first 16
  // bytes).
  std::vector<uint8_t> key(std::max<size_t>(info.hash_key_size, nat::kRssKey.size()), 0);
  std::copy(nat::kRssKey.begin(), nat::kRssKey.end(), key.begin());
  if (queues > 1) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
    if (steering != nullptr) {
      conf.rx_adv_conf.rss_conf.rss_key = key.data();
      conf.rx_adv_conf.rss_conf.rss_key_len = info.hash_key_size;
    }
  }
  if (int rc = rte_eth_dev_configure(id, queues, queues, &conf); rc != 0) {
    return PortError(port, "configure failed", rc);
  }
  if (queues > 1 && steering != nullptr) {
    if (absl::Status s = ProgramReta(p, *steering); !s.ok()) return s;
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
  if (queues > 1 && steering != nullptr) {
    // A device may accept a key and keep its own: what it hashes with must be ours.
    std::vector<uint8_t> taken(key.size(), 0);
    rte_eth_rss_conf got{.rss_key = taken.data(), .rss_key_len = info.hash_key_size};
    if (rte_eth_dev_rss_hash_conf_get(id, &got) != 0 ||
        !std::equal(nat::kRssKey.begin(), nat::kRssKey.begin() + nat::kRssKeyMinBytes,
                    taken.begin())) {
      rte_eth_dev_stop(id);
      return PortError(
          port,
          control::Cat("the device does not hash with privlink's RSS key (", kSharedFallback, ")"),
          0);
    }
  }
  // Frames for a configured MAC the device cannot filter on must still reach us; the worker
  // drops frames for other MACs itself (eth_dst_not_ours).
  rte_eth_promiscuous_enable(id);
  return StartedPort{.checksum_verdicts = conf.rxmode.offloads != 0};
}

}  // namespace

absl::StatusOr<OpenedPorts> OpenPorts(const control::DataplaneConfig& config, uint16_t queues,
                                      rte_mempool* pool) {
  std::vector<ProbedPort> probed;
  const auto close_probed = [&probed] {
    for (const ProbedPort& p : probed) rte_eth_dev_close(p.id);
  };
  for (const control::PortConfig& pc : config.ports) {
    absl::StatusOr<uint16_t> id = ProbeDevice(pc);
    if (!id.ok()) {
      close_probed();
      return id.status();
    }
    probed.push_back({.config = &pc, .id = *id});
    if (int rc = rte_eth_dev_info_get(*id, &probed.back().info); rc != 0) {
      close_probed();
      return PortError(pc, "no device info", rc);
    }
  }
  absl::StatusOr<SteeringChoice> steering = ChooseSteering(config, probed, queues);
  if (!steering.ok()) {
    close_probed();
    return steering.status();
  }

  OpenedPorts opened{.rss_port_map = steering->map, .steering_note = steering->note};
  std::vector<PortInfo>& ports = opened.ports;
  uint16_t consumers = 0, providers = 0;
  for (size_t i = 0; i < probed.size(); ++i) {
    const control::PortConfig& pc = *probed[i].config;
    absl::StatusOr<StartedPort> started = StartPort(probed[i], queues, pool, steering->map.get());
    if (!started.ok()) {
      ClosePorts(ports);
      for (size_t j = i; j < probed.size(); ++j) rte_eth_dev_close(probed[j].id);
      return started.status();
    }
    const uint16_t id = probed[i].id;
    PortInfo info;
    info.name = pc.name;
    info.ethdev = id;
    info.role = pc.role == control::PortRole::kProvider ? PortRole::kProvider : PortRole::kConsumer;
    info.position = info.role == PortRole::kProvider ? providers++ : consumers++;
    rte_ether_addr mac;
    rte_eth_macaddr_get(id, &mac);
    std::memcpy(info.mac.data(), mac.addr_bytes, 6);
    if (pc.mac) info.mac = *pc.mac;  // also when the device could not take it (software MAC)
    info.address = info.role == PortRole::kProvider ? ProviderPortAddress(pc) : 0;
    info.promiscuous = true;
    info.checksum_verdicts = started->checksum_verdicts;
    info.mss_clamp = pc.mss_clamp;
    ports.push_back(std::move(info));
  }
  return opened;
}

void ClosePorts(const std::vector<PortInfo>& ports) {
  for (const PortInfo& p : ports) {
    rte_eth_dev_stop(p.ethdev);
    rte_eth_dev_close(p.ethdev);
  }
}

}  // namespace privlink::dataplane
