#include "control/config/dataplane_config.h"

#include <cstdio>
#include <set>

#include "control/config/json_reader.h"
#include "control/model/str_cat.h"
#include "control/model/validate.h"

namespace privlink::control {
namespace {

using nlohmann::json;

bool IsPrime(uint32_t n) {
  if (n < 2) return false;
  for (uint32_t d = 2; static_cast<uint64_t>(d) * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

std::string FormatMacText(const std::array<uint8_t, 6>& mac) {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return text;
}

PortConfig ReadPort(JsonObjectReader& r) {
  PortConfig port;
  port.name = r.String("name");
  const std::string role = r.String("role");
  if (r.ok()) {
    if (role == "consumer") {
      port.role = PortRole::kConsumer;
    } else if (role == "provider") {
      port.role = PortRole::kProvider;
    } else {
      r.Fail("role", Cat("must be consumer or provider, not '", role, "'"));
    }
  }
  port.device = r.String("device");
  port.gateway = r.NullableIpv4("gateway");
  if (r.Has("subnet")) {
    const std::string text = r.String("subnet");
    if (r.ok()) {
      auto prefix = ParseIpv4Prefix(text);
      prefix.ok() ? void(port.subnet = *prefix)
                  : r.Fail("subnet", ToStd(prefix.status().message()));
    }
  }
  if (r.Has("mac")) {
    const std::string text = r.String("mac");
    if (r.ok()) {
      auto mac = ParseMac(text);
      mac.ok() ? void(port.mac = *mac) : r.Fail("mac", ToStd(mac.status().message()));
    }
  }
  port.mss_clamp = static_cast<uint16_t>(r.Integer("mssClamp", kMinMssClamp, kMaxMssClamp, 0));
  r.ObjectList("staticNeighbors", [&](JsonObjectReader& n) {
    StaticNeighborConfig neighbor;
    neighbor.ip = n.Ipv4("ip");
    const std::string text = n.String("mac");
    if (n.ok()) {
      auto mac = ParseMac(text);
      mac.ok() ? void(neighbor.mac = *mac) : n.Fail("mac", ToStd(mac.status().message()));
    }
    port.static_neighbors.push_back(neighbor);
  });
  if (r.ok() && port.role == PortRole::kConsumer &&
      (port.gateway || port.subnet || !port.static_neighbors.empty())) {
    r.Fail(port.gateway  ? "gateway"
           : port.subnet ? "subnet"
                         : "staticNeighbors",
           "only provider ports have one");
  }
  return port;
}

}  // namespace

std::string FormatMac(const std::array<uint8_t, 6>& mac) {
  return FormatMacText(mac);
}

absl::StatusOr<Ipv4Prefix> ParseIpv4Prefix(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return absl::InvalidArgumentError(Cat("invalid prefix '", text, "' (want a.b.c.d/len)"));
  }
  auto address = ParseIpv4(text.substr(0, slash));
  if (!address.ok()) return address.status();
  const std::string_view length = text.substr(slash + 1);
  if (length.empty() || length.size() > 2 ||
      length.find_first_not_of("0123456789") != std::string_view::npos ||
      std::stoi(std::string(length)) > 32) {
    return absl::InvalidArgumentError(Cat("invalid prefix length in '", text, "'"));
  }
  return Ipv4Prefix{*address, static_cast<uint8_t>(std::stoi(std::string(length)))};
}

absl::StatusOr<std::array<uint8_t, 6>> ParseMac(std::string_view text) {
  std::array<uint8_t, 6> mac{};
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  bool ok = text.size() == 17;
  for (size_t i = 0; ok && i < 6; ++i) {
    const int high = hex(text[i * 3]);
    const int low = hex(text[i * 3 + 1]);
    ok = high >= 0 && low >= 0 && (i == 5 || text[i * 3 + 2] == ':');
    mac[i] = static_cast<uint8_t>(high * 16 + low);
  }
  if (!ok) return absl::InvalidArgumentError(Cat("invalid MAC address '", text, "'"));
  return mac;
}

absl::StatusOr<DataplaneConfig> DecodeDataplaneConfig(const json& document) {
  DataplaneConfig config;
  if (!document.is_object() || !document.contains("dataplane")) return config;
  JsonObjectReader r(document.at("dataplane"), "dataplane.");
  config.region = r.String("region", config.region);
  config.workers = static_cast<uint32_t>(r.Integer("workers", 1, kMaxWorkers, kDefaultWorkers));
  config.flow_table_size = static_cast<uint32_t>(
      r.Integer("flowTableSize", kMinFlowTableSize, kMaxFlowTableSize, kDefaultFlowTableSize));
  r.Object("api", [&](JsonObjectReader& api) {
    config.api_listen = api.String("listen", config.api_listen);
    config.api_allow_remote = api.Boolean("allowRemote", false);
    config.api_token_file = api.String("tokenFile", "");
  });
  config.state_dir = r.String("stateDir", "");
  config.nat_port_quarantine_seconds =
      static_cast<uint32_t>(r.Integer("natPortQuarantineSeconds", 0, kMaxNatPortQuarantineSeconds,
                                      kDefaultNatPortQuarantineSeconds));
  config.maglev_table_size = static_cast<uint32_t>(
      r.Integer("maglevTableSize", 1, kMaxMaglevTableSize, kDefaultMaglevTableSize));
  config.extra_mbufs = static_cast<uint32_t>(r.Integer("extraMbufs", 0, kMaxExtraMbufs, 0));
  if (const std::string verify = r.String("verifyTcpChecksum", "stateChanging"); verify == "all") {
    config.verify_tcp_checksum = TcpChecksumVerification::kAll;
  } else if (verify != "stateChanging") {
    r.Fail("verifyTcpChecksum", Cat("must be stateChanging or all, not '", verify, "'"));
  }
  if (const std::string steering = r.String("flowSteering", ""); steering == "rss-port-choice") {
    config.flow_steering = FlowSteering::kRssPortChoice;
  } else if (steering == "shared") {
    config.flow_steering = FlowSteering::kShared;
  } else if (!steering.empty()) {
    r.Fail("flowSteering", Cat("must be rss-port-choice or shared, not '", steering, "'"));
  }
  r.ObjectList("ports", [&](JsonObjectReader& port) { config.ports.push_back(ReadPort(port)); });
  if (auto status = r.Finish(); !status.ok()) return status;

  if (auto s = ValidateName("dataplane.region", config.region); !s.ok()) return s;
  if (!IsPrime(config.maglev_table_size)) {
    return FieldError("dataplane.maglevTableSize",
                      Cat(config.maglev_table_size, " is not a prime number"));
  }
  std::set<std::string> names;
  for (size_t i = 0; i < config.ports.size(); ++i) {
    const std::string field = Cat("dataplane.ports[", i, "]");
    if (auto s = ValidateName(Cat(field, ".name"), config.ports[i].name); !s.ok()) return s;
    if (!names.insert(config.ports[i].name).second) {
      return FieldError(Cat(field, ".name"), Cat("duplicate port '", config.ports[i].name, "'"));
    }
    if (config.ports[i].device.empty()) {
      return FieldError(Cat(field, ".device"), "must not be empty");
    }
  }
  return config;
}

json EncodeDataplaneConfig(const DataplaneConfig& config) {
  json ports = json::array();
  for (const PortConfig& port : config.ports) {
    json p = {{"name", port.name},
              {"role", port.role == PortRole::kConsumer ? "consumer" : "provider"},
              {"device", port.device}};
    if (port.role == PortRole::kProvider) {
      p["gateway"] = port.gateway ? json(FormatIpv4(*port.gateway)) : json(nullptr);
    }
    if (port.subnet) {
      p["subnet"] = Cat(FormatIpv4(port.subnet->address), "/", port.subnet->length);
    }
    if (port.mac) p["mac"] = FormatMac(*port.mac);
    if (port.mss_clamp != 0) p["mssClamp"] = port.mss_clamp;
    if (!port.static_neighbors.empty()) {
      json neighbors = json::array();
      for (const StaticNeighborConfig& n : port.static_neighbors) {
        neighbors.push_back({{"ip", FormatIpv4(n.ip)}, {"mac", FormatMac(n.mac)}});
      }
      p["staticNeighbors"] = std::move(neighbors);
    }
    ports.push_back(std::move(p));
  }
  json out{{"region", config.region},
           {"workers", config.workers},
           {"flowTableSize", config.flow_table_size},
           {"api",
            {{"listen", config.api_listen},
             {"allowRemote", config.api_allow_remote},
             {"tokenFile", config.api_token_file}}},
           {"stateDir", config.state_dir},
           {"ports", std::move(ports)},
           {"natPortQuarantineSeconds", config.nat_port_quarantine_seconds},
           {"maglevTableSize", config.maglev_table_size},
           {"extraMbufs", config.extra_mbufs},
           {"verifyTcpChecksum",
            config.verify_tcp_checksum == TcpChecksumVerification::kAll ? "all" : "stateChanging"}};
  if (config.flow_steering != FlowSteering::kAuto) {
    out["flowSteering"] = FlowSteeringName(config.flow_steering);
  }
  return out;
}

std::string_view FlowSteeringName(FlowSteering steering) {
  switch (steering) {
    case FlowSteering::kRssPortChoice:
      return "rss-port-choice";
    case FlowSteering::kShared:
      return "shared";
    case FlowSteering::kAuto:
      break;
  }
  return "auto";
}

std::vector<std::string> ConsumerPortNames(const DataplaneConfig& config) {
  std::vector<std::string> names;
  for (const PortConfig& port : config.ports) {
    if (port.role == PortRole::kConsumer) names.push_back(port.name);
  }
  return names;
}

std::optional<std::vector<ProviderPortReach>> ProviderPortReaches(const DataplaneConfig& config) {
  if (config.ports.empty()) return std::nullopt;
  std::vector<ProviderPortReach> reaches;
  for (const PortConfig& port : config.ports) {
    if (port.role != PortRole::kProvider) continue;
    ProviderPortReach reach;
    reach.name = port.name;
    if (port.subnet) {
      reach.subnet_address = port.subnet->address;
      reach.subnet_length = port.subnet->length;
    }
    reach.has_gateway = port.gateway.has_value();
    reaches.push_back(std::move(reach));
  }
  return reaches;
}

}  // namespace privlink::control
