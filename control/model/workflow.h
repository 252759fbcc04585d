// The approval workflow and every rule that relates resources to each other.
//
// Each operation changes `model`, which must be a scratch copy: on error the copy is left half
// changed and the caller throws it away (ControlPlane validates a change against a copy, then
// swaps). Status codes carry the HTTP meaning: InvalidArgument = 400, NotFound = 404,
// FailedPrecondition = 409. Messages name the field, prefixed with `prefix`.
//
// Connection states (provider actions on the service's connection, keyed by endpoint name):
//
//   from \ action   approve     reject      delete (provider)    endpoint deleted
//   Pending         Approved    Rejected    removed              Disconnected
//   Approved        Approved    Rejected    removed              Disconnected
//   Rejected        Approved    Rejected    removed              Disconnected
//   Disconnected    409         409         removed              -
//
// Only Approved carries traffic; leaving Approved tears flows down per the service's
// connectionTeardown policy. After the provider removes a connection, the endpoint still exists
// and shows Disconnected. After the endpoint is deleted, the service keeps the connection as
// Disconnected (so the provider sees the consumer left, and the dataplane tears its flows down)
// until the provider deletes it. A service can be deleted only when none of its connections is
// Pending or Approved; Rejected and Disconnected records go with it.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "control/model/model.h"
#include "control/model/uuid.h"

namespace privlink::control {

// How a provider port reaches backends, as the dataplane routes them: the backends inside its
// subnet, and every backend through its gateway. (A static neighbour gives a next hop's MAC
// address; it routes nothing.)
struct ProviderPortReach {
  std::string name;
  std::optional<Ipv4Be> subnet_address;  // with subnet_length: the port's subnet, if any
  uint8_t subnet_length = 0;
  bool has_gateway = false;

  bool Reaches(Ipv4Be backend) const;
};

// The dataplane's flows per NAT IP, asked before a NAT IP is removed from a service (the daemon
// wires it in; without a dataplane there are no flows).
class NatIpFlowCounts {
 public:
  virtual ~NatIpFlowCounts() = default;
  // The live flows of `service` through the NAT IP at dataplane position `slot`
  // (PrivateLinkService::nat_ip_slots), counted once no worker can still create one on it; an
  // error (Unavailable) where that cannot be known now.
  virtual absl::StatusOr<uint64_t> FlowsOnNatIp(ServiceId service, size_t slot) const = 0;
};

struct WorkflowContext {
  std::string region = "local";  // the daemon's region, part of every new alias
  // Consumer port names a network may use; empty = not checked (no dataplane ports configured).
  std::set<std::string, std::less<>> consumer_ports;
  // The provider ports every backend must be reachable through; nullopt = not checked (no
  // dataplane ports configured). Empty: no provider port, so no backend is reachable.
  std::optional<std::vector<ProviderPortReach>> provider_ports;
  UuidGenerator* uuids = nullptr;                 // required for creating services
  const NatIpFlowCounts* nat_ip_flows = nullptr;  // null: no dataplane, so no flows
};

enum class ChangeKind { kCreated, kUpdated, kUnchanged };

// A provider's desired status for one connection, from a PUT body or a config document.
struct ConnectionRequest {
  std::string private_endpoint;
  ConnectionStatus status = ConnectionStatus::kApproved;
  std::string description;
};

struct ServiceRequest {
  PrivateLinkService service;  // read-only fields ignored
  std::vector<ConnectionRequest> connections;
};

// The resources of a config document (or POST /v1/apply body), applied as one change.
struct ResourceDocument {
  std::vector<Network> networks;
  std::vector<ServiceRequest> services;
  std::vector<PrivateEndpoint> endpoints;
};

struct ApplySummary {
  int created = 0;
  int updated = 0;
  int unchanged = 0;
};

absl::StatusOr<ChangeKind> PutNetwork(Model& model, const Network& requested,
                                      const WorkflowContext& context, std::string_view prefix);
absl::Status DeleteNetwork(Model& model, std::string_view name);

// Creates or updates the service, then applies `request.connections`. Every backend must be
// reachable through a provider port of `context.provider_ports` (when given): 400 naming the
// backend and the fields that would reach it.
absl::StatusOr<ChangeKind> PutService(Model& model, const ServiceRequest& request,
                                      const WorkflowContext& context, std::string_view prefix);
absl::Status DeleteService(Model& model, std::string_view name);

// Creating an endpoint creates its connection: Approved if its subscription is in the service's
// autoApproval, Pending if the service is visible to it, NotFound (same message as a missing
// service, revealing nothing) otherwise.
absl::StatusOr<ChangeKind> PutEndpoint(Model& model, const PrivateEndpoint& requested,
                                       std::string_view prefix);
absl::Status DeleteEndpoint(Model& model, std::string_view name);

absl::StatusOr<ChangeKind> ApproveConnection(Model& model, std::string_view service,
                                             std::string_view endpoint,
                                             std::string_view description);
absl::StatusOr<ChangeKind> RejectConnection(Model& model, std::string_view service,
                                            std::string_view endpoint,
                                            std::string_view description);
absl::Status DeleteConnection(Model& model, std::string_view service, std::string_view endpoint);

// The same reach rule for every service of a whole model (restored from the state database).
absl::Status CheckBackendsReachable(const Model& model, const WorkflowContext& context);

// Networks, then services, then endpoints, then the services' connection requests; creates or
// updates what the document lists and leaves everything else alone.
absl::StatusOr<ApplySummary> ApplyDocument(Model& model, const ResourceDocument& document,
                                           const WorkflowContext& context);

}  // namespace privlink::control
