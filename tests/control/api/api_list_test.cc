// Collection lists a page at a time ($top, $skipToken, nextLink) and the streamed GET /v1/state,
// over a real HTTP connection.
#include <httplib.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "control/api/api_lists.h"
#include "control/api/api_server.h"
#include "control/cli/api_client.h"
#include "control/config/json_codec.h"
#include "control/model/str_cat.h"
#include "tests/control/framework/loopback_api.h"
#include "tests/control/framework/raw_http.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::StartsWith;
using namespace privlink::control::testing;

class ApiListTest : public LoopbackApiTest {
 protected:
  // Networks `name` on consumer0, each on a VLAN of its own.
  void PutNetwork(const std::string& name) {
    ASSERT_EQ(
        Call("PUT", "/v1/networks/" + name, json{{"port", "consumer0"}, {"vlan", ++vlan_}}).status,
        201);
  }
  // The names on one page, and its nextLink ("" when it is the last).
  std::pair<std::vector<std::string>, std::string> Page(const std::string& path) {
    ApiResponse page = Call("GET", path);
    EXPECT_EQ(page.status, 200) << path << ": " << page.body;
    std::vector<std::string> names;
    for (const json& item : page.body["value"]) {
      names.push_back(item.contains("name") ? item["name"] : item["privateEndpoint"]);
    }
    return {names, page.body.value("nextLink", "")};
  }

  int vlan_ = 0;
};

TEST_F(ApiListTest, PagesFollowTheNameOrderWithANextLinkUntilTheLast) {
  for (const char* name : {"n3", "n1", "n5", "n2", "n4"}) PutNetwork(name);
  auto [first, next] = Page("/v1/networks?$top=2");
  EXPECT_THAT(first, ElementsAre("contoso", "n1"));
  EXPECT_EQ(next, "/v1/networks?$top=2&$skipToken=n1");
  auto [second, next2] = Page(next);
  EXPECT_THAT(second, ElementsAre("n2", "n3"));
  auto [third, next3] = Page(next2);
  EXPECT_THAT(third, ElementsAre("n4", "n5"));
  // Nothing after n5: the last page that is full has no nextLink either.
  EXPECT_EQ(next3, "");
  // Without $top every item fits the default page: the reply is {"value": [...]} alone.
  ApiResponse all = Call("GET", "/v1/networks");
  EXPECT_EQ(all.body.size(), 1u) << all.body;
  EXPECT_EQ(all.body["value"].size(), 6u);
  // A cursor need not name an item that exists.
  EXPECT_THAT(Page("/v1/networks?$skipToken=n25").first, ElementsAre("n3", "n4", "n5"));
}

TEST_F(ApiListTest, TheDefaultPageIsAThousandItems) {
  json networks = json::array();
  for (int i = 0; i < 1001; ++i) {
    networks.push_back({{"name", Cat("net-", 10000 + i)}, {"port", "consumer0"}, {"vlan", 1 + i}});
  }
  ASSERT_EQ(Call("POST", "/v1/apply", json{{"networks", networks}}).status, 200);
  auto [first, next] = Page("/v1/networks");
  ASSERT_EQ(first.size(), 1000u);
  EXPECT_EQ(first.front(), "contoso");
  EXPECT_EQ(next, "/v1/networks?$top=1000&$skipToken=net-10998");
  EXPECT_THAT(Page(next).first, ElementsAre("net-10999", "net-11000"));
}

// Random creations and deletions between the pages of a listing: every item present from its
// first request to its last is listed exactly once, and no item twice.
TEST_F(ApiListTest, AnItemPresentThroughoutAListingAppearsExactlyOnce) {
  std::mt19937 random(18);
  std::set<std::string> present = {"contoso"};
  int created = 0;
  const auto create = [&] {
    const std::string name = Cat("n", random() % 100000);
    if (present.count(name)) return;
    PutNetwork(name);
    present.insert(name);
    ++created;
  };
  for (int i = 0; i < 40; ++i) create();
  for (int round = 0; round < 5; ++round) {
    std::set<std::string> throughout = present;
    std::map<std::string, int> seen;
    std::string path = "/v1/networks?$top=3";
    int deleted = 0;
    for (int pages = 0; !path.empty(); ++pages) {
      ASSERT_LT(pages, 100) << "the listing does not end";
      auto [names, next] = Page(path);
      ASSERT_FALSE(names.empty()) << path;
      for (const std::string& name : names) {
        ++seen[name];
        EXPECT_TRUE(present.count(name)) << name << " listed after it was deleted";
      }
      EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
      // Between the pages: the item the cursor names goes every other time, a random one goes,
      // and two come (before or after the cursor, as the names fall).
      if (!next.empty()) {
        const std::string cursor = random() % 2 ? names.back() : "contoso";
        for (const std::string& victim :
             {cursor, *std::next(present.begin(), random() % present.size())}) {
          if (victim == "contoso" || !present.count(victim)) continue;
          ASSERT_EQ(Call("DELETE", "/v1/networks/" + victim).status, 204);
          present.erase(victim);
          throughout.erase(victim);
          ++deleted;
        }
        create();
        create();
      }
      path = next;
    }
    for (const auto& [name, count] : seen) EXPECT_EQ(count, 1) << name << " listed twice";
    for (const std::string& name : throughout) {
      EXPECT_EQ(seen.count(name), 1u) << name << " was present throughout but not listed";
    }
    EXPECT_GT(deleted, 0);
  }
  EXPECT_GT(created, 60);
}

TEST_F(ApiListTest, ConnectionsPageToo) {
  for (int i = 0; i < 5; ++i) {
    const json endpoint = {{"subscription", "sub-contoso"},
                           {"network", "contoso"},
                           {"ip", Cat("10.0.0.", 10 + i)},
                           {"privateLinkService", "fabrikam-api"}};
    ASSERT_EQ(Call("PUT", Cat("/v1/privateEndpoints/pe-", i), endpoint).status, 201);
  }
  const std::string base = "/v1/privateLinkServices/fabrikam-api/privateEndpointConnections";
  auto [first, next] = Page(base + "?$top=4");
  EXPECT_THAT(first, ElementsAre("contoso-pe", "pe-0", "pe-1", "pe-2"));
  EXPECT_EQ(next, base + "?$top=4&$skipToken=pe-2");
  auto [second, last] = Page(next);
  EXPECT_THAT(second, ElementsAre("pe-3", "pe-4"));
  EXPECT_EQ(last, "");
  auto [endpoints, endpoints_next] = Page("/v1/privateEndpoints?$top=5");
  EXPECT_THAT(endpoints, ElementsAre("contoso-pe", "pe-0", "pe-1", "pe-2", "pe-3"));
  EXPECT_THAT(Page(endpoints_next).first, ElementsAre("pe-4"));
  EXPECT_THAT(Page("/v1/privateLinkServices?$top=1").first, ElementsAre("fabrikam-api"));
}

TEST_F(ApiListTest, ABadTopOrSkipTokenIsRefusedNamingIt) {
  const std::string routes[] = {"/v1/networks", "/v1/privateLinkServices", "/v1/privateEndpoints",
                                "/v1/privateLinkServices/fabrikam-api/privateEndpointConnections"};
  const std::pair<std::string, std::string> cases[] = {
      {"$top=0", "$top: '0' is not an integer in [1, 1000]"},
      {"$top=1001", "$top: '1001' is not an integer in [1, 1000]"},
      {"$top=99999999999", "$top: '99999999999' is not an integer in [1, 1000]"},
      {"$top=-1", "$top: '-1' is not an integer in [1, 1000]"},
      {"$top=ten", "$top: 'ten' is not an integer in [1, 1000]"},
      {"$top=", "$top: '' is not an integer in [1, 1000]"},
      {"$skipToken=", "$skipToken: '' is not a cursor of this API"},
      {"$skipToken=-n1", "$skipToken: '-n1' is not a cursor of this API"},
      {"$top=2&$skipToken=a%2Fb", "$skipToken: 'a/b' is not a cursor of this API"},
  };
  for (const std::string& route : routes) {
    for (const auto& [query, message] : cases) {
      ApiResponse response = Call("GET", route + "?" + query);
      EXPECT_EQ(response.status, 400) << route << "?" << query;
      EXPECT_THAT(response.body["error"]["message"].get<std::string>(), StartsWith(message))
          << route << "?" << query;
    }
  }
}

// GET /v1/state is sent in chunks and its bytes are those of the whole document dumped at once.
TEST_F(ApiListTest, StateStreamsTheBytesOfTheWholeDocument) {
  Model empty;
  std::string written;
  ASSERT_TRUE(WriteResources(empty, [&](std::string_view piece) {
    written.append(piece);
    return true;
  }));
  EXPECT_EQ(written, EncodeResources(empty).dump(2) + "\n");

  json networks = json::array();
  for (int i = 0; i < 1000; ++i) {  // some 100 KiB: more than one piece
    networks.push_back({{"name", Cat("net-", i)}, {"port", "consumer0"}, {"vlan", 1 + i}});
  }
  ASSERT_EQ(Call("POST", "/v1/apply", json{{"networks", networks}}).status, 200);
  httplib::Client http("127.0.0.1", server_->port());
  auto result = http.Get("/v1/state");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->get_header_value("Transfer-Encoding"), "chunked");
  EXPECT_EQ(result->get_header_value("Content-Type"), "application/json");
  const std::string expected = EncodeResources(*control_->model()).dump(2) + "\n";
  EXPECT_GT(expected.size(), 100'000u);
  EXPECT_EQ(result->body, expected);

  // A writer that stops is not written to again.
  int writes = 0;
  EXPECT_FALSE(WriteResources(*control_->model(), [&](std::string_view) { return ++writes < 3; }));
  EXPECT_EQ(writes, 3);
}

// A keep-alive client pages through a list (or sends a stream of PUTs) on one connection: the
// server does not close it after a handful of requests.
TEST_F(ApiListTest, OneConnectionCarriesManyRequests) {
  RawConnection connection(server_->port());
  const std::string host = Cat("127.0.0.1:", server_->port());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(
        connection.Send(RawRequestText(i % 2 ? "GET" : "PUT", Cat("/v1/networks/k", i / 2),
                                       {{"Host", host}, {"Content-Type", "application/json"}},
                                       json{{"port", "consumer0"}, {"vlan", 100 + i / 2}}.dump())))
        << "request " << i;
    std::vector<RawResponse> replies = ParseRawResponses(connection.Read(false));
    ASSERT_EQ(replies.size(), 1u) << "request " << i << ": the server closed the connection";
    EXPECT_EQ(replies[0].status, i % 2 ? 200 : 201) << replies[0].body;
    EXPECT_NE(replies[0].headers["connection"], "close") << "request " << i;
  }
}

}  // namespace
}  // namespace privlink::control
