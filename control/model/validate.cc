#include "control/model/validate.h"

#include <algorithm>
#include <set>

#include "control/model/str_cat.h"

namespace privlink::control {
namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool IsNameChar(char c) {
  return IsAlnum(c) || c == '.' || c == '_' || c == '-';
}

std::string Indexed(std::string_view prefix, std::string_view field, size_t index) {
  return Cat(prefix, field, "[", index, "]");
}

// A DNS name: dot-separated labels of letters, digits and '-', each 1..63 long, not starting or
// ending with '-'; a leading "*." wildcard is allowed.
bool IsDnsName(std::string_view name) {
  if (name.empty() || name.size() > kMaxFqdnLength) return false;
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.ends_with('.')) name.remove_suffix(1);  // fully qualified form
  while (true) {
    const size_t dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!IsAlnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    name.remove_prefix(dot + 1);
  }
}

absl::Status ValidateSubscriptionList(std::string_view prefix, std::string_view field,
                                      const std::vector<std::string>& list, bool allow_star) {
  if (list.size() > kMaxSubscriptionsInList) {
    return FieldError(Cat(prefix, field), Cat("at most ", kMaxSubscriptionsInList, " entries"));
  }
  std::set<std::string_view> seen;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item_field = Indexed(prefix, field, i);
    if (list[i] == kVisibleToAll) {
      if (!allow_star) return FieldError(item_field, "'*' is not allowed here");
      if (list.size() != 1) return FieldError(item_field, "'*' must be the only entry");
      continue;
    }
    if (auto status = ValidateSubscription(item_field, list[i]); !status.ok()) return status;
    if (!seen.insert(list[i]).second) {
      return FieldError(item_field, Cat("duplicate subscription '", list[i], "'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status FieldError(std::string_view field, std::string_view message) {
  return FieldError(absl::StatusCode::kInvalidArgument, field, message);
}

absl::Status FieldError(absl::StatusCode code, std::string_view field, std::string_view message) {
  return absl::Status(code, Cat(field, ": ", message));
}

absl::Status ValidateName(std::string_view field, std::string_view name) {
  if (name.empty()) return FieldError(field, "must not be empty");
  if (name.size() > kMaxNameLength) {
    return FieldError(field, Cat("longer than ", kMaxNameLength, " characters"));
  }
  if (!IsAlnum(name.front()) || !std::all_of(name.begin(), name.end(), IsNameChar)) {
    return FieldError(field, Cat("invalid name '", name,
                                 "' (letters, digits, '.', '_', '-'; starting with a letter or "
                                 "digit)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateSubscription(std::string_view field, std::string_view subscription) {
  if (subscription.empty()) return FieldError(field, "must not be empty");
  if (subscription.size() > kMaxSubscriptionLength) {
    return FieldError(field, Cat("longer than ", kMaxSubscriptionLength, " characters"));
  }
  if (!IsAlnum(subscription.front()) ||
      !std::all_of(subscription.begin(), subscription.end(), IsNameChar)) {
    return FieldError(field, Cat("invalid subscription '", subscription, "'"));
  }
  return absl::OkStatus();
}

absl::Status ValidateUnicastIpv4(std::string_view field, Ipv4Be ip) {
  const uint32_t host = Be32ToHost(ip);
  const uint32_t first_octet = host >> 24;
  if (host == 0 || host == 0xffffffffu || first_octet == 127 || (first_octet & 0xf0) == 0xe0) {
    return FieldError(field, Cat("not a unicast address: ", FormatIpv4(ip)));
  }
  return absl::OkStatus();
}

absl::Status ValidateNetwork(const Network& network, std::string_view prefix) {
  if (auto s = ValidateName(Cat(prefix, "name"), network.name); !s.ok()) return s;
  if (auto s = ValidateName(Cat(prefix, "port"), network.port); !s.ok()) return s;
  if (network.vlan > kMaxVlan) {
    return FieldError(Cat(prefix, "vlan"), Cat("must be 0..", kMaxVlan));
  }
  if (network.vxlan) {
    if (network.vlan != 0) return FieldError(Cat(prefix, "vlan"), "a VXLAN network has no VLAN");
    if (network.vxlan->vni < kMinVni || network.vxlan->vni > kMaxVni) {
      return FieldError(Cat(prefix, "vxlan.vni"), Cat("must be ", kMinVni, "..", kMaxVni));
    }
    return ValidateUnicastIpv4(Cat(prefix, "vxlan.localIp"), network.vxlan->local_ip);
  }
  return absl::OkStatus();
}

absl::Status ValidateProbe(const HealthProbe& probe, std::string_view prefix) {
  if (probe.port < kMinPort) return FieldError(Cat(prefix, "port"), Cat("must be 1..", kMaxPort));
  if (probe.protocol == ProbeProtocol::kHttp) {
    if (probe.path.empty() || probe.path[0] != '/') {
      return FieldError(Cat(prefix, "path"), "an http probe needs a path starting with '/'");
    }
    if (probe.path.size() > kMaxProbePathLength) {
      return FieldError(Cat(prefix, "path"), Cat("longer than ", kMaxProbePathLength, " bytes"));
    }
    // It goes into the request line as it is: no spaces, no control characters.
    for (const char c : probe.path) {
      if (c <= ' ' || c > '~') {
        return FieldError(Cat(prefix, "path"), "only printable characters without spaces");
      }
    }
  } else if (!probe.path.empty()) {
    return FieldError(Cat(prefix, "path"), "only an http probe has a path");
  }
  if (probe.interval_seconds < kMinProbeIntervalSeconds ||
      probe.interval_seconds > kMaxProbeIntervalSeconds) {
    return FieldError(Cat(prefix, "intervalSeconds"),
                      Cat("must be ", kMinProbeIntervalSeconds, "..", kMaxProbeIntervalSeconds));
  }
  const std::pair<std::string_view, uint32_t> thresholds[] = {
      {"unhealthyThreshold", probe.unhealthy_threshold},
      {"healthyThreshold", probe.healthy_threshold}};
  for (const auto& [name, value] : thresholds) {
    if (value < kMinProbeThreshold || value > kMaxProbeThreshold) {
      return FieldError(Cat(prefix, name),
                        Cat("must be ", kMinProbeThreshold, "..", kMaxProbeThreshold));
    }
  }
  // A probe still waiting when the next is due would overlap it.
  if (probe.timeout_seconds < 1 || probe.timeout_seconds > probe.interval_seconds) {
    return FieldError(Cat(prefix, "timeoutSeconds"),
                      Cat("must be 1..intervalSeconds (", probe.interval_seconds, ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateService(const PrivateLinkService& service, std::string_view prefix) {
  if (auto s = ValidateName(Cat(prefix, "name"), service.name); !s.ok()) return s;
  if (auto s = ValidateSubscription(Cat(prefix, "subscription"), service.subscription); !s.ok()) {
    return s;
  }

  const auto& rules = service.load_balancing_rules;
  if (rules.empty()) return FieldError(Cat(prefix, "loadBalancingRules"), "at least one rule");
  if (rules.size() > kMaxLoadBalancingRules) {
    return FieldError(Cat(prefix, "loadBalancingRules"),
                      Cat("at most ", kMaxLoadBalancingRules, " rules"));
  }
  std::set<std::pair<uint16_t, RuleProtocol>> frontend_ports;
  for (size_t i = 0; i < rules.size(); ++i) {
    const std::string rule = Indexed(prefix, "loadBalancingRules", i);
    if (rules[i].frontend_port < kMinPort) {
      return FieldError(Cat(rule, ".frontendPort"), "must be 1..65535");
    }
    if (rules[i].backend_port < kMinPort) {
      return FieldError(Cat(rule, ".backendPort"), "must be 1..65535");
    }
    if (!frontend_ports.insert({rules[i].frontend_port, rules[i].protocol}).second) {
      return FieldError(Cat(rule, ".frontendPort"),
                        Cat("duplicate frontend port ", rules[i].frontend_port, "/",
                            RuleProtocolName(rules[i].protocol)));
    }
  }

  if (service.backends.size() > kMaxBackends) {
    return FieldError(Cat(prefix, "backends"), Cat("at most ", kMaxBackends, " backends"));
  }
  std::set<Ipv4Be> backend_ips;
  for (size_t i = 0; i < service.backends.size(); ++i) {
    const std::string backend = Indexed(prefix, "backends", i);
    const Backend& b = service.backends[i];
    if (auto s = ValidateUnicastIpv4(Cat(backend, ".ip"), b.ip); !s.ok()) return s;
    if (!backend_ips.insert(b.ip).second) {
      return FieldError(Cat(backend, ".ip"), Cat("duplicate backend ", FormatIpv4(b.ip)));
    }
    if (b.weight < kMinBackendWeight || b.weight > kMaxBackendWeight) {
      return FieldError(Cat(backend, ".weight"),
                        Cat("must be ", kMinBackendWeight, "..", kMaxBackendWeight));
    }
  }

  if (service.nat_ips.empty()) return FieldError(Cat(prefix, "natIps"), "at least one NAT IP");
  if (service.nat_ips.size() > kMaxNatIps) {
    return FieldError(Cat(prefix, "natIps"), Cat("at most ", kMaxNatIps, " NAT IPs"));
  }
  std::set<Ipv4Be> nat_ips;
  for (size_t i = 0; i < service.nat_ips.size(); ++i) {
    const std::string field = Indexed(prefix, "natIps", i);
    if (auto s = ValidateUnicastIpv4(field, service.nat_ips[i]); !s.ok()) return s;
    if (!nat_ips.insert(service.nat_ips[i]).second) {
      return FieldError(field, Cat("duplicate NAT IP ", FormatIpv4(service.nat_ips[i])));
    }
    if (backend_ips.contains(service.nat_ips[i])) {
      return FieldError(field, Cat(FormatIpv4(service.nat_ips[i]), " is also a backend"));
    }
  }
  std::set<Ipv4Be> draining;
  for (size_t i = 0; i < service.draining_nat_ips.size(); ++i) {
    const std::string field = Indexed(prefix, "drainingNatIps", i);
    const Ipv4Be ip = service.draining_nat_ips[i];
    if (!nat_ips.contains(ip)) {
      return FieldError(field, Cat(FormatIpv4(ip), " is not one of natIps"));
    }
    if (!draining.insert(ip).second) {
      return FieldError(field, Cat("duplicate NAT IP ", FormatIpv4(ip)));
    }
  }
  if (draining.size() == nat_ips.size()) {
    return FieldError(Cat(prefix, "drainingNatIps"),
                      "at least one NAT IP must take new flows (not every NAT IP can drain)");
  }

  if (auto s = ValidateSubscriptionList(prefix, "visibility", service.visibility, true); !s.ok()) {
    return s;
  }
  if (auto s = ValidateSubscriptionList(prefix, "autoApproval", service.auto_approval, false);
      !s.ok()) {
    return s;
  }
  const bool visible_to_all = service.visibility.size() == 1 && service.visibility[0] == "*";
  if (!visible_to_all) {
    for (size_t i = 0; i < service.auto_approval.size(); ++i) {
      const std::string& sub = service.auto_approval[i];
      const bool visible = sub == service.subscription ||
                           std::find(service.visibility.begin(), service.visibility.end(), sub) !=
                               service.visibility.end();
      if (!visible) {
        return FieldError(Indexed(prefix, "autoApproval", i),
                          Cat("subscription '", sub, "' is not in visibility"));
      }
    }
  }

  if (service.fqdns.size() > kMaxFqdns) {
    return FieldError(Cat(prefix, "fqdns"), Cat("at most ", kMaxFqdns, " names"));
  }
  for (size_t i = 0; i < service.fqdns.size(); ++i) {
    if (!IsDnsName(service.fqdns[i])) {
      return FieldError(Indexed(prefix, "fqdns", i),
                        Cat("invalid DNS name '", service.fqdns[i], "'"));
    }
  }

  if (service.idle_timeout_minutes < kMinIdleTimeoutMinutes ||
      service.idle_timeout_minutes > kMaxIdleTimeoutMinutes) {
    return FieldError(Cat(prefix, "idleTimeoutMinutes"),
                      Cat("must be ", kMinIdleTimeoutMinutes, "..", kMaxIdleTimeoutMinutes));
  }
  if (service.udp_idle_timeout_seconds < kMinUdpIdleTimeoutSeconds ||
      service.udp_idle_timeout_seconds > kMaxUdpIdleTimeoutSeconds) {
    return FieldError(Cat(prefix, "udpIdleTimeoutSeconds"),
                      Cat("must be ", kMinUdpIdleTimeoutSeconds, "..", kMaxUdpIdleTimeoutSeconds,
                          " (RFC 4787: at least 2 minutes)"));
  }
  if (service.probe) return ValidateProbe(*service.probe, Cat(prefix, "probe."));
  return absl::OkStatus();
}

absl::Status ValidateEndpoint(const PrivateEndpoint& endpoint, std::string_view prefix) {
  if (auto s = ValidateName(Cat(prefix, "name"), endpoint.name); !s.ok()) return s;
  if (auto s = ValidateSubscription(Cat(prefix, "subscription"), endpoint.subscription); !s.ok()) {
    return s;
  }
  if (auto s = ValidateName(Cat(prefix, "network"), endpoint.network); !s.ok()) return s;
  if (auto s = ValidateUnicastIpv4(Cat(prefix, "ip"), endpoint.ip); !s.ok()) return s;
  if (endpoint.private_link_service.empty()) {
    return FieldError(Cat(prefix, "privateLinkService"), "must not be empty");
  }
  if (endpoint.request_message.size() > kMaxRequestMessageLength) {
    return FieldError(Cat(prefix, "requestMessage"),
                      Cat("longer than ", kMaxRequestMessageLength, " characters"));
  }
  return absl::OkStatus();
}

}  // namespace privlink::control
