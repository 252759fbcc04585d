#include "control/model/workflow.h"

#include <algorithm>
#include <optional>

#include "absl/algorithm/container.h"
#include "control/model/model_index.h"
#include "control/model/str_cat.h"
#include "control/model/validate.h"

namespace privlink::control {
namespace {

constexpr absl::StatusCode kConflict = absl::StatusCode::kFailedPrecondition;  // HTTP 409

// Moves the cursor forward (wrapping, skipping 0) to the next id for which used(id) is false.
template <typename Used>
std::optional<uint32_t> AllocateId(uint32_t& cursor, uint32_t limit, Used used) {
  for (uint32_t tries = 1; tries < limit; ++tries) {
    cursor = cursor + 1 >= limit ? 1 : cursor + 1;
    if (!used(cursor)) return cursor;
  }
  return std::nullopt;
}

std::optional<uint32_t> AllocateId(uint32_t& cursor, uint32_t limit,
                                   const std::set<uint32_t>& used) {
  return AllocateId(cursor, limit, [&](uint32_t id) { return used.contains(id); });
}

bool Contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

bool IsVisibleTo(const PrivateLinkService& service, std::string_view subscription) {
  return subscription == service.subscription || Contains(service.visibility, kVisibleToAll) ||
         Contains(service.visibility, subscription);
}

std::string Quoted(std::string_view text) {
  return Cat("'", text, "'");
}

// Cross-service address rules: NAT IPs unique across services and distinct from every backend
// (both live in the provider network, where reverse flow keys must be unambiguous) and from every
// endpoint IP.
// The NAT IP and endpoint lookups go through the index; backends are compared with every other
// service's NAT IPs through it too, and NAT IPs with other services' backends by a scan over the
// services (a service change, not an endpoint change, pays for it).
absl::Status CheckServiceAddresses(Model& model, const PrivateLinkService& service,
                                   std::string_view prefix) {
  for (size_t i = 0; i < service.nat_ips.size(); ++i) {
    const Ipv4Be ip = service.nat_ips[i];
    const std::string field = Cat(prefix, "natIps[", i, "]");
    if (const std::string* owner = NatIpOwner(model, ip);
        owner != nullptr && *owner != service.name) {
      return FieldError(
          kConflict, field,
          Cat(FormatIpv4(ip), " is already a NAT IP of private link service ", Quoted(*owner)));
    }
    if (const std::string* endpoint = AnyEndpointWithIp(model, ip)) {
      return FieldError(kConflict, field,
                        Cat(FormatIpv4(ip), " is the IP of private endpoint ", Quoted(*endpoint)));
    }
    for (const auto& [name, other] : model.services) {
      if (name == service.name) continue;
      for (const Backend& backend : other.backends) {
        if (backend.ip == ip) {
          return FieldError(
              kConflict, field,
              Cat(FormatIpv4(ip), " is a backend of private link service ", Quoted(name)));
        }
      }
    }
  }
  for (size_t i = 0; i < service.backends.size(); ++i) {
    const Ipv4Be ip = service.backends[i].ip;
    if (const std::string* owner = NatIpOwner(model, ip);
        owner != nullptr && *owner != service.name) {
      return FieldError(
          kConflict, Cat(prefix, "backends[", i, "].ip"),
          Cat(FormatIpv4(ip), " is a NAT IP of private link service ", Quoted(*owner)));
    }
  }
  return absl::OkStatus();
}

// The dataplane positions of `requested` NAT IPs when they replace `current`'s
// (PrivateLinkService::nat_ip_slots): an IP that stays keeps its position, a removed one leaves
// its position empty, a new one takes the first empty position or goes at the end. An IP may be
// removed only once it is draining and carries no flow (409 naming its flows otherwise), so no
// flow refers to a position that is emptied or taken by another IP. Empty when the positions are
// `requested` itself.
absl::StatusOr<std::vector<Ipv4Be>> RelayoutNatIps(const PrivateLinkService& current,
                                                   const std::vector<Ipv4Be>& requested,
                                                   const WorkflowContext& context,
                                                   std::string_view prefix) {
  std::vector<Ipv4Be> slots = NatIpSlots(current);
  for (size_t slot = 0; slot < slots.size(); ++slot) {
    const Ipv4Be ip = slots[slot];
    if (ip == 0 || absl::c_linear_search(requested, ip)) continue;
    const std::string field = Cat(prefix, "natIps");
    if (!absl::c_linear_search(current.draining_nat_ips, ip)) {
      return FieldError(kConflict, field,
                        Cat("NAT IP ", FormatIpv4(ip),
                            " must be draining before it is removed (add it to drainingNatIps, "
                            "then remove it once its flows have ended)"));
    }
    const absl::StatusOr<uint64_t> flows =
        context.nat_ip_flows ? context.nat_ip_flows->FlowsOnNatIp(current.id, slot) : 0;
    if (!flows.ok()) {
      return absl::UnavailableError(Cat(field, ": cannot count the flows of NAT IP ",
                                        FormatIpv4(ip), ": ", flows.status().message()));
    }
    if (*flows != 0) {
      return FieldError(kConflict, field,
                        Cat("NAT IP ", FormatIpv4(ip), " still carries ", *flows,
                            *flows == 1 ? " flow" : " flows",
                            "; it can be removed once they have ended (it is draining: no new "
                            "flow takes it)"));
    }
    slots[slot] = 0;
  }
  for (Ipv4Be ip : requested) {
    if (absl::c_linear_search(slots, ip)) continue;
    auto hole = std::find(slots.begin(), slots.end(), Ipv4Be{0});
    if (hole != slots.end()) {
      *hole = ip;
    } else {
      slots.push_back(ip);
    }
  }
  while (!slots.empty() && slots.back() == 0) slots.pop_back();
  if (slots == requested) slots.clear();
  return slots;
}

// Every backend of `service` reachable through a provider port (see ProviderPortReach).
absl::Status CheckBackendReach(const PrivateLinkService& service, const WorkflowContext& context,
                               std::string_view prefix) {
  if (!context.provider_ports) return absl::OkStatus();
  const std::vector<ProviderPortReach>& ports = *context.provider_ports;
  for (size_t i = 0; i < service.backends.size(); ++i) {
    const Ipv4Be ip = service.backends[i].ip;
    if (std::any_of(ports.begin(), ports.end(),
                    [ip](const ProviderPortReach& p) { return p.Reaches(ip); })) {
      continue;
    }
    std::string have;
    for (const ProviderPortReach& p : ports) {
      have +=
          Cat(have.empty() ? "" : "; ", p.name, ": ",
              p.subnet_address ? Cat("subnet ", FormatIpv4(*p.subnet_address), "/", p.subnet_length)
                               : std::string("no subnet"),
              ", no gateway");
    }
    return FieldError(
        Cat(prefix, "backends[", i, "].ip"),
        Cat("backend ", FormatIpv4(ip), " of private link service ", Quoted(service.name),
            " is reachable through no provider port (",
            have.empty() ? std::string("the config has none") : have,
            "): give a provider port a subnet that contains it (dataplane.ports[].subnet) or a "
            "gateway (dataplane.ports[].gateway)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ChangeKind> SetConnectionStatus(Model& model, std::string_view service_name,
                                               std::string_view endpoint, ConnectionStatus status,
                                               std::string_view description,
                                               std::string_view field) {
  auto service = model.services.find(service_name);
  if (service == model.services.end()) {
    return absl::NotFoundError(Cat("private link service ", Quoted(service_name), " not found"));
  }
  auto it = service->second.connections.find(endpoint);
  if (it == service->second.connections.end()) {
    return FieldError(absl::StatusCode::kNotFound, field,
                      Cat("private link service ", Quoted(service_name),
                          " has no connection from private endpoint ", Quoted(endpoint)));
  }
  if (description.size() > kMaxRequestMessageLength) {
    return FieldError("description", Cat("longer than ", kMaxRequestMessageLength, " characters"));
  }
  const Connection& current = it->second;
  if (current.status == status && current.description == description) {
    return ChangeKind::kUnchanged;
  }
  if (current.status == ConnectionStatus::kDisconnected) {
    return FieldError(kConflict, field,
                      Cat("connection from ", Quoted(endpoint),
                          " is Disconnected (its endpoint was deleted); delete it instead"));
  }
  if (status != ConnectionStatus::kApproved && status != ConnectionStatus::kRejected) {
    return FieldError(field, Cat("a connection can only be set to Approved or Rejected, not ",
                                 ConnectionStatusName(status)));
  }
  Connection& connection = ServiceToChange(model, service_name)->connections.MutableAt(endpoint);
  connection.status = status;
  connection.description = std::string(description);
  return ChangeKind::kUpdated;
}

absl::Status CheckDuplicateNames(const ResourceDocument& document) {
  auto check = [](std::string_view list, const auto& items, auto name_of) -> absl::Status {
    std::set<std::string_view> seen;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!seen.insert(name_of(items[i])).second) {
        return FieldError(Cat(list, "[", i, "].name"),
                          Cat("duplicate name ", Quoted(name_of(items[i]))));
      }
    }
    return absl::OkStatus();
  };
  if (auto s = check("networks", document.networks,
                     [](const Network& n) -> std::string_view { return n.name; });
      !s.ok()) {
    return s;
  }
  if (auto s = check("privateLinkServices", document.services,
                     [](const ServiceRequest& r) -> std::string_view { return r.service.name; });
      !s.ok()) {
    return s;
  }
  return check("privateEndpoints", document.endpoints,
               [](const PrivateEndpoint& e) -> std::string_view { return e.name; });
}

void Count(ApplySummary& summary, ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kCreated:
      ++summary.created;
      break;
    case ChangeKind::kUpdated:
      ++summary.updated;
      break;
    case ChangeKind::kUnchanged:
      ++summary.unchanged;
      break;
  }
}

// A network's place on its port is its own: a VLAN network's (port, VLAN); a VXLAN network's
// (port, VNI), and its local IP on no other port (VXLAN networks sharing a local IP share the
// port it is on). VLAN and VXLAN networks do not meet: an untagged network and VXLAN networks may
// share a port.
absl::Status CheckNetworkSlot(Model& model, const Network& requested, std::string_view prefix) {
  if (!requested.vxlan) {
    if (const std::string* owner = NetworkOnSlot(model, requested.port, requested.vlan);
        owner != nullptr && *owner != requested.name) {
      return FieldError(kConflict, Cat(prefix, "vlan"),
                        Cat("port ", Quoted(requested.port), " vlan ", requested.vlan,
                            " already belongs to network ", Quoted(*owner)));
    }
    return absl::OkStatus();
  }
  const VxlanNetwork& vxlan = *requested.vxlan;
  if (const std::string* owner = VxlanNetworkOnSlot(model, requested.port, vxlan.vni);
      owner != nullptr && *owner != requested.name) {
    return FieldError(kConflict, Cat(prefix, "vxlan.vni"),
                      Cat("port ", Quoted(requested.port), " vni ", vxlan.vni,
                          " already belongs to network ", Quoted(*owner)));
  }
  if (const std::string* other =
          VxlanLocalIpOnOtherPort(model, vxlan.local_ip, requested.port, requested.name)) {
    return FieldError(
        kConflict, Cat(prefix, "vxlan.localIp"),
        Cat(FormatIpv4(vxlan.local_ip), " is the local IP of network ", Quoted(*other), " on port ",
            Quoted(model.networks.at(*other).port), "; a local IP is on one port"));
  }
  // Nor may an endpoint of a network on the port hold it (its UDP 4789 would be a tunnel's).
  if (AnyEndpointWithIp(model, vxlan.local_ip) != nullptr) {
    for (const auto& [name, endpoint] : model.endpoints) {
      if (endpoint.ip != vxlan.local_ip) continue;
      const auto network = model.networks.find(endpoint.network);
      if (network != model.networks.end() && network->second.port == requested.port) {
        return FieldError(
            kConflict, Cat(prefix, "vxlan.localIp"),
            Cat(FormatIpv4(vxlan.local_ip), " is the address of private endpoint ", Quoted(name),
                " in network ", Quoted(endpoint.network), " on port ", Quoted(requested.port)));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool ProviderPortReach::Reaches(Ipv4Be backend) const {
  if (has_gateway) return true;
  if (!subnet_address) return false;
  const uint32_t mask = subnet_length == 0 ? 0 : ~uint32_t{0} << (32 - subnet_length);
  return (Be32ToHost(backend) & mask) == (Be32ToHost(*subnet_address) & mask);
}

absl::Status CheckBackendsReachable(const Model& model, const WorkflowContext& context) {
  for (const auto& [name, service] : model.services) {
    if (auto s = CheckBackendReach(service, context, ""); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<ChangeKind> PutNetwork(Model& model, const Network& requested,
                                      const WorkflowContext& context, std::string_view prefix) {
  if (auto s = ValidateNetwork(requested, prefix); !s.ok()) return s;
  if (!context.consumer_ports.empty() && !context.consumer_ports.contains(requested.port)) {
    return FieldError(Cat(prefix, "port"),
                      Cat(Quoted(requested.port), " is not a consumer port of this daemon"));
  }
  if (auto s = CheckNetworkSlot(model, requested, prefix); !s.ok()) return s;
  auto existing = model.networks.find(requested.name);
  if (existing != model.networks.end()) {
    Network updated = requested;
    updated.id = existing->second.id;
    if (updated == existing->second) return ChangeKind::kUnchanged;
    SetNetwork(model, std::move(updated));
    return ChangeKind::kUpdated;
  }
  const std::optional<uint32_t> id =
      AllocateId(model.cursors.network, kNetworkIdLimit,
                 [&](uint32_t id) { return NetworkIdInUse(model, static_cast<NetworkId>(id)); });
  if (!id) return FieldError(kConflict, Cat(prefix, "name"), "no network id left");
  Network created = requested;
  created.id = static_cast<NetworkId>(*id);
  SetNetwork(model, std::move(created));
  return ChangeKind::kCreated;
}

absl::Status DeleteNetwork(Model& model, std::string_view name) {
  if (!model.networks.contains(name)) {
    return absl::NotFoundError(Cat("network ", Quoted(name), " not found"));
  }
  std::string users;
  for (const auto& [pe, endpoint] : model.endpoints) {
    if (endpoint.network == name) users += Cat(users.empty() ? "" : ", ", pe);
  }
  if (!users.empty()) {
    return absl::FailedPreconditionError(Cat(
        "network ", Quoted(name), " is used by private endpoints: ", users, "; delete them first"));
  }
  RemoveNetwork(model, name);
  return absl::OkStatus();
}

absl::StatusOr<ChangeKind> PutService(Model& model, const ServiceRequest& request,
                                      const WorkflowContext& context, std::string_view prefix) {
  const PrivateLinkService& requested = request.service;
  if (auto s = ValidateService(requested, prefix); !s.ok()) return s;
  if (auto s = CheckServiceAddresses(model, requested, prefix); !s.ok()) return s;
  if (auto s = CheckBackendReach(requested, context, prefix); !s.ok()) return s;

  ChangeKind kind = ChangeKind::kUnchanged;
  auto existing = model.services.find(requested.name);
  if (existing != model.services.end()) {
    const PrivateLinkService& current = existing->second;
    if (requested.subscription != current.subscription) {
      return FieldError(Cat(prefix, "subscription"),
                        "cannot be changed; delete and re-create the service");
    }
    auto slots = RelayoutNatIps(current, requested.nat_ips, context, prefix);
    if (!slots.ok()) return slots.status();
    PrivateLinkService updated = requested;
    updated.nat_ip_slots = std::move(*slots);
    updated.id = current.id;
    updated.alias = current.alias;
    updated.provisioning_state = current.provisioning_state;
    updated.connections = current.connections;
    if (!(updated == current)) {
      SetService(model, std::move(updated));
      kind = ChangeKind::kUpdated;
    }
  } else {
    if (context.uuids == nullptr) return absl::InternalError("no UUID generator");
    std::set<uint32_t> used;
    std::set<std::string> aliases;
    for (const auto& [name, service] : model.services) {
      used.insert(service.id);
      aliases.insert(service.alias);
    }
    const std::optional<uint32_t> id = AllocateId(model.cursors.service, kServiceIdLimit, used);
    if (!id) return FieldError(kConflict, Cat(prefix, "name"), "no service id left");
    PrivateLinkService created = requested;
    created.id = static_cast<ServiceId>(*id);
    created.provisioning_state = std::string(kProvisioningSucceeded);
    created.connections.clear();
    do {  // a collision of random UUIDs is all but impossible; aliases must be unique anyway
      created.alias =
          Cat(created.name, ".", context.uuids->NewUuid(), ".", context.region, ".privlinkservice");
    } while (aliases.contains(created.alias));
    SetService(model, std::move(created));
    kind = ChangeKind::kCreated;
  }

  for (size_t i = 0; i < request.connections.size(); ++i) {
    const ConnectionRequest& c = request.connections[i];
    auto changed =
        SetConnectionStatus(model, requested.name, c.private_endpoint, c.status, c.description,
                            Cat(prefix, "privateEndpointConnections[", i, "]"));
    if (!changed.ok()) return changed.status();
    if (*changed != ChangeKind::kUnchanged && kind == ChangeKind::kUnchanged) {
      kind = ChangeKind::kUpdated;
    }
  }
  return kind;
}

absl::Status DeleteService(Model& model, std::string_view name) {
  auto it = model.services.find(name);
  if (it == model.services.end()) {
    return absl::NotFoundError(Cat("private link service ", Quoted(name), " not found"));
  }
  std::string blocking;
  for (const auto& [pe, connection] : it->second.connections) {
    if (connection.status == ConnectionStatus::kPending ||
        connection.status == ConnectionStatus::kApproved) {
      blocking +=
          Cat(blocking.empty() ? "" : ", ", pe, " (", ConnectionStatusName(connection.status), ")");
    }
  }
  if (!blocking.empty()) {
    return absl::FailedPreconditionError(Cat("private link service ", Quoted(name),
                                             " has connections: ", blocking,
                                             "; reject or delete them first"));
  }
  RemoveService(model, name);
  return absl::OkStatus();
}

absl::StatusOr<ChangeKind> PutEndpoint(Model& model, const PrivateEndpoint& requested,
                                       std::string_view prefix) {
  if (auto s = ValidateEndpoint(requested, prefix); !s.ok()) return s;

  auto existing = model.endpoints.find(requested.name);
  if (existing != model.endpoints.end()) {
    const PrivateEndpoint& current = existing->second;
    const std::pair<std::string_view, bool> immutable[] = {
        {"subscription", requested.subscription != current.subscription},
        {"network", requested.network != current.network},
        {"ip", requested.ip != current.ip},
        {"privateLinkService", requested.private_link_service != current.private_link_service},
    };
    for (const auto& [field, changed] : immutable) {
      if (changed) {
        return FieldError(Cat(prefix, field),
                          "cannot be changed; delete and re-create the private endpoint");
      }
    }
    if (requested.request_message == current.request_message) return ChangeKind::kUnchanged;
    PrivateEndpoint updated = current;
    updated.request_message = requested.request_message;
    if (const PrivateLinkService* service = FindServiceById(model, current.service_id)) {
      auto connection = service->connections.find(current.name);
      if (connection != service->connections.end() &&
          connection->second.endpoint_id == current.id) {
        ServiceToChange(model, std::string(service->name))
            ->connections.MutableAt(current.name)
            .request_message = updated.request_message;
      }
    }
    AddEndpoint(model, std::move(updated));
    return ChangeKind::kUpdated;
  }

  if (!model.networks.contains(requested.network)) {
    return FieldError(absl::StatusCode::kNotFound, Cat(prefix, "network"),
                      Cat("network ", Quoted(requested.network), " not found"));
  }
  // Missing and invisible services get the same answer, so a caller learns nothing about
  // services it may not see.
  const PrivateLinkService* found = FindServiceByReference(model, requested.private_link_service);
  if (found == nullptr || !IsVisibleTo(*found, requested.subscription)) {
    return FieldError(
        absl::StatusCode::kNotFound, Cat(prefix, "privateLinkService"),
        Cat("private link service ", Quoted(requested.private_link_service), " not found"));
  }
  if (const std::string* other =
          EndpointNameWithIp(model, requested.network, requested.ip, requested.name)) {
    return FieldError(kConflict, Cat(prefix, "ip"),
                      Cat(FormatIpv4(requested.ip), " is already used by private endpoint ",
                          Quoted(*other), " in network ", Quoted(requested.network)));
  }
  if (const std::string* owner = NatIpOwner(model, requested.ip)) {
    return FieldError(
        kConflict, Cat(prefix, "ip"),
        Cat(FormatIpv4(requested.ip), " is a NAT IP of private link service ", Quoted(*owner)));
  }
  // On a port with VXLAN networks, their local IPs are the tunnels' (UDP 4789 to one is a
  // tunnel): no endpoint of a network on that port may hold one.
  const std::string& port = model.networks.at(requested.network).port;
  if (const std::string* tunnel = VxlanNetworkWithLocalIp(model, port, requested.ip)) {
    return FieldError(kConflict, Cat(prefix, "ip"),
                      Cat(FormatIpv4(requested.ip), " is the VXLAN local IP of network ",
                          Quoted(*tunnel), " on port ", Quoted(port)));
  }

  // A Disconnected record keeps its endpoint's id until the provider deletes it, so the id's
  // flows are still torn down by the right policy: such ids count as used.
  const std::optional<uint32_t> id =
      AllocateId(model.cursors.endpoint, kEndpointIdLimit,
                 [&](uint32_t id) { return EndpointIdInUse(model, id); });
  if (!id) return FieldError(kConflict, Cat(prefix, "name"), "no endpoint id left");

  const PrivateLinkService& service = *found;
  PrivateEndpoint created = requested;
  created.id = *id;
  created.service_id = service.id;
  // 2^28 LinkIDs before the cursor wraps into the range again (ids are not reused before that).
  model.cursors.link_id = (model.cursors.link_id + 1) & (kRestoredLinkIdBase - 1);
  created.link_id = kFirstLinkId + model.cursors.link_id;
  Connection connection;
  connection.private_endpoint = created.name;
  connection.endpoint_id = created.id;
  connection.link_id = created.link_id;
  connection.subscription = created.subscription;
  connection.request_message = created.request_message;
  connection.status = Contains(service.auto_approval, created.subscription)
                          ? ConnectionStatus::kApproved
                          : ConnectionStatus::kPending;
  // Replaces a Disconnected record left by an earlier endpoint of the same name.
  // (The name is copied: `service` lives in the chunk SetConnection may change in place.)
  SetConnection(model, std::string(service.name), std::move(connection));
  AddEndpoint(model, std::move(created));
  return ChangeKind::kCreated;
}

absl::Status DeleteEndpoint(Model& model, std::string_view name) {
  auto it = model.endpoints.find(name);
  if (it == model.endpoints.end()) {
    return absl::NotFoundError(Cat("private endpoint ", Quoted(name), " not found"));
  }
  const PrivateEndpoint& endpoint = it->second;
  if (const PrivateLinkService* service = FindServiceById(model, endpoint.service_id)) {
    auto connection = service->connections.find(endpoint.name);
    if (connection != service->connections.end() && connection->second.endpoint_id == endpoint.id) {
      ServiceToChange(model, std::string(service->name))
          ->connections.MutableAt(endpoint.name)
          .status = ConnectionStatus::kDisconnected;
    }
  }
  RemoveEndpoint(model, name);
  return absl::OkStatus();
}

absl::StatusOr<ChangeKind> ApproveConnection(Model& model, std::string_view service,
                                             std::string_view endpoint,
                                             std::string_view description) {
  return SetConnectionStatus(model, service, endpoint, ConnectionStatus::kApproved, description,
                             "privateEndpointConnection");
}

absl::StatusOr<ChangeKind> RejectConnection(Model& model, std::string_view service,
                                            std::string_view endpoint,
                                            std::string_view description) {
  return SetConnectionStatus(model, service, endpoint, ConnectionStatus::kRejected, description,
                             "privateEndpointConnection");
}

absl::Status DeleteConnection(Model& model, std::string_view service, std::string_view endpoint) {
  if (!model.services.contains(service)) {
    return absl::NotFoundError(Cat("private link service ", Quoted(service), " not found"));
  }
  if (!RemoveConnection(model, service, endpoint)) {
    return absl::NotFoundError(Cat("private link service ", Quoted(service),
                                   " has no connection from private endpoint ", Quoted(endpoint)));
  }
  return absl::OkStatus();
}

absl::StatusOr<ApplySummary> ApplyDocument(Model& model, const ResourceDocument& document,
                                           const WorkflowContext& context) {
  if (auto s = CheckDuplicateNames(document); !s.ok()) return s;
  ApplySummary summary;
  for (size_t i = 0; i < document.networks.size(); ++i) {
    auto kind = PutNetwork(model, document.networks[i], context, Cat("networks[", i, "]."));
    if (!kind.ok()) return kind.status();
    Count(summary, *kind);
  }
  // Connection requests wait until the endpoints they name exist.
  for (size_t i = 0; i < document.services.size(); ++i) {
    ServiceRequest without_connections{document.services[i].service, {}};
    auto kind =
        PutService(model, without_connections, context, Cat("privateLinkServices[", i, "]."));
    if (!kind.ok()) return kind.status();
    Count(summary, *kind);
  }
  for (size_t i = 0; i < document.endpoints.size(); ++i) {
    auto kind = PutEndpoint(model, document.endpoints[i], Cat("privateEndpoints[", i, "]."));
    if (!kind.ok()) return kind.status();
    Count(summary, *kind);
  }
  for (size_t i = 0; i < document.services.size(); ++i) {
    const ServiceRequest& request = document.services[i];
    for (size_t j = 0; j < request.connections.size(); ++j) {
      const ConnectionRequest& c = request.connections[j];
      auto kind = SetConnectionStatus(
          model, request.service.name, c.private_endpoint, c.status, c.description,
          Cat("privateLinkServices[", i, "].privateEndpointConnections[", j, "]"));
      if (!kind.ok()) return kind.status();
      if (*kind == ChangeKind::kUpdated) ++summary.updated;
    }
  }
  return summary;
}

}  // namespace privlink::control
