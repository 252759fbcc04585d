// The one way the workflow changes what the model's indexes (ModelIndex in model.h) describe:
// each call below changes the maps and the index together, and a lookup first rebuilds an index
// that no longer describes its maps. So a change to one endpoint validates in O(log n) against
// every other endpoint and service instead of scanning them.
#pragma once

#include <string>
#include <string_view>

#include "control/model/model.h"

namespace privlink::control {

// Builds the index now if it does not describe the maps (after a restore), so that the first
// change does not pay for it.
void RefreshIndex(Model& model);

// Lookups.
// The endpoint holding `ip` in `network` (other than `except`), if any.
const std::string* EndpointNameWithIp(Model& model, std::string_view network, Ipv4Be ip,
                                      std::string_view except);
// The network on `port` and `vlan`, if any (VXLAN networks are on no VLAN).
const std::string* NetworkOnSlot(Model& model, std::string_view port, uint16_t vlan);
// The VXLAN network on `port` and `vni`, if any.
const std::string* VxlanNetworkOnSlot(Model& model, std::string_view port, uint32_t vni);
// A VXLAN network on `port` whose local IP is `ip`, if any.
const std::string* VxlanNetworkWithLocalIp(Model& model, std::string_view port, Ipv4Be ip);
// A VXLAN network other than `except` whose local IP is `ip` on a port other than `port`, if any.
const std::string* VxlanLocalIpOnOtherPort(Model& model, Ipv4Be ip, std::string_view port,
                                           std::string_view except);
bool NetworkIdInUse(Model& model, NetworkId id);
// Some endpoint holding `ip` in any network, if any.
const std::string* AnyEndpointWithIp(Model& model, Ipv4Be ip);
// The service whose NAT IP `ip` is, if any.
const std::string* NatIpOwner(Model& model, Ipv4Be ip);
bool EndpointIdInUse(Model& model, EndpointId id);

// Changes.
// Inserts or replaces the network.
void SetNetwork(Model& model, Network network);
void RemoveNetwork(Model& model, std::string_view name);
void AddEndpoint(Model& model, PrivateEndpoint endpoint);
void RemoveEndpoint(Model& model, std::string_view name);
// Inserts or replaces the service (its connections included).
void SetService(Model& model, PrivateLinkService service);
void RemoveService(Model& model, std::string_view name);
// Inserts or replaces the connection record `connection.private_endpoint` of `service`.
void SetConnection(Model& model, std::string_view service, Connection connection);
bool RemoveConnection(Model& model, std::string_view service, std::string_view endpoint);
// A service to change in place in ways the index does not describe (connection status and
// messages, backends, rules; not its NAT IPs nor which connections it holds); nullptr if none.
PrivateLinkService* ServiceToChange(Model& model, std::string_view name);

}  // namespace privlink::control
