#include "control/model/model.h"

#include <array>
#include <utility>

namespace privlink::control {
namespace {

template <typename Enum, size_t N>
std::optional<Enum> ParseByName(const std::array<std::pair<Enum, std::string_view>, N>& names,
                                std::string_view text) {
  for (const auto& [value, name] : names) {
    if (name == text) return value;
  }
  return std::nullopt;
}

template <typename Enum, size_t N>
std::string_view NameOf(const std::array<std::pair<Enum, std::string_view>, N>& names, Enum value) {
  for (const auto& [v, name] : names) {
    if (v == value) return name;
  }
  return "?";
}

constexpr std::array<std::pair<TeardownPolicy, std::string_view>, 2> kTeardownNames = {{
    {TeardownPolicy::kReset, "reset"},
    {TeardownPolicy::kDrain, "drain"},
}};
constexpr std::array<std::pair<BackendState, std::string_view>, 2> kBackendStateNames = {{
    {BackendState::kActive, "active"},
    {BackendState::kDraining, "draining"},
}};
constexpr std::array<std::pair<RuleProtocol, std::string_view>, 2> kRuleProtocolNames = {{
    {RuleProtocol::kTcp, "tcp"},
    {RuleProtocol::kUdp, "udp"},
}};
constexpr std::array<std::pair<ProbeProtocol, std::string_view>, 2> kProbeProtocolNames = {{
    {ProbeProtocol::kTcp, "tcp"},
    {ProbeProtocol::kHttp, "http"},
}};
constexpr std::array<std::pair<ProbeDownAction, std::string_view>, 2> kProbeDownNames = {{
    {ProbeDownAction::kKeep, "keep"},
    {ProbeDownAction::kReset, "reset"},
}};
constexpr std::array<std::pair<ConnectionStatus, std::string_view>, 4> kStatusNames = {{
    {ConnectionStatus::kPending, "Pending"},
    {ConnectionStatus::kApproved, "Approved"},
    {ConnectionStatus::kRejected, "Rejected"},
    {ConnectionStatus::kDisconnected, "Disconnected"},
}};

}  // namespace

std::string_view TeardownPolicyName(TeardownPolicy policy) {
  return NameOf(kTeardownNames, policy);
}
std::optional<TeardownPolicy> ParseTeardownPolicy(std::string_view text) {
  return ParseByName(kTeardownNames, text);
}
std::string_view RuleProtocolName(RuleProtocol protocol) {
  return NameOf(kRuleProtocolNames, protocol);
}
std::optional<RuleProtocol> ParseRuleProtocol(std::string_view text) {
  return ParseByName(kRuleProtocolNames, text);
}
std::string_view ProbeProtocolName(ProbeProtocol protocol) {
  return NameOf(kProbeProtocolNames, protocol);
}
std::optional<ProbeProtocol> ParseProbeProtocol(std::string_view text) {
  return ParseByName(kProbeProtocolNames, text);
}
std::string_view ProbeDownActionName(ProbeDownAction action) {
  return NameOf(kProbeDownNames, action);
}
std::optional<ProbeDownAction> ParseProbeDownAction(std::string_view text) {
  return ParseByName(kProbeDownNames, text);
}
std::string_view BackendStateName(BackendState state) {
  return NameOf(kBackendStateNames, state);
}
std::optional<BackendState> ParseBackendState(std::string_view text) {
  return ParseByName(kBackendStateNames, text);
}
std::string_view ConnectionStatusName(ConnectionStatus status) {
  return NameOf(kStatusNames, status);
}
std::optional<ConnectionStatus> ParseConnectionStatus(std::string_view text) {
  return ParseByName(kStatusNames, text);
}

const PrivateLinkService* FindServiceById(const Model& model, ServiceId id) {
  if (id == kNoService) return nullptr;
  for (const auto& [name, service] : model.services) {
    if (service.id == id) return &service;
  }
  return nullptr;
}

const PrivateLinkService* FindServiceByReference(const Model& model, std::string_view reference) {
  for (const auto& [name, service] : model.services) {
    if (service.alias == reference) return &service;
  }
  auto it = model.services.find(std::string(reference));
  return it == model.services.end() ? nullptr : &it->second;
}

ConnectionStatus EndpointConnectionStatus(const Model& model, const PrivateEndpoint& endpoint) {
  const PrivateLinkService* service = FindServiceById(model, endpoint.service_id);
  if (service == nullptr) return ConnectionStatus::kDisconnected;
  auto it = service->connections.find(endpoint.name);
  if (it == service->connections.end() || it->second.endpoint_id != endpoint.id) {
    return ConnectionStatus::kDisconnected;
  }
  return it->second.status;
}

}  // namespace privlink::control
