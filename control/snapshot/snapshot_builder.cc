#include "control/snapshot/snapshot_builder.h"

#include <algorithm>

#include "control/model/str_cat.h"

namespace privlink::control {
namespace {

constexpr uint32_t kMsPerMinute = 60'000;

bool SameTimeouts(const nat::TcpTimeouts& a, const nat::TcpTimeouts& b) {
  return a.embryonic_ms == b.embryonic_ms && a.established_ms == b.established_ms &&
         a.transitory_ms == b.transitory_ms && a.reset_ms == b.reset_ms;
}

// Everything of a service entry except the Maglev table, which follows from the backends.
SnapshotService DescribeService(const PrivateLinkService& service) {
  SnapshotService out;
  out.id = service.id;
  out.name = service.name;
  out.nat_ips = service.nat_ips;
  for (const Backend& b : service.backends) {
    out.backends.push_back({b.ip, b.weight, b.state == BackendState::kDraining});
  }
  out.timeouts.established_ms = service.idle_timeout_minutes * kMsPerMinute;
  out.teardown = service.connection_teardown;
  return out;
}

bool CanReuse(const SnapshotService& fresh, const SnapshotService& old, uint32_t table_size) {
  return fresh.name == old.name && fresh.nat_ips == old.nat_ips && fresh.backends == old.backends &&
         SameTimeouts(fresh.timeouts, old.timeouts) && fresh.teardown == old.teardown &&
         (!old.HasBackends() || old.maglev.size() == table_size);
}

absl::StatusOr<std::shared_ptr<const SnapshotService>> BuildService(
    const PrivateLinkService& service, const SnapshotOptions& options, const Snapshot* previous) {
  SnapshotService fresh = DescribeService(service);
  if (previous != nullptr) {
    const SnapshotService* old = previous->Service(service.id);
    if (old != nullptr && CanReuse(fresh, *old, options.maglev_table_size)) {
      return previous->services[service.id];
    }
  }
  std::vector<lb::MaglevBackend> maglev_backends;
  bool any_active = false;
  for (const SnapshotBackend& b : fresh.backends) {
    // Draining backends keep their slot index (= position in the list) but get no table slots.
    maglev_backends.push_back({FormatIpv4(b.ip), b.draining ? 0 : b.weight});
    any_active |= !b.draining && b.weight > 0;
  }
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

}  // namespace

absl::StatusOr<std::unique_ptr<Snapshot>> BuildSnapshot(const Model& model, uint64_t generation,
                                                        const SnapshotOptions& options,
                                                        const Snapshot* previous) {
  auto snapshot = std::make_unique<Snapshot>();
  snapshot->generation = generation;

  for (const auto& [name, network] : model.networks) {
    snapshot->networks[network.id] = {network.id, network.name, network.port, network.vlan};
    auto& by_vlan = snapshot->networks_by_port[network.port];
    if (by_vlan.empty()) by_vlan.assign(kVlanCount, kNoNetwork);
    by_vlan[network.vlan] = network.id;
  }
  NetworkId max_network = 0;
  for (const auto& [name, network] : model.networks)
    max_network = std::max(max_network, network.id);
  snapshot->attachments.resize(size_t{max_network} + 1);
  snapshot->networks_by_consumer_port.resize(options.consumer_ports.size());
  for (size_t i = 0; i < options.consumer_ports.size(); ++i) {
    auto it = snapshot->networks_by_port.find(options.consumer_ports[i]);
    if (it == snapshot->networks_by_port.end()) {
      snapshot->networks_by_consumer_port[i].assign(kVlanCount, kNoNetwork);
    } else {
      snapshot->networks_by_consumer_port[i] = it->second;
    }
  }
  for (const auto& [name, network] : model.networks) {
    for (size_t i = 0; i < options.consumer_ports.size(); ++i) {
      if (options.consumer_ports[i] == network.port) {
        snapshot->attachments[network.id] = {static_cast<uint16_t>(i), network.vlan};
      }
    }
  }

  ServiceId max_service = 0;
  for (const auto& [name, service] : model.services)
    max_service = std::max(max_service, service.id);
  snapshot->services.resize(size_t{max_service} + 1);
  for (const auto& [name, service] : model.services) {
    auto entry = BuildService(service, options, previous);
    if (!entry.ok()) return entry.status();
    snapshot->services[service.id] = std::move(*entry);
    snapshot->nat_ips.insert(snapshot->nat_ips.end(), service.nat_ips.begin(),
                             service.nat_ips.end());
    snapshot->nat_ip_set.insert(service.nat_ips.begin(), service.nat_ips.end());
  }

  EndpointId max_endpoint = 0;
  for (const auto& [name, endpoint] : model.endpoints) {
    max_endpoint = std::max(max_endpoint, endpoint.id);
  }
  for (const auto& [name, service] : model.services) {
    for (const auto& [pe, connection] : service.connections) {
      max_endpoint = std::max(max_endpoint, connection.endpoint_id);
    }
  }
  snapshot->endpoints.resize(size_t{max_endpoint} + 1);

  // Connections whose endpoint is gone keep an entry until the provider deletes them, so their
  // flows are torn down by the service's policy rather than by the default.
  for (const auto& [name, service] : model.services) {
    for (const auto& [pe, connection] : service.connections) {
      snapshot->endpoints[connection.endpoint_id] = {service.id, false,
                                                     service.connection_teardown};
      snapshot->endpoint_names[connection.endpoint_id] = connection.private_endpoint;
    }
  }

  for (const auto& [name, endpoint] : model.endpoints) {
    snapshot->endpoint_names[endpoint.id] = endpoint.name;
    const Network& network = model.networks.at(endpoint.network);
    snapshot->endpoints_by_ip[{network.id, endpoint.ip}] = endpoint.id;
    const PrivateLinkService* service = FindServiceById(model, endpoint.service_id);
    if (service == nullptr) {
      snapshot->endpoints[endpoint.id] = EndpointEntry{};
      continue;
    }
    const bool approved = EndpointConnectionStatus(model, endpoint) == ConnectionStatus::kApproved;
    snapshot->endpoints[endpoint.id] = {service->id, approved, service->connection_teardown};
    for (const LoadBalancingRule& rule : service->load_balancing_rules) {
      snapshot->pe_lookup[PeKey{network.id, HostToBe16(rule.frontend_port), endpoint.ip}] = {
          endpoint.id, service->id, HostToBe16(rule.backend_port), approved};
    }
  }
  return snapshot;
}

}  // namespace privlink::control
