// Who may use the API: loopback or a Unix socket by default, elsewhere only with an option and a
// bearer token; and the browser rules (Host against DNS rebinding, Origin and Sec-Fetch-Site
// against cross-site requests), as a table on CheckBrowserRules and over HTTP with the state
// unchanged after every refusal.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/api/api_access.h"
#include "control/api/api_server.h"
#include "control/api/control_service.h"
#include "control/cli/api_client.h"
#include "control/config/daemon_config.h"
#include "tests/control/framework/loopback_api.h"
#include "tests/control/framework/raw_http.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace privlink::control::testing;

constexpr std::string_view kRebinding =
    "requests naming another host are refused (DNS rebinding protection)";
constexpr std::string_view kCrossSite =
    "PUT, POST, DELETE and PATCH requests from another site are refused (cross-site request "
    "forgery protection)";

TEST(BrowserRulesTest, HostOriginAndSecFetchSiteAsATable) {
  const ListenAddress loopback{false, "127.0.0.1", 9180, ""};
  const ListenAddress named_loopback{false, "localhost", 9180, ""};
  const ListenAddress v6_loopback{false, "::1", 9180, ""};
  const ListenAddress remote{false, "10.1.2.3", 9180, ""};
  const ListenAddress wildcard{false, "0.0.0.0", 9180, ""};
  const ListenAddress unix_socket{true, "", 0, "/run/privlink.sock"};
  const std::optional<std::string_view> none;
  struct Row {
    const ListenAddress& listener;
    std::string_view method;
    std::optional<std::string_view> host, origin, fetch_site;
    std::string refusal;  // "" = admitted; else the message, or its start if it ends in "..."
  };
  const std::string loopback_names = "127.0.0.1, 127.0.0.1:9180, localhost:9180 or [::1]:9180";
  const Row rows[] = {
      // Host names the listener: its address with or without the port; loopback names with it.
      {loopback, "GET", "127.0.0.1:9180", none, none, ""},
      {loopback, "GET", "127.0.0.1", none, none, ""},
      {loopback, "GET", "localhost:9180", none, none, ""},
      {loopback, "GET", "LocalHost:9180", none, none, ""},
      {loopback, "GET", "[::1]:9180", none, none, ""},
      {loopback, "PUT", " 127.0.0.1:9180 ", none, none, ""},
      {loopback, "GET", "localhost", none, none,
       "Host: 'localhost' is not this API's address (it answers to " + loopback_names + "); " +
           std::string(kRebinding)},
      {loopback, "GET", "localhost:9181", none, none, "Host: 'localhost:9181' is not..."},
      {loopback, "GET", "127.0.0.1:9181", none, none, "Host: '127.0.0.1:9181' is not..."},
      {loopback, "GET", "127.0.0.2:9180", none, none, "Host: '127.0.0.2:9180' is not..."},
      {loopback, "GET", "evil.example:9180", none, none,
       "Host: 'evil.example:9180' is not this API's address (it answers to " + loopback_names +
           "); " + std::string(kRebinding)},
      {loopback, "GET", "127.0.0.1.evil.example:9180", none, none, "Host: '127.0..."},
      {loopback, "GET", "127.0.0.1:9180:1", none, none, "Host: '127.0.0.1:9180:1' is not..."},
      {loopback, "GET", "", none, none, "Host: '' is not..."},
      {loopback, "GET", "user@127.0.0.1:9180", none, none, "Host: 'user@..."},
      {loopback, "GET", none, none, none,
       "Host: missing; this API answers to " + loopback_names + "; " + std::string(kRebinding)},
      {named_loopback, "GET", "localhost:9180", none, none, ""},
      {named_loopback, "GET", "127.0.0.1:9180", none, none, ""},
      {named_loopback, "GET", "localhost", none, none,
       "Host: 'localhost' is not this API's address (it answers to localhost:9180, "
       "127.0.0.1:9180 or [::1]:9180); " +
           std::string(kRebinding)},
      {v6_loopback, "GET", "[::1]", none, none, ""},
      {v6_loopback, "GET", "[0:0::1]:9180", none, none, ""},
      {v6_loopback, "GET", "127.0.0.1:9180", none, none, ""},
      {v6_loopback, "GET", "::1", none, none, "Host: '::1' is not..."},
      {remote, "GET", "10.1.2.3", none, none, ""},
      {remote, "GET", "10.1.2.3:9180", none, none, ""},
      {remote, "GET", "localhost:9180", none, none,
       "Host: 'localhost:9180' is not this API's address (it answers to 10.1.2.3 or "
       "10.1.2.3:9180); " +
           std::string(kRebinding)},
      {remote, "GET", "privlink.example:9180", none, none, "Host: 'privlink.example:9180'..."},
      // A wildcard listener needs a token and cannot know the host's names; a Unix socket has none.
      {wildcard, "GET", "privlink.example:9180", none, none, ""},
      {wildcard, "GET", none, none, none, ""},
      {unix_socket, "GET", "anything", none, none, ""},
      {unix_socket, "PUT", none, none, none, ""},
      // Origin: a state-changing request from the address it was sent to, or none at all.
      {loopback, "PUT", "127.0.0.1:9180", "http://127.0.0.1:9180", none, ""},
      {loopback, "POST", "localhost:9180", "http://localhost:9180", none, ""},
      {loopback, "DELETE", "127.0.0.1:9180", "HTTP://127.0.0.1:9180", none, ""},
      {loopback, "PATCH", "[::1]:9180", "http://[::1]:9180", none, ""},
      {loopback, "POST", "127.0.0.1:9180", "https://127.0.0.1:9180", none, ""},
      {loopback, "GET", "127.0.0.1:9180", "http://evil.example", none, ""},
      {loopback, "PUT", "127.0.0.1:9180", "http://evil.example", none,
       "Origin: 'http://evil.example' is not the address this request was sent to (Host: "
       "'127.0.0.1:9180'); " +
           std::string(kCrossSite)},
      {loopback, "POST", "127.0.0.1:9180", "http://localhost:9180", none, "Origin: 'http://lo..."},
      {loopback, "DELETE", "127.0.0.1:9180", "http://127.0.0.1", none, "Origin: 'http://12..."},
      {loopback, "PATCH", "127.0.0.1:9180", "http://127.0.0.1:9181", none, "Origin: 'http://..."},
      {loopback, "POST", "127.0.0.1:9180", "null", none, "Origin: 'null' is not..."},
      {loopback, "POST", "127.0.0.1:9180", "file://", none, "Origin: 'file://' is not..."},
      {loopback, "POST", "127.0.0.1:9180", "", none, "Origin: '' is not..."},
      {loopback, "POST", "127.0.0.1:9180", "http://127.0.0.1:9180/path", none, "Origin: 'h..."},
      {wildcard, "PUT", "10.9.9.9:9180", "http://evil.example:9180", none, "Origin: 'http..."},
      {unix_socket, "PUT", none, "http://localhost", none,
       "Origin: 'http://localhost' is not the address this request was sent to (no Host "
       "header); " +
           std::string(kCrossSite)},
      // Sec-Fetch-Site: cross-site refuses what changes state.
      {loopback, "POST", "127.0.0.1:9180", none, "cross-site",
       "Sec-Fetch-Site: 'cross-site' (the browser says another site sent it); " +
           std::string(kCrossSite)},
      {loopback, "DELETE", "127.0.0.1:9180", none, "Cross-Site", "Sec-Fetch-Site: 'Cross-S..."},
      {unix_socket, "PUT", none, none, "cross-site", "Sec-Fetch-Site: 'cross-site'..."},
      {loopback, "GET", "127.0.0.1:9180", none, "cross-site", ""},
      {loopback, "POST", "127.0.0.1:9180", none, "same-origin", ""},
      {loopback, "POST", "127.0.0.1:9180", none, "same-site", ""},
      {loopback, "POST", "127.0.0.1:9180", none, "none", ""},
      {loopback, "POST", "127.0.0.1:9180", "http://127.0.0.1:9180", "same-origin", ""},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(::testing::Message() << FormatListenAddress(row.listener) << " " << row.method
                                      << " Host=" << row.host.value_or("(none)")
                                      << " Origin=" << row.origin.value_or("(none)")
                                      << " Sec-Fetch-Site=" << row.fetch_site.value_or("(none)"));
    const absl::Status s =
        CheckBrowserRules(row.listener, {row.method, row.host, row.origin, row.fetch_site});
    if (row.refusal.empty()) {
      EXPECT_TRUE(s.ok()) << s;
      continue;
    }
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
    if (row.refusal.ends_with("...")) {
      EXPECT_THAT(Msg(s), StartsWith(row.refusal.substr(0, row.refusal.size() - 3)));
    } else {
      EXPECT_EQ(Msg(s), row.refusal);
    }
  }
}

// Over HTTP: each refusal is a 403 naming the header and changes nothing; requests without
// Origin (curl, privlinkctl) and same-origin ones go through.
class BrowserRulesHttpTest : public LoopbackApiTest {
 protected:
  std::string State() {
    return RawHttp(server_->port(), "GET", "/v1/state", {{"Host", Host()}}).body;
  }
};

TEST_F(BrowserRulesHttpTest, RefusalsAre403NamingTheHeaderAndChangeNothing) {
  const std::string network = R"({"port": "consumer0", "vlan": 42})";
  const std::string port = std::to_string(server_->port());
  struct Row {
    std::string method, path;
    std::vector<std::pair<std::string, std::string>> headers;  // Host added unless given
    int status;
    std::string message;  // start of error.message
  } rows[] = {
      {"GET", "/v1/state", {{"Host", "evil.example:" + port}}, 403, "Host: 'evil.example:"},
      {"GET", "/v1/nothing-here", {{"Host", "evil.example"}}, 403, "Host: 'evil.example'"},
      {"PUT", "/v1/networks/web", {{"Host", "rebound.example:" + port}}, 403, "Host: 're"},
      {"PUT", "/v1/networks/web", {{"Origin", "http://evil.example"}}, 403, "Origin: 'http://ev"},
      {"POST", "/v1/apply", {{"Origin", "null"}}, 403, "Origin: 'null'"},
      {"DELETE",
       "/v1/networks/contoso",
       {{"Sec-Fetch-Site", "cross-site"}},
       403,
       "Sec-Fetch-Site: 'cross-site'"},
      {"PATCH", "/v1/networks/contoso", {{"Origin", "http://evil.example"}}, 403, "Origin: "},
      {"POST",
       "/v1/privateLinkServices/fabrikam-api/privateEndpointConnections/contoso-pe/reject",
       {{"Origin", "http://localhost:" + port}},
       403,
       "Origin: 'http://localhost:"},
      {"GET", "/v1/state", {{"Origin", "http://evil.example"}}, 200, ""},
      {"GET", "/v1/state", {{"Host", "localhost:" + port}}, 200, ""},
      {"PUT", "/v1/networks/contoso", {{"Origin", "http://" + Host()}}, 200, ""},
      {"PUT", "/v1/networks/contoso", {{"Sec-Fetch-Site", "same-origin"}}, 200, ""},
  };
  const std::string before = State();
  for (auto& row : rows) {
    SCOPED_TRACE(row.method + " " + row.path + " " + row.headers.front().first + ": " +
                 row.headers.front().second);
    auto headers = row.headers;
    if (std::none_of(headers.begin(), headers.end(),
                     [](const auto& h) { return h.first == "Host"; })) {
      headers.emplace_back("Host", Host());
    }
    headers.emplace_back("Content-Type", "application/json");
    const bool with_body = row.method == "PUT" || row.method == "POST" || row.method == "PATCH";
    RawResponse r =
        RawHttp(server_->port(), row.method, row.path, headers,
                with_body ? std::optional<std::string>(row.path == "/v1/apply" ? "{}" : network)
                          : std::nullopt);
    EXPECT_EQ(r.status, row.status) << r.body;
    if (row.status == 403) {
      EXPECT_EQ(r.json["error"]["code"], "Forbidden");
      EXPECT_THAT(r.json["error"]["message"].get<std::string>(), StartsWith(row.message));
      EXPECT_EQ(State(), before);
    }
  }
  // privlinkctl's client sends no Origin: unaffected.
  ApiClient client(ListenAddress{false, "127.0.0.1", server_->port(), ""});
  auto created =
      client.Call("PUT", "/v1/networks/tailspin", json{{"port", "consumer0"}, {"vlan", 7}});
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->status, 201);
}

// A refused request's body is read and thrown away, never taken for the next request on the
// connection: a page cannot smuggle a same-origin request inside a cross-site one.
TEST_F(BrowserRulesHttpTest, ARefusedRequestsBodyIsNotTakenForAnotherRequest) {
  const std::string smuggled_body = R"({"port": "consumer0", "vlan": 43})";
  const std::string smuggled =
      RawRequestText("PUT", "/v1/networks/smuggled",
                     {{"Host", Host()}, {"Content-Type", "application/json"}}, smuggled_body);
  const std::string before = State();
  RawConnection connection(server_->port());
  const std::string refused = RawRequestText(
      "POST", "/v1/apply",
      {{"Host", Host()}, {"Origin", "http://evil.example"}, {"Content-Type", "text/plain"}},
      smuggled);
  // The head first, the body a moment later: the server reads the head alone, and the body is
  // still in the socket when the request is refused.
  const size_t head = refused.find("\r\n\r\n") + 4;
  ASSERT_TRUE(connection.Send(refused.substr(0, head)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(connection.Send(refused.substr(head)));
  std::vector<RawResponse> first = ParseRawResponses(connection.Read(false));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].status, 403);
  // The next request on the same connection is the next thing the server reads.
  ASSERT_TRUE(connection.Send(RawRequestText(
      "GET", "/v1/networks/smuggled", {{"Host", Host()}, {"Connection", "close"}}, std::nullopt)));
  std::vector<RawResponse> rest = ParseRawResponses(connection.Read(true));
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].status, 404) << "the smuggled PUT never ran";
  EXPECT_EQ(State(), before);
}

// Listening beyond loopback must be asked for and needs a bearer token; requests without it get
// 401 and change nothing.
TEST(ApiAccessTest, LoopbackHostsAreRecognised) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "localhost", "::1"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "10.0.0.1", "", "128.0.0.1", "example.com"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
  EXPECT_TRUE(BearerTokenMatches("Bearer abc", "abc"));
  for (const char* header : {"", "Bearer", "Bearer ", "Bearer ab", "Bearer abcd", "bearer abc",
                             "Basic abc", "Bearer  abc"}) {
    EXPECT_FALSE(BearerTokenMatches(header, "abc")) << header;
  }
}

TEST(ApiAccessTest, NonLoopbackListenNeedsAllowRemoteAndATokenThenRefusesRequestsWithoutIt) {
  auto config = ParseDaemonConfig(kReferenceConfig);
  ASSERT_TRUE(config.ok());
  config->dataplane.state_dir = "";
  config->dataplane.api_listen = "0.0.0.0:0";
  auto service = ControlService::Start(*config, nullptr);
  ASSERT_FALSE(service.ok());
  EXPECT_THAT(std::string(service.status().message()),
              StartsWith("dataplane.api.listen: 0.0.0.0:0 is not a loopback address"));

  config->dataplane.api_allow_remote = true;
  service = ControlService::Start(*config, nullptr);
  ASSERT_FALSE(service.ok());
  EXPECT_THAT(std::string(service.status().message()),
              StartsWith("dataplane.api.tokenFile: required"));

  char dir[] = "/tmp/privlink-token-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string token_file = std::string(dir) + "/token";
  std::ofstream(token_file) << "  s3cret-t0ken \n";
  ASSERT_EQ(chmod(token_file.c_str(), 0644), 0);
  config->dataplane.api_token_file = token_file;
  service = ControlService::Start(*config, nullptr);
  ASSERT_FALSE(service.ok());
  EXPECT_THAT(std::string(service.status().message()), HasSubstr("may be read by group or others"));

  ASSERT_EQ(chmod(token_file.c_str(), 0600), 0);
  service = ControlService::Start(*config, nullptr);
  ASSERT_TRUE(service.ok()) << service.status();
  const ListenAddress address{false, "127.0.0.1", (*service)->api_port(), ""};
  ApiClient owner(address);
  owner.SetBearerToken("s3cret-t0ken");
  auto state = owner.Call("GET", "/v1/state");
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->status, 200);

  ApiClient anonymous(address);
  ApiClient guesser(address);
  guesser.SetBearerToken("s3cret-t0kem");
  for (ApiClient* client : {&anonymous, &guesser}) {
    for (const auto& [method, path] :
         std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/state"},
                                                          {"GET", "/v1/stats"},
                                                          {"PUT", "/v1/networks/intruder"},
                                                          {"DELETE", "/v1/networks/contoso"},
                                                          {"POST", "/v1/apply"}}) {
      auto r = client->Call(method, path,
                            method == "GET" || method == "DELETE"
                                ? std::nullopt
                                : std::optional<json>(json{{"port", "consumer0"}, {"vlan", 77}}));
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->status, 401) << method << " " << path;
      EXPECT_EQ(r->body["error"]["code"], "Unauthorized");
    }
  }
  auto after = owner.Call("GET", "/v1/state");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->body, state->body) << "refused requests changed nothing";
  auto created =
      owner.Call("PUT", "/v1/networks/tailspin", json{{"port", "consumer0"}, {"vlan", 77}});
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created->status, 201);
  (*service)->Stop();
  unlink(token_file.c_str());
  rmdir(dir);
}

TEST(ApiAccessTest, LoopbackByDefaultNeedsNoToken) {
  auto config = ParseDaemonConfig(kReferenceConfig);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->dataplane.api_listen, kDefaultApiListen);
  EXPECT_FALSE(config->dataplane.api_allow_remote);
  config->dataplane.state_dir = "";
  config->dataplane.api_listen = "127.0.0.1:0";
  auto service = ControlService::Start(*config, nullptr);
  ASSERT_TRUE(service.ok()) << service.status();
  ApiClient client({false, "127.0.0.1", (*service)->api_port(), ""});
  auto r = client.Call("GET", "/v1/state");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  (*service)->Stop();
}

TEST(ApiUnixSocketTest, ServesOnASocketOnlyItsOwnerCanUse) {
  SequentialUuids uuids;
  auto plane = ControlPlane::Create({}, nullptr, {}, &uuids);
  ASSERT_TRUE(plane.ok());
  char dir[] = "/tmp/privlink-api-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/api.sock";
  {
    ApiServer server(**plane, nullptr);
    ASSERT_TRUE(server.Bind({true, "", 0, path}).ok());
    server.Start();
    struct stat info;
    ASSERT_EQ(stat(path.c_str(), &info), 0);
    EXPECT_TRUE(S_ISSOCK(info.st_mode));
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    ApiClient client({true, "", 0, path});
    auto r = client.Call("PUT", "/v1/networks/n", json{{"port", "p"}});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 201);
    // A second server may not steal a live socket.
    ApiServer second(**plane, nullptr);
    EXPECT_FALSE(second.Bind({true, "", 0, path}).ok());
  }
  // Stopping removes the socket file.
  EXPECT_NE(access(path.c_str(), F_OK), 0);
  rmdir(dir);
}

}  // namespace
}  // namespace privlink::control
