#include "control/model/dns_records.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "control/model/str_cat.h"

namespace privlink::control {
namespace {

// The SOA's timers, in seconds: the records change only when the model does, and the consumer's
// resolver is handed a new zone file then; what matters is that caches follow within minutes.
constexpr uint32_t kTtl = 300;
constexpr uint32_t kRefresh = 3600;
constexpr uint32_t kRetry = 600;
constexpr uint32_t kExpire = 604800;
// The zone's name server: the consumer's own resolver. A label no service is likely to use.
constexpr std::string_view kNsLabel = "privlink-ns";

std::string CanonicalName(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  return AsciiLower(name);
}

// The zone a name belongs to, and the record's name in it ("@": the apex).
std::pair<std::string, std::string> ZoneAndLabel(const std::string& fqdn) {
  const size_t dot = fqdn.find('.');
  if (dot == std::string::npos) return {fqdn, "@"};
  return {fqdn.substr(dot + 1), fqdn.substr(0, dot)};
}

bool ByNameThenAddress(const DnsRecord& a, const DnsRecord& b) {
  return std::tie(a.fqdn, a.ip, a.endpoint) < std::tie(b.fqdn, b.ip, b.endpoint);
}

}  // namespace

absl::StatusOr<NetworkDnsRecords> DnsRecordsOf(const Model& model, std::string_view network) {
  if (!model.networks.contains(network)) {
    return absl::NotFoundError(Cat("network '", network, "' not found"));
  }
  NetworkDnsRecords out;
  out.network = std::string(network);
  for (const auto& [name, endpoint] : model.endpoints) {
    if (endpoint.network != network) continue;
    if (EndpointConnectionStatus(model, endpoint) != ConnectionStatus::kApproved) continue;
    const PrivateLinkService* service = FindServiceById(model, endpoint.service_id);
    if (service == nullptr) continue;
    for (const std::string& fqdn : service->fqdns) {
      out.records.push_back({.fqdn = CanonicalName(fqdn),
                             .ip = endpoint.ip,
                             .endpoint = name,
                             .service = service->name});
    }
  }
  std::sort(out.records.begin(), out.records.end(), ByNameThenAddress);
  std::map<std::string, DnsZone> zones;
  for (const DnsRecord& r : out.records) {
    const std::string domain = ZoneAndLabel(r.fqdn).first;
    DnsZone& zone = zones[domain];
    zone.domain = domain;
    zone.records.push_back(r);
  }
  for (auto& [domain, zone] : zones) out.zones.push_back(std::move(zone));
  return out;
}

std::string BindZoneFile(const DnsZone& zone, uint32_t serial) {
  std::string out =
      Cat("; privlink: private endpoint records of zone ", zone.domain, "\n",  //
          "$ORIGIN ", zone.domain, ".\n",                                      //
          "$TTL ", kTtl, "\n",                                                 //
          "@\tIN\tSOA\t", kNsLabel, ".", zone.domain, ". hostmaster.", zone.domain, ". (", serial,
          " ", kRefresh, " ", kRetry, " ", kExpire, " ", kTtl, ")\n",  //
          "@\tIN\tNS\t", kNsLabel, ".", zone.domain, ".\n",            //
          kNsLabel, "\tIN\tA\t127.0.0.1\n");
  for (const DnsRecord& r : zone.records) {
    out += Cat(ZoneAndLabel(r.fqdn).second, "\tIN\tA\t", FormatIpv4(r.ip), "\t; endpoint ",
               r.endpoint, ", service ", r.service, "\n");
  }
  return out;
}

std::string HostsFile(const NetworkDnsRecords& records) {
  std::string out = Cat("# privlink: private endpoint records of network ", records.network, "\n");
  for (const DnsRecord& r : records.records) {
    if (r.fqdn.starts_with("*.")) {
      out += Cat("# ", r.fqdn, " -> ", FormatIpv4(r.ip),
                 ": a wildcard name cannot be written in a hosts file\n");
      continue;
    }
    out += Cat(FormatIpv4(r.ip), "\t", r.fqdn, "\n");
  }
  return out;
}

}  // namespace privlink::control
