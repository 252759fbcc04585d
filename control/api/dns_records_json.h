// GET /v1/networks/{name}/dnsRecords: the DNS records a consumer network needs
// (control/model/dns_records.h) as JSON, with the zone files and the hosts file written out.
#pragma once

#include <nlohmann/json.hpp>

#include "control/model/dns_records.h"
#include "control/plane/control_plane.h"

namespace privlink::control {

// {"network", "serial", "records": [{fqdn, ip, endpoint, service}], "zones": [{domain, zoneFile}],
// "hosts"}. The serial is the store's revision (the snapshot generation without a store): it
// grows with every accepted change.
nlohmann::json EncodeDnsRecords(const ControlPlane& control, const NetworkDnsRecords& records);

}  // namespace privlink::control
