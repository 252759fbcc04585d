// Request bodies on every route of the API, sent byte for byte: no body at all (as curl -X POST
// sends it), an empty one, JSON that is not an object, JSON sent as another content type. Each
// gets its own status and a message naming what is wrong; a refused request leaves GET /v1/state
// byte-identical. Also the HTTP layer's own refusals (no route, wrong method, unreadable
// request, body over the limit), each in words.
#include <chrono>
#include <functional>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/api/api_server.h"
#include "tests/control/framework/fake_inspector.h"
#include "tests/control/framework/loopback_api.h"
#include "tests/control/framework/raw_http.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using namespace privlink::control::testing;

constexpr char kConnection[] =
    "/v1/privateLinkServices/fabrikam-api/privateEndpointConnections/contoso-pe";
constexpr char kMissingBody[] =
    "body: missing; this request needs a JSON object (Content-Type: application/json)";

class ApiBodyTest : public LoopbackApiTest {
 protected:
  ApiBodyTest() : LoopbackApiTest(&inspector_) {}

  // A request with Host and, if given, Content-Type; `body` nullopt sends no Content-Length.
  RawResponse Send(const std::string& method, const std::string& path,
                   const std::optional<std::string>& content_type,
                   const std::optional<std::string>& body) {
    std::vector<std::pair<std::string, std::string>> headers = {{"Host", Host()}};
    if (content_type) headers.emplace_back("Content-Type", *content_type);
    return RawHttp(server_->port(), method, path, headers, body);
  }
  RawResponse Json(const std::string& method, const std::string& path, const json& body) {
    return Send(method, path, "application/json", body.dump());
  }
  std::string State() { return Send("GET", "/v1/state", std::nullopt, std::nullopt).body; }

  FakeInspector inspector_;  // the flow routes succeed like every other route without a body
};

// Approve and reject take an optional body: none at all, an empty one, or {} are the same.
TEST_F(ApiBodyTest, ApproveAndRejectWithoutABodySucceed) {
  const std::string connection = kConnection;
  for (const char* action : {"/reject", "/approve"}) {
    SCOPED_TRACE(action);
    const auto start = std::chrono::steady_clock::now();
    RawResponse none = Send("POST", connection + action, std::nullopt, std::nullopt);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2))
        << "a request without Content-Length has no body; nothing is waited for";
    ASSERT_EQ(none.status, 200) << none.body;
    EXPECT_EQ(none.json["status"], action == std::string("/reject") ? "Rejected" : "Approved");
    RawResponse empty = Send("POST", connection + action, std::nullopt, "");
    EXPECT_EQ(empty.status, 200) << empty.body;
    RawResponse object = Json("POST", connection + action, json::object());
    EXPECT_EQ(object.status, 200) << object.body;
    RawResponse described = Json("POST", connection + action, json{{"description", "checked"}});
    EXPECT_EQ(described.status, 200) << described.body;
    EXPECT_EQ(described.json["description"], "checked");
  }
  // As curl -d sends it (application/x-www-form-urlencoded): refused, naming the type to use.
  RawResponse form = Send("POST", connection + "/approve", "application/x-www-form-urlencoded",
                          R"({"description": "x"})");
  EXPECT_EQ(form.status, 415);
  EXPECT_EQ(form.json["error"]["code"], "UnsupportedMediaType");
  EXPECT_EQ(form.json["error"]["message"],
            "Content-Type: 'application/x-www-form-urlencoded' is not supported; the body must "
            "be sent as application/json");
}

// One row per route of ApiServer::routes(): a concrete path, and for a route without a body what
// its success is. `setup` and `cleanup` (for the DELETEs and the state-changing actions) put the
// state back where it was, so it can be compared after every request.
struct RouteRow {
  std::string method;
  std::string pattern;  // must be the route's, as registered
  std::string path;
  int success = 200;  // with no body, or with the junk a route without a body ignores
  std::function<void()> setup = [] {};
  std::function<void()> cleanup = [] {};
};

TEST_F(ApiBodyTest, EveryRouteAnswersEachKindOfBodyWithItsOwnStatusAndMessage) {
  const std::string pls = "/v1/privateLinkServices";
  const std::string connections = R"(/v1/privateLinkServices/([^/]+)/privateEndpointConnections)";
  auto ok = [](const RawResponse& r) { EXPECT_LT(r.status, 300) << r.body; };
  const json tmp_service = {{"subscription", "sub-b"},
                            {"loadBalancingRules", {{{"frontendPort", 80}, {"backendPort", 80}}}},
                            {"backends", {{{"ip", "192.168.30.11"}}}},
                            {"natIps", {"192.168.30.200"}}};
  const json tmp_endpoint = {{"subscription", "sub-contoso"},
                             {"network", "contoso"},
                             {"ip", "10.0.0.77"},
                             {"privateLinkService", "fabrikam-api"}};
  auto put_tmp_endpoint = [&] { ok(Json("PUT", "/v1/privateEndpoints/tmp-pe", tmp_endpoint)); };
  auto delete_tmp_connection = [&] {
    ok(Send("DELETE", pls + "/fabrikam-api/privateEndpointConnections/tmp-pe", {}, {}));
  };
  const std::vector<RouteRow> rows = {
      {"GET", "/v1/networks", "/v1/networks"},
      {"GET", "/v1/networks/([^/]+)", "/v1/networks/contoso"},
      {"GET", "/v1/networks/([^/]+)/dnsRecords", "/v1/networks/contoso/dnsRecords"},
      {"PUT", "/v1/networks/([^/]+)", "/v1/networks/contoso"},
      {"DELETE", "/v1/networks/([^/]+)", "/v1/networks/tmp", 204,
       [&] {
         ok(Json("PUT", "/v1/networks/tmp", {{"port", "consumer0"}, {"vlan", 99}}));
       }},
      {"GET", pls, pls},
      {"GET", pls + "/([^/]+)", pls + "/fabrikam-api"},
      {"PUT", pls + "/([^/]+)", pls + "/fabrikam-api"},
      {"DELETE", pls + "/([^/]+)", pls + "/tmp", 204,
       [&] { ok(Json("PUT", pls + "/tmp", tmp_service)); }},
      {"GET", connections, pls + "/fabrikam-api/privateEndpointConnections"},
      {"GET", connections + "/([^/]+)", kConnection},
      {"POST", connections + "/([^/]+)/approve", std::string(kConnection) + "/approve"},
      {"POST", connections + "/([^/]+)/reject", std::string(kConnection) + "/reject", 200, [] {},
       [&] { ok(Json("POST", std::string(kConnection) + "/approve", json::object())); }},
      {"DELETE", connections + "/([^/]+)", pls + "/fabrikam-api/privateEndpointConnections/tmp-pe",
       204,
       [&] {
         put_tmp_endpoint();
         ok(Send("DELETE", "/v1/privateEndpoints/tmp-pe", {}, {}));
       }},
      {"GET", "/v1/privateEndpoints", "/v1/privateEndpoints"},
      {"GET", "/v1/privateEndpoints/([^/]+)", "/v1/privateEndpoints/contoso-pe"},
      {"PUT", "/v1/privateEndpoints/([^/]+)", "/v1/privateEndpoints/contoso-pe"},
      {"DELETE", "/v1/privateEndpoints/([^/]+)", "/v1/privateEndpoints/tmp-pe", 204,
       put_tmp_endpoint, delete_tmp_connection},
      {"POST", "/v1/apply", "/v1/apply"},
      {"GET", "/v1/state", "/v1/state"},
      {"GET", "/v1/state/backup", "/v1/state/backup", 503},  // this server keeps no store
      {"GET", "/v1/stats", "/v1/stats"},
      {"GET", "/metrics", "/metrics"},
      {"GET", "/v1/flows", "/v1/flows"},
      {"GET", "/v1/flows/count", "/v1/flows/count"},
      {"POST", "/v1/capture", "/v1/capture"},
      {"GET", "/v1/openapi\\.json", "/v1/openapi.json"},
      {"GET", "/", "/"},
      {"GET", "/app\\.js", "/app.js"},
      {"GET", "/app\\.css", "/app.css"},
      {"GET", "/favicon\\.svg", "/favicon.svg"},
  };
  // The sweep covers every route the server has, and no other.
  std::set<std::pair<std::string, std::string>> swept, registered;
  for (const RouteRow& row : rows) swept.insert({row.method, row.pattern});
  std::map<std::pair<std::string, std::string>, BodyRule> body_of;
  for (const ApiRoute& route : server_->routes()) {
    registered.insert({route.method, route.pattern});
    body_of[{route.method, route.pattern}] = route.body;
  }
  ASSERT_EQ(swept, registered);
  EXPECT_EQ(server_->routes().size(), rows.size());

  struct Junk {
    std::string name;
    std::optional<std::string> content_type;
    std::optional<std::string> body;  // nullopt: no Content-Length at all
    int status;                       // for a route that takes a body
    std::string message;              // "" = success where the body is optional
  };
  const std::string wrong_type = "the body must be sent as application/json";
  const Junk junk[] = {
      {"no body", std::nullopt, std::nullopt, 400, kMissingBody},
      {"empty body", "application/json", "", 400, kMissingBody},
      {"null", "application/json", "null", 400, "body: must be a JSON object, not null"},
      {"array", "application/json", "[1]", 400, "body: must be a JSON object, not an array"},
      {"string", "application/json", "\"x\"", 400, "body: must be a JSON object, not a string"},
      {"number", "application/json", "3", 400, "body: must be a JSON object, not a number"},
      {"boolean", "application/json; charset=utf-8", "true", 400,
       "body: must be a JSON object, not a boolean"},
      {"text/plain JSON", "text/plain", "{}", 415,
       "Content-Type: 'text/plain' is not supported; " + wrong_type},
      {"no Content-Type", std::nullopt, "{}", 415, "Content-Type: missing; " + wrong_type},
      {"malformed", "application/json", "{\"port\": ", 400, "body: malformed JSON: "},
  };
  const std::string before = State();
  ASSERT_THAT(before, HasSubstr("contoso-pe"));
  int requests = 0;
  for (const RouteRow& row : rows) {
    const BodyRule rule = body_of.at({row.method, row.pattern});
    for (const Junk& j : junk) {
      SCOPED_TRACE(row.method + " " + row.path + " with " + j.name);
      row.setup();
      RawResponse r = Send(row.method, row.path, j.content_type, j.body);
      ++requests;
      const bool absent = !j.body || j.body->empty();
      if (rule == BodyRule::kNone || (rule == BodyRule::kOptional && absent)) {
        EXPECT_EQ(r.status, row.success) << r.body;  // no body needed: whatever came is ignored
        row.cleanup();
      } else {
        EXPECT_EQ(r.status, j.status) << r.body;
        EXPECT_EQ(r.json["error"]["code"], j.status == 415 ? "UnsupportedMediaType" : "BadRequest");
        const std::string message = r.json["error"]["message"].is_string()
                                        ? r.json["error"]["message"].get<std::string>()
                                        : std::string();
        if (j.name == "malformed") {
          EXPECT_THAT(message, ::testing::StartsWith(j.message));
        } else {
          EXPECT_EQ(message, j.message);
        }
      }
      EXPECT_EQ(State(), before) << "state after " << row.method << " " << row.path;
    }
  }
  std::printf("%d requests on %zu routes\n", requests, rows.size());
}

// The HTTP layer's own refusals name the rule too.
TEST_F(ApiBodyTest, RefusalsOfTheHttpLayerSayWhatIsWrong) {
  const std::string before = State();
  RawResponse patch = Send("PATCH", "/v1/networks/contoso", "application/json", "{}");
  EXPECT_EQ(patch.status, 405);
  EXPECT_EQ(patch.headers["allow"], "GET, PUT, DELETE");
  EXPECT_EQ(patch.json["error"]["code"], "MethodNotAllowed");
  EXPECT_EQ(patch.json["error"]["message"],
            "method PATCH is not allowed on /v1/networks/contoso (allowed: GET, PUT, DELETE)");
  RawResponse post = Send("POST", "/v1/state", std::nullopt, std::nullopt);
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.json["error"]["message"],
            "method POST is not allowed on /v1/state (allowed: GET)");
  RawResponse nowhere = Send("GET", "/v1/nothing-here", std::nullopt, std::nullopt);
  EXPECT_EQ(nowhere.status, 404);
  EXPECT_EQ(nowhere.json["error"]["message"], "no such resource: GET /v1/nothing-here");

  RawResponse big =
      Send("PUT", "/v1/networks/n", "application/json", std::string(kMaxRequestBodyBytes + 1, ' '));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.json["error"]["message"], "body: larger than the API's limit of 4194304 bytes");

  std::vector<RawResponse> broken = ParseRawResponses(RawExchange(
      server_->port(), "PUT /v1/networks/n HTTP/1.1\r\nHost: " + Host() +
                           "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n"));
  ASSERT_EQ(broken.size(), 1u);
  EXPECT_EQ(broken[0].status, 400);
  EXPECT_EQ(broken[0].json["error"]["message"],
            "malformed HTTP request (PUT /v1/networks/n): the request line, a header or the "
            "body's framing (Content-Length, Transfer-Encoding) could not be read");
  EXPECT_EQ(State(), before);
}

}  // namespace
}  // namespace privlink::control
