// privlinkctl, the real binary (path in $PRIVLINKCTL), against a running API server.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/api/api_server.h"
#include "control/cli/api_client.h"
#include "control/config/daemon_config.h"
#include "control/model/model_index.h"
#include "control/store/model_rows.h"
#include "control/store/sqlite_store.h"
#include "tests/control/framework/loopback_api.h"
#include "tests/control/framework/process_util.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace privlink::control::testing;

class CliTest : public LoopbackApiTest {
 protected:
  void SetUp() override {
    binary_ = BinaryFromEnv("PRIVLINKCTL");
    ASSERT_FALSE(binary_.empty()) << "set PRIVLINKCTL to the privlinkctl binary";
    char dir[] = "/tmp/privlink-cli-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    LoopbackApiTest::SetUp();
  }
  void TearDown() override {
    LoopbackApiTest::TearDown();
    std::filesystem::remove_all(dir_);
  }

  ProcessResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {binary_, "--server", Host()});
    return RunProcess(args, dir_);
  }
  const Model& model() {
    held_ = control_->model();
    return *held_;
  }

  std::string binary_;
  std::string dir_;
  std::shared_ptr<const Model> held_;
};

TEST_F(CliTest, NetworkVerbs) {
  ProcessResult list = Ctl({"network", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, StartsWith("NAME     PORT       VLAN  VNI  LOCAL IP  ID\n"
                                   "contoso  consumer0  0     -    -         1\n"));

  ProcessResult created =
      Ctl({"network", "create", "tailspin", "--port", "consumer0", "--vlan", "3"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(model().networks.at("tailspin").vlan, 3);

  ProcessResult shown = Ctl({"-o", "json", "network", "show", "--name", "tailspin"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(json::parse(shown.out)["vlan"], 3);

  ProcessResult deleted = Ctl({"network", "delete", "-n", "tailspin"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_FALSE(model().networks.contains("tailspin"));
}

TEST_F(CliTest, VxlanNetworkCreateListAndShow) {
  ProcessResult created = Ctl({"network", "create", "tailspin", "--port", "consumer0", "--vni",
                               "5000", "--local-ip", "172.16.0.1"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const Network& network = model().networks.at("tailspin");
  ASSERT_TRUE(network.vxlan.has_value());
  EXPECT_EQ(*network.vxlan, (VxlanNetwork{5000, Ip("172.16.0.1")}));
  EXPECT_EQ(network.vlan, 0);

  ProcessResult list = Ctl({"network", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out,
            "NAME      PORT       VLAN  VNI   LOCAL IP    ID\n"
            "contoso   consumer0  0     -     -           1\n"
            "tailspin  consumer0  0     5000  172.16.0.1  2\n");
  ProcessResult shown = Ctl({"network", "show", "tailspin"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_THAT(shown.out, HasSubstr("vxlan.vni      5000\n"));
  EXPECT_THAT(shown.out, HasSubstr("vxlan.localIp  172.16.0.1\n"));

  // --vni and --local-ip go together and without --vlan: refused before anything is sent.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--vlan", "3", "--vni", "5001", "--local-ip", "172.16.0.1"},
           {"--vni", "5001"},
           {"--local-ip", "172.16.0.1"},
           {"--vni", "many", "--local-ip", "172.16.0.1"}}) {
    std::vector<std::string> command = {"network", "create", "n", "--port", "consumer0"};
    command.insert(command.end(), args.begin(), args.end());
    ProcessResult r = Ctl(command);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(args) << r.err;
    EXPECT_THAT(r.err, HasSubstr("privlinkctl: "));
  }
  EXPECT_THAT(Ctl({"network", "create", "n", "--port", "consumer0", "--vlan", "3", "--vni", "5001",
                   "--local-ip", "172.16.0.1"})
                  .err,
              HasSubstr("--vlan and --vni are exclusive"));
  EXPECT_THAT(Ctl({"network", "create", "n", "--port", "consumer0", "--vni", "5001"}).err,
              HasSubstr("--local-ip is required"));
  EXPECT_THAT(
      Ctl({"network", "create", "n", "--port", "consumer0", "--local-ip", "172.16.0.1"}).err,
      HasSubstr("--local-ip needs --vni"));
  // The API's refusals name the field.
  ProcessResult taken = Ctl({"network", "create", "n", "--port", "consumer0", "--vni", "5000",
                             "--local-ip", "172.16.0.1"});
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_THAT(taken.err,
              HasSubstr("vxlan.vni: port 'consumer0' vni 5000 already belongs to network "
                        "'tailspin'"));
  ProcessResult zero = Ctl(
      {"network", "create", "n", "--port", "consumer0", "--vni", "0", "--local-ip", "172.16.0.1"});
  EXPECT_EQ(zero.exit_code, 1);
  EXPECT_THAT(zero.err, HasSubstr("vxlan.vni: must be 1..16777215"));
  EXPECT_FALSE(model().networks.contains("n"));
}

TEST_F(CliTest, ProbeOptionsSetChangeAndRemoveTheProbe) {
  ProcessResult created =
      Ctl({"service", "create", "p-svc", "--subscription", "sub-b", "--rule", "443:8443",
           "--backend", "192.168.20.11", "--nat-ip", "192.168.20.200", "--probe",
           "http:8443/healthz", "--probe-interval", "10", "--probe-unhealthy", "3"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  ASSERT_TRUE(model().services.at("p-svc").probe.has_value());
  HealthProbe want{.protocol = ProbeProtocol::kHttp,
                   .port = 8443,
                   .path = "/healthz",
                   .interval_seconds = 10,
                   .unhealthy_threshold = 3,
                   .timeout_seconds = 10};
  EXPECT_EQ(*model().services.at("p-svc").probe, want);
  EXPECT_THAT(created.out, HasSubstr("backendHealth"));

  ProcessResult changed =
      Ctl({"service", "update", "p-svc", "--probe-on-down", "reset", "--probe-timeout", "2"});
  ASSERT_EQ(changed.exit_code, 0) << changed.err;
  want.on_down = ProbeDownAction::kReset;
  want.timeout_seconds = 2;
  EXPECT_EQ(*model().services.at("p-svc").probe, want) << "the rest of the probe stays";

  // Refused before anything is sent, or by the API with the field named.
  ProcessResult bad = Ctl({"service", "update", "p-svc", "--probe", "icmp:1"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("invalid --probe 'icmp:1'"));
  ProcessResult bad_path = Ctl({"service", "update", "p-svc", "--probe", "http:80"});
  EXPECT_NE(bad_path.exit_code, 0);
  EXPECT_THAT(bad_path.err, HasSubstr("probe.path"));
  EXPECT_EQ(*model().services.at("p-svc").probe, want);

  ASSERT_EQ(Ctl({"service", "update", "p-svc", "--probe", "none"}).exit_code, 0);
  EXPECT_FALSE(model().services.at("p-svc").probe.has_value());
  ProcessResult orphan = Ctl({"service", "update", "p-svc", "--probe-interval", "3"});
  EXPECT_NE(orphan.exit_code, 0);
  EXPECT_THAT(orphan.err, HasSubstr("need a probe"));
}

TEST_F(CliTest, ServiceEndpointAndConnectionVerbs) {
  ProcessResult service = Ctl({"service",
                               "create",
                               "b-svc",
                               "--subscription",
                               "sub-b",
                               "--rule",
                               "443:8443",
                               "--rule",
                               "53:5353/udp",
                               "--udp-idle-timeout",
                               "600",
                               "--backend",
                               "192.168.20.11:2",
                               "--backend",
                               "192.168.20.12:draining",
                               "--nat-ip",
                               "192.168.20.200",
                               "--visibility",
                               "sub-contoso",
                               "--auto-approval",
                               "sub-contoso",
                               "--idle-timeout",
                               "10",
                               "--teardown",
                               "drain",
                               "--fqdn",
                               "api.b.example"});
  ASSERT_EQ(service.exit_code, 0) << service.err;
  const PrivateLinkService& s = model().services.at("b-svc");
  EXPECT_EQ(s.load_balancing_rules,
            (std::vector<LoadBalancingRule>{{443, 8443}, {53, 5353, RuleProtocol::kUdp}}));
  EXPECT_EQ(s.udp_idle_timeout_seconds, 600u);
  EXPECT_EQ(s.backends[0].weight, 2u);
  EXPECT_EQ(s.backends[1].state, BackendState::kDraining);
  EXPECT_EQ(s.idle_timeout_minutes, 10u);
  EXPECT_EQ(s.connection_teardown, TeardownPolicy::kDrain);
  EXPECT_EQ(s.fqdns, std::vector<std::string>{"api.b.example"});
  const std::string alias = s.alias;

  ProcessResult updated = Ctl(
      {"service", "update", "b-svc", "--nat-ip", "192.168.20.200", "--nat-ip", "192.168.20.201"});
  ASSERT_EQ(updated.exit_code, 0) << updated.err;
  EXPECT_EQ(model().services.at("b-svc").nat_ips.size(), 2u);
  EXPECT_EQ(model().services.at("b-svc").backends.size(), 2u);  // untouched options stay

  ProcessResult endpoint =
      Ctl({"endpoint", "create", "c-pe", "--subscription", "sub-contoso", "--network", "contoso",
           "--ip", "10.0.0.50", "--service", alias, "--request-message", "hi there"});
  ASSERT_EQ(endpoint.exit_code, 0) << endpoint.err;
  EXPECT_THAT(endpoint.out, HasSubstr("connectionStatus      Approved"));

  ProcessResult connections = Ctl({"connection", "list", "--service", "b-svc"});
  ASSERT_EQ(connections.exit_code, 0) << connections.err;
  EXPECT_THAT(connections.out, HasSubstr("c-pe              sub-contoso   Approved  hi there"));

  ASSERT_EQ(
      Ctl({"connection", "reject", "c-pe", "--service", "b-svc", "--description", "bye"}).exit_code,
      0);
  EXPECT_EQ(model().services.at("b-svc").connections.at("c-pe").status,
            ConnectionStatus::kRejected);
  EXPECT_EQ(model().services.at("b-svc").connections.at("c-pe").description, "bye");
  ASSERT_EQ(Ctl({"connection", "approve", "c-pe", "--service", "b-svc"}).exit_code, 0);
  EXPECT_EQ(model().services.at("b-svc").connections.at("c-pe").status,
            ConnectionStatus::kApproved);
  ASSERT_EQ(Ctl({"connection", "delete", "c-pe", "--service", "b-svc"}).exit_code, 0);
  EXPECT_FALSE(model().services.at("b-svc").connections.contains("c-pe"));

  ProcessResult endpoints = Ctl({"-o", "json", "endpoint", "list"});
  ASSERT_EQ(endpoints.exit_code, 0);
  EXPECT_EQ(json::parse(endpoints.out)["value"].size(), 2u);
  ASSERT_EQ(Ctl({"endpoint", "delete", "c-pe"}).exit_code, 0);
  ASSERT_EQ(Ctl({"service", "delete", "b-svc"}).exit_code, 0);
  EXPECT_FALSE(model().services.contains("b-svc"));
  EXPECT_EQ(Ctl({"service", "list"}).exit_code, 0);
  EXPECT_EQ(Ctl({"endpoint", "show", "contoso-pe"}).exit_code, 0);
}

// A NAT IP leaves in two steps: drained, then removed (this server has no dataplane, so no flow
// holds it); --draining-nat-ip none puts every NAT IP back in use.
TEST_F(CliTest, NatIpIsDrainedThenRemoved) {
  ProcessResult drain =
      Ctl({"service", "update", "fabrikam-api", "--draining-nat-ip", "192.168.10.201"});
  ASSERT_EQ(drain.exit_code, 0) << drain.err;
  ProcessResult shown = Ctl({"-o", "json", "service", "show", "fabrikam-api"});
  EXPECT_EQ(nlohmann::json::parse(shown.out)["drainingNatIps"],
            nlohmann::json::array({"192.168.10.201"}));
  // The removed IP leaves the draining list with it.
  ProcessResult removed = Ctl({"service", "update", "fabrikam-api", "--nat-ip", "192.168.10.200"});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  nlohmann::json service =
      nlohmann::json::parse(Ctl({"-o", "json", "service", "show", "fabrikam-api"}).out);
  EXPECT_EQ(service["natIps"], nlohmann::json::array({"192.168.10.200"}));
  EXPECT_EQ(service["drainingNatIps"], nlohmann::json::array());
  ASSERT_EQ(Ctl({"service", "update", "fabrikam-api", "--nat-ip", "192.168.10.200", "--nat-ip",
                 "192.168.10.202", "--draining-nat-ip", "192.168.10.202"})
                .exit_code,
            0);
  ASSERT_EQ(Ctl({"service", "update", "fabrikam-api", "--draining-nat-ip", "none"}).exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(
                Ctl({"-o", "json", "service", "show", "fabrikam-api"}).out)["drainingNatIps"],
            nlohmann::json::array());
}

TEST_F(CliTest, ApiRefusalsExitNonZeroWithTheApiMessage) {
  ProcessResult refused = Ctl({"network", "delete", "contoso"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.err,
            "privlinkctl: error: network 'contoso' is used by private endpoints: contoso-pe; "
            "delete them first\n");
  ProcessResult removed = Ctl({"service", "update", "fabrikam-api", "--nat-ip", "192.168.10.200"});
  EXPECT_EQ(removed.exit_code, 1);
  EXPECT_THAT(removed.err,
              HasSubstr("NAT IP 192.168.10.201 must be draining before it is removed"));
  ProcessResult missing = Ctl({"service", "show", "ghost"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("private link service 'ghost' not found"));
}

TEST_F(CliTest, ApplyAndStats) {
  json document = json::parse(kReferenceConfig);
  document["networks"].push_back({{"name", "n2"}, {"port", "consumer0"}, {"vlan", 2}});
  const std::string file = dir_ + "/config.json";
  std::ofstream(file) << document.dump();
  ProcessResult applied = Ctl({"apply", "-f", file});
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  EXPECT_EQ(applied.out, "applied: 1 created, 0 updated, 3 unchanged\n");
  EXPECT_TRUE(model().networks.contains("n2"));

  std::ofstream(file) << "{ broken";
  ProcessResult broken = Ctl({"apply", "-f", file});
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_THAT(broken.err, HasSubstr("malformed JSON"));

  ProcessResult stats = Ctl({"stats"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_THAT(stats.out, HasSubstr("control.networks "));
  EXPECT_THAT(stats.out, HasSubstr("(no dataplane"));
  ProcessResult json_stats = Ctl({"-o", "json", "stats"});
  EXPECT_EQ(json::parse(json_stats.out)["control"]["networks"], 2);
}

// privlinkctl dns: the zone files (default), the hosts file, the API's JSON.
TEST_F(CliTest, DnsPrintsZonesHostsOrJson) {
  ASSERT_TRUE(control_
                  ->Change([](Model& m, const WorkflowContext&) {
                    ServiceToChange(m, "fabrikam-api")->fqdns = {"api.fabrikam.com"};
                    return absl::OkStatus();
                  })
                  .ok());
  ProcessResult zones = Ctl({"dns", "--network", "contoso"});
  ASSERT_EQ(zones.exit_code, 0) << zones.err;
  EXPECT_THAT(zones.out, HasSubstr("$ORIGIN fabrikam.com.\n"));
  EXPECT_THAT(zones.out, HasSubstr("\napi\tIN\tA\t10.0.0.100\t; endpoint contoso-pe"));
  ProcessResult hosts = Ctl({"dns", "--network", "contoso", "--format", "hosts"});
  ASSERT_EQ(hosts.exit_code, 0) << hosts.err;
  EXPECT_THAT(hosts.out, HasSubstr("\n10.0.0.100\tapi.fabrikam.com\n"));
  ProcessResult as_json = Ctl({"-o", "json", "dns", "--network", "contoso"});
  ASSERT_EQ(as_json.exit_code, 0) << as_json.err;
  EXPECT_EQ(json::parse(as_json.out)["records"][0]["fqdn"], "api.fabrikam.com");
  ProcessResult missing = Ctl({"dns", "--network", "nowhere"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("network 'nowhere' not found"));
  EXPECT_EQ(Ctl({"dns", "--network", "contoso", "--format", "yaml"}).exit_code, 2);
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"network", "frobnicate"},
                                             {},
                                             {"network", "create", "n"},  // no --port
                                             {"network", "create", "n", "--port"},
                                             {"-o", "yaml", "network", "list"},
                                             {"service", "create", "s", "--rule", "eighty"},
                                             {"service", "create", "s", "--rule", "53/sctp"},
                                             {"network", "list", "--bogus"}}) {
    ProcessResult r = Ctl(args);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(args) << r.err;
    EXPECT_THAT(r.err, HasSubstr("privlinkctl: "));
  }
  ProcessResult help = RunProcess({binary_, "--help"}, dir_);
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("connection approve"));
}

// list follows the API's nextLink: a page size smaller than the list still shows every item.
TEST_F(CliTest, ListFollowsNextLinkToTheLastPage) {
  for (int i = 1; i <= 6; ++i) {
    ASSERT_EQ(Ctl({"network", "create", "n" + std::to_string(i), "--port", "consumer0", "--vlan",
                   std::to_string(i)})
                  .exit_code,
              0);
  }
  ProcessResult whole = Ctl({"network", "list"});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  ProcessResult paged = Ctl({"network", "list", "--page-size", "2"});  // 4 requests for 7
  ASSERT_EQ(paged.exit_code, 0) << paged.err;
  EXPECT_EQ(paged.out, whole.out);
  EXPECT_THAT(paged.out, HasSubstr("\nn6 "));
  ProcessResult json_list = Ctl({"-o", "json", "network", "list", "--page-size", "3"});
  ASSERT_EQ(json_list.exit_code, 0) << json_list.err;
  const json listed = json::parse(json_list.out);
  ASSERT_EQ(listed["value"].size(), 7u);
  EXPECT_EQ(listed["value"][6]["name"], "n6");
  EXPECT_FALSE(listed.contains("nextLink"));

  ProcessResult connections =
      Ctl({"connection", "list", "--service", "fabrikam-api", "--page-size", "1"});
  ASSERT_EQ(connections.exit_code, 0) << connections.err;
  EXPECT_THAT(connections.out, HasSubstr("contoso-pe"));

  for (const char* bad : {"0", "1001"}) {
    ProcessResult r = Ctl({"network", "list", "--page-size", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_THAT(r.err, HasSubstr("--page-size: must be 1..1000"));
  }
}

TEST_F(CliTest, UnreachableServerFails) {
  ProcessResult r = RunProcess({binary_, "--server", "127.0.0.1:1", "network", "list"}, dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot reach privlinkd at 127.0.0.1:1"));
}

TEST_F(CliTest, TalksOverAUnixSocket) {
  const std::string path = dir_ + "/api.sock";
  ApiServer unix_server(*control_, nullptr);
  ASSERT_TRUE(unix_server.Bind({true, "", 0, path}).ok());
  unix_server.Start();
  ProcessResult r = RunProcess({binary_, "--server", path, "network", "list"}, dir_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("contoso"));
  unix_server.Stop();
}

// state export gives GET /v1/state's bytes (to stdout or a file); state backup writes a SQLite
// database that a store opens with the same model; apply imports an exported document.
TEST_F(CliTest, StateExportBackupAndApplyOfTheExport) {
  auto config = ParseDaemonConfig(kReferenceConfig);
  ASSERT_TRUE(config.ok());
  ControlPlaneOptions options;
  options.consumer_ports = ConsumerPortNames(config->dataplane);
  auto store = SqliteStore::Open(dir_ + "/state");
  ASSERT_TRUE(store.ok()) << store.status();
  SequentialUuids uuids;
  auto stored = ControlPlane::Create(options, std::move(*store), config->resources, &uuids);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ApiServer server(**stored, nullptr);
  ASSERT_TRUE(server.Bind({false, "127.0.0.1", 0, ""}).ok());
  server.Start();
  const std::string address = "127.0.0.1:" + std::to_string(server.port());
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {binary_, "--server", address});
    return RunProcess(args, dir_);
  };
  ASSERT_EQ(ctl({"network", "create", "extra", "--port", "consumer0", "--vlan", "4"}).exit_code, 0);

  ApiClient client({false, "127.0.0.1", server.port(), ""});
  auto state = client.GetRaw("/v1/state");
  ASSERT_TRUE(state.ok());
  ProcessResult out = ctl({"state", "export"});
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_EQ(out.out, state->body);
  const std::string exported = dir_ + "/export.json";
  ASSERT_EQ(ctl({"state", "export", "--file", exported}).exit_code, 0);
  EXPECT_EQ(Slurp(exported), state->body);

  const std::string backup_dir = dir_ + "/restored";
  std::filesystem::create_directory(backup_dir);
  ProcessResult backup = ctl({"state", "backup", backup_dir + "/state.db"});
  EXPECT_EQ(backup.exit_code, 0) << backup.err;
  EXPECT_FALSE(std::filesystem::exists(backup_dir + "/state.db.partial"));
  auto restored = SqliteStore::Open(backup_dir);
  ASSERT_TRUE(restored.ok()) << restored.status();
  auto contents = (*restored)->Load();
  ASSERT_TRUE(contents.ok());
  auto decoded = DecodeModelRows(contents->rows);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, *(*stored)->model());
  server.Stop();

  // The test's in-memory server has no store to back up; apply imports the export there.
  ProcessResult none = Ctl({"state", "backup", dir_ + "/none.db"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_THAT(none.err, HasSubstr("no store to back up"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/none.db"));
  ProcessResult applied = Ctl({"apply", "-f", exported});
  EXPECT_EQ(applied.exit_code, 0) << applied.err;
  EXPECT_THAT(applied.out, HasSubstr("applied: 1 created"));
  EXPECT_TRUE(model().networks.contains("extra"));
}

}  // namespace
}  // namespace privlink::control
