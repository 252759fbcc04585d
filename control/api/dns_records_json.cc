#include "control/api/dns_records_json.h"

namespace privlink::control {

nlohmann::json EncodeDnsRecords(const ControlPlane& control, const NetworkDnsRecords& records) {
  const uint64_t revision = control.revision();
  // Zone serials are 32 bits and compared in serial-number arithmetic (RFC 1982): wrapping is
  // what they are made for.
  const auto serial =
      static_cast<uint32_t>(revision != 0 ? revision : control.counters().snapshot_generation);
  nlohmann::json list = nlohmann::json::array();
  for (const DnsRecord& r : records.records) {
    list.push_back({{"fqdn", r.fqdn},
                    {"ip", FormatIpv4(r.ip)},
                    {"endpoint", r.endpoint},
                    {"service", r.service}});
  }
  nlohmann::json zones = nlohmann::json::array();
  for (const DnsZone& zone : records.zones) {
    zones.push_back({{"domain", zone.domain}, {"zoneFile", BindZoneFile(zone, serial)}});
  }
  return {{"network", records.network},
          {"serial", serial},
          {"records", std::move(list)},
          {"zones", std::move(zones)},
          {"hosts", HostsFile(records)}};
}

}  // namespace privlink::control
