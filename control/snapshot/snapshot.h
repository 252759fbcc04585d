// The one type the control side hands to workers: an immutable, fully built picture of the model
// in the shapes the data path looks things up by, and the reader handle a worker uses to get it.
//
// A Snapshot never changes after publication. The control thread builds a new one for every
// accepted change and swaps it in (control/snapshot/snapshot_publisher.h); a worker loads the
// current pointer, uses it for a burst, and reports a quiescent state before its next load. Workers
// never take a lock. Kept free of JSON/HTTP so the dataplane depends on nothing else of control/.
#pragma once

#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "control/model/ids.h"
#include "control/snapshot/bucketed_map.h"
#include "control/snapshot/qsbr_publisher.h"
#include "lb/maglev.h"
#include "nat/inet.h"
#include "nat/tcp_state.h"

namespace privlink::control {

inline constexpr size_t kVlanCount = 4096;
// Snapshot readers the dataplane registers besides its workers (ids workers, workers + 1): the
// control thread's (ARP, neighbours) and the stats reader's.
inline constexpr uint32_t kDataplaneExtraReaders = 2;  // 802.1Q VLAN ids 0..4095 (0 = untagged)

struct SnapshotNetwork {
  NetworkId id = kNoNetwork;
  std::string name;
  std::string port;
  uint16_t vlan = 0;
  uint32_t vni = 0;  // a VXLAN network's VNI (its vlan is 0); 0 for a VLAN network
};

// Which consumer port (by its position in SnapshotOptions::consumer_ports, i.e. the config's
// order of consumer ports) and VLAN a network's packets use, in both directions; for a VXLAN
// network (vni != 0), the VNI and the local IP its packets are encapsulated with instead.
inline constexpr uint16_t kNoConsumerPort = 0xffff;
struct NetworkAttachment {
  uint16_t consumer_port = kNoConsumerPort;
  uint16_t vlan = 0;
  uint32_t vni = 0;     // 0: a VLAN network
  Ipv4Be local_ip = 0;  // VXLAN networks: the outer source address
};

// Slow path: which endpoint and service a consumer's SYN or first datagram to (network, PE IP,
// protocol, port) is for.
struct PeKey {
  NetworkId network = kNoNetwork;
  PortBe frontend_port = 0;
  Ipv4Be ip = 0;
  uint8_t proto = nat::kIpProtoTcp;
  bool operator==(const PeKey&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const PeKey& k) {
    return H::combine(std::move(h), k.network, k.frontend_port, k.ip, k.proto);
  }
  // What a consumer packet's key (client -> PE) asks for.
  static PeKey Of(const nat::FlowKey& key) {
    return {key.network, key.tuple.dst_port, key.tuple.dst_ip, key.proto};
  }
};

struct PeTarget {
  EndpointId endpoint = kNoEndpoint;
  ServiceId service = kNoService;
  PortBe backend_port = 0;
  bool approved = false;  // only an Approved connection may create flows
};

// Fast path, checked per packet: may this endpoint's flows go on? Four bytes, dense by id.
struct EndpointEntry {
  ServiceId service = kNoService;  // kNoService: no such endpoint (deleted): reset its flows
  bool carries_traffic = false;    // connection Approved: new and existing flows pass
  // When !carries_traffic: kReset = RST both sides of existing flows; kDrain = let them finish.
  TeardownPolicy teardown = TeardownPolicy::kReset;
};

struct SnapshotBackend {
  Ipv4Be ip = 0;
  uint32_t weight = 1;
  bool draining = false;  // keeps its flows, gets no new ones
  bool healthy = true;    // false: its probe says down; no new flows either
  bool operator==(const SnapshotBackend&) const = default;
};

// A service's health probe (PrivateLinkService::probe), in the prober's units.
struct SnapshotProbe {
  ProbeProtocol protocol = ProbeProtocol::kTcp;
  PortBe port = 0;
  std::string path;  // http only
  uint32_t interval_ms = 0;
  uint32_t timeout_ms = 0;
  uint32_t unhealthy_threshold = 0;
  uint32_t healthy_threshold = 0;
  bool operator==(const SnapshotProbe&) const = default;
};

struct SnapshotService {
  ServiceId id = kNoService;
  std::string name;
  // The NAT pool, one port space per IP, at the positions flows and per-NAT-IP counters refer to
  // (PrivateLinkService::nat_ip_slots): 0 where a removed IP was.
  std::vector<Ipv4Be> nat_ips;
  std::vector<Ipv4Be> new_flow_nat_ips;   // those that take new flows: all but the draining
  std::vector<SnapshotBackend> backends;  // maglev slots index this list
  // Built over every backend with draining and unhealthy ones at weight 0. Empty (size() == 0)
  // when no backend takes new flows: check HasBackends() before Pick().
  lb::MaglevTable maglev;
  // No new flow has a backend because every one that would take them is down (not because there
  // are none, or all are draining): new SYNs are dropped as no_healthy_backend.
  bool all_unhealthy = false;
  std::optional<SnapshotProbe> probe;
  // probe.onDown reset: the down backends, whose established flows the expiry sweep resets.
  std::vector<Ipv4Be> reset_backends;
  // established_ms from idleTimeoutMinutes, udp_ms from udpIdleTimeoutSeconds
  nat::FlowTimeouts timeouts;
  TeardownPolicy teardown = TeardownPolicy::kReset;
  bool tcp_reset_on_idle = false;  // enableTcpReset
  bool proxy_protocol = false;     // enableProxyProtocol

  bool HasBackends() const { return maglev.size() != 0; }
};

struct Snapshot {
  uint64_t generation = 0;  // 0 = the empty snapshot a publisher starts with

  absl::flat_hash_map<NetworkId, SnapshotNetwork> networks;
  // Consumer port name -> VLAN network id per VLAN (kVlanCount entries, kNoNetwork where none), so
  // the dataplane can resolve its port index once per snapshot and index by VLAN per packet.
  absl::flat_hash_map<std::string, std::vector<NetworkId>> networks_by_port;
  // The same by consumer port position (SnapshotOptions::consumer_ports), so a worker indexes two
  // arrays per packet: [port][vlan] -> network on the way in, [network] -> port and VLAN on the
  // way back. Empty where the snapshot was built without a port list.
  std::vector<std::vector<NetworkId>> networks_by_consumer_port;
  // VXLAN networks, which are in neither of the per-VLAN tables above, by consumer port position:
  // VNI -> network, and the local IPs (sorted, unique) that the port answers ARP for and
  // terminates VXLAN on. Empty where the snapshot was built without a port list.
  std::vector<absl::flat_hash_map<uint32_t, NetworkId>> vxlan_networks_by_consumer_port;
  std::vector<std::vector<Ipv4Be>> vxlan_local_ips_by_consumer_port;
  std::vector<NetworkAttachment> attachments;  // indexed by NetworkId
  // The tables per endpoint are shared, bucket by bucket, with the previous snapshot
  // (control/snapshot/bucketed_map.h): a change copies the buckets of the endpoints it touches.
  BucketedMap<PeKey, PeTarget> pe_lookup;
  // Every (network, PE IP) with any rule, for answering ARP on the consumer side.
  BucketedMap<std::pair<NetworkId, Ipv4Be>, EndpointId> endpoints_by_ip;
  // Indexed by EndpointId, read per packet: a flat array (4 bytes an endpoint, copied whole by
  // each change: 200 kB at 50,000 endpoints) so the fast path pays no extra indirection.
  std::vector<EndpointEntry> endpoints;
  BucketedMap<EndpointId, std::string> endpoint_names;  // diagnostics only
  // Each endpoint's LinkID, read when a PROXY protocol header is written (handshake, resends).
  BucketedMap<EndpointId, uint32_t> link_ids;
  // Indexed by ServiceId; shared with the previous snapshot when the service did not change, so
  // an unrelated change does not rebuild Maglev tables.
  std::vector<std::shared_ptr<const SnapshotService>> services;
  std::vector<Ipv4Be> nat_ips;  // every service's, in the model's order (ARP announcements)
  // The same as a set: a provider packet that missed every flow is told apart by one lookup,
  // whatever the number of services (a flood of such packets must not cost a scan each).
  absl::flat_hash_set<Ipv4Be> nat_ip_set;

  bool IsNatIp(Ipv4Be ip) const { return nat_ip_set.contains(ip); }

  NetworkId FindNetwork(std::string_view port, uint16_t vlan) const {
    auto it = networks_by_port.find(absl::string_view(port.data(), port.size()));
    return it == networks_by_port.end() || vlan >= kVlanCount ? kNoNetwork : it->second[vlan];
  }
  // The [vlan] -> network array of a consumer port position, or nullptr.
  const NetworkId* NetworksOfConsumerPort(uint16_t consumer_port) const {
    return consumer_port < networks_by_consumer_port.size()
               ? networks_by_consumer_port[consumer_port].data()
               : nullptr;
  }
  // The VXLAN network of `vni` on a consumer port position; kNoNetwork when none.
  NetworkId VxlanNetwork(uint16_t consumer_port, uint32_t vni) const {
    if (consumer_port >= vxlan_networks_by_consumer_port.size()) return kNoNetwork;
    const auto& by_vni = vxlan_networks_by_consumer_port[consumer_port];
    auto it = by_vni.find(vni);
    return it == by_vni.end() ? kNoNetwork : it->second;
  }
  // Whether `ip` is a VXLAN local IP of a consumer port position.
  bool IsVxlanLocalIp(uint16_t consumer_port, Ipv4Be ip) const {
    return consumer_port < vxlan_local_ips_by_consumer_port.size() &&
           std::binary_search(vxlan_local_ips_by_consumer_port[consumer_port].begin(),
                              vxlan_local_ips_by_consumer_port[consumer_port].end(), ip);
  }
  NetworkAttachment Attachment(NetworkId id) const {
    return id < attachments.size() ? attachments[id] : NetworkAttachment{};
  }
  const PeTarget* FindPe(const PeKey& key) const { return pe_lookup.Find(key); }
  // Unknown ids read as a deleted endpoint (reset).
  EndpointEntry Endpoint(EndpointId id) const {
    return id < endpoints.size() ? endpoints[id] : EndpointEntry{};
  }
  const SnapshotService* Service(ServiceId id) const {
    return id < services.size() ? services[id].get() : nullptr;
  }
};

// A worker's handle on the published snapshot (control/snapshot/snapshot_publisher.h).
using SnapshotReader = QsbrReader<Snapshot>;

}  // namespace privlink::control
