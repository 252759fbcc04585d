// The DNS records of a consumer network: only Approved endpoints of that network, every FQDN of
// their service (lowercase, no trailing dot, wildcards kept), grouped into zones by parent
// domain, written as BIND zone files and a hosts file.
#include "control/model/dns_records.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/config/daemon_config.h"
#include "control/model/workflow.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control {
namespace {

using ::testing::HasSubstr;
using testing::Ip;
using testing::Msg;

// Two overlapping networks; "api" has three FQDNs (one a wildcard, one in capitals with the
// trailing dot), "db" one in another domain; contoso's endpoints: one Approved to each service,
// one Pending (never auto-approved); fabrikam's one, Approved.
constexpr char kDocument[] = R"json({
  "networks": [{"name": "contoso", "port": "consumer0", "vlan": 0},
               {"name": "fabrikam", "port": "consumer0", "vlan": 20}],
  "privateLinkServices": [
    {"name": "api", "subscription": "sub-p", "natIps": ["192.168.10.200"],
     "loadBalancingRules": [{"frontendPort": 80, "backendPort": 8080}],
     "backends": [{"ip": "192.168.10.11"}], "visibility": ["*"],
     "autoApproval": ["sub-c", "sub-f"],
     "fqdns": ["api.example.com", "*.api.example.com", "WWW.Example.COM."]},
    {"name": "db", "subscription": "sub-p", "natIps": ["192.168.10.201"],
     "loadBalancingRules": [{"frontendPort": 5432, "backendPort": 5432}],
     "backends": [{"ip": "192.168.10.12"}], "visibility": ["*"], "autoApproval": ["sub-c"],
     "fqdns": ["db.internal"]}],
  "privateEndpoints": [
    {"name": "pe-api", "subscription": "sub-c", "network": "contoso", "ip": "10.0.0.5",
     "privateLinkService": "api"},
    {"name": "pe-db", "subscription": "sub-c", "network": "contoso", "ip": "10.0.0.6",
     "privateLinkService": "db"},
    {"name": "pe-pending", "subscription": "sub-x", "network": "contoso", "ip": "10.0.0.7",
     "privateLinkService": "db"},
    {"name": "pe-f", "subscription": "sub-f", "network": "fabrikam", "ip": "10.0.0.5",
     "privateLinkService": "api"}]
})json";

Model MakeModel() {
  auto document = ParseDaemonConfig(kDocument);
  EXPECT_TRUE(document.ok()) << document.status();
  Model model;
  testing::SequentialUuids uuids;
  WorkflowContext context;
  context.uuids = &uuids;
  context.consumer_ports.insert("consumer0");
  auto applied = ApplyDocument(model, document->resources, context);
  EXPECT_TRUE(applied.ok()) << applied.status();
  return model;
}

TEST(DnsRecordsTest, ApprovedEndpointsOfTheNetworkOnlyByZone) {
  const Model model = MakeModel();
  auto records = DnsRecordsOf(model, "contoso");
  ASSERT_TRUE(records.ok()) << records.status();
  const std::vector<DnsRecord> want = {
      {"*.api.example.com", Ip("10.0.0.5"), "pe-api", "api"},
      {"api.example.com", Ip("10.0.0.5"), "pe-api", "api"},
      {"db.internal", Ip("10.0.0.6"), "pe-db", "db"},
      {"www.example.com", Ip("10.0.0.5"), "pe-api", "api"},
  };
  EXPECT_EQ(records->records, want) << "pe-pending is not Approved";
  ASSERT_EQ(records->zones.size(), 3u);
  EXPECT_EQ(records->zones[0].domain, "api.example.com");
  EXPECT_EQ(records->zones[1].domain, "example.com");
  EXPECT_EQ(records->zones[1].records.size(), 2u);
  EXPECT_EQ(records->zones[2].domain, "internal");

  auto other = DnsRecordsOf(model, "fabrikam");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->records.size(), 3u);
  for (const DnsRecord& r : other->records) EXPECT_EQ(r.endpoint, "pe-f");
}

TEST(DnsRecordsTest, UnknownNetworkIsNotFoundByName) {
  const auto records = DnsRecordsOf(MakeModel(), "nowhere");
  EXPECT_EQ(records.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(records), HasSubstr("network 'nowhere' not found"));
}

TEST(DnsRecordsTest, ZoneAndHostsFiles) {
  auto records = DnsRecordsOf(MakeModel(), "contoso");
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(BindZoneFile(records->zones[1], 42),
            "; privlink: private endpoint records of zone example.com\n"
            "$ORIGIN example.com.\n"
            "$TTL 300\n"
            "@\tIN\tSOA\tprivlink-ns.example.com. hostmaster.example.com. (42 3600 600 604800 "
            "300)\n"
            "@\tIN\tNS\tprivlink-ns.example.com.\n"
            "privlink-ns\tIN\tA\t127.0.0.1\n"
            "api\tIN\tA\t10.0.0.5\t; endpoint pe-api, service api\n"
            "www\tIN\tA\t10.0.0.5\t; endpoint pe-api, service api\n");
  EXPECT_THAT(BindZoneFile(records->zones[0], 42), HasSubstr("\n*\tIN\tA\t10.0.0.5\t"));
  EXPECT_EQ(HostsFile(*records),
            "# privlink: private endpoint records of network contoso\n"
            "# *.api.example.com -> 10.0.0.5: a wildcard name cannot be written in a hosts file\n"
            "10.0.0.5\tapi.example.com\n"
            "10.0.0.6\tdb.internal\n"
            "10.0.0.5\twww.example.com\n");
}

}  // namespace
}  // namespace privlink::control
