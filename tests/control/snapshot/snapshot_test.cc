// The snapshot builder: what the data path looks up, per connection status and teardown policy.
#include "control/snapshot/snapshot_builder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "control/config/daemon_config.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control {
namespace {

using namespace privlink::control::testing;

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    context_.uuids = &uuids_;
    auto config = ParseDaemonConfig(kReferenceConfig);
    ASSERT_TRUE(config.ok());
    ASSERT_TRUE(ApplyDocument(model_, config->resources, context_).ok());
  }

  std::unique_ptr<Snapshot> Build(const Snapshot* previous = nullptr) {
    auto snapshot = BuildSnapshot(model_, 7, options_, {previous});
    EXPECT_TRUE(snapshot.ok()) << snapshot.status();
    return snapshot.ok() ? std::move(*snapshot) : nullptr;
  }
  NetworkId Contoso() const { return model_.networks.at("contoso").id; }
  const PrivateLinkService& Fabrikam() const { return model_.services.at("fabrikam-api"); }

  SequentialUuids uuids_;
  WorkflowContext context_;
  SnapshotOptions options_;
  Model model_;
};

TEST_F(SnapshotTest, ReferenceConfigCompilesToLookups) {
  auto s = Build();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->generation, 7u);
  EXPECT_EQ(s->FindNetwork("consumer0", 0), Contoso());
  EXPECT_EQ(s->FindNetwork("consumer0", 1), kNoNetwork);
  EXPECT_EQ(s->FindNetwork("provider0", 0), kNoNetwork);
  EXPECT_EQ(s->networks.at(Contoso()).name, "contoso");

  const EndpointId pe = model_.endpoints.at("contoso-pe").id;
  const PeTarget* target = s->FindPe({Contoso(), HostToBe16(80), Ip("10.0.0.100")});
  ASSERT_NE(target, nullptr);
  EXPECT_EQ(target->endpoint, pe);
  EXPECT_EQ(target->service, Fabrikam().id);
  EXPECT_EQ(target->backend_port, HostToBe16(8080));
  EXPECT_TRUE(target->approved);
  EXPECT_EQ(s->FindPe({Contoso(), HostToBe16(81), Ip("10.0.0.100")}), nullptr);
  EXPECT_EQ(s->FindPe({static_cast<NetworkId>(Contoso() + 1), HostToBe16(80), Ip("10.0.0.100")}),
            nullptr);
  EXPECT_EQ(s->FindPe({Contoso(), HostToBe16(80), Ip("10.0.0.100"), nat::kIpProtoUdp}), nullptr)
      << "a TCP rule answers TCP only";
  EXPECT_EQ(s->endpoints_by_ip.at({Contoso(), Ip("10.0.0.100")}), pe);
  EXPECT_EQ(s->Service(Fabrikam().id)->timeouts.udp_ms, 300'000u);

  EXPECT_TRUE(s->Endpoint(pe).carries_traffic);
  EXPECT_EQ(s->Endpoint(pe).service, Fabrikam().id);
  EXPECT_EQ(s->endpoint_names.at(pe), "contoso-pe");
  EXPECT_EQ(s->Endpoint(pe + 1000).service, kNoService);  // unknown ids read as deleted

  const SnapshotService* svc = s->Service(Fabrikam().id);
  ASSERT_NE(svc, nullptr);
  EXPECT_EQ(svc->name, "fabrikam-api");
  EXPECT_EQ(svc->nat_ips, (std::vector<Ipv4Be>{Ip("192.168.10.200"), Ip("192.168.10.201")}));
  ASSERT_EQ(svc->backends.size(), 2u);
  EXPECT_EQ(svc->backends[1].weight, 2u);
  EXPECT_EQ(svc->maglev.size(), lb::kDefaultMaglevTableSize);
  EXPECT_EQ(svc->timeouts.established_ms, 4u * 60'000);
  EXPECT_EQ(s->nat_ips.size(), 2u);
  EXPECT_TRUE(s->IsNatIp(Ip("192.168.10.200")));
  EXPECT_TRUE(s->IsNatIp(Ip("192.168.10.201")));
  EXPECT_FALSE(s->IsNatIp(Ip("192.168.10.11"))) << "a backend is not a NAT IP";
}

// VXLAN networks are found by (consumer port position, VNI), their local IPs by port position;
// the per-VLAN tables never hold them; the attachment carries the VNI and the local IP.
TEST_F(SnapshotTest, VxlanNetworksAreLookedUpByPortAndVni) {
  options_.consumer_ports = {"consumer0", "consumer1"};
  for (const Network& n : {MakeVxlanNetwork("v100", "consumer0", 100, "172.16.0.1"),
                           MakeVxlanNetwork("v101", "consumer0", 101, "172.16.0.1"),
                           MakeVxlanNetwork("w100", "consumer1", 100, "172.16.1.9"),
                           MakeVxlanNetwork("w7", "consumer1", 7, "172.16.1.1")}) {
    ASSERT_TRUE(PutNetwork(model_, n, context_, "").ok()) << n.name;
  }
  auto id = [&](const char* name) { return model_.networks.at(name).id; };
  auto s = Build();
  ASSERT_NE(s, nullptr);

  EXPECT_EQ(s->VxlanNetwork(0, 100), id("v100"));
  EXPECT_EQ(s->VxlanNetwork(0, 101), id("v101"));
  EXPECT_EQ(s->VxlanNetwork(1, 100), id("w100"));
  EXPECT_EQ(s->VxlanNetwork(1, 7), id("w7"));
  EXPECT_EQ(s->VxlanNetwork(0, 7), kNoNetwork);
  EXPECT_EQ(s->VxlanNetwork(0, 0), kNoNetwork);
  EXPECT_EQ(s->VxlanNetwork(2, 100), kNoNetwork) << "no such port position";

  EXPECT_TRUE(s->IsVxlanLocalIp(0, Ip("172.16.0.1")));
  EXPECT_FALSE(s->IsVxlanLocalIp(1, Ip("172.16.0.1")));
  EXPECT_TRUE(s->IsVxlanLocalIp(1, Ip("172.16.1.1")));
  EXPECT_TRUE(s->IsVxlanLocalIp(1, Ip("172.16.1.9")));
  EXPECT_FALSE(s->IsVxlanLocalIp(0, Ip("10.0.0.100"))) << "an endpoint's IP is no local IP";
  EXPECT_FALSE(s->IsVxlanLocalIp(2, Ip("172.16.0.1")));
  EXPECT_EQ(s->vxlan_local_ips_by_consumer_port[0], std::vector<Ipv4Be>{Ip("172.16.0.1")})
      << "one entry for the networks sharing it";
  ASSERT_EQ(s->vxlan_local_ips_by_consumer_port[1].size(), 2u);
  EXPECT_TRUE(std::is_sorted(s->vxlan_local_ips_by_consumer_port[1].begin(),
                             s->vxlan_local_ips_by_consumer_port[1].end()));

  const NetworkAttachment v100 = s->Attachment(id("v100"));
  EXPECT_EQ(v100.consumer_port, 0);
  EXPECT_EQ(v100.vlan, 0);
  EXPECT_EQ(v100.vni, 100u);
  EXPECT_EQ(v100.local_ip, Ip("172.16.0.1"));
  const NetworkAttachment w7 = s->Attachment(id("w7"));
  EXPECT_EQ(w7.consumer_port, 1);
  EXPECT_EQ(w7.vni, 7u);
  EXPECT_EQ(w7.local_ip, Ip("172.16.1.1"));
  const NetworkAttachment contoso = s->Attachment(Contoso());
  EXPECT_EQ(contoso.consumer_port, 0);
  EXPECT_EQ(contoso.vni, 0u);
  EXPECT_EQ(contoso.local_ip, 0u);
  EXPECT_EQ(s->networks.at(id("v100")).vni, 100u);
  EXPECT_EQ(s->networks.at(id("v100")).name, "v100");

  // The VLAN tables: contoso untagged on consumer0 still; no VXLAN network anywhere in them.
  EXPECT_EQ(s->FindNetwork("consumer0", 0), Contoso());
  EXPECT_FALSE(s->networks_by_port.contains("consumer1"));
  ASSERT_EQ(s->networks_by_consumer_port.size(), 2u);
  EXPECT_EQ(s->NetworksOfConsumerPort(0)[0], Contoso());
  for (const auto& by_vlan : s->networks_by_consumer_port) {
    for (NetworkId network : by_vlan) {
      EXPECT_TRUE(network == kNoNetwork || network == Contoso()) << network;
    }
  }
  EXPECT_TRUE(s->vxlan_networks_by_consumer_port[0].size() == 2 &&
              s->vxlan_networks_by_consumer_port[1].size() == 2);

  // Built without a port list: the tables by position are empty, and so are the lookups.
  options_.consumer_ports.clear();
  auto bare = Build();
  EXPECT_EQ(bare->VxlanNetwork(0, 100), kNoNetwork);
  EXPECT_FALSE(bare->IsVxlanLocalIp(0, Ip("172.16.0.1")));
  EXPECT_EQ(bare->FindNetwork("consumer0", 0), Contoso());
}

TEST_F(SnapshotTest, DrainingBackendsGetNoNewFlows) {
  model_.services.MutableAt("fabrikam-api").backends[0].state = BackendState::kDraining;
  auto s = Build();
  const SnapshotService* svc = s->Service(Fabrikam().id);
  ASSERT_TRUE(svc->HasBackends());
  EXPECT_TRUE(svc->backends[0].draining);
  std::set<lb::MaglevTable::Slot> used(svc->maglev.slots().begin(), svc->maglev.slots().end());
  EXPECT_EQ(used, std::set<lb::MaglevTable::Slot>{1});  // only the active backend's index

  model_.services.MutableAt("fabrikam-api").backends[1].state = BackendState::kDraining;
  EXPECT_FALSE(Build()->Service(Fabrikam().id)->HasBackends());
  model_.services.MutableAt("fabrikam-api").backends.clear();
  EXPECT_FALSE(Build()->Service(Fabrikam().id)->HasBackends());
}

TEST_F(SnapshotTest, IdleTimeoutBecomesTheEstablishedTimeout) {
  model_.services.MutableAt("fabrikam-api").idle_timeout_minutes = 124;
  EXPECT_EQ(Build()->Service(Fabrikam().id)->timeouts.established_ms, 124u * 60'000);
}

// A UDP rule is looked up under UDP only; its flows take the service's UDP idle timeout.
TEST_F(SnapshotTest, UdpRulesAndTheirTimeout) {
  PrivateLinkService& service = model_.services.MutableAt("fabrikam-api");
  service.load_balancing_rules.push_back({80, 5353, RuleProtocol::kUdp});
  service.udp_idle_timeout_seconds = 600;
  auto s = Build();
  const PeTarget* udp = s->FindPe({Contoso(), HostToBe16(80), Ip("10.0.0.100"), nat::kIpProtoUdp});
  ASSERT_NE(udp, nullptr);
  EXPECT_EQ(udp->backend_port, HostToBe16(5353));
  EXPECT_EQ(s->FindPe({Contoso(), HostToBe16(80), Ip("10.0.0.100")})->backend_port,
            HostToBe16(8080));
  EXPECT_EQ(s->Service(Fabrikam().id)->timeouts.udp_ms, 600'000u);
}

// Whether an endpoint's flows may go on, per connection status and the service's policy.
TEST_F(SnapshotTest, EndpointEntryFollowsStatusAndTeardownPolicy) {
  struct Case {
    const char* step;
    TeardownPolicy policy;
    bool lookup_present, approved, carries;
    ServiceId service;  // 0 = no service (reset)
  } cases[] = {
      {"approved", TeardownPolicy::kReset, true, true, true, 1},
      {"rejected", TeardownPolicy::kReset, true, false, false, 1},
      {"rejected", TeardownPolicy::kDrain, true, false, false, 1},
      {"connection-deleted", TeardownPolicy::kDrain, true, false, false, 1},
      {"endpoint-deleted", TeardownPolicy::kDrain, false, false, false, 1},
      {"endpoint-deleted", TeardownPolicy::kReset, false, false, false, 1},
      {"disconnected-record-deleted", TeardownPolicy::kDrain, false, false, false, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.step) + (c.policy == TeardownPolicy::kDrain ? " drain" : " reset"));
    Model saved = model_;
    model_.services.MutableAt("fabrikam-api").connection_teardown = c.policy;
    const EndpointId pe = model_.endpoints.at("contoso-pe").id;
    const std::string step = c.step;
    if (step == "rejected") {
      ASSERT_TRUE(RejectConnection(model_, "fabrikam-api", "contoso-pe", "").ok());
    }
    if (step == "connection-deleted") {
      ASSERT_TRUE(DeleteConnection(model_, "fabrikam-api", "contoso-pe").ok());
    }
    if (step == "endpoint-deleted" || step == "disconnected-record-deleted") {
      ASSERT_TRUE(DeleteEndpoint(model_, "contoso-pe").ok());
    }
    if (step == "disconnected-record-deleted") {
      ASSERT_TRUE(DeleteConnection(model_, "fabrikam-api", "contoso-pe").ok());
    }
    auto s = Build();
    const PeTarget* target = s->FindPe({Contoso(), HostToBe16(80), Ip("10.0.0.100")});
    ASSERT_EQ(target != nullptr, c.lookup_present);
    if (target != nullptr) {
      EXPECT_EQ(target->approved, c.approved);
    }
    const EndpointEntry entry = s->Endpoint(pe);
    EXPECT_EQ(entry.carries_traffic, c.carries);
    EXPECT_EQ(entry.service, c.service == 0 ? kNoService : Fabrikam().id);
    if (c.service != 0) {
      EXPECT_EQ(entry.teardown, c.policy);
    }
    model_ = saved;
  }
}

TEST_F(SnapshotTest, UnchangedServicesAreSharedWithThePreviousSnapshot) {
  auto first = Build();
  const ServiceId id = Fabrikam().id;
  // An endpoint change does not rebuild the service's Maglev table.
  ASSERT_TRUE(RejectConnection(model_, "fabrikam-api", "contoso-pe", "").ok());
  auto second = Build(first.get());
  EXPECT_EQ(second->services[id], first->services[id]);
  // A backend change does.
  model_.services.MutableAt("fabrikam-api").backends[1].weight = 3;
  auto third = Build(second.get());
  EXPECT_NE(third->services[id], second->services[id]);
  EXPECT_EQ(third->Service(id)->backends[1].weight, 3u);
}

TEST_F(SnapshotTest, PendingEndpointHasALookupButNoTraffic) {
  ASSERT_TRUE(
      PutEndpoint(model_, MakeEndpoint("p", "sub-other", "contoso", "10.0.0.5", "fabrikam-api"), "")
          .ok());
  auto s = Build();
  const PeTarget* target = s->FindPe({Contoso(), HostToBe16(80), Ip("10.0.0.5")});
  ASSERT_NE(target, nullptr);
  EXPECT_FALSE(target->approved);
  EXPECT_FALSE(s->Endpoint(model_.endpoints.at("p").id).carries_traffic);
}

TEST_F(SnapshotTest, TooManyBackendsForTheTableIsAnError) {
  options_.maglev_table_size = 2;  // prime, but fewer slots than the three backends
  model_.services.MutableAt("fabrikam-api")
      .backends.push_back({Ip("192.168.10.13"), 1, BackendState::kActive});
  auto s = BuildSnapshot(model_, 1, options_);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace privlink::control
