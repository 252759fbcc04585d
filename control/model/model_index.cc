#include "control/model/model_index.h"

#include <tuple>
#include <utility>

#include "control/model/str_cat.h"

namespace privlink::control {
namespace {

bool IsFresh(const Model& model) {
  const ModelIndex& index = model.index;
  return index.built && index.networks_version == model.networks.version() &&
         index.endpoints_version == model.endpoints.version() &&
         index.services_version == model.services.version();
}

void Stamp(Model& model) {
  model.index.networks_version = model.networks.version();
  model.index.endpoints_version = model.endpoints.version();
  model.index.services_version = model.services.version();
  model.index.built = true;
}

void HoldId(ModelIndex& index, EndpointId id) {
  if (uint32_t* holders = index.endpoint_ids.FindMutable(id)) {
    ++*holders;
  } else {
    index.endpoint_ids.Set(id, 1);
  }
}

void ReleaseId(ModelIndex& index, EndpointId id) {
  uint32_t* holders = index.endpoint_ids.FindMutable(id);
  if (holders != nullptr && --*holders == 0) index.endpoint_ids.erase(id);
}

void IndexService(ModelIndex& index, const PrivateLinkService& service) {
  for (Ipv4Be ip : service.nat_ips) index.nat_ip_owners.Set(ip, service.name);
  for (const auto& [pe, connection] : service.connections) HoldId(index, connection.endpoint_id);
}

void UnindexService(ModelIndex& index, const PrivateLinkService& service) {
  for (Ipv4Be ip : service.nat_ips) {
    auto it = index.nat_ip_owners.find(ip);
    if (it != index.nat_ip_owners.end() && it->second == service.name) {
      index.nat_ip_owners.erase(ip);
    }
  }
  for (const auto& [pe, connection] : service.connections) ReleaseId(index, connection.endpoint_id);
}

using VxlanLocalIpKey = std::tuple<Ipv4Be, std::string, std::string>;

// A network's place: its (port, VLAN), or for a VXLAN network its (port, VNI) and local IP.
void IndexNetwork(ModelIndex& index, const Network& network) {
  if (network.vxlan) {
    index.vxlan_slots.Set({network.port, network.vxlan->vni}, network.name);
    index.vxlan_local_ips.Set(VxlanLocalIpKey(network.vxlan->local_ip, network.port, network.name),
                              true);
  } else {
    index.network_slots.Set({network.port, network.vlan}, network.name);
  }
  index.network_ids.Set(network.id, network.name);
}

void UnindexNetwork(ModelIndex& index, const Network& network) {
  if (network.vxlan) {
    index.vxlan_slots.erase(std::pair<std::string, uint32_t>(network.port, network.vxlan->vni));
    index.vxlan_local_ips.erase(
        VxlanLocalIpKey(network.vxlan->local_ip, network.port, network.name));
  } else {
    index.network_slots.erase(std::pair<std::string, uint16_t>(network.port, network.vlan));
  }
  index.network_ids.erase(network.id);
}

ModelIndex& Fresh(Model& model) {
  if (IsFresh(model)) return model.index;
  ModelIndex index;
  for (const auto& [name, network] : model.networks) IndexNetwork(index, network);
  for (const auto& [name, endpoint] : model.endpoints) {
    index.endpoint_ips.Set({endpoint.ip, endpoint.network}, name);
    HoldId(index, endpoint.id);
  }
  for (const auto& [name, service] : model.services) IndexService(index, service);
  model.index = std::move(index);
  Stamp(model);
  return model.index;
}

}  // namespace

void RefreshIndex(Model& model) {
  Fresh(model);
}

const std::string* EndpointNameWithIp(Model& model, std::string_view network, Ipv4Be ip,
                                      std::string_view except) {
  const ModelIndex& index = Fresh(model);
  auto it = index.endpoint_ips.find(std::pair<Ipv4Be, std::string>(ip, network));
  if (it == index.endpoint_ips.end() || it->second == except) return nullptr;
  return &it->second;
}

const std::string* NetworkOnSlot(Model& model, std::string_view port, uint16_t vlan) {
  const ModelIndex& index = Fresh(model);
  auto it = index.network_slots.find(std::pair<std::string, uint16_t>(port, vlan));
  return it == index.network_slots.end() ? nullptr : &it->second;
}

const std::string* VxlanNetworkOnSlot(Model& model, std::string_view port, uint32_t vni) {
  const ModelIndex& index = Fresh(model);
  auto it = index.vxlan_slots.find(std::pair<std::string, uint32_t>(port, vni));
  return it == index.vxlan_slots.end() ? nullptr : &it->second;
}

const std::string* VxlanNetworkWithLocalIp(Model& model, std::string_view port, Ipv4Be ip) {
  const ModelIndex& index = Fresh(model);
  const auto it = index.vxlan_local_ips.lower_bound(VxlanLocalIpKey(ip, std::string(port), ""));
  if (it == index.vxlan_local_ips.end()) return nullptr;
  const auto& [key_ip, key_port, name] = it->first;
  return key_ip == ip && key_port == port ? &name : nullptr;
}

const std::string* VxlanLocalIpOnOtherPort(Model& model, Ipv4Be ip, std::string_view port,
                                           std::string_view except) {
  const ModelIndex& index = Fresh(model);
  // The keys of `ip` are ordered by port: those of `port` are skipped in one step, and `except`
  // is at most one more, so this reads a few entries whatever the number of networks.
  auto it = index.vxlan_local_ips.lower_bound(VxlanLocalIpKey(ip, "", ""));
  while (it != index.vxlan_local_ips.end() && std::get<0>(it->first) == ip) {
    const auto& [key_ip, key_port, name] = it->first;
    if (key_port == port) {
      // The first key after every (ip, port, *): no port name lies between port and port + '\0'.
      it = index.vxlan_local_ips.lower_bound(VxlanLocalIpKey(ip, Cat(port, '\0'), ""));
    } else if (name == except) {
      ++it;
    } else {
      return &name;
    }
  }
  return nullptr;
}

bool NetworkIdInUse(Model& model, NetworkId id) {
  return Fresh(model).network_ids.contains(id);
}

const std::string* AnyEndpointWithIp(Model& model, Ipv4Be ip) {
  const ModelIndex& index = Fresh(model);
  auto it = index.endpoint_ips.lower_bound(std::pair<Ipv4Be, std::string>(ip, ""));
  if (it == index.endpoint_ips.end() || it->first.first != ip) return nullptr;
  return &it->second;
}

const std::string* NatIpOwner(Model& model, Ipv4Be ip) {
  const ModelIndex& index = Fresh(model);
  auto it = index.nat_ip_owners.find(ip);
  return it == index.nat_ip_owners.end() ? nullptr : &it->second;
}

bool EndpointIdInUse(Model& model, EndpointId id) {
  return Fresh(model).endpoint_ids.contains(id);
}

void SetNetwork(Model& model, Network network) {
  RemoveNetwork(model, network.name);
  IndexNetwork(Fresh(model), network);
  std::string name = network.name;
  model.networks.Set(std::move(name), std::move(network));
  Stamp(model);
}

void RemoveNetwork(Model& model, std::string_view name) {
  ModelIndex& index = Fresh(model);
  auto it = model.networks.find(name);
  if (it == model.networks.end()) return;
  UnindexNetwork(index, it->second);
  model.networks.erase(name);
  Stamp(model);
}

void AddEndpoint(Model& model, PrivateEndpoint endpoint) {
  ModelIndex& index = Fresh(model);
  RemoveEndpoint(model, endpoint.name);
  index.endpoint_ips.Set({endpoint.ip, endpoint.network}, endpoint.name);
  HoldId(index, endpoint.id);
  std::string name = endpoint.name;
  model.endpoints.Set(std::move(name), std::move(endpoint));
  Stamp(model);
}

void RemoveEndpoint(Model& model, std::string_view name) {
  ModelIndex& index = Fresh(model);
  auto it = model.endpoints.find(name);
  if (it == model.endpoints.end()) return;
  const PrivateEndpoint& endpoint = it->second;
  index.endpoint_ips.erase(std::pair<Ipv4Be, std::string>(endpoint.ip, endpoint.network));
  ReleaseId(index, endpoint.id);
  model.endpoints.erase(name);
  Stamp(model);
}

void SetService(Model& model, PrivateLinkService service) {
  ModelIndex& index = Fresh(model);
  if (auto it = model.services.find(service.name); it != model.services.end()) {
    UnindexService(index, it->second);
  }
  IndexService(index, service);
  std::string name = service.name;
  model.services.Set(std::move(name), std::move(service));
  Stamp(model);
}

void RemoveService(Model& model, std::string_view name) {
  ModelIndex& index = Fresh(model);
  auto it = model.services.find(name);
  if (it == model.services.end()) return;
  UnindexService(index, it->second);
  model.services.erase(name);
  Stamp(model);
}

void SetConnection(Model& model, std::string_view service, Connection connection) {
  ModelIndex& index = Fresh(model);
  PrivateLinkService* s = model.services.FindMutable(service);
  if (s == nullptr) return;
  if (auto it = s->connections.find(connection.private_endpoint); it != s->connections.end()) {
    ReleaseId(index, it->second.endpoint_id);
  }
  HoldId(index, connection.endpoint_id);
  std::string name = connection.private_endpoint;
  s->connections.Set(std::move(name), std::move(connection));
  Stamp(model);
}

bool RemoveConnection(Model& model, std::string_view service, std::string_view endpoint) {
  ModelIndex& index = Fresh(model);
  PrivateLinkService* s = model.services.FindMutable(service);
  auto it = s == nullptr ? CowMap<std::string, Connection>::const_iterator()
                         : s->connections.find(endpoint);
  if (s == nullptr || it == s->connections.end()) {
    Stamp(model);  // FindMutable took a new version of an unchanged map
    return false;
  }
  ReleaseId(index, it->second.endpoint_id);
  s->connections.erase(endpoint);
  Stamp(model);
  return true;
}

PrivateLinkService* ServiceToChange(Model& model, std::string_view name) {
  Fresh(model);
  PrivateLinkService* service = model.services.FindMutable(name);
  Stamp(model);
  return service;
}

}  // namespace privlink::control
