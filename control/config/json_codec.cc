#include "control/config/json_codec.h"

#include "control/config/json_reader.h"
#include "control/model/str_cat.h"
#include "control/model/validate.h"

namespace privlink::control {
namespace {

using nlohmann::json;

constexpr int kStateVersion = 1;

template <typename T>
absl::StatusOr<T> Finish(JsonObjectReader& reader, T value) {
  if (auto status = reader.Finish(); !status.ok()) return status;
  return value;
}

// Reads an enum spelled by name: `parse` returns nullopt for unknown names.
template <typename Enum, typename Parse>
Enum EnumField(JsonObjectReader& r, std::string_view key, Enum fallback, std::string_view allowed,
               Parse parse) {
  if (!r.Has(key)) {
    r.Ignore(key);
    return fallback;
  }
  const std::string text = r.String(key);
  if (!r.ok()) return fallback;
  const auto value = parse(text);
  if (!value) {
    r.Fail(key, Cat("must be one of ", allowed, ", not '", text, "'"));
    return fallback;
  }
  return *value;
}

Connection ReadConnectionState(JsonObjectReader& r) {
  Connection c;
  c.private_endpoint = r.String("privateEndpoint");
  c.endpoint_id = static_cast<EndpointId>(r.Integer("privateEndpointId", 1, kEndpointIdLimit - 1));
  c.subscription = r.String("subscription");
  c.request_message = r.String("requestMessage", "");
  c.description = r.String("description", "");
  c.status = EnumField(r, "status", ConnectionStatus::kPending,
                       "Pending, Approved, Rejected, Disconnected", ParseConnectionStatus);
  c.link_id = static_cast<uint32_t>(
      r.Integer("linkIdentifier", 1, UINT32_MAX, int64_t{kRestoredLinkIdBase} + c.endpoint_id));
  r.Ignore("name");
  return c;
}

// Ranges beyond the field's type are refused here; the model's own limits by ValidateProbe.
HealthProbe ReadProbe(JsonObjectReader& r) {
  HealthProbe p;
  p.protocol = EnumField(r, "protocol", ProbeProtocol::kTcp, "tcp, http", ParseProbeProtocol);
  p.port = static_cast<uint16_t>(r.Integer("port", kMinPort, kMaxPort));
  p.path = r.String("path", "");
  p.interval_seconds =
      static_cast<uint32_t>(r.Integer("intervalSeconds", kMinProbeIntervalSeconds,
                                      kMaxProbeIntervalSeconds, kDefaultProbeIntervalSeconds));
  p.unhealthy_threshold = static_cast<uint32_t>(r.Integer(
      "unhealthyThreshold", kMinProbeThreshold, kMaxProbeThreshold, kDefaultProbeThreshold));
  p.healthy_threshold = static_cast<uint32_t>(r.Integer(
      "healthyThreshold", kMinProbeThreshold, kMaxProbeThreshold, kDefaultProbeThreshold));
  p.timeout_seconds = static_cast<uint32_t>(r.Integer(
      "timeoutSeconds", kMinProbeIntervalSeconds, kMaxProbeIntervalSeconds, p.interval_seconds));
  p.on_down = EnumField(r, "onDown", ProbeDownAction::kKeep, "keep, reset", ParseProbeDownAction);
  return p;
}

// Ranges beyond the field's type are refused here; the address by ValidateNetwork.
VxlanNetwork ReadVxlan(JsonObjectReader& r) {
  VxlanNetwork v;
  v.vni = static_cast<uint32_t>(r.Integer("vni", kMinVni, kMaxVni));
  v.local_ip = r.Ipv4("localIp");
  return v;
}

json EncodeVxlan(const VxlanNetwork& v) {
  return json{{"vni", v.vni}, {"localIp", FormatIpv4(v.local_ip)}};
}

json EncodeProbe(const HealthProbe& p) {
  json out{{"protocol", std::string(ProbeProtocolName(p.protocol))}, {"port", p.port}};
  if (p.protocol == ProbeProtocol::kHttp) out["path"] = p.path;
  out["intervalSeconds"] = p.interval_seconds;
  out["unhealthyThreshold"] = p.unhealthy_threshold;
  out["healthyThreshold"] = p.healthy_threshold;
  out["timeoutSeconds"] = p.timeout_seconds;
  out["onDown"] = std::string(ProbeDownActionName(p.on_down));
  return out;
}

ConnectionRequest ReadConnectionRequest(JsonObjectReader& r) {
  ConnectionRequest c;
  c.private_endpoint = r.String("privateEndpoint");
  c.status = EnumField(r, "status", ConnectionStatus::kApproved,
                       "Pending, Approved, Rejected, Disconnected", ParseConnectionStatus);
  c.description = r.String("description", "");
  for (const char* read_only :
       {"name", "privateEndpointId", "subscription", "requestMessage", "linkIdentifier"}) {
    r.Ignore(read_only);
  }
  return c;
}

json Ipv4Array(const std::vector<Ipv4Be>& ips) {
  json out = json::array();
  for (Ipv4Be ip : ips) out.push_back(FormatIpv4(ip));
  return out;
}

}  // namespace

absl::StatusOr<Network> DecodeNetwork(const json& value, std::string_view prefix, DecodeMode mode) {
  JsonObjectReader r(value, std::string(prefix));
  Network n;
  n.name = r.String("name", "");
  n.port = r.String("port");
  n.vlan = static_cast<uint16_t>(r.Integer("vlan", 0, kMaxVlan, 0));
  r.Object("vxlan", [&](JsonObjectReader& vxlan) { n.vxlan = ReadVxlan(vxlan); });
  if (mode == DecodeMode::kState) {
    n.id = static_cast<NetworkId>(r.Integer("id", 1, kNetworkIdLimit - 1));
  } else {
    r.Ignore("id");
  }
  return Finish(r, std::move(n));
}

absl::StatusOr<ServiceRequest> DecodeService(const json& value, std::string_view prefix,
                                             DecodeMode mode) {
  JsonObjectReader r(value, std::string(prefix));
  ServiceRequest request;
  PrivateLinkService& s = request.service;
  s.name = r.String("name", "");
  s.subscription = r.String("subscription");
  r.ObjectList(
      "loadBalancingRules",
      [&](JsonObjectReader& rule) {
        LoadBalancingRule out;
        out.frontend_port = static_cast<uint16_t>(rule.Integer("frontendPort", kMinPort, kMaxPort));
        out.backend_port = static_cast<uint16_t>(rule.Integer("backendPort", kMinPort, kMaxPort));
        out.protocol =
            EnumField(rule, "protocol", RuleProtocol::kTcp, "tcp, udp", ParseRuleProtocol);
        s.load_balancing_rules.push_back(out);
      },
      /*required=*/true);
  r.ObjectList("backends", [&](JsonObjectReader& backend) {
    Backend out;
    out.ip = backend.Ipv4("ip");
    out.weight =
        static_cast<uint32_t>(backend.Integer("weight", kMinBackendWeight, kMaxBackendWeight, 1));
    out.state =
        EnumField(backend, "state", BackendState::kActive, "active, draining", ParseBackendState);
    s.backends.push_back(out);
  });
  if (!r.Has("natIps")) r.Fail("natIps", "required field is missing");
  s.nat_ips = r.Ipv4List("natIps");
  s.draining_nat_ips = r.Ipv4List("drainingNatIps");
  s.visibility = r.StringList("visibility");
  s.auto_approval = r.StringList("autoApproval");
  s.fqdns = r.StringList("fqdns");
  s.idle_timeout_minutes =
      static_cast<uint32_t>(r.Integer("idleTimeoutMinutes", kMinIdleTimeoutMinutes,
                                      kMaxIdleTimeoutMinutes, kDefaultIdleTimeoutMinutes));
  s.udp_idle_timeout_seconds =
      static_cast<uint32_t>(r.Integer("udpIdleTimeoutSeconds", kMinUdpIdleTimeoutSeconds,
                                      kMaxUdpIdleTimeoutSeconds, kDefaultUdpIdleTimeoutSeconds));
  s.connection_teardown = EnumField(r, "connectionTeardown", TeardownPolicy::kReset, "reset, drain",
                                    ParseTeardownPolicy);
  s.enable_tcp_reset = r.Boolean("enableTcpReset", false);
  s.enable_proxy_protocol = r.Boolean("enableProxyProtocol", false);
  r.Object("probe", [&](JsonObjectReader& probe) { s.probe = ReadProbe(probe); });
  if (mode == DecodeMode::kState) {
    s.id = static_cast<ServiceId>(r.Integer("id", 1, kServiceIdLimit - 1));
    s.alias = r.String("alias");
    s.provisioning_state = r.String("provisioningState");
    r.ObjectList("privateEndpointConnections", [&](JsonObjectReader& c) {
      Connection connection = ReadConnectionState(c);
      if (c.ok() && !s.connections.emplace(connection.private_endpoint, connection)) {
        c.Fail("privateEndpoint", "duplicate connection");
      }
    });
  } else {
    for (const char* read_only : {"id", "alias", "provisioningState", "backendHealth"}) {
      r.Ignore(read_only);
    }
    r.ObjectList("privateEndpointConnections", [&](JsonObjectReader& c) {
      request.connections.push_back(ReadConnectionRequest(c));
    });
  }
  return Finish(r, std::move(request));
}

absl::StatusOr<PrivateEndpoint> DecodeEndpoint(const json& value, std::string_view prefix,
                                               DecodeMode mode) {
  JsonObjectReader r(value, std::string(prefix));
  PrivateEndpoint e;
  e.name = r.String("name", "");
  e.subscription = r.String("subscription");
  e.network = r.String("network");
  e.ip = r.Ipv4("ip");
  e.private_link_service = r.String("privateLinkService");
  e.request_message = r.String("requestMessage", "");
  r.Ignore("connectionStatus");  // derived from the service's record
  if (mode == DecodeMode::kState) {
    e.id = static_cast<EndpointId>(r.Integer("id", 1, kEndpointIdLimit - 1));
    e.service_id =
        static_cast<ServiceId>(r.Integer("privateLinkServiceId", 1, kServiceIdLimit - 1));
    e.link_id = static_cast<uint32_t>(
        r.Integer("linkIdentifier", 1, UINT32_MAX, int64_t{kRestoredLinkIdBase} + e.id));
  } else {
    r.Ignore("id");
    r.Ignore("privateLinkServiceId");
    r.Ignore("linkIdentifier");
  }
  return Finish(r, std::move(e));
}

absl::StatusOr<std::string> DecodeConnectionActionDescription(const json& value) {
  if (value.is_null()) return std::string();
  JsonObjectReader r(value, "");
  std::string description = r.String("description", "");
  return Finish(r, std::move(description));
}

absl::StatusOr<ResourceDocument> DecodeResourceDocument(const json& document) {
  JsonObjectReader r(document, "");
  r.Ignore("dataplane");  // the daemon's own section; see dataplane_config.h
  ResourceDocument out;
  absl::Status first_error;
  auto keep_first = [&](const absl::Status& s) {
    if (first_error.ok()) first_error = s;
  };
  // The element readers only check that each element is an object; the codec reads its fields.
  auto each = [&](std::string_view key, auto decode) {
    if (!r.Has(key)) {
      r.Ignore(key);
      return;
    }
    const json& list = document.at(std::string(key));
    r.Ignore(key);
    if (!list.is_array()) {
      keep_first(FieldError(key, "must be an array of objects"));
      return;
    }
    for (size_t i = 0; i < list.size() && first_error.ok(); ++i) {
      decode(list[i], Cat(key, "[", i, "]."));
    }
  };
  each("networks", [&](const json& v, const std::string& prefix) {
    auto n = DecodeNetwork(v, prefix, DecodeMode::kRequest);
    n.ok() ? out.networks.push_back(*n) : keep_first(n.status());
  });
  each("privateLinkServices", [&](const json& v, const std::string& prefix) {
    auto s = DecodeService(v, prefix, DecodeMode::kRequest);
    s.ok() ? out.services.push_back(*s) : keep_first(s.status());
  });
  each("privateEndpoints", [&](const json& v, const std::string& prefix) {
    auto e = DecodeEndpoint(v, prefix, DecodeMode::kRequest);
    e.ok() ? out.endpoints.push_back(*e) : keep_first(e.status());
  });
  if (auto s = r.Finish(); !s.ok()) return s;
  if (!first_error.ok()) return first_error;
  return out;
}

json EncodeNetwork(const Network& network) {
  json out{{"name", network.name}, {"port", network.port}, {"vlan", network.vlan}};
  if (network.vxlan) out["vxlan"] = EncodeVxlan(*network.vxlan);
  out["id"] = network.id;
  return out;
}

json EncodeConnection(const Connection& c) {
  return json{{"name", c.private_endpoint},
              {"privateEndpoint", c.private_endpoint},
              {"privateEndpointId", c.endpoint_id},
              {"subscription", c.subscription},
              {"requestMessage", c.request_message},
              {"description", c.description},
              {"status", std::string(ConnectionStatusName(c.status))},
              {"linkIdentifier", c.link_id}};
}

json EncodeService(const PrivateLinkService& s) {
  json rules = json::array();
  for (const auto& rule : s.load_balancing_rules) {
    rules.push_back({{"frontendPort", rule.frontend_port},
                     {"backendPort", rule.backend_port},
                     {"protocol", std::string(RuleProtocolName(rule.protocol))}});
  }
  json backends = json::array();
  for (const auto& b : s.backends) {
    backends.push_back({{"ip", FormatIpv4(b.ip)},
                        {"weight", b.weight},
                        {"state", std::string(BackendStateName(b.state))}});
  }
  json connections = json::array();
  for (const auto& [name, connection] : s.connections) {
    connections.push_back(EncodeConnection(connection));
  }
  json out{{"name", s.name},
           {"subscription", s.subscription},
           {"loadBalancingRules", std::move(rules)},
           {"backends", std::move(backends)},
           {"natIps", Ipv4Array(s.nat_ips)},
           {"drainingNatIps", Ipv4Array(s.draining_nat_ips)},
           {"visibility", s.visibility},
           {"autoApproval", s.auto_approval},
           {"fqdns", s.fqdns},
           {"idleTimeoutMinutes", s.idle_timeout_minutes},
           {"udpIdleTimeoutSeconds", s.udp_idle_timeout_seconds},
           {"connectionTeardown", std::string(TeardownPolicyName(s.connection_teardown))},
           {"enableTcpReset", s.enable_tcp_reset},
           {"enableProxyProtocol", s.enable_proxy_protocol}};
  if (s.probe) out["probe"] = EncodeProbe(*s.probe);
  out["id"] = s.id;
  out["alias"] = s.alias;
  out["provisioningState"] = s.provisioning_state;
  out["privateEndpointConnections"] = std::move(connections);
  return out;
}

json EncodeEndpoint(const Model& model, const PrivateEndpoint& e) {
  return json{
      {"name", e.name},
      {"subscription", e.subscription},
      {"network", e.network},
      {"ip", FormatIpv4(e.ip)},
      {"privateLinkService", e.private_link_service},
      {"requestMessage", e.request_message},
      {"id", e.id},
      {"privateLinkServiceId", e.service_id},
      {"linkIdentifier", e.link_id},
      {"connectionStatus", std::string(ConnectionStatusName(EndpointConnectionStatus(model, e)))}};
}

json EncodeResources(const Model& model) {
  json networks = json::array();
  for (const auto& [name, network] : model.networks) networks.push_back(EncodeNetwork(network));
  json services = json::array();
  for (const auto& [name, service] : model.services) services.push_back(EncodeService(service));
  json endpoints = json::array();
  for (const auto& [name, endpoint] : model.endpoints) {
    endpoints.push_back(EncodeEndpoint(model, endpoint));
  }
  return json{{"networks", std::move(networks)},
              {"privateLinkServices", std::move(services)},
              {"privateEndpoints", std::move(endpoints)}};
}

json EncodeState(const Model& model) {
  json state = EncodeResources(model);
  state["version"] = kStateVersion;
  state["idCursors"] = {{"network", model.cursors.network},
                        {"service", model.cursors.service},
                        {"endpoint", model.cursors.endpoint},
                        {"linkId", model.cursors.link_id}};
  return state;
}

absl::StatusOr<Model> DecodeState(const json& state) {
  JsonObjectReader r(state, "");
  Model model;
  r.Integer("version", kStateVersion, kStateVersion);  // a future format must be converted
  r.Object(
      "idCursors",
      [&](JsonObjectReader& c) {
        model.cursors.network = static_cast<uint32_t>(c.Integer("network", 0, kNetworkIdLimit));
        model.cursors.service = static_cast<uint32_t>(c.Integer("service", 0, kServiceIdLimit));
        model.cursors.endpoint = static_cast<uint32_t>(c.Integer("endpoint", 0, kEndpointIdLimit));
        model.cursors.link_id =
            static_cast<uint32_t>(c.Integer("linkId", 0, kRestoredLinkIdBase - 1, 0));
      },
      /*required=*/true);
  // Each list element is decoded by the codec in kState mode, then checked like a request.
  auto read = [&](std::string_view key, auto on_element) -> absl::Status {
    if (!state.is_object() || !state.contains(key)) {
      return FieldError(key, "required field is missing");
    }
    const json& list = state.at(std::string(key));
    if (!list.is_array()) return FieldError(key, "must be an array of objects");
    for (size_t i = 0; i < list.size(); ++i) {
      if (auto s = on_element(list[i], Cat(key, "[", i, "].")); !s.ok()) return s;
    }
    return absl::OkStatus();
  };
  r.Ignore("networks");
  r.Ignore("privateLinkServices");
  r.Ignore("privateEndpoints");
  if (auto s = r.Finish(); !s.ok()) return s;

  auto status = read("networks", [&](const json& v, const std::string& prefix) -> absl::Status {
    auto n = DecodeNetwork(v, prefix, DecodeMode::kState);
    if (!n.ok()) return n.status();
    if (!model.networks.emplace(n->name, *n)) {
      return FieldError(Cat(prefix, "name"), "duplicate name");
    }
    return ValidateNetwork(*n, prefix);
  });
  if (!status.ok()) return status;
  status = read("privateLinkServices", [&](const json& v, const std::string& prefix) {
    auto s = DecodeService(v, prefix, DecodeMode::kState);
    if (!s.ok()) return s.status();
    if (!model.services.emplace(s->service.name, s->service)) {
      return FieldError(Cat(prefix, "name"), "duplicate name");
    }
    return ValidateService(s->service, prefix);
  });
  if (!status.ok()) return status;
  status = read("privateEndpoints", [&](const json& v, const std::string& prefix) {
    auto e = DecodeEndpoint(v, prefix, DecodeMode::kState);
    if (!e.ok()) return e.status();
    if (!model.endpoints.emplace(e->name, *e)) {
      return FieldError(Cat(prefix, "name"), "duplicate name");
    }
    return ValidateEndpoint(*e, prefix);
  });
  if (!status.ok()) return status;
  return model;
}

}  // namespace privlink::control
