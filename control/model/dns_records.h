// The DNS records a consumer network's resolver needs to reach its private endpoints by name:
// each FQDN of the service behind every Approved endpoint in the network, as an A record to the
// endpoint's IP (a consumer's private DNS zone, as Azure's private DNS integration writes it).
// Pure functions of the model: GET /v1/networks/{name}/dnsRecords and `privlinkctl dns` both
// read them.
//
// Zones: one per domain, the FQDN without its first label ("api.fabrikam.com" is record "api"
// of zone "fabrikam.com", "*.fabrikam.com" record "*" of the same zone; a name of one label is
// the apex of its own zone). Names are lowercase, without the trailing dot.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "control/model/model.h"

namespace privlink::control {

struct DnsRecord {
  std::string fqdn;  // lowercase, no trailing dot; may start with "*."
  Ipv4Be ip = 0;
  std::string endpoint;  // the private endpoint whose address it is
  std::string service;   // whose FQDN it is
  bool operator==(const DnsRecord&) const = default;
};

struct DnsZone {
  std::string domain;
  std::vector<DnsRecord> records;  // by name, then address
};

struct NetworkDnsRecords {
  std::string network;
  std::vector<DnsRecord> records;  // by FQDN, then address
  std::vector<DnsZone> zones;      // by domain
};

// NotFound naming the network when the model has none of that name.
absl::StatusOr<NetworkDnsRecords> DnsRecordsOf(const Model& model, std::string_view network);

// A BIND zone file for `zone` (named-checkzone accepts it): $ORIGIN, $TTL, SOA with `serial`
// (privlink's revision: it grows with every change), an NS record "privlink-ns" with its
// address 127.0.0.1 (the zone is served by the consumer's own resolver), then the A records.
std::string BindZoneFile(const DnsZone& zone, uint32_t serial);

// An /etc/hosts fragment: "ip fqdn" per record. Wildcard names cannot be written in a hosts file:
// each is left out with a comment naming it.
std::string HostsFile(const NetworkDnsRecords& records);

}  // namespace privlink::control
