// The config file and API bodies: the reference config parses exactly; bad input is refused with
// an error naming the field.
#include "control/config/json_codec.h"

#include <cstdlib>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/config/daemon_config.h"
#include "control/config/dataplane_config.h"
#include "control/config/json_reader.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control {
namespace {

using nlohmann::json;
using ::testing::StartsWith;
using namespace privlink::control::testing;

TEST(ConfigTest, ReferenceConfigParsesExactly) {
  auto config = ParseDaemonConfig(kReferenceConfig);
  ASSERT_TRUE(config.ok()) << config.status();

  const DataplaneConfig& d = config->dataplane;
  EXPECT_EQ(d.region, "local");
  EXPECT_EQ(d.workers, 1u);
  EXPECT_EQ(d.flow_table_size, 1048576u);
  EXPECT_EQ(d.api_listen, "127.0.0.1:9180");
  EXPECT_EQ(d.state_dir, "/var/lib/privlink");
  EXPECT_EQ(d.nat_port_quarantine_seconds, 120u);
  EXPECT_EQ(d.maglev_table_size, 65537u);
  ASSERT_EQ(d.ports.size(), 2u);
  EXPECT_EQ(d.ports[0].name, "consumer0");
  EXPECT_EQ(d.ports[0].role, PortRole::kConsumer);
  EXPECT_EQ(d.ports[0].device, "net_af_packet0,iface=pl-cons0");
  EXPECT_EQ(d.ports[1].name, "provider0");
  EXPECT_EQ(d.ports[1].role, PortRole::kProvider);
  EXPECT_EQ(d.ports[1].device, "net_af_packet1,iface=pl-prov0");
  EXPECT_EQ(d.ports[1].gateway, Ip("192.168.10.254"));
  EXPECT_EQ(d.ports[1].subnet, (Ipv4Prefix{Ip("192.168.10.1"), 24}));
  EXPECT_EQ(ConsumerPortNames(d), std::vector<std::string>{"consumer0"});

  const ResourceDocument& r = config->resources;
  ASSERT_EQ(r.networks.size(), 1u);
  EXPECT_EQ(r.networks[0], (Network{"contoso", "consumer0", 0, kNoNetwork}));
  ASSERT_EQ(r.services.size(), 1u);
  const PrivateLinkService& s = r.services[0].service;
  EXPECT_EQ(s.name, "fabrikam-api");
  EXPECT_EQ(s.subscription, "sub-fabrikam");
  EXPECT_EQ(s.load_balancing_rules, (std::vector<LoadBalancingRule>{{80, 8080}}));
  EXPECT_EQ(s.backends, (std::vector<Backend>{{Ip("192.168.10.11"), 1, BackendState::kActive},
                                              {Ip("192.168.10.12"), 2, BackendState::kActive}}));
  EXPECT_EQ(s.nat_ips, (std::vector<Ipv4Be>{Ip("192.168.10.200"), Ip("192.168.10.201")}));
  EXPECT_EQ(s.visibility, std::vector<std::string>{"*"});
  EXPECT_EQ(s.auto_approval, std::vector<std::string>{"sub-contoso"});
  EXPECT_EQ(s.idle_timeout_minutes, 4u);
  EXPECT_EQ(s.connection_teardown, TeardownPolicy::kReset);
  ASSERT_EQ(r.endpoints.size(), 1u);
  EXPECT_EQ(r.endpoints[0],
            MakeEndpoint("contoso-pe", "sub-contoso", "contoso", "10.0.0.100", "fabrikam-api"));
}

TEST(ConfigTest, ShippedExampleConfigLoadsAndSeedsAControlPlane) {
  const char* root = std::getenv("PRIVLINK_SOURCE_ROOT");
  ASSERT_NE(root, nullptr) << "set PRIVLINK_SOURCE_ROOT to the source tree";
  auto config = LoadDaemonConfig(std::string(root) + "/tools/privlink.example.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->dataplane.ports.size(), 2u);
  Model model;
  SequentialUuids uuids;
  WorkflowContext context;
  context.uuids = &uuids;
  for (const std::string& port : ConsumerPortNames(config->dataplane)) {
    context.consumer_ports.insert(port);
  }
  auto summary = ApplyDocument(model, config->resources, context);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->created, 3);
  EXPECT_EQ(EndpointConnectionStatus(model, model.endpoints.at("contoso-pe")),
            ConnectionStatus::kApproved);
}

TEST(ConfigTest, ExampleConfigExtrasParse) {
  auto config = ParseDaemonConfig(R"({"dataplane": {
      "natPortQuarantineSeconds": 30, "maglevTableSize": 251, "extraMbufs": 200000,
      "flowSteering": "shared",
      "ports": [{"name": "p", "role": "provider", "device": "d", "gateway": "192.168.10.1",
                 "subnet": "192.168.10.0/24", "mac": "02:00:00:00:00:01"}]}})");
  ASSERT_TRUE(config.ok()) << config.status();
  const PortConfig& p = config->dataplane.ports[0];
  EXPECT_EQ(p.gateway, Ip("192.168.10.1"));
  EXPECT_EQ(p.subnet, (Ipv4Prefix{Ip("192.168.10.0"), 24}));
  EXPECT_EQ(p.mac, (std::array<uint8_t, 6>{2, 0, 0, 0, 0, 1}));
  EXPECT_EQ(config->dataplane.maglev_table_size, 251u);
  EXPECT_EQ(config->dataplane.extra_mbufs, 200000u);
  EXPECT_EQ(config->dataplane.flow_steering, FlowSteering::kShared);
  // Encoding and decoding again gives the same struct.
  auto again = DecodeDataplaneConfig(json{{"dataplane", EncodeDataplaneConfig(config->dataplane)}});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, config->dataplane);
}

// Each document (with `{}` around it) must fail with a message starting with `error`.
TEST(ConfigTest, InvalidDocumentsNameTheField) {
  const std::string service =
      R"("name": "s", "subscription": "sub", "loadBalancingRules": [{"frontendPort": 80,
         "backendPort": 8080}], "natIps": ["192.168.10.200"])";
  struct Case {
    std::string document;
    std::string error;
  } cases[] = {
      {"[]", "the document must be a JSON object, not an array"},
      {R"({"unknown": 1})", "unknown: unknown field"},
      {R"({"networks": {}})", "networks: must be an array"},
      {R"({"networks": [{"name": "n", "port": "p", "vlan": "0"}]})",
       "networks[0].vlan: must be an integer"},
      {R"({"networks": [{"name": "n", "port": "p", "vlan": 4095}]})", "networks[0].vlan: must be"},
      {R"({"networks": [{"name": "n", "port": "p", "vlan": -1}]})", "networks[0].vlan: must be"},
      {R"({"networks": [{"name": "n", "port": "p", "vlan": 1.5}]})",
       "networks[0].vlan: must be an integer"},
      {R"({"networks": [{"name": "n", "port": "p", "vln": 1}]})", "networks[0].vln: unknown field"},
      {R"({"networks": [{"name": "n", "port": "p", "vxlan": {"vni": 0, "localIp": "172.16.0.1"}}]})",
       "networks[0].vxlan.vni: must be 1..16777215"},
      {R"({"networks": [{"name": "n", "port": "p",
          "vxlan": {"vni": 16777216, "localIp": "172.16.0.1"}}]})",
       "networks[0].vxlan.vni: must be 1..16777215"},
      {R"({"networks": [{"name": "n", "port": "p",
          "vxlan": {"vni": "100", "localIp": "172.16.0.1"}}]})",
       "networks[0].vxlan.vni: must be an integer"},
      {R"({"networks": [{"name": "n", "port": "p", "vxlan": {"localIp": "172.16.0.1"}}]})",
       "networks[0].vxlan.vni: required field is missing"},
      {R"({"networks": [{"name": "n", "port": "p", "vxlan": {"vni": 100, "localIp": "172.16.0"}}]})",
       "networks[0].vxlan.localIp: invalid IPv4 address"},
      {R"({"networks": [{"name": "n", "port": "p", "vxlan": {"vni": 100}}]})",
       "networks[0].vxlan.localIp: required field is missing"},
      {R"({"networks": [{"name": "n", "port": "p",
          "vxlan": {"vni": 100, "localIp": "172.16.0.1", "port": 4789}}]})",
       "networks[0].vxlan.port: unknown field"},
      {R"({"networks": [{"name": "n", "port": "p", "vxlan": 100}]})",
       "networks[0].vxlan: must be an object"},
      {R"({"networks": [{"name": "n"}]})", "networks[0].port: required field is missing"},
      {R"({"networks": [7]})", "networks[0]: must be an object"},
      {R"({"privateLinkServices": [{)" + service +
           R"(, "natIps": ["1.2.3.4", "5.6.7.8", "1.2.3"]}]})",
       "privateLinkServices[0].natIps[2]: invalid IPv4 address"},
      {R"({"privateLinkServices": [{"name": "s", "subscription": "sub", "natIps": ["1.2.3.4"],
          "loadBalancingRules": [{"frontendPort": 0, "backendPort": 80}]}]})",
       "privateLinkServices[0].loadBalancingRules[0].frontendPort: must be 1..65535"},
      {R"({"privateLinkServices": [{"name": "s", "subscription": "sub", "natIps": ["1.2.3.4"],
          "loadBalancingRules": [{"frontendPort": 80, "backendPort": 65536}]}]})",
       "privateLinkServices[0].loadBalancingRules[0].backendPort: must be 1..65535"},
      {R"({"privateLinkServices": [{)" + service + R"(, "backends": [{"ip": "10.1.1.1",
          "weight": 1.5}]}]})",
       "privateLinkServices[0].backends[0].weight: must be an integer"},
      {R"({"privateLinkServices": [{)" + service + R"(, "backends": [{"ip": "10.1.1.1",
          "state": "off"}]}]})",
       "privateLinkServices[0].backends[0].state: must be one of active, draining"},
      {R"({"privateLinkServices": [{)" + service + R"(, "backends": [{"ip": "10.1.1.1",
          "port": 1}]}]})",
       "privateLinkServices[0].backends[0].port: unknown field"},
      {R"({"privateLinkServices": [{)" + service + R"(, "visibility": [1]}]})",
       "privateLinkServices[0].visibility[0]: must be a string"},
      {R"({"privateLinkServices": [{)" + service + R"(, "visibility": "*"}]})",
       "privateLinkServices[0].visibility: must be an array"},
      {R"({"privateLinkServices": [{)" + service + R"(, "idleTimeoutMinutes": 3}]})",
       "privateLinkServices[0].idleTimeoutMinutes: must be 4..124"},
      {R"({"privateLinkServices": [{)" + service + R"(, "idleTimeoutMinutes": 125}]})",
       "privateLinkServices[0].idleTimeoutMinutes: must be 4..124"},
      {R"({"privateLinkServices": [{)" + service + R"(, "udpIdleTimeoutSeconds": 119}]})",
       "privateLinkServices[0].udpIdleTimeoutSeconds: must be 120..86400"},
      {R"({"privateLinkServices": [{"name": "s", "subscription": "sub", "natIps": ["1.2.3.4"],
          "loadBalancingRules": [{"frontendPort": 53, "backendPort": 53, "protocol": "sctp"}]}]})",
       "privateLinkServices[0].loadBalancingRules[0].protocol: must be one of tcp, udp"},
      {R"({"privateLinkServices": [{)" + service + R"(, "connectionTeardown": "slam"}]})",
       "privateLinkServices[0].connectionTeardown: must be one of reset, drain"},
      {R"({"privateLinkServices": [{)" + service + R"(, "enableTcpReset": "yes"}]})",
       "privateLinkServices[0].enableTcpReset: must be true or false"},
      {R"({"privateLinkServices": [{)" + service +
           R"(, "probe": {"protocol": "udp", "port": 80}}]})",
       "privateLinkServices[0].probe.protocol: must be one of tcp, http"},
      {R"({"privateLinkServices": [{)" + service + R"(, "probe": {"protocol": "tcp"}}]})",
       "privateLinkServices[0].probe.port: required field is missing"},
      {R"({"privateLinkServices": [{)" + service + R"(, "probe": {"port": 80,
          "intervalSeconds": 0}}]})",
       "privateLinkServices[0].probe.intervalSeconds: must be 1..300"},
      {R"({"privateLinkServices": [{)" + service + R"(, "probe": {"port": 80,
          "unhealthyThreshold": 101}}]})",
       "privateLinkServices[0].probe.unhealthyThreshold: must be 1..100"},
      {R"({"privateLinkServices": [{)" + service + R"(, "probe": {"port": 80,
          "onDown": "panic"}}]})",
       "privateLinkServices[0].probe.onDown: must be one of keep, reset"},
      {R"({"privateLinkServices": [{)" + service + R"(, "probe": {"port": 80, "host": "x"}}]})",
       "privateLinkServices[0].probe.host: unknown field"},
      {R"({"privateLinkServices": [{"name": "s", "subscription": "sub",
          "loadBalancingRules": [{"frontendPort": 80, "backendPort": 80}]}]})",
       "privateLinkServices[0].natIps: required field is missing"},
      {R"({"privateEndpoints": [{"name": "e", "subscription": "s", "network": "n",
          "ip": "10.0.0.256", "privateLinkService": "x"}]})",
       "privateEndpoints[0].ip: invalid IPv4 address"},
      {R"({"privateEndpoints": [{"name": "e", "subscription": "s", "network": "n",
          "ip": 167772161, "privateLinkService": "x"}]})",
       "privateEndpoints[0].ip: must be a string"},
      {R"({"dataplane": {"workers": 0}})", "dataplane.workers: must be 1..128"},
      {R"({"dataplane": {"flowTableSize": "big"}})", "dataplane.flowTableSize: must be an integer"},
      {R"({"dataplane": {"maglevTableSize": 65536}})",
       "dataplane.maglevTableSize: 65536 is not a prime"},
      {R"({"dataplane": {"extraMbufs": -1}})", "dataplane.extraMbufs: must be 0..16777216"},
      {R"({"dataplane": {"flowSteering": "rss"}})",
       "dataplane.flowSteering: must be rss-port-choice or shared, not 'rss'"},
      {R"({"dataplane": {"api": {"listen": 9180}}})", "dataplane.api.listen: must be a string"},
      {R"({"dataplane": {"api": {"port": 1}}})", "dataplane.api.port: unknown field"},
      {R"({"dataplane": {"api": {"allowRemote": "yes"}}})", "dataplane.api.allowRemote: must be"},
      {R"({"dataplane": {"api": {"tokenFile": 7}}})", "dataplane.api.tokenFile: must be a string"},
      {R"({"dataplane": {"ports": [{"name": "p", "role": "both", "device": "d"}]}})",
       "dataplane.ports[0].role: must be consumer or provider"},
      {R"({"dataplane": {"ports": [{"name": "p", "role": "provider", "device": "d",
          "subnet": "10.0.0.0/33"}]}})",
       "dataplane.ports[0].subnet: invalid prefix length"},
      {R"({"dataplane": {"ports": [{"name": "p", "role": "provider", "device": "d",
          "mac": "02:00:00:00:00"}]}})",
       "dataplane.ports[0].mac: invalid MAC address"},
      {R"({"dataplane": {"ports": [{"name": "p", "role": "consumer", "device": "d",
          "gateway": "10.0.0.1"}]}})",
       "dataplane.ports[0].gateway: only provider ports have one"},
      {R"({"dataplane": {"ports": [{"name": "p", "role": "consumer", "device": "d",
          "mssClamp": 100}]}})",
       "dataplane.ports[0].mssClamp: must be 536..8960"},
      {R"({"dataplane": {"ports": [{"name": "p", "role": "consumer", "device": "d"},
          {"name": "p", "role": "provider", "device": "e"}]}})",
       "dataplane.ports[1].name: duplicate port"},
      {R"({"dataplane": {"region": "west us"}})", "dataplane.region: invalid name"},
      {R"({"dataplane": {"stateDir": null}})", "dataplane.stateDir: must be a string"},
      {R"({"networks": [)", "malformed JSON"},
  };
  for (const Case& c : cases) {
    auto config = ParseDaemonConfig(c.document);
    EXPECT_FALSE(config.ok()) << c.document;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << c.document;
    EXPECT_THAT(Msg(config), StartsWith(c.error)) << c.document;
  }
}

TEST(CodecTest, RequestAcceptsWhatGetReturnsAndIgnoresReadOnlyFields) {
  PrivateLinkService s = MakeService("svc", "sub", {Ip("192.168.10.200")}).service;
  s.id = 7;
  s.alias = "svc.x.local.privlinkservice";
  s.enable_tcp_reset = true;
  s.probe = HealthProbe{.protocol = ProbeProtocol::kHttp,
                        .port = 8080,
                        .path = "/healthz",
                        .interval_seconds = 10,
                        .unhealthy_threshold = 3,
                        .healthy_threshold = 1,
                        .timeout_seconds = 4,
                        .on_down = ProbeDownAction::kReset};
  s.connections.Set("pe", {"pe", 3, "sub-c", "hello", "", ConnectionStatus::kApproved});
  auto decoded = DecodeService(EncodeService(s), "", DecodeMode::kRequest);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->service.id, kNoService);
  EXPECT_TRUE(decoded->service.alias.empty());
  EXPECT_TRUE(decoded->service.connections.empty());
  ASSERT_EQ(decoded->connections.size(), 1u);
  EXPECT_EQ(decoded->connections[0].private_endpoint, "pe");
  EXPECT_EQ(decoded->connections[0].status, ConnectionStatus::kApproved);
  decoded->service.id = s.id;
  decoded->service.alias = s.alias;
  decoded->service.connections = s.connections;
  EXPECT_EQ(decoded->service, s);
}

// "vxlan" only where the network has one; what GET returns reads back the same.
TEST(CodecTest, VxlanIsEncodedOnlyWhenSetAndReadsBack) {
  const Network plain = MakeNetwork("plain", "consumer0", 12);
  EXPECT_FALSE(EncodeNetwork(plain).contains("vxlan"));
  Network vxlan = MakeVxlanNetwork("vx", "consumer0", 5000, "172.16.0.1");
  vxlan.id = 3;
  const json encoded = EncodeNetwork(vxlan);
  EXPECT_EQ(encoded["vxlan"], (json{{"vni", 5000}, {"localIp", "172.16.0.1"}}));
  EXPECT_EQ(encoded["vlan"], 0);
  auto request = DecodeNetwork(encoded, "", DecodeMode::kRequest);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->id, kNoNetwork);
  EXPECT_EQ(request->vxlan, vxlan.vxlan);
  auto state = DecodeNetwork(encoded, "", DecodeMode::kState);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, vxlan);
  auto bare = DecodeNetwork(json::parse(R"({"port": "consumer0",
                                            "vxlan": {"vni": 1, "localIp": "10.1.1.1"}})"),
                            "", DecodeMode::kRequest);
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_EQ(bare->vlan, 0);
  EXPECT_EQ(bare->vxlan, (VxlanNetwork{1, Ip("10.1.1.1")}));
}

TEST(CodecTest, StateRoundTripIsExact) {
  Model model;
  SequentialUuids uuids;
  WorkflowContext context;
  context.uuids = &uuids;
  auto config = ParseDaemonConfig(kReferenceConfig);
  ASSERT_TRUE(config.ok());
  ASSERT_TRUE(ApplyDocument(model, config->resources, context).ok());
  ASSERT_TRUE(
      PutEndpoint(model, MakeEndpoint("other", "sub-x", "contoso", "10.0.0.7", "fabrikam-api"), "")
          .ok());
  ASSERT_TRUE(RejectConnection(model, "fabrikam-api", "other", "not you").ok());
  ASSERT_TRUE(
      PutNetwork(model, MakeVxlanNetwork("vx", "consumer0", 5000, "172.16.0.1"), context, "").ok());
  auto restored = DecodeState(json::parse(EncodeState(model).dump()));
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(*restored, model);
}

TEST(CodecTest, StateNeedsItsReadOnlyFields) {
  json state = EncodeState(Model());
  state["networks"] = json::array({{{"name", "n"}, {"port", "p"}, {"vlan", 0}}});
  EXPECT_THAT(Msg(DecodeState(state)), StartsWith("networks[0].id: required field is missing"));
  state.erase("idCursors");
  EXPECT_THAT(Msg(DecodeState(state)), StartsWith("idCursors: required field is missing"));
}

TEST(JsonReaderTest, IntegersOutOfEveryRangeAreRefused) {
  for (const char* text : {R"({"v": 18446744073709551615})", R"({"v": -9223372036854775808})",
                           R"({"v": 1e3})", R"({"v": true})", R"({"v": null})"}) {
    json value = json::parse(text);
    JsonObjectReader r(value, "");
    r.Integer("v", 0, 100);
    EXPECT_THAT(Msg(r.Finish()), StartsWith("v: must be")) << text;
  }
}

}  // namespace
}  // namespace privlink::control
