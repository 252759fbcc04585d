// The REST API over a real HTTP connection: resources and verbs of issue 3, the approval workflow,
// and a table of invalid requests answered 400/404/409 with the state unchanged. Bodies on every
// route: api_body_test.cc; access rules: api_access_test.cc.
#include "control/api/api_server.h"

#include <httplib.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "control/cli/api_client.h"
#include "tests/control/framework/fake_inspector.h"
#include "tests/control/framework/loopback_api.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace privlink::control::testing;

class ApiTest : public LoopbackApiTest {
 protected:
  ApiResponse Raw(const std::string& method, const std::string& path, const std::string& body) {
    httplib::Client client("127.0.0.1", server_->port());
    auto result = method == "PUT" ? client.Put(path, body, "application/json")
                                  : client.Post(path, body, "application/json");
    EXPECT_TRUE(result);
    ApiResponse response;
    response.status = result->status;
    response.body = json::parse(result->body, nullptr, false);
    return response;
  }
  json State() { return Call("GET", "/v1/state").body; }
};

const json kService = {{"subscription", "sub-b"},
                       {"loadBalancingRules", {{{"frontendPort", 443}, {"backendPort", 8443}}}},
                       {"backends", {{{"ip", "192.168.20.11"}}}},
                       {"natIps", {"192.168.20.200"}},
                       {"visibility", {"sub-contoso"}}};

TEST_F(ApiTest, PutCreatesThenUpdatesIdempotently) {
  const json network = {{"port", "consumer0"}, {"vlan", 12}};
  ApiResponse created = Call("PUT", "/v1/networks/tailspin", network);
  EXPECT_EQ(created.status, 201);
  EXPECT_EQ(created.body["name"], "tailspin");
  const uint64_t generation = control_->counters().snapshot_generation;
  ApiResponse again = Call("PUT", "/v1/networks/tailspin", network);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, created.body);
  // Nothing changed: no new snapshot to publish.
  EXPECT_EQ(control_->counters().snapshot_generation, generation);
  EXPECT_EQ(Call("GET", "/v1/networks/tailspin").body, created.body);
  ApiResponse list = Call("GET", "/v1/networks");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body["value"].size(), 2u);
  EXPECT_EQ(Call("DELETE", "/v1/networks/tailspin").status, 204);
  ApiResponse gone = Call("GET", "/v1/networks/tailspin");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.body["error"]["code"], "NotFound");
  EXPECT_EQ(gone.body["error"]["message"], "network 'tailspin' not found");
}

TEST_F(ApiTest, VxlanNetworkIsAVniOnItsPort) {
  const json network = {{"port", "consumer0"},
                        {"vxlan", {{"vni", 5000}, {"localIp", "172.16.0.1"}}}};
  ApiResponse created = Call("PUT", "/v1/networks/tailspin", network);
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.body["vxlan"], network["vxlan"]);
  EXPECT_EQ(created.body["vlan"], 0);
  EXPECT_EQ(Call("PUT", "/v1/networks/tailspin", created.body).status, 200);
  EXPECT_EQ(Call("GET", "/v1/networks/tailspin").body, created.body);
  EXPECT_FALSE(Call("GET", "/v1/networks/contoso").body.contains("vxlan"));
  EXPECT_EQ(Call("GET", "/v1/networks").body["value"][1], created.body);
  ApiResponse taken = Call("PUT", "/v1/networks/other", network);
  EXPECT_EQ(taken.status, 409);
  EXPECT_EQ(taken.body["error"]["message"],
            "vxlan.vni: port 'consumer0' vni 5000 already belongs to network 'tailspin'");
  ApiResponse tagged = Call(
      "PUT", "/v1/networks/other",
      json{{"port", "consumer0"}, {"vlan", 3}, {"vxlan", {{"vni", 1}, {"localIp", "172.16.0.1"}}}});
  EXPECT_EQ(tagged.status, 400);
  EXPECT_EQ(tagged.body["error"]["message"], "vlan: a VXLAN network has no VLAN");
  ApiResponse multicast =
      Call("PUT", "/v1/networks/other",
           json{{"port", "consumer0"}, {"vxlan", {{"vni", 1}, {"localIp", "239.0.0.1"}}}});
  EXPECT_EQ(multicast.status, 400);
  EXPECT_EQ(multicast.body["error"]["message"], "vxlan.localIp: not a unicast address: 239.0.0.1");
  EXPECT_EQ(Call("GET", "/v1/networks/other").status, 404);
}

TEST_F(ApiTest, ServiceHasAliasAndReadOnlyFieldsSurviveARoundTrip) {
  ApiResponse created = Call("PUT", "/v1/privateLinkServices/b-svc", kService);
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.body["alias"],
            "b-svc.00000000-0000-4000-8000-000000000002.local.privlinkservice");
  EXPECT_EQ(created.body["provisioningState"], "Succeeded");
  // What GET returns can be PUT back unchanged.
  ApiResponse back = Call("PUT", "/v1/privateLinkServices/b-svc", created.body);
  EXPECT_EQ(back.status, 200);
  EXPECT_EQ(back.body, created.body);
}

// A probed service shows each backend's health, read-only: what the prober reported last, with
// the time it did. A GET's body (backendHealth included) can be PUT back.
TEST_F(ApiTest, ProbedServiceShowsBackendHealth) {
  json service = kService;
  service["backends"] = {{{"ip", "192.168.20.11"}}, {{"ip", "192.168.20.12"}}};
  service["probe"] = {{"protocol", "http"}, {"port", 8443}, {"path", "/healthz"}};
  ApiResponse created = Call("PUT", "/v1/privateLinkServices/b-svc", service);
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.body["probe"], json({{"protocol", "http"},
                                         {"port", 8443},
                                         {"path", "/healthz"},
                                         {"intervalSeconds", 5},
                                         {"unhealthyThreshold", 2},
                                         {"healthyThreshold", 2},
                                         {"timeoutSeconds", 5},
                                         {"onDown", "keep"}}));
  // Not probed yet: up, no result.
  ASSERT_EQ(created.body["backendHealth"].size(), 2u);
  EXPECT_EQ(created.body["backendHealth"][0]["health"], "Up");
  EXPECT_TRUE(created.body["backendHealth"][0]["lastResult"].is_null());

  const ServiceId id = control_->model()->services.at("b-svc").id;
  control_->Report({.service = id,
                    .backend = Ip("192.168.20.12"),
                    .passed = false,
                    .up = false,
                    .result = "http 503",
                    .generation = control_->counters().snapshot_generation});
  ApiResponse got = Call("GET", "/v1/privateLinkServices/b-svc");
  const json& down = got.body["backendHealth"][1];
  EXPECT_EQ(down["ip"], "192.168.20.12");
  EXPECT_EQ(down["health"], "Down");
  EXPECT_EQ(down["lastResult"], "http 503");
  EXPECT_EQ(down["probesFailed"], 1);
  EXPECT_TRUE(down.contains("lastProbeTime") && down.contains("since"));
  ApiResponse back = Call("PUT", "/v1/privateLinkServices/b-svc", got.body);
  EXPECT_EQ(back.status, 200) << back.body;
  // Without a probe there is no health to show.
  service.erase("probe");
  ApiResponse plain = Call("PUT", "/v1/privateLinkServices/b-svc", service);
  EXPECT_FALSE(plain.body.contains("backendHealth"));
}

TEST_F(ApiTest, ApprovalWorkflowOverHttp) {
  ASSERT_EQ(Call("PUT", "/v1/privateLinkServices/b-svc", kService).status, 201);
  const json endpoint = {{"subscription", "sub-contoso"},
                         {"network", "contoso"},
                         {"ip", "10.0.0.50"},
                         {"privateLinkService", "b-svc"},
                         {"requestMessage", "hello"}};
  ApiResponse pe = Call("PUT", "/v1/privateEndpoints/c-pe", endpoint);
  ASSERT_EQ(pe.status, 201) << pe.body;
  EXPECT_EQ(pe.body["connectionStatus"], "Pending");

  const std::string connection = "/v1/privateLinkServices/b-svc/privateEndpointConnections/c-pe";
  ApiResponse list = Call("GET", "/v1/privateLinkServices/b-svc/privateEndpointConnections");
  ASSERT_EQ(list.body["value"].size(), 1u);
  EXPECT_EQ(list.body["value"][0]["requestMessage"], "hello");
  EXPECT_EQ(list.body["value"][0]["subscription"], "sub-contoso");

  ApiResponse approved = Call("POST", connection + "/approve", json{{"description", "ok"}});
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_EQ(approved.body["status"], "Approved");
  EXPECT_EQ(Call("GET", "/v1/privateEndpoints/c-pe").body["connectionStatus"], "Approved");
  const EndpointId id = control_->model()->endpoints.at("c-pe").id;
  EXPECT_TRUE(control_->publisher().latest()->Endpoint(id).carries_traffic);

  // The service cannot go while the connection is live; the 409 names it.
  ApiResponse refused = Call("DELETE", "/v1/privateLinkServices/b-svc");
  EXPECT_EQ(refused.status, 409);
  EXPECT_THAT(refused.body["error"]["message"].get<std::string>(), HasSubstr("c-pe (Approved)"));

  ApiResponse rejected = Call("POST", connection + "/reject");  // empty body is fine
  ASSERT_EQ(rejected.status, 200);
  EXPECT_EQ(rejected.body["status"], "Rejected");
  EXPECT_FALSE(control_->publisher().latest()->Endpoint(id).carries_traffic);

  EXPECT_EQ(Call("DELETE", connection).status, 204);
  EXPECT_EQ(Call("GET", connection).status, 404);
  EXPECT_EQ(Call("GET", "/v1/privateEndpoints/c-pe").body["connectionStatus"], "Disconnected");
  EXPECT_EQ(Call("DELETE", "/v1/privateLinkServices/b-svc").status, 204);
}

// A network's DNS records follow the approval workflow: an endpoint's service FQDNs appear once
// its connection is Approved, and the zone's serial grows with each change.
TEST_F(ApiTest, DnsRecordsOfANetworkFollowApproval) {
  json service = kService;
  service["fqdns"] = {"b.example.com"};
  ASSERT_EQ(Call("PUT", "/v1/privateLinkServices/b-svc", service).status, 201);
  const json endpoint = {{"subscription", "sub-contoso"},
                         {"network", "contoso"},
                         {"ip", "10.0.0.50"},
                         {"privateLinkService", "b-svc"}};
  ASSERT_EQ(Call("PUT", "/v1/privateEndpoints/c-pe", endpoint).status, 201);
  ApiResponse pending = Call("GET", "/v1/networks/contoso/dnsRecords");
  ASSERT_EQ(pending.status, 200) << pending.body;
  EXPECT_EQ(pending.body["records"], json::array()) << "Pending: no record";
  EXPECT_EQ(pending.body["network"], "contoso");

  ASSERT_EQ(
      Call("POST", "/v1/privateLinkServices/b-svc/privateEndpointConnections/c-pe/approve").status,
      200);
  ApiResponse approved = Call("GET", "/v1/networks/contoso/dnsRecords");
  ASSERT_EQ(approved.status, 200);
  EXPECT_EQ(approved.body["records"],
            json::parse(R"([{"fqdn": "b.example.com", "ip": "10.0.0.50", "endpoint": "c-pe",
                              "service": "b-svc"}])"));
  ASSERT_EQ(approved.body["zones"].size(), 1u);
  EXPECT_EQ(approved.body["zones"][0]["domain"], "example.com");
  EXPECT_THAT(approved.body["zones"][0]["zoneFile"].get<std::string>(),
              HasSubstr("\nb\tIN\tA\t10.0.0.50\t"));
  EXPECT_EQ(approved.body["hosts"],
            "# privlink: private endpoint records of network contoso\n10.0.0.50\tb.example.com\n");
  EXPECT_GT(approved.body["serial"].get<uint64_t>(), pending.body["serial"].get<uint64_t>());

  ApiResponse missing = Call("GET", "/v1/networks/nowhere/dnsRecords");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body["error"]["message"], "network 'nowhere' not found");
}

TEST_F(ApiTest, DeletingAnEndpointLeavesADisconnectedConnection) {
  EXPECT_EQ(Call("DELETE", "/v1/privateEndpoints/contoso-pe").status, 204);
  ApiResponse c =
      Call("GET", "/v1/privateLinkServices/fabrikam-api/privateEndpointConnections/contoso-pe");
  EXPECT_EQ(c.body["status"], "Disconnected");
  EXPECT_EQ(Call("DELETE", "/v1/privateLinkServices/fabrikam-api").status, 204);
}

// Networks, services and endpoints share one set of routes (RegisterResource): each kind lists,
// takes back what GET gave unchanged, and refuses a missing item, another name in the body and an
// empty body alike, in its own words.
TEST_F(ApiTest, EveryResourceKindAnswersAlike) {
  const std::pair<std::string, std::string> kinds[] = {
      {"/v1/networks", "network"},
      {"/v1/privateLinkServices", "private link service"},
      {"/v1/privateEndpoints", "private endpoint"}};
  const json before = State();
  for (const auto& [path, noun] : kinds) {
    SCOPED_TRACE(path);
    ApiResponse list = Call("GET", path);
    ASSERT_EQ(list.status, 200);
    ASSERT_EQ(list.body["value"].size(), 1u);
    const json item = list.body["value"][0];
    const std::string name = item["name"];
    EXPECT_EQ(Call("GET", path + "/" + name).body, item);
    ApiResponse same = Call("PUT", path + "/" + name, item);
    EXPECT_EQ(same.status, 200) << same.body;
    EXPECT_EQ(same.body, item);
    for (const char* method : {"GET", "DELETE"}) {
      ApiResponse missing = Call(method, path + "/ghost");
      EXPECT_EQ(missing.status, 404) << method;
      EXPECT_EQ(missing.body["error"]["message"], noun + " 'ghost' not found") << method;
    }
    ApiResponse renamed = Call("PUT", path + "/other", item);
    EXPECT_EQ(renamed.status, 400);
    EXPECT_EQ(renamed.body["error"]["message"],
              "name: '" + name + "' does not match the URL's 'other'");
    ApiResponse empty = Raw("PUT", path + "/other", "");
    EXPECT_EQ(empty.status, 400);
    EXPECT_EQ(empty.body["error"]["message"],
              "body: missing; this request needs a JSON object (Content-Type: application/json)");
  }
  EXPECT_EQ(State(), before);
}

TEST_F(ApiTest, ApplyTakesAWholeDocumentAsOneChange) {
  json document = json::parse(kReferenceConfig);
  ApiResponse unchanged = Call("POST", "/v1/apply", document);
  ASSERT_EQ(unchanged.status, 200) << unchanged.body;
  EXPECT_EQ(unchanged.body, (json{{"created", 0}, {"updated", 0}, {"unchanged", 3}}));
  document["networks"].push_back({{"name", "n2"}, {"port", "consumer0"}, {"vlan", 2}});
  document["privateLinkServices"][0]["backends"].push_back({{"ip", "192.168.10.13"}});
  ApiResponse applied = Call("POST", "/v1/apply", document);
  EXPECT_EQ(applied.body, (json{{"created", 1}, {"updated", 1}, {"unchanged", 2}}));
  // GET /v1/state is itself an apply document.
  EXPECT_EQ(Call("POST", "/v1/apply", State()).body["unchanged"], 4);
}

TEST_F(ApiTest, StatsCountTheControlPlane) {
  ApiResponse stats = Call("GET", "/v1/stats");
  ASSERT_EQ(stats.status, 200);
  EXPECT_EQ(stats.body["control"]["networks"], 1);
  EXPECT_EQ(stats.body["control"]["connections"]["Approved"], 1);
  EXPECT_EQ(stats.body["control"]["snapshotGeneration"], 1);
  EXPECT_TRUE(stats.body["dataplane"].is_null());
}

// Every invalid request gets its status, an error naming the problem, and changes nothing.
TEST_F(ApiTest, InvalidRequestsAreRefusedWithStateUnchanged) {
  ASSERT_EQ(Call("PUT", "/v1/privateLinkServices/b-svc", kService).status, 201);
  json svc = kService;
  const std::string pls = "/v1/privateLinkServices/";
  auto with = [](json base, const std::string& key, json value) {
    base[key] = std::move(value);
    return base;
  };
  const json pe = {{"subscription", "sub-contoso"},
                   {"network", "contoso"},
                   {"ip", "10.0.0.60"},
                   {"privateLinkService", "b-svc"}};
  struct Case {
    std::string method, path;
    std::optional<json> body;
    int status;
    std::string message;  // prefix of error.message
  } cases[] = {
      {"PUT", "/v1/networks/n", json::array(), 400, "body: must be a JSON object, not an array"},
      {"PUT", "/v1/networks/n", json{{"port", "consumer0"}, {"vlan", "1"}}, 400,
       "vlan: must be an integer"},
      {"PUT", "/v1/networks/n", json{{"port", "consumer0"}, {"colour", 1}}, 400,
       "colour: unknown field"},
      {"PUT", "/v1/networks/n", json{{"port", "consumer0"}, {"vlan", 4095}}, 400, "vlan: must be"},
      {"PUT", "/v1/networks/n",
       json{{"port", "consumer0"}, {"vxlan", {{"vni", 16777216}, {"localIp", "172.16.0.1"}}}}, 400,
       "vxlan.vni: must be 1..16777215"},
      {"PUT", "/v1/networks/n", json{{"port", "consumer0"}, {"vxlan", {{"vni", 1}}}}, 400,
       "vxlan.localIp: required field is missing"},
      {"PUT", "/v1/networks/n", json{{"name", "m"}, {"port", "consumer0"}}, 400,
       "name: 'm' does not match"},
      {"PUT", "/v1/networks/n", json{{"port", "provider0"}}, 400, "port: 'provider0' is not"},
      {"PUT", "/v1/networks/n", json{{"port", "consumer0"}, {"vlan", 0}}, 409, "vlan: port"},
      {"PUT", "/v1/networks/bad%20name", json{{"port", "consumer0"}}, 400, "name: invalid name"},
      {"DELETE", "/v1/networks/contoso", std::nullopt, 409, "network 'contoso' is used by"},
      {"DELETE", "/v1/networks/ghost", std::nullopt, 404, "network 'ghost' not found"},
      {"PUT", pls + "b-svc", with(svc, "natIps", {"192.168.20.300"}), 400,
       "natIps[0]: invalid IPv4 address"},
      {"PUT", pls + "b-svc", with(svc, "natIps", json::array()), 400, "natIps: at least one"},
      {"PUT", pls + "b-svc",
       with(svc, "natIps",
            {"192.168.20.200", "192.168.20.1", "192.168.20.2", "192.168.20.3", "192.168.20.4",
             "192.168.20.5", "192.168.20.6", "192.168.20.7", "192.168.20.8"}),
       400, "natIps: at most 8"},
      {"PUT", pls + "b-svc", with(svc, "natIps", {"192.168.20.201"}), 409,
       "natIps: NAT IP 192.168.20.200 must be draining before it is removed"},
      {"PUT", pls + "b-svc", with(svc, "drainingNatIps", {"192.168.20.200"}), 400,
       "drainingNatIps: at least one NAT IP must take new flows"},
      {"PUT", pls + "b-svc", with(svc, "drainingNatIps", {"192.168.20.9"}), 400,
       "drainingNatIps[0]: 192.168.20.9 is not one of natIps"},
      {"PUT", pls + "b-svc", with(svc, "natIps", {"192.168.20.200", "192.168.10.200"}), 409,
       "natIps[1]: 192.168.10.200 is already a NAT IP of private link service 'fabrikam-api'"},
      {"PUT", pls + "b-svc",
       with(svc, "loadBalancingRules", {{{"frontendPort", 0}, {"backendPort", 1}}}), 400,
       "loadBalancingRules[0].frontendPort: must be 1..65535"},
      {"PUT", pls + "b-svc",
       with(svc, "loadBalancingRules", {{{"frontendPort", 80}, {"backendPort", 65536}}}), 400,
       "loadBalancingRules[0].backendPort: must be 1..65535"},
      {"PUT", pls + "b-svc",
       with(svc, "backends", {{{"ip", "192.168.20.11"}}, {{"ip", "192.168.20.11"}}}), 400,
       "backends[1].ip: duplicate backend"},
      {"PUT", pls + "b-svc", with(svc, "autoApproval", {"sub-stranger"}), 400,
       "autoApproval[0]: subscription 'sub-stranger' is not in visibility"},
      {"PUT", pls + "b-svc", with(svc, "subscription", "sub-thief"), 400, "subscription: cannot"},
      {"PUT", pls + "b-svc", with(svc, "idleTimeoutMinutes", 500), 400, "idleTimeoutMinutes"},
      {"DELETE", pls + "fabrikam-api", std::nullopt, 409,
       "private link service 'fabrikam-api' has connections: contoso-pe (Approved)"},
      {"GET", pls + "ghost", std::nullopt, 404, "private link service 'ghost' not found"},
      {"PUT", "/v1/privateEndpoints/p", with(pe, "ip", "10.0.0.100"), 409,
       "ip: 10.0.0.100 is already used by private endpoint 'contoso-pe'"},
      {"PUT", "/v1/privateEndpoints/p", with(pe, "ip", "192.168.10.200"), 409,
       "ip: 192.168.10.200 is a NAT IP"},
      {"PUT", "/v1/privateEndpoints/p", with(pe, "network", "nowhere"), 404,
       "network: network 'nowhere' not found"},
      {"PUT", "/v1/privateEndpoints/p", with(pe, "subscription", "sub-stranger"), 404,
       "privateLinkService: private link service 'b-svc' not found"},
      {"PUT", "/v1/privateEndpoints/p", with(pe, "privateLinkService", "ghost"), 404,
       "privateLinkService: private link service 'ghost' not found"},
      {"PUT", "/v1/privateEndpoints/contoso-pe",
       json{{"subscription", "sub-contoso"},
            {"network", "contoso"},
            {"ip", "10.0.0.101"},
            {"privateLinkService", "fabrikam-api"}},
       400, "ip: cannot be changed"},
      {"DELETE", "/v1/privateEndpoints/ghost", std::nullopt, 404, "private endpoint 'ghost'"},
      {"POST", pls + "fabrikam-api/privateEndpointConnections/ghost/approve", json::object(), 404,
       "privateEndpointConnection: private link service 'fabrikam-api' has no connection"},
      {"POST", pls + "fabrikam-api/privateEndpointConnections/contoso-pe/approve",
       json{{"note", "x"}}, 400, "note: unknown field"},
      {"DELETE", pls + "ghost/privateEndpointConnections/x", std::nullopt, 404,
       "private link service 'ghost' not found"},
      {"POST", "/v1/apply",
       json{{"networks",
             {{{"name", "fine"}, {"port", "consumer0"}, {"vlan", 9}},
              {{"name", "broken"}, {"port", "consumer0"}, {"vlan", 9}}}}},
       409, "networks[1].vlan: port 'consumer0' vlan 9 already belongs to network 'fine'"},
      {"POST", "/v1/apply", json{{"dataplane", {{"workers", 0}}}}, 400, "dataplane.workers"},
      {"GET", "/v1/nothing-here", std::nullopt, 404, "no such resource: GET /v1/nothing-here"},
  };
  const json before = State();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.method + " " + c.path);
    ApiResponse r = Call(c.method, c.path, c.body);
    EXPECT_EQ(r.status, c.status) << r.body;
    ASSERT_TRUE(r.body.contains("error")) << r.body;
    EXPECT_EQ(r.body["error"]["code"], r.status == 400   ? "BadRequest"
                                       : r.status == 404 ? "NotFound"
                                                         : "Conflict");
    EXPECT_THAT(r.body["error"]["message"].get<std::string>(), StartsWith(c.message));
    EXPECT_EQ(State(), before);
  }
  // Malformed JSON and a wrong top-level type, sent raw.
  for (const std::string& body :
       {std::string("{\"port\": "), std::string("[1, 2"), std::string("\"text\"")}) {
    ApiResponse r = Raw("PUT", "/v1/networks/n", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(r.body["error"]["code"], "BadRequest");
  }
  EXPECT_EQ(Raw("POST", "/v1/apply", "{").status, 400);
  EXPECT_EQ(State(), before);
}

// Every field of every resource's body given each wrong JSON type, out-of-range numbers, long and
// huge strings, and every body cut short: 4xx naming the field, the state byte-identical after
// each, the server still answering.
void ForEachLeaf(const json& doc, const std::string& path,
                 const std::function<void(const std::string&, const json&)>& visit) {
  if (doc.is_object()) {
    for (const auto& [key, value] : doc.items()) {
      ForEachLeaf(value, path.empty() ? key : path + "." + key, visit);
    }
    visit(path, doc);
  } else if (doc.is_array()) {
    if (!doc.empty()) ForEachLeaf(doc[0], path + "[0]", visit);
    visit(path, doc);
  } else {
    visit(path, doc);
  }
}

json::json_pointer PointerOf(const std::string& path) {
  std::string pointer;
  std::string part;
  for (const char c : path + ".") {
    if (c == '.' || c == '[') {
      if (!part.empty()) pointer += "/" + part;
      part.clear();
    } else if (c != ']') {
      part += c;
    }
  }
  return json::json_pointer(pointer);
}

std::vector<json> WrongValues(const json& valid) {
  const json all[] = {json(7),    json(-1),  json(1.5),     json(4294967296), json(1e300),
                      json(true), json("7"), json::array(), json::object(),   json(nullptr)};
  std::vector<json> out;
  if (valid.is_number_integer()) out = {json(-1), json(4294967296)};  // out of every range here
  for (const json& v : all) {
    if (v.type() == valid.type()) continue;
    if (valid.is_number_integer() && v.is_number()) {
      out.push_back(v);  // an integer field: fractions and out-of-range values
      continue;
    }
    if (valid.is_number() && v.is_number()) continue;
    out.push_back(v);
  }
  return out;
}

TEST_F(ApiTest, EveryFieldWrongTypeHugeOrTruncatedIsRefusedWithStateUnchanged) {
  ASSERT_EQ(Call("PUT", "/v1/privateLinkServices/b-svc", kService).status, 201);
  struct Resource {
    std::string method, path;
    json body;
  };
  json service = kService;
  service["backends"] = {{{"ip", "192.168.20.11"}, {"weight", 2}}};
  service["fqdns"] = {"b.example.com"};
  service["autoApproval"] = {"sub-contoso"};
  service["idleTimeoutMinutes"] = 5;
  service["connectionTeardown"] = "drain";
  const json endpoint = {{"subscription", "sub-contoso"},
                         {"network", "contoso"},
                         {"ip", "10.0.0.60"},
                         {"privateLinkService", "b-svc"},
                         {"requestMessage", "please"}};
  json named_endpoint = endpoint;
  named_endpoint["name"] = "p";
  const std::vector<Resource> resources = {
      {"PUT", "/v1/networks/n", {{"port", "consumer0"}, {"vlan", 12}}},
      {"PUT", "/v1/privateLinkServices/s2", service},
      {"PUT", "/v1/privateEndpoints/p", endpoint},
      {"POST",
       "/v1/privateLinkServices/fabrikam-api/privateEndpointConnections/contoso-pe/reject",
       {{"description", "no"}}},
      {"POST",
       "/v1/apply",
       {{"networks", {{{"name", "x"}, {"port", "consumer0"}, {"vlan", 13}}}},
        {"privateEndpoints", {named_endpoint}}}},
  };
  const json before = State();
  int requests = 0;
  auto refused = [&](const Resource& r, const json& body, const std::string& field,
                     const std::string& what) {
    SCOPED_TRACE(r.method + " " + r.path + " " + field + " = " + what);
    ApiResponse response = Call(r.method, r.path, body);
    ++requests;
    EXPECT_GE(response.status, 400) << response.body;
    EXPECT_LT(response.status, 500) << response.body;
    if (response.status == 400 && !field.empty()) {
      EXPECT_THAT(response.body["error"]["message"].get<std::string>(), HasSubstr(field));
    }
    EXPECT_EQ(State(), before);
  };
  for (const Resource& r : resources) {
    ForEachLeaf(r.body, "", [&](const std::string& field, const json& valid) {
      if (field.empty()) return;
      for (const json& wrong : WrongValues(valid)) {
        json body = r.body;
        body[PointerOf(field)] = wrong;
        refused(r, body, field, wrong.dump());
      }
      if (valid.is_string()) {
        json body = r.body;
        body[PointerOf(field)] = std::string(100'000, 'a');
        refused(r, body, field, "100 000 characters");
      }
    });
    // A 10 MB string is over the request size limit: 413, or the connection closed before the
    // client has written it all. Cut bodies are malformed JSON.
    json huge = r.body;
    huge[PointerOf(r.body.begin().key())] = std::string(10u << 20, 'n');
    httplib::Client raw_client("127.0.0.1", server_->port());
    const std::string huge_text = huge.dump();
    auto huge_result = r.method == "PUT" ? raw_client.Put(r.path, huge_text, "application/json")
                                         : raw_client.Post(r.path, huge_text, "application/json");
    ++requests;
    EXPECT_TRUE(!huge_result || huge_result->status == 413) << r.path;
    EXPECT_EQ(State(), before);
    const std::string text = r.body.dump();
    for (size_t len : {size_t{1}, text.size() / 4, text.size() / 2, text.size() - 1}) {
      ApiResponse cut = Raw(r.method, r.path, text.substr(0, len));
      ++requests;
      EXPECT_EQ(cut.status, 400) << r.path << " cut at " << len;
    }
  }
  // A name of 10 MB in the URL, and one just over the limit.
  EXPECT_GE(Call("PUT", "/v1/networks/" + std::string(81, 'n'), resources[0].body).status, 400);
  httplib::Client raw("127.0.0.1", server_->port());
  auto long_url = raw.Put("/v1/networks/" + std::string(10u << 20, 'n'), "{}", "application/json");
  EXPECT_TRUE(!long_url || (long_url->status >= 400 && long_url->status < 500));
  EXPECT_EQ(State(), before);
  EXPECT_EQ(Call("GET", "/v1/stats").status, 200) << "the server still answers";
  std::printf("%d invalid requests refused with the state unchanged\n", requests);
}

// A service whose backend no provider port reaches: 400 naming the backend and the fields that
// would reach it, the state unchanged.
TEST(ApiReachTest, ABackendNoProviderPortReachesIsRefusedNamingTheFix) {
  SequentialUuids uuids;
  ControlPlaneOptions options;
  options.consumer_ports = {"consumer0"};
  options.provider_ports = std::vector<ProviderPortReach>{{"provider0", Ip("192.168.10.1"), 24}};
  auto plane = ControlPlane::Create(options, nullptr, {}, &uuids);
  ASSERT_TRUE(plane.ok()) << plane.status();
  ApiServer server(**plane, nullptr);
  ASSERT_TRUE(server.Bind({false, "127.0.0.1", 0, ""}).ok());
  server.Start();
  ApiClient client(ListenAddress{false, "127.0.0.1", server.port(), ""});
  json web = {{"subscription", "sub-w"},
              {"loadBalancingRules", {{{"frontendPort", 80}, {"backendPort", 8080}}}},
              {"backends", {{{"ip", "192.168.10.11"}}, {{"ip", "192.168.20.11"}}}},
              {"natIps", {"192.168.10.200"}}};
  const std::string fix =
      "is reachable through no provider port (provider0: subnet 192.168.10.1/24, no gateway): "
      "give a provider port a subnet that contains it (dataplane.ports[].subnet) or a gateway "
      "(dataplane.ports[].gateway)";
  auto put = client.Call("PUT", "/v1/privateLinkServices/web", web);
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(put->status, 400);
  EXPECT_EQ(put->body["error"]["message"],
            "backends[1].ip: backend 192.168.20.11 of private link service 'web' " + fix);
  web["name"] = "web";
  auto apply = client.Call("POST", "/v1/apply", json{{"privateLinkServices", {web}}});
  ASSERT_TRUE(apply.ok());
  EXPECT_EQ(apply->status, 400);
  EXPECT_EQ(apply->body["error"]["message"],
            "privateLinkServices[0].backends[1].ip: backend 192.168.20.11 of private link service "
            "'web' " +
                fix);
  EXPECT_TRUE((*plane)->model()->services.empty());
  web["backends"].erase(1);
  auto fixed = client.Call("PUT", "/v1/privateLinkServices/web", web);
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(fixed->status, 201) << fixed->body;
  server.Stop();
}

// Flow and capture routes: parameters reach the dataplane parsed and checked; bad ones get 400
// without reaching it; the capture comes back as base64; without a dataplane, 503.
TEST_F(ApiTest, FlowAndCaptureRoutesCheckTheirParameters) {
  EXPECT_EQ(Call("GET", "/v1/flows").status, 503);
  EXPECT_EQ(
      Call("POST", "/v1/capture", json{{"port", "p"}, {"direction", "rx"}, {"count", 1}}).status,
      503);

  FakeInspector inspector;
  ApiServer server(*control_, nullptr, &inspector);
  ASSERT_TRUE(server.Bind({false, "127.0.0.1", 0, ""}).ok());
  server.Start();
  ApiClient client(ListenAddress{false, "127.0.0.1", server.port(), ""});
  auto call = [&](const std::string& method, const std::string& path,
                  const std::optional<json>& body = std::nullopt) {
    auto r = client.Call(method, path, body);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return ApiResponse{};
    LogApiResponse(method, path, r->status, r->body.is_null() ? "" : "application/json",
                   r->body.is_null() ? "" : r->body.dump());
    return *r;
  };
  EXPECT_EQ(call("GET", "/v1/flows?endpoint=pe-1&service=svc&limit=7").status, 200);
  EXPECT_EQ(inspector.last_query.endpoint, "pe-1");
  EXPECT_EQ(inspector.last_query.service, "svc");
  EXPECT_EQ(inspector.last_query.limit, 7u);
  EXPECT_EQ(call("GET", "/v1/flows").status, 200);
  EXPECT_EQ(inspector.last_query.limit, kDefaultFlowLimit);
  EXPECT_EQ(call("GET", "/v1/flows/count?service=svc").body["total"], 0);
  EXPECT_EQ(call("GET", "/v1/flows?endpoint=missing").status, 404);
  for (const char* bad : {"0", "-1", "x", "99999999999"}) {
    SCOPED_TRACE(bad);
    inspector.last_query = {};
    EXPECT_EQ(call("GET", std::string("/v1/flows?limit=") + bad).status, 400);
    EXPECT_EQ(inspector.last_query.limit, kDefaultFlowLimit) << "not passed on";
  }

  const json ok = {{"port", "consumer0"}, {"direction", "drop"}, {"count", 5}, {"snaplen", 64}};
  ApiResponse captured = call("POST", "/v1/capture", ok);
  EXPECT_EQ(captured.status, 200);
  EXPECT_EQ(captured.body["pcapng"], "Cg0NCgD/");
  EXPECT_EQ(inspector.last_capture.direction, "drop");
  EXPECT_EQ(inspector.last_capture.snaplen, 64u);
  EXPECT_EQ(inspector.last_capture.timeout_seconds, kDefaultCaptureTimeoutSeconds);
  for (const json& bad : {json{{"port", "p"}, {"direction", "sideways"}, {"count", 1}},
                          json{{"port", "p"}, {"direction", "rx"}, {"count", 0}},
                          json{{"port", "p"}, {"direction", "rx"}, {"count", 1}, {"snaplen", 0}},
                          json{{"port", "p"}, {"direction", "rx"}, {"count", 1}, {"extra", 1}},
                          json{{"direction", "rx"}, {"count", 1}}}) {
    SCOPED_TRACE(bad.dump());
    EXPECT_EQ(call("POST", "/v1/capture", bad).status, 400);
  }
  server.Stop();
}

}  // namespace
}  // namespace privlink::control
