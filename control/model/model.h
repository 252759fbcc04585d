// The Private Link resource model owned by the control thread: networks, private link services,
// private endpoints and the connections between them. Values, copied freely and cheaply: the
// resource maps are copy-on-write (control/model/cow_map.h), so every change is applied to a copy
// that shares all it does not touch, and swapped in only once the copy has been validated.
//
// Names follow Azure's so that users recognise them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "control/model/cow_map.h"
#include "control/model/ids.h"
#include "nat/inet.h"

namespace privlink::control {

enum class BackendState : uint8_t { kActive = 0, kDraining = 1 };

// Only kApproved carries traffic. kDisconnected: the endpoint was deleted (service side) or the
// provider removed the connection (endpoint side).
enum class ConnectionStatus : uint8_t { kPending, kApproved, kRejected, kDisconnected };

std::string_view TeardownPolicyName(TeardownPolicy policy);
std::optional<TeardownPolicy> ParseTeardownPolicy(std::string_view text);
std::string_view RuleProtocolName(RuleProtocol protocol);
std::optional<RuleProtocol> ParseRuleProtocol(std::string_view text);
std::string_view ProbeProtocolName(ProbeProtocol protocol);
std::optional<ProbeProtocol> ParseProbeProtocol(std::string_view text);
std::string_view ProbeDownActionName(ProbeDownAction action);
std::optional<ProbeDownAction> ParseProbeDownAction(std::string_view text);
std::string_view BackendStateName(BackendState state);
std::optional<BackendState> ParseBackendState(std::string_view text);
std::string_view ConnectionStatusName(ConnectionStatus status);
std::optional<ConnectionStatus> ParseConnectionStatus(std::string_view text);

// A consumer network carried in VXLAN (RFC 7348) on its consumer port instead of on a VLAN.
struct VxlanNetwork {
  uint32_t vni = 0;  // 1..16777215; (port, VNI) names the network
  // The address privlinkd answers ARP for on the port and terminates UDP 4789 on; the networks
  // sharing it are on the same port.
  Ipv4Be local_ip = 0;

  bool operator==(const VxlanNetwork&) const = default;
};

struct Network {
  std::string name;
  std::string port;   // consumer port name (dataplane.ports[].name)
  uint16_t vlan = 0;  // 0 = untagged; always 0 for a VXLAN network
  NetworkId id = kNoNetwork;
  // Set: the network is this VNI on the port (not a VLAN of it).
  std::optional<VxlanNetwork> vxlan;

  bool operator==(const Network&) const = default;
};

// A frontend port of the service's endpoints and where its flows go. A frontend port may have one
// TCP and one UDP rule.
struct LoadBalancingRule {
  uint16_t frontend_port = 0;  // host order; 1..65535
  uint16_t backend_port = 0;
  RuleProtocol protocol = RuleProtocol::kTcp;
  bool operator==(const LoadBalancingRule&) const = default;
};

struct Backend {
  Ipv4Be ip = 0;
  uint32_t weight = 1;
  BackendState state = BackendState::kActive;
  bool operator==(const Backend&) const = default;
};

// One endpoint's connection as the service sees it. Kept by the service, keyed by endpoint name.
struct Connection {
  std::string private_endpoint;  // endpoint name
  EndpointId endpoint_id = kNoEndpoint;
  std::string subscription;     // the endpoint's subscription
  std::string request_message;  // from the endpoint
  std::string description;      // the provider's note on approve/reject
  ConnectionStatus status = ConnectionStatus::kPending;
  uint32_t link_id = 0;  // the endpoint's LinkID
  bool operator==(const Connection&) const = default;
};

inline constexpr uint32_t kDefaultIdleTimeoutMinutes = 4;  // Azure's default idle timeout
// RFC 4787 REQ-5's recommendation for a NAT's UDP mappings.
inline constexpr uint32_t kDefaultUdpIdleTimeoutSeconds = 300;
// Azure Load Balancer's probe defaults: every 5 s; two failures in a row mark a backend down and
// two successes bring it back.
inline constexpr uint32_t kDefaultProbeIntervalSeconds = 5;
inline constexpr uint32_t kDefaultProbeThreshold = 2;

// A service's backend health probe (PrivateLinkService::probe). Without one every backend counts
// as healthy.
struct HealthProbe {
  ProbeProtocol protocol = ProbeProtocol::kTcp;
  uint16_t port = 0;  // on the backend, host order
  std::string path;   // http only: the request target, starting with '/'
  uint32_t interval_seconds = kDefaultProbeIntervalSeconds;
  uint32_t unhealthy_threshold = kDefaultProbeThreshold;    // failures in a row to mark it down
  uint32_t healthy_threshold = kDefaultProbeThreshold;      // successes in a row to bring it back
  uint32_t timeout_seconds = kDefaultProbeIntervalSeconds;  // 1..interval, default the interval
  ProbeDownAction on_down = ProbeDownAction::kKeep;

  bool operator==(const HealthProbe&) const = default;
};

inline constexpr std::string_view kProvisioningSucceeded = "Succeeded";

struct PrivateLinkService {
  std::string name;
  std::string subscription;  // owner
  std::vector<LoadBalancingRule> load_balancing_rules;
  std::vector<Backend> backends;
  std::vector<Ipv4Be> nat_ips;
  // NAT IPs (each one of nat_ips) that take no new flow; their flows keep them until they end,
  // and then they can be removed from nat_ips.
  std::vector<Ipv4Be> draining_nat_ips;
  std::vector<std::string> visibility;  // [] = owner only, ["*"] = anyone, else a list
  std::vector<std::string> auto_approval;
  std::vector<std::string> fqdns;
  uint32_t idle_timeout_minutes = kDefaultIdleTimeoutMinutes;  // TCP flows
  uint32_t udp_idle_timeout_seconds = kDefaultUdpIdleTimeoutSeconds;
  TeardownPolicy connection_teardown = TeardownPolicy::kReset;
  // An established flow that reaches its idle timeout is reset both ways (a RST each end accepts)
  // instead of vanishing silently.
  bool enable_tcp_reset = false;
  // Every connection's first bytes at the backend are a PROXY protocol v2 header with the client's
  // address and the endpoint's LinkID (Azure's TLV 0xEE).
  bool enable_proxy_protocol = false;
  std::optional<HealthProbe> probe;
  // Read-only, set by the control plane.
  ServiceId id = kNoService;
  std::string alias;
  std::string provisioning_state{kProvisioningSucceeded};
  CowMap<std::string, Connection> connections;  // by endpoint name
  // Where each NAT IP sits in the dataplane's per-service lists (a flow records its NAT IP's
  // position, and per-NAT-IP counters are indexed by it): 0 marks the place of a removed IP, so
  // the others keep theirs; a new IP takes the first such place. Empty when it is nat_ips
  // itself (NatIpSlots). Not part of the API or the store: the dataplane starts afresh with the
  // process, and then the slots are nat_ips.
  std::vector<Ipv4Be> nat_ip_slots;

  bool operator==(const PrivateLinkService&) const = default;
};

// The NAT IPs in their dataplane positions (PrivateLinkService::nat_ip_slots).
inline const std::vector<Ipv4Be>& NatIpSlots(const PrivateLinkService& service) {
  return service.nat_ip_slots.empty() ? service.nat_ips : service.nat_ip_slots;
}

struct PrivateEndpoint {
  std::string name;
  std::string subscription;
  std::string network;
  Ipv4Be ip = 0;
  std::string private_link_service;  // as requested: an alias or a service name
  std::string request_message;
  // Read-only, set by the control plane.
  EndpointId id = kNoEndpoint;
  ServiceId service_id = kNoService;  // the service the connection was made to
  uint32_t link_id = 0;               // LinkID (kFirstLinkId + n), given at creation

  bool operator==(const PrivateEndpoint&) const = default;
};

// Where each id cursor stands; persisted so ids are not reused early after a restart.
struct IdCursors {
  uint32_t network = 0;
  uint32_t service = 0;
  uint32_t endpoint = 0;
  uint32_t link_id = 0;  // LinkIDs given so far: the next is kFirstLinkId + link_id + 1
  bool operator==(const IdCursors&) const = default;
};

// Lookups the workflow's cross-resource rules need, derived from the maps (control/model/
// model_index.h keeps them in step). Each names the map versions it describes; a model whose
// maps moved on without it (decoded, or changed by hand in a test) has it rebuilt on first use.
struct ModelIndex {
  // (PE IP, network name) -> endpoint name: an IP taken in a network, an IP used anywhere.
  CowMap<std::pair<Ipv4Be, std::string>, std::string> endpoint_ips;
  CowMap<Ipv4Be, std::string> nat_ip_owners;  // NAT IP -> service name
  // Endpoint ids held by an endpoint or a connection record -> how many hold it (1 or 2).
  CowMap<EndpointId, uint32_t> endpoint_ids;
  // (consumer port, VLAN) -> network name (VXLAN networks not included), and network ids in use.
  CowMap<std::pair<std::string, uint16_t>, std::string> network_slots;
  // VXLAN networks: (consumer port, VNI) -> network name; (local IP, consumer port, network
  // name) for each (the value unused), so the ports a local IP is on are found without a scan.
  CowMap<std::pair<std::string, uint32_t>, std::string> vxlan_slots;
  CowMap<std::tuple<Ipv4Be, std::string, std::string>, bool> vxlan_local_ips;
  CowMap<NetworkId, std::string> network_ids;
  uint64_t networks_version = 0;
  uint64_t endpoints_version = 0;
  uint64_t services_version = 0;
  bool built = false;
};

// The whole model. Maps keyed by name keep listings and stored state in a stable order.
struct Model {
  CowMap<std::string, Network> networks;
  CowMap<std::string, PrivateLinkService> services;
  CowMap<std::string, PrivateEndpoint> endpoints;
  IdCursors cursors;
  ModelIndex index;  // derived; not part of equality

  bool operator==(const Model& o) const {
    return networks == o.networks && services == o.services && endpoints == o.endpoints &&
           cursors == o.cursors;
  }
};

// Lookups used by the workflow, the snapshot builder and the API.
const PrivateLinkService* FindServiceById(const Model& model, ServiceId id);
// `reference` is an alias or a service name (aliases are tried first).
const PrivateLinkService* FindServiceByReference(const Model& model, std::string_view reference);

// The connection status the endpoint's owner sees: the service's record if the endpoint still has
// one there, else Disconnected (the provider removed it, or the service is gone).
ConnectionStatus EndpointConnectionStatus(const Model& model, const PrivateEndpoint& endpoint);

}  // namespace privlink::control
