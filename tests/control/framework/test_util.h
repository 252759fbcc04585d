// Shared fixtures for the control plane tests: the reference config of issue 3, deterministic
// UUIDs, and small resource builders.
#pragma once

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "control/config/daemon_config.h"
#include "control/model/model.h"
#include "control/model/uuid.h"
#include "control/model/workflow.h"
#include "control/plane/control_plane.h"
#include "nat/inet.h"

namespace privlink::control::testing {

// The reference config of issue 3, its provider port given a subnet and a gateway (a port with
// neither reaches no backend, and the daemon refuses such a config).
inline constexpr char kReferenceConfig[] = R"json({
  "dataplane": {
    "region": "local",
    "workers": 1,
    "flowTableSize": 1048576,
    "api": {"listen": "127.0.0.1:9180"},
    "stateDir": "/var/lib/privlink",
    "ports": [
      {"name": "consumer0", "role": "consumer", "device": "net_af_packet0,iface=pl-cons0"},
      {"name": "provider0", "role": "provider", "device": "net_af_packet1,iface=pl-prov0",
       "subnet": "192.168.10.1/24", "gateway": "192.168.10.254"}
    ]
  },
  "networks": [{"name": "contoso", "port": "consumer0", "vlan": 0}],
  "privateLinkServices": [{
    "name": "fabrikam-api", "subscription": "sub-fabrikam",
    "loadBalancingRules": [{"frontendPort": 80, "backendPort": 8080}],
    "backends": [{"ip": "192.168.10.11"}, {"ip": "192.168.10.12", "weight": 2}],
    "natIps": ["192.168.10.200", "192.168.10.201"],
    "visibility": ["*"], "autoApproval": ["sub-contoso"], "idleTimeoutMinutes": 4
  }],
  "privateEndpoints": [{
    "name": "contoso-pe", "subscription": "sub-contoso", "network": "contoso",
    "ip": "10.0.0.100", "privateLinkService": "fabrikam-api"
  }]
})json";

// UUIDs 00000000-0000-4000-8000-000000000001, ...2, ...: aliases are predictable.
class SequentialUuids final : public UuidGenerator {
 public:
  std::string NewUuid() override { return FormatUuidV4(0, ++count_); }

 private:
  uint64_t count_ = 0;
};

inline Ipv4Be Ip(const char* text) {
  return *ParseIpv4(text);
}

// Status messages as std::string, for gmock string matchers (Abseil's string_view is its own).
inline std::string Msg(const absl::Status& status) {
  return std::string(status.message());
}
template <typename T>
std::string Msg(const absl::StatusOr<T>& result) {
  return std::string(result.status().message());
}

inline Network MakeNetwork(std::string name, std::string port = "consumer0", uint16_t vlan = 0) {
  Network n;
  n.name = std::move(name);
  n.port = std::move(port);
  n.vlan = vlan;
  return n;
}

// A VXLAN network: `vni` on `port`, terminated on `local_ip`.
inline Network MakeVxlanNetwork(std::string name, std::string port, uint32_t vni,
                                const char* local_ip) {
  Network n = MakeNetwork(std::move(name), std::move(port));
  n.vxlan = VxlanNetwork{vni, Ip(local_ip)};
  return n;
}

inline ServiceRequest MakeService(std::string name, std::string subscription,
                                  std::vector<Ipv4Be> nat_ips,
                                  std::vector<std::string> visibility = {"*"},
                                  std::vector<std::string> auto_approval = {}) {
  ServiceRequest r;
  r.service.name = std::move(name);
  r.service.subscription = std::move(subscription);
  r.service.load_balancing_rules = {{80, 8080}};
  r.service.backends = {{Ip("192.168.10.11"), 1, BackendState::kActive}};
  r.service.nat_ips = std::move(nat_ips);
  r.service.visibility = std::move(visibility);
  r.service.auto_approval = std::move(auto_approval);
  return r;
}

inline PrivateEndpoint MakeEndpoint(std::string name, std::string subscription, std::string network,
                                    const char* ip, std::string service) {
  PrivateEndpoint e;
  e.name = std::move(name);
  e.subscription = std::move(subscription);
  e.network = std::move(network);
  e.ip = Ip(ip);
  e.private_link_service = std::move(service);
  return e;
}

// A control plane seeded with the reference config's resources, its consumer and provider ports
// known, state kept in memory. `uuids` must outlive it.
inline absl::StatusOr<std::unique_ptr<ControlPlane>> ReferenceControlPlane(UuidGenerator* uuids) {
  auto config = ParseDaemonConfig(kReferenceConfig);
  if (!config.ok()) return config.status();
  ControlPlaneOptions options;
  options.consumer_ports = ConsumerPortNames(config->dataplane);
  options.provider_ports = ProviderPortReaches(config->dataplane);
  return ControlPlane::Create(options, nullptr, config->resources, uuids);
}

// A whole file's bytes ("" when it cannot be read), and a file written with exactly `text`.
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}
inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace privlink::control::testing
