// The OpenAPI contract (docs/openapi.yaml, served at /v1/openapi.json) against the server that
// serves it: every route the server registers is a path and verb of the document and every path
// and verb of the document is a route; the routes that need no token are exactly the operations
// whose security is empty; the document served is the one compiled in. The bodies are checked
// against the document's schemas by tests/web/openapi_contract.mjs.
#include <httplib.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "control/api/static_assets.h"
#include "tests/control/framework/loopback_api.h"
#include "tests/control/framework/raw_http.h"

namespace privlink::control {
namespace {

using nlohmann::json;
using namespace privlink::control::testing;

// A document path as the server's route pattern: {parameter} -> ([^/]+), dots escaped.
std::string RoutePattern(const std::string& path) {
  std::string pattern;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '{') {
      i = path.find('}', i);
      pattern += "([^/]+)";
    } else {
      pattern += path[i] == '.' ? std::string("\\.") : std::string(1, path[i]);
    }
  }
  return pattern;
}

std::string Upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), ::toupper);
  return text;
}

const StaticAsset* AssetAt(std::string_view path) {
  for (const StaticAsset& asset : StaticAssets()) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

class OpenApiTest : public LoopbackApiTest {
 protected:
  void SetUp() override {
    LoopbackApiTest::SetUp();
    if (HasFatalFailure()) return;
    const StaticAsset* asset = AssetAt("/v1/openapi.json");
    ASSERT_NE(asset, nullptr);
    document_ = json::parse(asset->body);
  }
  json document_;
};

TEST_F(OpenApiTest, EveryRouteIsInTheDocumentAndEveryOperationIsARoute) {
  static const std::set<std::string> kVerbs = {"get", "put", "post", "delete", "patch"};
  std::set<std::string> documented, public_operations;
  for (const auto& [path, item] : document_.at("paths").items()) {
    for (const auto& [verb, operation] : item.items()) {
      if (!kVerbs.contains(verb)) continue;
      const std::string key = Upper(verb) + " " + RoutePattern(path);
      documented.insert(key);
      if (operation.contains("security") && operation["security"].empty()) {
        public_operations.insert(key);
      }
    }
  }
  std::set<std::string> registered, public_routes;
  for (const ApiRoute& route : server_->routes()) {
    const std::string key = route.method + " " + route.pattern;
    registered.insert(key);
    if (route.access == Access::kPublic) public_routes.insert(key);
  }
  std::vector<std::string> undocumented, unserved;
  std::set_difference(registered.begin(), registered.end(), documented.begin(), documented.end(),
                      std::back_inserter(undocumented));
  std::set_difference(documented.begin(), documented.end(), registered.begin(), registered.end(),
                      std::back_inserter(unserved));
  EXPECT_THAT(undocumented, ::testing::IsEmpty()) << "routes missing from docs/openapi.yaml";
  EXPECT_THAT(unserved, ::testing::IsEmpty()) << "operations the server does not serve";
  EXPECT_EQ(public_routes, public_operations)
      << "the routes that need no token must be the operations with security: []";
  EXPECT_GE(registered.size(), 25u);
}

TEST_F(OpenApiTest, ServedDocumentIsTheCompiledOneAndNeedsNoToken) {
  server_->Stop();
  server_ = std::make_unique<ApiServer>(*control_, nullptr, nullptr);
  ASSERT_TRUE(server_->Bind({false, "127.0.0.1", 0, ""}).ok());
  server_->RequireBearerToken("secret-token");
  server_->Start();
  client_ = std::make_unique<ApiClient>(ListenAddress{false, "127.0.0.1", server_->port(), ""});
  ApiResponse served = Call("GET", "/v1/openapi.json");
  ASSERT_EQ(served.status, 200);
  EXPECT_EQ(served.body, document_);
  EXPECT_EQ(served.body["openapi"], "3.1.0");
  // The API itself still needs the token.
  EXPECT_EQ(Call("GET", "/v1/networks").status, 401);
}

TEST_F(OpenApiTest, PageFilesAreServedWithTheirTypesAndAnswerConditionalRequests) {
  httplib::Client http("127.0.0.1", server_->port());
  for (const auto& [path, type] : {std::pair{"/", "text/html"},
                                   {"/app.js", "text/javascript"},
                                   {"/app.css", "text/css"},
                                   {"/favicon.svg", "image/svg+xml"}}) {
    SCOPED_TRACE(path);
    const StaticAsset* asset = AssetAt(path);
    ASSERT_NE(asset, nullptr);
    auto first = http.Get(path);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->status, 200);
    EXPECT_THAT(first->get_header_value("Content-Type"), ::testing::StartsWith(type));
    EXPECT_EQ(first->body, asset->body);
    EXPECT_EQ(first->get_header_value("ETag"), asset->etag);
    EXPECT_EQ(first->get_header_value("X-Frame-Options"), "DENY");
    EXPECT_THAT(first->get_header_value("Content-Security-Policy"),
                ::testing::HasSubstr("frame-ancestors 'none'"));
    auto again = http.Get(path, {{"If-None-Match", std::string(asset->etag)}});
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 304);
    EXPECT_TRUE(again->body.empty());
  }
  // A dot in a file name is a dot, not any character.
  auto other = http.Get("/appXjs");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  // No token needed, but the browser rules hold: a rebound name is refused.
  EXPECT_EQ(RawHttp(server_->port(), "GET", "/", {{"Host", "attacker.example:80"}}).status, 403);
}

}  // namespace
}  // namespace privlink::control
