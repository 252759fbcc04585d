// Every rule of the model and every connection transition (issue 3), on the pure workflow.
#include "control/model/workflow.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <map>

#include "control/model/validate.h"
#include "tests/control/framework/test_util.h"
#include "tests/control/model/workflow_fixture.h"

namespace privlink::control {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace privlink::control::testing;

TEST_F(WorkflowTest, NetworkCreateIsIdempotentAndUpdateKeepsItsId) {
  auto created = PutNetwork(model_, MakeNetwork("contoso"), context_, "");
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(*created, ChangeKind::kCreated);
  const NetworkId id = model_.networks.at("contoso").id;
  EXPECT_NE(id, kNoNetwork);
  EXPECT_EQ(*PutNetwork(model_, MakeNetwork("contoso"), context_, ""), ChangeKind::kUnchanged);
  EXPECT_EQ(*PutNetwork(model_, MakeNetwork("contoso", "consumer0", 7), context_, ""),
            ChangeKind::kUpdated);
  EXPECT_EQ(model_.networks.at("contoso").id, id);
  EXPECT_EQ(model_.networks.at("contoso").vlan, 7);
}

TEST_F(WorkflowTest, NetworksMayShareAddressesButNotPortAndVlan) {
  ASSERT_TRUE(PutNetwork(model_, MakeNetwork("a", "consumer0", 5), context_, "").ok());
  ASSERT_TRUE(PutNetwork(model_, MakeNetwork("b", "consumer0", 6), context_, "").ok());
  ASSERT_TRUE(PutNetwork(model_, MakeNetwork("c", "consumer1", 5), context_, "").ok());
  auto clash = PutNetwork(model_, MakeNetwork("d", "consumer0", 5), context_, "");
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(clash), StartsWith("vlan: "));
  EXPECT_THAT(Msg(clash), HasSubstr("'a'"));
}

TEST_F(WorkflowTest, NetworkPortMustBeAConsumerPortAndVlanInRange) {
  auto unknown = PutNetwork(model_, MakeNetwork("a", "provider0"), context_, "");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(unknown), StartsWith("port: "));
  auto vlan = PutNetwork(model_, MakeNetwork("a", "consumer0", 4095), context_, "");
  EXPECT_THAT(Msg(vlan), StartsWith("vlan: "));
  context_.consumer_ports.clear();  // no dataplane ports configured: not checked
  EXPECT_TRUE(PutNetwork(model_, MakeNetwork("a", "anything"), context_, "").ok());
}

// A backend must be reachable through a provider port: inside its subnet, or through any port's
// gateway (as the dataplane routes). Without dataplane ports (control only) nothing is checked.
TEST_F(WorkflowTest, EveryBackendMustBeReachableThroughAProviderPort) {
  const ProviderPortReach on_link{"provider0", Ip("192.168.10.1"), 24, false};
  const ProviderPortReach bare{"provider1", std::nullopt, 0, false};
  const ProviderPortReach gateway{"provider2", std::nullopt, 0, true};
  const ProviderPortReach host_route{"provider3", Ip("192.168.20.11"), 32, false};
  const ProviderPortReach everything{"provider4", Ip("0.0.0.0"), 0, false};
  const std::string fix =
      "): give a provider port a subnet that contains it (dataplane.ports[].subnet) or a gateway "
      "(dataplane.ports[].gateway)";
  struct Row {
    std::optional<std::vector<ProviderPortReach>> ports;
    const char* backend;
    std::string refusal;  // "" = accepted
  } rows[] = {
      {std::nullopt, "192.168.99.1", ""},
      {std::vector{on_link}, "192.168.10.11", ""},
      {std::vector{on_link}, "192.168.10.254", ""},
      {std::vector{on_link}, "192.168.11.11",
       "backends[0].ip: backend 192.168.11.11 of private link service 's' is reachable through "
       "no provider port (provider0: subnet 192.168.10.1/24, no gateway" +
           fix},
      {std::vector{bare}, "192.168.10.11",
       "backends[0].ip: backend 192.168.10.11 of private link service 's' is reachable through "
       "no provider port (provider1: no subnet, no gateway" +
           fix},
      {std::vector<ProviderPortReach>{}, "192.168.10.11",
       "backends[0].ip: backend 192.168.10.11 of private link service 's' is reachable through "
       "no provider port (the config has none" +
           fix},
      {std::vector{on_link, bare}, "172.16.0.1",
       "backends[0].ip: backend 172.16.0.1 of private link service 's' is reachable through no "
       "provider port (provider0: subnet 192.168.10.1/24, no gateway; provider1: no subnet, no "
       "gateway" +
           fix},
      {std::vector{bare, gateway}, "172.16.0.1", ""},
      {std::vector{on_link, host_route}, "192.168.20.11", ""},
      {std::vector{host_route}, "192.168.20.12", "backends[0].ip: backend 192.168.20.12 of..."},
      {std::vector{everything}, "8.8.8.8", ""},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.backend);
    context_.provider_ports = row.ports;
    Model model;
    ServiceRequest request = MakeService("s", "sub-s", {Ip("192.168.30.200")});
    // Draining: every backend counts.
    request.service.backends = {{Ip(row.backend), 1, BackendState::kDraining}};
    auto put = PutService(model, request, context_, "");
    if (row.refusal.empty()) {
      EXPECT_TRUE(put.ok()) << put.status();
      continue;
    }
    const std::string& expected = row.refusal;
    EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument);
    if (expected.ends_with("...")) {
      EXPECT_THAT(Msg(put), StartsWith(expected.substr(0, expected.size() - 3)));
    } else {
      EXPECT_EQ(Msg(put), expected);
    }
    EXPECT_TRUE(model.services.empty());
  }
  // In a config document the field path says where; a restored model is checked whole.
  context_.provider_ports = std::vector{on_link};
  ResourceDocument document;
  document.services = {MakeService("s", "sub-s", {Ip("192.168.30.200")})};
  document.services[0].service.backends[0].ip = Ip("10.9.9.9");
  Model model;
  EXPECT_THAT(Msg(ApplyDocument(model, document, context_)),
              StartsWith("privateLinkServices[0].backends[0].ip: backend 10.9.9.9 of private "
                         "link service 's' is reachable through no provider port"));
  context_.provider_ports = std::nullopt;
  ASSERT_TRUE(ApplyDocument(model, document, context_).ok());
  EXPECT_TRUE(CheckBackendsReachable(model, context_).ok());
  context_.provider_ports = std::vector{on_link};
  EXPECT_THAT(Msg(CheckBackendsReachable(model, context_)),
              StartsWith("backends[0].ip: backend 10.9.9.9 of private link service 's'"));
}

TEST_F(WorkflowTest, ServiceGetsAliasAndIdThatUpdatesKeep) {
  Provision();
  const PrivateLinkService& s = model_.services.at("fabrikam-api");
  EXPECT_EQ(s.alias, "fabrikam-api.00000000-0000-4000-8000-000000000001.westus.privlinkservice");
  EXPECT_EQ(s.provisioning_state, "Succeeded");
  const ServiceId id = s.id;
  ServiceRequest update =
      MakeService("fabrikam-api", "sub-fabrikam",
                  {Ip("192.168.10.200"), Ip("192.168.10.201"), Ip("192.168.10.202")});
  EXPECT_EQ(*PutService(model_, update, context_, ""), ChangeKind::kUpdated);
  EXPECT_EQ(*PutService(model_, update, context_, ""), ChangeKind::kUnchanged);
  EXPECT_EQ(model_.services.at("fabrikam-api").id, id);
  EXPECT_EQ(model_.services.at("fabrikam-api").alias, s.alias);
  EXPECT_EQ(model_.services.at("fabrikam-api").nat_ips.size(), 3u);
}

// The dataplane's flows per (service, NAT IP position), as the daemon reports them.
class FlowsPerNatIp final : public NatIpFlowCounts {
 public:
  absl::StatusOr<uint64_t> FlowsOnNatIp(ServiceId service, size_t slot) const override {
    auto it = flows.find({service, slot});
    return it == flows.end() ? 0 : it->second;
  }
  std::map<std::pair<ServiceId, size_t>, uint64_t> flows;
};

// A NAT IP is removed in two steps: drain it (no new flow takes it), then remove it once its
// flows have ended. The others keep their dataplane positions; a new IP takes the freed one.
TEST_F(WorkflowTest, NatIpIsDrainedThenRemovedOnceItsFlowsEnd) {
  Provision();
  const Ipv4Be a = Ip("192.168.10.200"), b = Ip("192.168.10.201"), c = Ip("192.168.10.202");
  ServiceRequest three = MakeService("fabrikam-api", "sub-fabrikam", {a, b, c});
  ASSERT_TRUE(PutService(model_, three, context_, "").ok());
  const ServiceId id = model_.services.at("fabrikam-api").id;

  ServiceRequest without_a = MakeService("fabrikam-api", "sub-fabrikam", {b, c});
  auto active = PutService(model_, without_a, context_, "");
  EXPECT_EQ(active.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(active), StartsWith("natIps: NAT IP 192.168.10.200 must be draining"));

  ServiceRequest draining = three;
  draining.service.draining_nat_ips = {a};
  ASSERT_EQ(*PutService(model_, draining, context_, ""), ChangeKind::kUpdated);
  FlowsPerNatIp dataplane;
  dataplane.flows[{id, 0}] = 3;  // a is at position 0
  context_.nat_ip_flows = &dataplane;
  auto busy = PutService(model_, without_a, context_, "");
  EXPECT_EQ(busy.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(busy), StartsWith("natIps: NAT IP 192.168.10.200 still carries 3 flows"));
  EXPECT_EQ(model_.services.at("fabrikam-api").nat_ips, (std::vector<Ipv4Be>{a, b, c}));

  dataplane.flows[{id, 0}] = 0;
  ASSERT_EQ(*PutService(model_, without_a, context_, ""), ChangeKind::kUpdated);
  const PrivateLinkService& removed = model_.services.at("fabrikam-api");
  EXPECT_EQ(removed.nat_ips, (std::vector<Ipv4Be>{b, c}));
  EXPECT_TRUE(removed.draining_nat_ips.empty());
  EXPECT_EQ(NatIpSlots(removed), (std::vector<Ipv4Be>{0, b, c})) << "b and c keep positions 1, 2";
  EXPECT_EQ(*PutService(model_, without_a, context_, ""), ChangeKind::kUnchanged);

  const Ipv4Be d = Ip("192.168.10.203");
  ASSERT_TRUE(
      PutService(model_, MakeService("fabrikam-api", "sub-fabrikam", {b, c, d}), context_, "")
          .ok());
  EXPECT_EQ(NatIpSlots(model_.services.at("fabrikam-api")), (std::vector<Ipv4Be>{d, b, c}))
      << "the new IP takes the freed position";
  // Listed in another order, the IPs keep their positions.
  ASSERT_TRUE(
      PutService(model_, MakeService("fabrikam-api", "sub-fabrikam", {d, c, b}), context_, "")
          .ok());
  EXPECT_EQ(NatIpSlots(model_.services.at("fabrikam-api")), (std::vector<Ipv4Be>{d, b, c}));
}

TEST_F(WorkflowTest, DrainingNatIpsAreNatIpsAndNotAllOfThem) {
  Provision();
  const Ipv4Be a = Ip("192.168.10.200"), b = Ip("192.168.10.201");
  ServiceRequest all = MakeService("fabrikam-api", "sub-fabrikam", {a, b});
  all.service.draining_nat_ips = {a, b};
  EXPECT_THAT(Msg(PutService(model_, all, context_, "")),
              StartsWith("drainingNatIps: at least one NAT IP must take new flows"));
  ServiceRequest stranger = MakeService("fabrikam-api", "sub-fabrikam", {a, b});
  stranger.service.draining_nat_ips = {Ip("192.168.10.9")};
  EXPECT_THAT(Msg(PutService(model_, stranger, context_, "")),
              StartsWith("drainingNatIps[0]: 192.168.10.9 is not one of natIps"));
  ServiceRequest twice = MakeService("fabrikam-api", "sub-fabrikam", {a, b});
  twice.service.draining_nat_ips = {a, a};
  EXPECT_THAT(Msg(PutService(model_, twice, context_, "")),
              StartsWith("drainingNatIps[1]: duplicate NAT IP 192.168.10.200"));
}

TEST_F(WorkflowTest, SubscriptionCannotChange) {
  Provision();
  auto moved = PutService(
      model_,
      MakeService("fabrikam-api", "sub-other", {Ip("192.168.10.200"), Ip("192.168.10.201")}),
      context_, "");
  EXPECT_THAT(Msg(moved), StartsWith("subscription: "));
}

TEST_F(WorkflowTest, NatIpBelongsToOneServiceAndIsNoBackend) {
  Provision();
  auto shared = PutService(
      model_, MakeService("other", "sub-x", {Ip("10.9.9.9"), Ip("192.168.10.201")}), context_, "");
  EXPECT_EQ(shared.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(shared), StartsWith("natIps[1]: 192.168.10.201"));
  ServiceRequest other = MakeService("other", "sub-x", {Ip("192.168.10.11")});
  other.service.backends = {{Ip("192.168.10.50"), 1, BackendState::kActive}};
  auto backend = PutService(model_, other, context_, "");
  EXPECT_THAT(Msg(backend), StartsWith("natIps[0]: 192.168.10.11 is a backend of private link "
                                       "service 'fabrikam-api'"));
  // Within one service too.
  other.service.backends = {{Ip("192.168.10.11"), 1, BackendState::kActive}};
  other.service.nat_ips = {Ip("192.168.10.11")};
  EXPECT_THAT(Msg(PutService(model_, other, context_, "")), HasSubstr("is also a backend"));
  // And a backend may not be another service's NAT IP.
  other.service.nat_ips = {Ip("192.168.10.77")};
  other.service.backends = {{Ip("192.168.10.200"), 1, BackendState::kActive}};
  EXPECT_THAT(Msg(PutService(model_, other, context_, "")),
              StartsWith("backends[0].ip: 192.168.10.200 is a NAT IP"));
}

TEST_F(WorkflowTest, AtMostEightNatIps) {
  std::vector<Ipv4Be> nine;
  for (uint8_t i = 1; i <= 9; ++i) nine.push_back(Ipv4(192, 168, 20, i));
  auto s = PutService(model_, MakeService("big", "sub", nine), context_, "");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(s), StartsWith("natIps: at most 8"));
  nine.pop_back();
  EXPECT_TRUE(PutService(model_, MakeService("big", "sub", nine), context_, "").ok());
}

// A frontend port takes one TCP and one UDP rule; each (port, protocol) once. UDP flows' idle
// timeout is at least RFC 4787's 2 minutes.
TEST_F(WorkflowTest, RulesArePerProtocolAndTheUdpTimeoutHasRfc4787sFloor) {
  ServiceRequest both = MakeService("dns", "sub", {Ip("192.168.20.1")});
  both.service.load_balancing_rules = {{53, 53, RuleProtocol::kUdp}, {53, 53, RuleProtocol::kTcp}};
  both.service.udp_idle_timeout_seconds = 120;
  ASSERT_TRUE(PutService(model_, both, context_, "").ok());
  EXPECT_EQ(model_.services.at("dns").load_balancing_rules.size(), 2u);

  ServiceRequest twice = both;
  twice.service.load_balancing_rules.push_back({53, 5353, RuleProtocol::kUdp});
  auto refused = PutService(model_, twice, context_, "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Msg(refused), "loadBalancingRules[2].frontendPort: duplicate frontend port 53/udp");

  ServiceRequest short_timeout = both;
  short_timeout.service.udp_idle_timeout_seconds = 119;
  refused = PutService(model_, short_timeout, context_, "");
  EXPECT_EQ(Msg(refused),
            "udpIdleTimeoutSeconds: must be 120..86400 (RFC 4787: at least 2 minutes)");
  EXPECT_EQ(model_.services.at("dns").udp_idle_timeout_seconds, 120u) << "nothing changed";
}

// A probe is checked whole: each field's rule, named in the error; a refused one changes nothing.
TEST_F(WorkflowTest, ProbeFieldsAreValidated) {
  struct Case {
    const char* what;
    HealthProbe probe;
    const char* error;  // "" = accepted
  };
  const HealthProbe tcp{.port = 5432};
  const HealthProbe http{.protocol = ProbeProtocol::kHttp, .port = 80, .path = "/healthz"};
  auto with = [](HealthProbe p, auto&& change) {
    change(p);
    return p;
  };
  const Case cases[] = {
      {"tcp", tcp, ""},
      {"http", http, ""},
      {"no port", with(tcp, [](HealthProbe& p) { p.port = 0; }), "probe.port: must be 1..65535"},
      {"http without a path", with(http, [](HealthProbe& p) { p.path = ""; }),
       "probe.path: an http probe needs a path starting with '/'"},
      {"relative path", with(http, [](HealthProbe& p) { p.path = "healthz"; }),
       "probe.path: an http probe needs a path starting with '/'"},
      {"path with a space", with(http, [](HealthProbe& p) { p.path = "/a b"; }),
       "probe.path: only printable characters without spaces"},
      {"path with a line break", with(http, [](HealthProbe& p) { p.path = "/a\r\nHost: x"; }),
       "probe.path: only printable characters without spaces"},
      {"long path", with(http, [](HealthProbe& p) { p.path = "/" + std::string(255, 'a'); }),
       "probe.path: longer than 255 bytes"},
      {"tcp with a path", with(tcp, [](HealthProbe& p) { p.path = "/"; }),
       "probe.path: only an http probe has a path"},
      {"interval 0", with(tcp, [](HealthProbe& p) { p.interval_seconds = 0; }),
       "probe.intervalSeconds: must be 1..300"},
      {"threshold 0", with(tcp, [](HealthProbe& p) { p.healthy_threshold = 0; }),
       "probe.healthyThreshold: must be 1..100"},
      {"timeout past the interval", with(tcp, [](HealthProbe& p) { p.timeout_seconds = 6; }),
       "probe.timeoutSeconds: must be 1..intervalSeconds (5)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ServiceRequest request = MakeService("probed", "sub", {Ip("192.168.10.210")});
    request.service.probe = c.probe;
    const Model before = model_;
    const absl::Status status = PutService(model_, request, context_, "").status();
    if (std::string(c.error).empty()) {
      EXPECT_TRUE(status.ok()) << status;
      ASSERT_TRUE(DeleteService(model_, "probed").ok());
    } else {
      EXPECT_THAT(Msg(status), HasSubstr(c.error));
      EXPECT_TRUE(model_ == before);
    }
  }
}

TEST_F(WorkflowTest, AutoApprovalMustBeWithinVisibility) {
  struct Case {
    std::vector<std::string> visibility, auto_approval;
    bool ok;
  } cases[] = {
      {{"*"}, {"sub-a"}, true},      {{"sub-a", "sub-b"}, {"sub-b"}, true},
      {{"sub-a"}, {"sub-b"}, false}, {{}, {"sub-a"}, false},
      {{}, {"sub-fabrikam"}, true},  // the owner always sees its own service
      {{"*"}, {"*"}, false},         // no wildcard auto-approval
      {{"*", "sub-a"}, {}, false},   // '*' stands alone
  };
  for (const Case& c : cases) {
    auto s = PutService(
        model_,
        MakeService("svc", "sub-fabrikam", {Ip("192.168.10.200")}, c.visibility, c.auto_approval),
        context_, "");
    EXPECT_EQ(s.ok(), c.ok) << s.status();
    if (!c.ok) {
      EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    }
    model_.services.clear();
  }
}

TEST_F(WorkflowTest, VisibilityDecidesWhoMayConnectAndReturns404Otherwise) {
  struct Case {
    std::vector<std::string> visibility;
    std::string subscription;
    bool visible;
  } cases[] = {
      {{}, "sub-fabrikam", true},  // owner only
      {{}, "sub-contoso", false},
      {{"*"}, "sub-anyone", true},
      {{"sub-contoso"}, "sub-contoso", true},
      {{"sub-contoso"}, "sub-other", false},
  };
  for (const Case& c : cases) {
    model_ = Model();
    Provision(c.visibility);
    auto pe = AddEndpoint("pe", c.subscription, "10.0.0.100");
    if (c.visible) {
      ASSERT_TRUE(pe.ok()) << pe.status();
      EXPECT_EQ(Status("pe"), ConnectionStatus::kPending);
    } else {
      EXPECT_EQ(pe.status().code(), absl::StatusCode::kNotFound);
      EXPECT_TRUE(model_.endpoints.empty());
      EXPECT_TRUE(model_.services.at("fabrikam-api").connections.empty());
    }
  }
}

TEST_F(WorkflowTest, InvisibleServiceLooksExactlyLikeAMissingOne) {
  Provision({"sub-contoso"});
  auto hidden = AddEndpoint("pe", "sub-other", "10.0.0.100", "fabrikam-api");
  auto missing = AddEndpoint("pe", "sub-other", "10.0.0.100", "no-such");
  ASSERT_EQ(hidden.status().code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  // Same wording apart from the name the caller itself gave.
  EXPECT_EQ(std::string(hidden.status().message()),
            "privateLinkService: private link service 'fabrikam-api' not found");
  EXPECT_EQ(std::string(missing.status().message()),
            "privateLinkService: private link service 'no-such' not found");
}

TEST_F(WorkflowTest, AutoApprovalApprovesAtOnceAndAliasWorksAsReference) {
  Provision({"*"}, {"sub-contoso"});
  const std::string alias = model_.services.at("fabrikam-api").alias;
  ASSERT_TRUE(AddEndpoint("auto", "sub-contoso", "10.0.0.100", alias).ok());
  ASSERT_TRUE(AddEndpoint("manual", "sub-other", "10.0.0.101").ok());
  EXPECT_EQ(Status("auto"), ConnectionStatus::kApproved);
  EXPECT_EQ(Status("manual"), ConnectionStatus::kPending);
  EXPECT_EQ(model_.endpoints.at("auto").service_id, model_.services.at("fabrikam-api").id);
}

TEST_F(WorkflowTest, EndpointIpUniqueInItsNetworkOnlyAndNeverANatIp) {
  Provision();
  ASSERT_TRUE(PutNetwork(model_, MakeNetwork("other", "consumer1"), context_, "").ok());
  ASSERT_TRUE(AddEndpoint("a", "sub-c", "10.0.0.100").ok());
  auto dup = AddEndpoint("b", "sub-c", "10.0.0.100");
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(dup), StartsWith("ip: 10.0.0.100 is already used by private "
                                   "endpoint 'a'"));
  // Overlapping address spaces: the same IP in another network is fine.
  EXPECT_TRUE(
      PutEndpoint(model_, MakeEndpoint("b", "sub-c", "other", "10.0.0.100", "fabrikam-api"), "")
          .ok());
  auto nat = AddEndpoint("c", "sub-c", "192.168.10.200");
  EXPECT_EQ(nat.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(nat), StartsWith("ip: 192.168.10.200 is a NAT IP"));
  // And the other way round: a NAT IP may not take an endpoint's address.
  auto s = PutService(model_, MakeService("s2", "sub", {Ip("10.0.0.100")}), context_, "");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(WorkflowTest, EndpointNeedsAnExistingNetwork) {
  Provision();
  auto pe =
      PutEndpoint(model_, MakeEndpoint("pe", "sub", "nowhere", "10.0.0.1", "fabrikam-api"), "");
  EXPECT_EQ(pe.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Msg(pe), StartsWith("network: "));
}

TEST_F(WorkflowTest, EndpointUpdateChangesOnlyTheRequestMessage) {
  Provision();
  ASSERT_TRUE(AddEndpoint("pe", "sub-c", "10.0.0.100").ok());
  PrivateEndpoint e = MakeEndpoint("pe", "sub-c", "contoso", "10.0.0.100", "fabrikam-api");
  EXPECT_EQ(*PutEndpoint(model_, e, ""), ChangeKind::kUnchanged);
  e.request_message = "please";
  EXPECT_EQ(*PutEndpoint(model_, e, ""), ChangeKind::kUpdated);
  EXPECT_EQ(model_.services.at("fabrikam-api").connections.at("pe").request_message, "please");
  e.ip = Ip("10.0.0.101");
  EXPECT_THAT(Msg(PutEndpoint(model_, e, "")), StartsWith("ip: cannot be changed"));
}

// The transition table of workflow.h, row by row.
TEST_F(WorkflowTest, ConnectionTransitions) {
  struct Case {
    const char* name;
    std::vector<std::string> steps;  // approve, reject, delete, delete-pe
    ConnectionStatus service_side;   // kDisconnected + !present = removed
    bool present;
    ConnectionStatus endpoint_side;
  } cases[] = {
      {"pending", {}, ConnectionStatus::kPending, true, ConnectionStatus::kPending},
      {"approve", {"approve"}, ConnectionStatus::kApproved, true, ConnectionStatus::kApproved},
      {"approve twice",
       {"approve", "approve"},
       ConnectionStatus::kApproved,
       true,
       ConnectionStatus::kApproved},
      {"reject pending",
       {"reject"},
       ConnectionStatus::kRejected,
       true,
       ConnectionStatus::kRejected},
      {"reject approved",
       {"approve", "reject"},
       ConnectionStatus::kRejected,
       true,
       ConnectionStatus::kRejected},
      {"approve rejected",
       {"reject", "approve"},
       ConnectionStatus::kApproved,
       true,
       ConnectionStatus::kApproved},
      {"delete pending",
       {"delete"},
       ConnectionStatus::kDisconnected,
       false,
       ConnectionStatus::kDisconnected},
      {"delete approved",
       {"approve", "delete"},
       ConnectionStatus::kDisconnected,
       false,
       ConnectionStatus::kDisconnected},
      {"endpoint deleted",
       {"approve", "delete-pe"},
       ConnectionStatus::kDisconnected,
       true,
       ConnectionStatus::kDisconnected},
      {"disconnected then deleted",
       {"delete-pe", "delete"},
       ConnectionStatus::kDisconnected,
       false,
       ConnectionStatus::kDisconnected},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    model_ = Model();
    Provision();
    ASSERT_TRUE(AddEndpoint("pe", "sub-contoso", "10.0.0.100").ok());
    const PrivateEndpoint endpoint = model_.endpoints.at("pe");
    for (const std::string& step : c.steps) {
      absl::Status s;
      if (step == "approve") s = ApproveConnection(model_, "fabrikam-api", "pe", "ok").status();
      if (step == "reject") s = RejectConnection(model_, "fabrikam-api", "pe", "no").status();
      if (step == "delete") s = DeleteConnection(model_, "fabrikam-api", "pe");
      if (step == "delete-pe") s = DeleteEndpoint(model_, "pe");
      ASSERT_TRUE(s.ok()) << step << ": " << s;
    }
    const auto& connections = model_.services.at("fabrikam-api").connections;
    ASSERT_EQ(connections.contains("pe"), c.present);
    if (c.present) {
      EXPECT_EQ(connections.at("pe").status, c.service_side);
    }
    EXPECT_EQ(EndpointConnectionStatus(model_, endpoint), c.endpoint_side);
  }
}

TEST_F(WorkflowTest, DisconnectedConnectionCanOnlyBeDeleted) {
  Provision();
  ASSERT_TRUE(AddEndpoint("pe", "sub-contoso", "10.0.0.100").ok());
  ASSERT_TRUE(DeleteEndpoint(model_, "pe").ok());
  auto approve = ApproveConnection(model_, "fabrikam-api", "pe", "");
  EXPECT_EQ(approve.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(RejectConnection(model_, "fabrikam-api", "pe", "").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(DeleteConnection(model_, "fabrikam-api", "pe").ok());
  EXPECT_EQ(DeleteConnection(model_, "fabrikam-api", "pe").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ApproveConnection(model_, "fabrikam-api", "ghost", "").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ApproveConnection(model_, "no-such", "pe", "").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(WorkflowTest, ServiceWithLiveConnectionsCannotBeDeleted) {
  Provision({"*"}, {"sub-contoso"});
  ASSERT_TRUE(AddEndpoint("approved-pe", "sub-contoso", "10.0.0.100").ok());
  ASSERT_TRUE(AddEndpoint("pending-pe", "sub-other", "10.0.0.101").ok());
  absl::Status refused = DeleteService(model_, "fabrikam-api");
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(refused), HasSubstr("approved-pe (Approved)"));
  EXPECT_THAT(Msg(refused), HasSubstr("pending-pe (Pending)"));

  // Rejected and Disconnected connections do not hold the service.
  ASSERT_TRUE(RejectConnection(model_, "fabrikam-api", "pending-pe", "").ok());
  ASSERT_TRUE(DeleteEndpoint(model_, "approved-pe").ok());
  ASSERT_TRUE(DeleteService(model_, "fabrikam-api").ok());
  // The rejected endpoint stays, and now sees Disconnected.
  EXPECT_EQ(EndpointConnectionStatus(model_, model_.endpoints.at("pending-pe")),
            ConnectionStatus::kDisconnected);
}

TEST_F(WorkflowTest, NetworkWithEndpointsCannotBeDeleted) {
  Provision();
  ASSERT_TRUE(AddEndpoint("pe", "sub-contoso", "10.0.0.100").ok());
  absl::Status refused = DeleteNetwork(model_, "contoso");
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(refused), HasSubstr("pe"));
  ASSERT_TRUE(DeleteEndpoint(model_, "pe").ok());
  EXPECT_TRUE(DeleteNetwork(model_, "contoso").ok());
  EXPECT_EQ(DeleteNetwork(model_, "contoso").code(), absl::StatusCode::kNotFound);
}

TEST_F(WorkflowTest, RecreatedEndpointGetsAFreshIdAndReplacesTheOldRecord) {
  Provision();
  ASSERT_TRUE(AddEndpoint("pe", "sub-contoso", "10.0.0.100").ok());
  const EndpointId first = model_.endpoints.at("pe").id;
  ASSERT_TRUE(DeleteEndpoint(model_, "pe").ok());
  ASSERT_TRUE(AddEndpoint("pe", "sub-contoso", "10.0.0.100").ok());
  EXPECT_NE(model_.endpoints.at("pe").id, first);
  const Connection& c = model_.services.at("fabrikam-api").connections.at("pe");
  EXPECT_EQ(c.endpoint_id, model_.endpoints.at("pe").id);
  EXPECT_EQ(c.status, ConnectionStatus::kPending);
}

TEST_F(WorkflowTest, IdsAreNotReusedUntilTheSpaceWraps) {
  ASSERT_TRUE(PutNetwork(model_, MakeNetwork("a"), context_, "").ok());
  const NetworkId first = model_.networks.at("a").id;
  ASSERT_TRUE(DeleteNetwork(model_, "a").ok());
  ASSERT_TRUE(PutNetwork(model_, MakeNetwork("a"), context_, "").ok());
  EXPECT_EQ(model_.networks.at("a").id, first + 1);
  // At the end of the space the cursor wraps to the lowest free id.
  model_.cursors.network = kNetworkIdLimit - 1;
  ASSERT_TRUE(PutNetwork(model_, MakeNetwork("b", "consumer0", 9), context_, "").ok());
  EXPECT_EQ(model_.networks.at("b").id, 1);
}

TEST_F(WorkflowTest, ApplyDocumentCreatesUpdatesAndSetsConnectionStatuses) {
  ResourceDocument doc;
  doc.networks = {MakeNetwork("contoso")};
  doc.services = {MakeService("fabrikam-api", "sub-fabrikam", {Ip("192.168.10.200")})};
  doc.services[0].connections = {{"contoso-pe", ConnectionStatus::kApproved, "welcome"}};
  doc.endpoints = {
      MakeEndpoint("contoso-pe", "sub-contoso", "contoso", "10.0.0.100", "fabrikam-api")};
  auto summary = ApplyDocument(model_, doc, context_);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->created, 3);
  EXPECT_EQ(Status("contoso-pe"), ConnectionStatus::kApproved);
  auto again = ApplyDocument(model_, doc, context_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->created, 0);
  EXPECT_EQ(again->updated, 0);
  EXPECT_EQ(again->unchanged, 3);
}

TEST_F(WorkflowTest, ApplyDocumentErrorsNameTheDocumentPath) {
  ResourceDocument doc;
  doc.networks = {MakeNetwork("a"), MakeNetwork("a", "consumer1")};
  EXPECT_EQ(std::string(ApplyDocument(model_, doc, context_).status().message()),
            "networks[1].name: duplicate name 'a'");
  doc.networks = {MakeNetwork("a")};
  doc.services = {MakeService("s1", "sub", {Ip("192.168.10.200")}),
                  MakeService("s2", "sub", {Ip("192.168.10.200")})};
  EXPECT_THAT(Msg(ApplyDocument(model_, doc, context_)),
              StartsWith("privateLinkServices[1].natIps[0]: "));
  doc.services.pop_back();
  doc.services[0].connections = {{"ghost", ConnectionStatus::kApproved, ""}};
  EXPECT_THAT(Msg(ApplyDocument(model_, doc, context_)),
              StartsWith("privateLinkServices[0].privateEndpointConnections[0]: "));
}

}  // namespace
}  // namespace privlink::control

namespace privlink::control {
namespace {

// The cross-resource rules read indexes (control/model/model_index.h). Each rule, once on a model
// the workflow kept in step and once after the maps were changed by hand behind the index's
// back (the index must notice and rebuild, never answer from what it used to describe).
TEST_F(WorkflowTest, CrossResourceRulesHoldThroughTheIndexesEvenAfterHandEdits) {
  for (const bool hand_edit : {false, true}) {
    SCOPED_TRACE(hand_edit ? "after hand edits" : "kept in step");
    model_ = Model();
    Provision();
    ASSERT_TRUE(AddEndpoint("a", "sub-c", "10.0.0.100").ok());
    if (hand_edit) {
      // Moved by hand: the endpoint to another IP, a service's NAT IP to another address, a
      // network to another VLAN.
      model_.endpoints.MutableAt("a").ip = Ip("10.0.0.50");
      model_.services.MutableAt("fabrikam-api").nat_ips[1] = Ip("192.168.10.250");
      model_.networks.MutableAt("contoso").vlan = 3;
    }
    ASSERT_TRUE(
        PutNetwork(model_, MakeVxlanNetwork("vx", "consumer1", 10, "172.16.0.1"), context_, "")
            .ok());
    if (hand_edit) {
      model_.networks.MutableAt("vx").vxlan = VxlanNetwork{11, Ip("172.16.0.2")};
    }
    const char* taken_ip = hand_edit ? "10.0.0.50" : "10.0.0.100";
    const char* free_ip = hand_edit ? "10.0.0.100" : "10.0.0.50";
    const char* nat_ip = hand_edit ? "192.168.10.250" : "192.168.10.201";
    const char* former_nat_ip = hand_edit ? "192.168.10.201" : "192.168.10.250";
    const uint16_t vlan = hand_edit ? 3 : 0;

    EXPECT_THAT(Msg(AddEndpoint("b", "sub-c", taken_ip)), HasSubstr("already used by"));
    EXPECT_TRUE(AddEndpoint("b", "sub-c", free_ip).ok());
    EXPECT_THAT(Msg(AddEndpoint("c", "sub-c", nat_ip)), HasSubstr("is a NAT IP"));
    EXPECT_TRUE(AddEndpoint("c", "sub-c", former_nat_ip).ok());
    EXPECT_THAT(Msg(PutService(model_, MakeService("s2", "sub", {Ip(taken_ip)}), context_, "")),
                HasSubstr("is the IP of private endpoint 'a'"));
    EXPECT_THAT(Msg(PutService(model_, MakeService("s2", "sub", {Ip(nat_ip)}), context_, "")),
                HasSubstr("already a NAT IP of private link service 'fabrikam-api'"));
    ServiceRequest backend_on_nat_ip = MakeService("s3", "sub", {Ip("192.168.10.210")});
    backend_on_nat_ip.service.backends[0].ip = Ip(nat_ip);
    EXPECT_THAT(Msg(PutService(model_, backend_on_nat_ip, context_, "")),
                HasSubstr("is a NAT IP of private link service 'fabrikam-api'"));
    EXPECT_THAT(Msg(PutNetwork(model_, MakeNetwork("n2", "consumer0", vlan), context_, "")),
                HasSubstr("already belongs to network 'contoso'"));
    EXPECT_TRUE(PutNetwork(model_, MakeNetwork("n2", "consumer0", 7 - vlan), context_, "").ok());
    const uint32_t vni = hand_edit ? 11 : 10;
    const char* local_ip = hand_edit ? "172.16.0.2" : "172.16.0.1";
    EXPECT_THAT(Msg(PutNetwork(model_, MakeVxlanNetwork("n3", "consumer1", vni, "172.16.9.9"),
                               context_, "")),
                HasSubstr("already belongs to network 'vx'"));
    EXPECT_THAT(
        Msg(PutNetwork(model_, MakeVxlanNetwork("n3", "consumer0", 12, local_ip), context_, "")),
        HasSubstr("is the local IP of network 'vx'"));
    EXPECT_TRUE(PutNetwork(model_, MakeVxlanNetwork("n3", "consumer1", 21 - vni, "172.16.0.3"),
                           context_, "")
                    .ok());
    EXPECT_TRUE(
        PutNetwork(model_,
                   MakeVxlanNetwork("n4", "consumer0", 12, hand_edit ? "172.16.0.1" : "172.16.0.2"),
                   context_, "")
            .ok());
    // Ids: every endpoint's and record's id distinct.
    std::set<EndpointId> ids;
    for (const auto& [name, e] : model_.endpoints) EXPECT_TRUE(ids.insert(e.id).second) << name;
  }
}

}  // namespace
}  // namespace privlink::control
