#include "control/snapshot/snapshot_builder.h"

#include <algorithm>
#include <set>
#include <string>

#include "absl/algorithm/container.h"
#include "control/model/str_cat.h"

namespace privlink::control {
namespace {

constexpr uint32_t kMsPerMinute = 60'000;
// A rule's protocol is the IPv4 protocol number its flows are keyed by.
static_assert(static_cast<uint8_t>(RuleProtocol::kTcp) == nat::kIpProtoTcp);
static_assert(static_cast<uint8_t>(RuleProtocol::kUdp) == nat::kIpProtoUdp);

// Everything of a service entry except the Maglev table, which follows from the backends.
SnapshotService DescribeService(const PrivateLinkService& service, const SnapshotOptions& options) {
  SnapshotService out;
  out.id = service.id;
  out.name = service.name;
  out.nat_ips = NatIpSlots(service);
  for (Ipv4Be ip : service.nat_ips) {
    if (!absl::c_linear_search(service.draining_nat_ips, ip)) out.new_flow_nat_ips.push_back(ip);
  }
  for (const Backend& b : service.backends) {
    out.backends.push_back({b.ip, b.weight, b.state == BackendState::kDraining});
  }
  out.timeouts.established_ms = options.idle_timeout_override_ms != 0
                                    ? options.idle_timeout_override_ms
                                    : service.idle_timeout_minutes * kMsPerMinute;
  out.timeouts.udp_ms = service.udp_idle_timeout_seconds * 1000;
  if (options.idle_timeout_override_ms != 0) {
    out.timeouts.transitory_ms = options.idle_timeout_override_ms;
    out.timeouts.udp_ms = options.idle_timeout_override_ms;
  }
  out.teardown = service.connection_teardown;
  out.tcp_reset_on_idle = service.enable_tcp_reset;
  out.proxy_protocol = service.enable_proxy_protocol;
  if (service.probe) {
    const HealthProbe& p = *service.probe;
    out.probe = SnapshotProbe{.protocol = p.protocol,
                              .port = HostToBe16(p.port),
                              .path = p.path,
                              .interval_ms = p.interval_seconds * 1000,
                              .timeout_ms = p.timeout_seconds * 1000,
                              .unhealthy_threshold = p.unhealthy_threshold,
                              .healthy_threshold = p.healthy_threshold};
    const BackendDownSet* down = options.down_backends;
    for (SnapshotBackend& b : out.backends) {
      b.healthy = down == nullptr || !down->IsDown(service.id, b.ip);
      if (!b.healthy && p.on_down == ProbeDownAction::kReset) out.reset_backends.push_back(b.ip);
    }
  }
  return out;
}

bool CanReuse(const SnapshotService& fresh, const SnapshotService& old, uint32_t table_size) {
  return fresh.name == old.name && fresh.nat_ips == old.nat_ips &&
         fresh.new_flow_nat_ips == old.new_flow_nat_ips && fresh.backends == old.backends &&
         fresh.timeouts == old.timeouts && fresh.teardown == old.teardown &&
         fresh.tcp_reset_on_idle == old.tcp_reset_on_idle &&
         fresh.proxy_protocol == old.proxy_protocol && fresh.probe == old.probe &&
         fresh.reset_backends == old.reset_backends &&
         (!old.HasBackends() || old.maglev.size() == table_size);
}

absl::StatusOr<std::shared_ptr<const SnapshotService>> BuildService(
    const PrivateLinkService& service, const SnapshotOptions& options, const Snapshot* previous) {
  SnapshotService fresh = DescribeService(service, options);
  if (previous != nullptr) {
    const SnapshotService* old = previous->Service(service.id);
    if (old != nullptr && CanReuse(fresh, *old, options.maglev_table_size)) {
      return previous->services[service.id];
    }
  }
  std::vector<lb::MaglevBackend> maglev_backends;
  bool any_active = false;
  bool any_down = false;
  for (const SnapshotBackend& b : fresh.backends) {
    // Draining and unhealthy backends keep their slot index (= position in the list) but get no
    // table slots.
    const bool takes_new = !b.draining && b.healthy && b.weight > 0;
    maglev_backends.push_back({FormatIpv4(b.ip), takes_new ? b.weight : 0});
    any_active |= takes_new;
    any_down |= !b.draining && !b.healthy;
  }
  fresh.all_unhealthy = !any_active && any_down;
  if (any_active) {
    auto table = lb::BuildMaglevTable(maglev_backends, options.maglev_table_size);
    if (!table.ok()) {
      return absl::InvalidArgumentError(
          Cat("private link service '", service.name, "': backends: ", table.status().message()));
    }
    fresh.maglev = std::move(*table);
  }
  return std::make_shared<const SnapshotService>(std::move(fresh));
}

// Networks are few (one per consumer network and VLAN or VNI): their tables are rebuilt every
// time. VXLAN networks are looked up by VNI, never by VLAN.
void BuildNetworks(const Model& model, const SnapshotOptions& options, Snapshot& snapshot) {
  NetworkId max_network = 0;
  for (const auto& [name, network] : model.networks) {
    const uint32_t vni = network.vxlan ? network.vxlan->vni : 0;
    snapshot.networks[network.id] = {network.id, network.name, network.port, network.vlan, vni};
    max_network = std::max(max_network, network.id);
    if (network.vxlan) continue;
    auto& by_vlan = snapshot.networks_by_port[network.port];
    if (by_vlan.empty()) by_vlan.assign(kVlanCount, kNoNetwork);
    by_vlan[network.vlan] = network.id;
  }
  snapshot.attachments.resize(size_t{max_network} + 1);
  const size_t ports = options.consumer_ports.size();
  snapshot.networks_by_consumer_port.resize(ports);
  snapshot.vxlan_networks_by_consumer_port.resize(ports);
  snapshot.vxlan_local_ips_by_consumer_port.resize(ports);
  for (size_t i = 0; i < ports; ++i) {
    auto it = snapshot.networks_by_port.find(options.consumer_ports[i]);
    if (it == snapshot.networks_by_port.end()) {
      snapshot.networks_by_consumer_port[i].assign(kVlanCount, kNoNetwork);
    } else {
      snapshot.networks_by_consumer_port[i] = it->second;
    }
  }
  for (const auto& [name, network] : model.networks) {
    for (size_t i = 0; i < ports; ++i) {
      if (options.consumer_ports[i] != network.port) continue;
      NetworkAttachment& attachment = snapshot.attachments[network.id];
      attachment = {static_cast<uint16_t>(i), network.vlan};
      if (network.vxlan) {
        attachment.vni = network.vxlan->vni;
        attachment.local_ip = network.vxlan->local_ip;
        snapshot.vxlan_networks_by_consumer_port[i][network.vxlan->vni] = network.id;
        snapshot.vxlan_local_ips_by_consumer_port[i].push_back(network.vxlan->local_ip);
      }
    }
  }
  for (std::vector<Ipv4Be>& ips : snapshot.vxlan_local_ips_by_consumer_port) {
    std::sort(ips.begin(), ips.end());
    ips.erase(std::unique(ips.begin(), ips.end()), ips.end());
  }
}

// One model's services by id, for the endpoint entries (an endpoint names its service by id).
class ServicesById {
 public:
  explicit ServicesById(const Model& model) {
    for (const auto& [name, service] : model.services) {
      if (service.id >= by_id_.size()) by_id_.resize(size_t{service.id} + 1, nullptr);
      by_id_[service.id] = &service;
    }
  }
  const PrivateLinkService* operator[](ServiceId id) const {
    return id < by_id_.size() ? by_id_[id] : nullptr;
  }

 private:
  std::vector<const PrivateLinkService*> by_id_;
};

// The same rule as EndpointConnectionStatus, with the service already found.
bool IsApproved(const PrivateLinkService& service, const PrivateEndpoint& endpoint) {
  auto it = service.connections.find(endpoint.name);
  return it != service.connections.end() && it->second.endpoint_id == endpoint.id &&
         it->second.status == ConnectionStatus::kApproved;
}

// Writes the per-endpoint tables of one model: an endpoint's rules, or a connection record's
// teardown entry; and takes them out again, given the model they were written from.
class EndpointTables {
 public:
  EndpointTables(const Model& model, Snapshot& snapshot)
      : model_(model), services_(model), snapshot_(snapshot) {}

  // Connections whose endpoint is gone keep an entry until the provider deletes them, so their
  // flows are torn down by the service's policy rather than by the default. An endpoint's own
  // entry, written after, wins.
  void AddConnection(const PrivateLinkService& service, const Connection& connection) {
    Entry(connection.endpoint_id) = {service.id, false, service.connection_teardown};
    snapshot_.endpoint_names.Set(connection.endpoint_id, connection.private_endpoint);
    snapshot_.link_ids.Set(connection.endpoint_id, connection.link_id);
  }
  void RemoveConnection(const Connection& connection) {
    Entry(connection.endpoint_id) = EndpointEntry{};
    snapshot_.endpoint_names.Erase(connection.endpoint_id);
    snapshot_.link_ids.Erase(connection.endpoint_id);
  }

  void AddEndpoint(const PrivateEndpoint& endpoint) {
    snapshot_.endpoint_names.Set(endpoint.id, endpoint.name);
    snapshot_.link_ids.Set(endpoint.id, endpoint.link_id);
    const NetworkId network = model_.networks.at(endpoint.network).id;
    snapshot_.endpoints_by_ip.Set({network, endpoint.ip}, endpoint.id);
    const PrivateLinkService* service = services_[endpoint.service_id];
    if (service == nullptr) {
      Entry(endpoint.id) = EndpointEntry{};
      return;
    }
    const bool approved = IsApproved(*service, endpoint);
    Entry(endpoint.id) = {service->id, approved, service->connection_teardown};
    for (const LoadBalancingRule& rule : service->load_balancing_rules) {
      snapshot_.pe_lookup.Set(PeKey{network, HostToBe16(rule.frontend_port), endpoint.ip,
                                    static_cast<uint8_t>(rule.protocol)},
                              {endpoint.id, service->id, HostToBe16(rule.backend_port), approved});
    }
  }
  void RemoveEndpoint(const PrivateEndpoint& endpoint) {
    snapshot_.endpoint_names.Erase(endpoint.id);
    snapshot_.link_ids.Erase(endpoint.id);
    Entry(endpoint.id) = EndpointEntry{};
    auto network = model_.networks.find(endpoint.network);
    if (network == model_.networks.end()) return;
    const NetworkId id = network->second.id;
    snapshot_.endpoints_by_ip.Erase({id, endpoint.ip});
    if (const PrivateLinkService* service = services_[endpoint.service_id]) {
      for (const LoadBalancingRule& rule : service->load_balancing_rules) {
        snapshot_.pe_lookup.Erase(PeKey{id, HostToBe16(rule.frontend_port), endpoint.ip,
                                        static_cast<uint8_t>(rule.protocol)});
      }
    }
  }

 private:
  EndpointEntry& Entry(EndpointId id) {
    if (id >= snapshot_.endpoints.size()) snapshot_.endpoints.resize(size_t{id} + 1);
    return snapshot_.endpoints[id];
  }

  const Model& model_;
  const ServicesById services_;
  Snapshot& snapshot_;
};

void AddAllEndpoints(const Model& model, Snapshot& snapshot) {
  EndpointTables tables(model, snapshot);
  for (const auto& [name, service] : model.services) {
    for (const auto& [pe, connection] : service.connections)
      tables.AddConnection(service, connection);
  }
  for (const auto& [name, endpoint] : model.endpoints) tables.AddEndpoint(endpoint);
}

// What differs between two models for the per-endpoint tables: connection records to take out
// (of `before`) and put in (from `after`), and the endpoint names to redo. A service whose fields
// that the entries read changed has all its records and endpoints redone; else only the records
// that changed.
// Connections of unchanged services are left alone: an endpoint's id is held by it and its own
// record only, so nothing else writes their entries.
struct EndpointChanges {
  std::vector<const Connection*> old_connections;
  std::vector<std::pair<const PrivateLinkService*, const Connection*>> new_connections;
  std::set<std::string> endpoints;
};

EndpointChanges DiffEndpoints(const Model& before, const Model& after) {
  EndpointChanges changes;
  using Endpoints = CowMap<std::string, PrivateEndpoint>;
  using Services = CowMap<std::string, PrivateLinkService>;
  using Connections = CowMap<std::string, Connection>;
  Endpoints::Diff(before.endpoints, after.endpoints,
                  [&](const std::string& name, const PrivateEndpoint*, const PrivateEndpoint*) {
                    changes.endpoints.insert(name);
                    return true;
                  });
  auto out = [&](const Connection& record) {
    changes.old_connections.push_back(&record);
    changes.endpoints.insert(record.private_endpoint);
  };
  auto in = [&](const PrivateLinkService& service, const Connection& record) {
    changes.new_connections.emplace_back(&service, &record);
    changes.endpoints.insert(record.private_endpoint);
  };
  std::set<ServiceId> redo_services;
  Services::Diff(
      before.services, after.services,
      [&](const std::string&, const PrivateLinkService* old_service,
          const PrivateLinkService* new_service) {
        const bool all = old_service == nullptr || new_service == nullptr ||
                         old_service->id != new_service->id ||
                         old_service->connection_teardown != new_service->connection_teardown ||
                         old_service->load_balancing_rules != new_service->load_balancing_rules;
        if (all) {
          if (old_service != nullptr) redo_services.insert(old_service->id);
          if (new_service != nullptr) redo_services.insert(new_service->id);
          if (old_service != nullptr) {
            for (const auto& [pe, c] : old_service->connections) out(c);
          }
          if (new_service != nullptr) {
            for (const auto& [pe, c] : new_service->connections) in(*new_service, c);
          }
          return true;
        }
        Connections::Diff(
            old_service->connections, new_service->connections,
            [&](const std::string&, const Connection* old_record, const Connection* new_record) {
              if (old_record != nullptr) out(*old_record);
              if (new_record != nullptr) in(*new_service, *new_record);
              return true;
            });
        return true;
      });
  // An endpoint whose record the provider removed still reads its service's rules and policy
  // (as Disconnected): one scan of the endpoints when a service's rules or policy changed.
  if (!redo_services.empty()) {
    for (const Model* model : {&before, &after}) {
      for (const auto& [name, endpoint] : model->endpoints) {
        if (redo_services.contains(endpoint.service_id)) changes.endpoints.insert(name);
      }
    }
  }
  return changes;
}

// Brings the endpoint tables copied from the snapshot of `before` to what `after` gives: first
// every old entry out (an id one endpoint frees, another may take in the same change), then the
// records, then the endpoints (whose entries win over their own records').
void UpdateEndpoints(const Model& before, const Model& after, Snapshot& snapshot) {
  const EndpointChanges changes = DiffEndpoints(before, after);
  if (changes.endpoints.empty()) return;
  EndpointTables old_tables(before, snapshot);
  for (const Connection* c : changes.old_connections) old_tables.RemoveConnection(*c);
  for (const std::string& name : changes.endpoints) {
    if (auto it = before.endpoints.find(name); it != before.endpoints.end()) {
      old_tables.RemoveEndpoint(it->second);
    }
  }
  EndpointTables new_tables(after, snapshot);
  for (const auto& [service, c] : changes.new_connections) new_tables.AddConnection(*service, *c);
  for (const std::string& name : changes.endpoints) {
    if (auto it = after.endpoints.find(name); it != after.endpoints.end()) {
      new_tables.AddEndpoint(it->second);
    }
  }
}

void AddNatIps(const Model& model, Snapshot& snapshot) {
  for (const auto& [name, service] : model.services) {
    snapshot.nat_ips.insert(snapshot.nat_ips.end(), service.nat_ips.begin(), service.nat_ips.end());
    snapshot.nat_ip_set.insert(service.nat_ips.begin(), service.nat_ips.end());
  }
}

absl::Status BuildAllServices(const Model& model, const SnapshotOptions& options,
                              const Snapshot* previous, Snapshot& snapshot) {
  for (const auto& [name, service] : model.services) {
    if (service.id >= snapshot.services.size()) snapshot.services.resize(size_t{service.id} + 1);
    auto entry = BuildService(service, options, previous);
    if (!entry.ok()) return entry.status();
    snapshot.services[service.id] = std::move(*entry);
  }
  AddNatIps(model, snapshot);
  return absl::OkStatus();
}

// The previous snapshot's service entries, with those of the services that changed rebuilt.
absl::Status UpdateServices(const PreviousBuild& previous, const Model& model,
                            const SnapshotOptions& options, Snapshot& snapshot) {
  snapshot.services = previous.snapshot->services;
  // Old entries out first: a service deleted and one created in the same change may share an id.
  std::vector<const PrivateLinkService*> rebuild;
  bool changed = false;
  CowMap<std::string, PrivateLinkService>::Diff(
      previous.model->services, model.services,
      [&](const std::string&, const PrivateLinkService* old_service,
          const PrivateLinkService* new_service) {
        changed = true;
        if (old_service != nullptr) snapshot.services[old_service->id] = nullptr;
        if (new_service != nullptr) rebuild.push_back(new_service);
        return true;
      });
  // Health changes the model does not show: found by the name the previous entry gives.
  for (const ServiceId id : previous.health_changed) {
    const SnapshotService* old = previous.snapshot->Service(id);
    if (old == nullptr) continue;
    auto it = model.services.find(old->name);
    if (it == model.services.end() || it->second.id != id) continue;
    if (std::find(rebuild.begin(), rebuild.end(), &it->second) == rebuild.end()) {
      rebuild.push_back(&it->second);
    }
  }
  for (const PrivateLinkService* service : rebuild) {
    if (service->id >= snapshot.services.size()) snapshot.services.resize(size_t{service->id} + 1);
    auto entry = BuildService(*service, options, previous.snapshot);
    if (!entry.ok()) return entry.status();
    snapshot.services[service->id] = std::move(*entry);
  }
  if (changed) {
    AddNatIps(model, snapshot);
  } else {
    snapshot.nat_ips = previous.snapshot->nat_ips;
    snapshot.nat_ip_set = previous.snapshot->nat_ip_set;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Snapshot>> BuildSnapshot(const Model& model, uint64_t generation,
                                                        const SnapshotOptions& options,
                                                        PreviousBuild previous) {
  auto snapshot = std::make_unique<Snapshot>();
  snapshot->generation = generation;
  BuildNetworks(model, options, *snapshot);
  if (previous.snapshot != nullptr && previous.model != nullptr) {
    if (auto s = UpdateServices(previous, model, options, *snapshot); !s.ok()) return s;
    snapshot->endpoints = previous.snapshot->endpoints;
    snapshot->pe_lookup = previous.snapshot->pe_lookup;
    snapshot->endpoints_by_ip = previous.snapshot->endpoints_by_ip;
    snapshot->endpoint_names = previous.snapshot->endpoint_names;
    snapshot->link_ids = previous.snapshot->link_ids;
    UpdateEndpoints(*previous.model, model, *snapshot);
  } else {
    if (auto s = BuildAllServices(model, options, previous.snapshot, *snapshot); !s.ok()) return s;
    AddAllEndpoints(model, *snapshot);
  }
  return snapshot;
}

}  // namespace privlink::control
