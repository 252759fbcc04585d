// privlinkd --no-dataplane, the real binary (path in $PRIVLINKD): options, clean stop, refusal of
// a corrupt database, a restart serving the same /v1/state byte for byte, and a kill -9 in the
// middle of a stream of changes that must leave a database holding every acknowledged change.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/cli/api_client.h"
#include "control/store/model_rows.h"
#include "control/store/sqlite_store.h"
#include "tests/control/framework/process_util.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using namespace privlink::control::testing;

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = BinaryFromEnv("PRIVLINKD");
    ASSERT_FALSE(binary_.empty()) << "set PRIVLINKD to the privlinkd binary";
    char dir[] = "/tmp/privlink-daemon-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    socket_ = dir_ + "/api.sock";
    json config = json::parse(kReferenceConfig);
    config["dataplane"]["stateDir"] = dir_ + "/state";
    config["dataplane"]["api"]["listen"] = "unix:" + socket_;
    config_ = dir_ + "/config.json";
    std::ofstream(config_) << config.dump(2);
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      WaitExitCode(pid_);
    }
    std::filesystem::remove_all(dir_);
  }

  // Starts the daemon and waits until its API answers.
  bool StartDaemon(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {binary_, "--config", config_, "--no-dataplane"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    pid_ = Spawn(argv, "", dir_ + "/daemon.err");
    ApiClient client({true, "", 0, socket_});
    for (int i = 0; i < 500; ++i) {
      auto r = client.Call("GET", "/v1/state");
      if (r.ok() && r->status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  int StopDaemon(int signal) {
    kill(pid_, signal);
    const int code = WaitExitCode(pid_);
    pid_ = -1;
    return code;
  }

  std::string binary_, dir_, socket_, config_;
  pid_t pid_ = -1;
};

TEST_F(DaemonTest, ServesTheConfigAndStopsCleanlyOnSigtermAndSigint) {
  for (int signal : {SIGTERM, SIGINT}) {
    ASSERT_TRUE(StartDaemon()) << Slurp(dir_ + "/daemon.err");
    ApiClient client({true, "", 0, socket_});
    auto r = client.Call("GET", "/v1/privateEndpoints/contoso-pe");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->body["connectionStatus"], "Approved");
    EXPECT_EQ(StopDaemon(signal), 0);
    EXPECT_NE(access(socket_.c_str(), F_OK), 0) << "socket removed on stop";
  }
}

TEST_F(DaemonTest, AcceptsEalOptionsBeforeTheSeparatorAndOverrides) {
  const std::string other_socket = dir_ + "/other.sock";
  pid_ = Spawn({binary_, "-l", "0", "--no-huge", "--", "--config", config_, "--no-dataplane",
                "--listen", "unix:" + other_socket, "--state-dir", dir_ + "/other-state"},
               "", dir_ + "/daemon.err");
  ApiClient client({true, "", 0, other_socket});
  bool up = false;
  for (int i = 0; i < 500 && !up; ++i) {
    auto r = client.Call("GET", "/v1/state");
    up = r.ok() && r->status == 200;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(up) << Slurp(dir_ + "/daemon.err");
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/other-state/state.db"));
  EXPECT_EQ(StopDaemon(SIGTERM), 0);
}

TEST_F(DaemonTest, WithTheDataplaneEalErrorsAndUsageErrorsAreReported) {
  ProcessResult r = RunProcess({binary_, "--no-such-eal-option", "--", "--config", config_}, dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("privlinkd: DPDK EAL initialisation failed"));
  ProcessResult usage = RunProcess({binary_, "--no-dataplane"}, dir_);
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_THAT(usage.err, HasSubstr("--config"));
}

TEST_F(DaemonTest, CorruptStateStopsTheStartAndIsKept) {
  std::filesystem::create_directory(dir_ + "/state");
  const std::string garbage(10000, 'x');
  std::ofstream(dir_ + "/state/state.db") << garbage;
  ProcessResult r = RunProcess({binary_, "--config", config_, "--no-dataplane"}, dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("privlinkd: state database " + dir_ +
                               "/state/state.db is unusable: file is not a database; refusing "
                               "to start"));
  EXPECT_EQ(Slurp(dir_ + "/state/state.db"), garbage);
  // A state file of an earlier release that cannot be read is kept too.
  std::filesystem::remove_all(dir_ + "/state");
  std::filesystem::create_directory(dir_ + "/state");
  std::ofstream(dir_ + "/state/state.json") << "{\"version\": 1, \"networks\": [";
  r = RunProcess({binary_, "--config", config_, "--no-dataplane"}, dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("state.json is unusable"));
  EXPECT_EQ(Slurp(dir_ + "/state/state.json"), "{\"version\": 1, \"networks\": [");
}

// After changes, a kill -9 and a restart, /v1/state is the same bytes; privlinkctl state export
// gives those bytes too (tests/control/cli).
TEST_F(DaemonTest, RestartAfterKillNineServesByteIdenticalState) {
  ASSERT_TRUE(StartDaemon()) << Slurp(dir_ + "/daemon.err");
  ApiClient client({true, "", 0, socket_});
  auto put = client.Call("PUT", "/v1/networks/extra", json{{"port", "consumer0"}, {"vlan", 5}});
  ASSERT_TRUE(put.ok() && put->status == 201);
  auto pe = client.Call("PUT", "/v1/privateEndpoints/late",
                        json{{"subscription", "sub-x"},
                             {"network", "extra"},
                             {"ip", "10.0.0.9"},
                             {"privateLinkService", "fabrikam-api"}});
  ASSERT_TRUE(pe.ok() && pe->status == 201);
  auto reject = client.Call(
      "POST", "/v1/privateLinkServices/fabrikam-api/privateEndpointConnections/late/reject",
      json::object());
  ASSERT_TRUE(reject.ok() && reject->status == 200);
  auto before = client.GetRaw("/v1/state");
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(StopDaemon(SIGKILL), -1);
  ASSERT_TRUE(StartDaemon()) << Slurp(dir_ + "/daemon.err");
  ApiClient again({true, "", 0, socket_});
  auto after = again.GetRaw("/v1/state");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->body, before->body);
  EXPECT_THAT(after->body, HasSubstr("\"Rejected\""));
}

// A provider port with neither subnet nor gateway reaches no backend: the start stops with one
// line naming the backend and the fix. A config without ports (control only) is not checked.
TEST_F(DaemonTest, ABackendNoProviderPortReachesStopsTheStart) {
  json config = json::parse(Slurp(config_));
  config["dataplane"]["ports"][1].erase("subnet");
  config["dataplane"]["ports"][1].erase("gateway");
  std::ofstream(config_) << config.dump(2);
  ProcessResult r = RunProcess({binary_, "--config", config_, "--no-dataplane"}, dir_);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "privlinkd: privateLinkServices[0].backends[0].ip: backend 192.168.10.11 of private "
            "link service 'fabrikam-api' is reachable through no provider port (provider0: no "
            "subnet, no gateway): give a provider port a subnet that contains it "
            "(dataplane.ports[].subnet) or a gateway (dataplane.ports[].gateway)\n");

  config["dataplane"].erase("ports");
  config["networks"][0]["port"] = "any-port";
  std::ofstream(config_) << config.dump(2);
  ASSERT_TRUE(StartDaemon()) << Slurp(dir_ + "/daemon.err");
  EXPECT_EQ(StopDaemon(SIGTERM), 0);
}

TEST_F(DaemonTest, KillNineMidStreamKeepsEveryAcknowledgedChange) {
  constexpr int kRounds = 3;
  constexpr int kStreams = 2;
  std::set<std::string> acknowledged;  // networks; endpoints named after them
  std::atomic<int> next_vlan{1};
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(round);
    ASSERT_TRUE(StartDaemon()) << Slurp(dir_ + "/daemon.err");
    // Everything acknowledged before the previous kill survived the restart.
    {
      ApiClient client({true, "", 0, socket_});
      auto state = client.Call("GET", "/v1/state");
      ASSERT_TRUE(state.ok());
      std::set<std::string> present;
      for (const json& n : state->body["networks"]) present.insert(n["name"].get<std::string>());
      for (const std::string& name : acknowledged) EXPECT_TRUE(present.contains(name)) << name;
    }
    std::atomic<int> acked_this_round{0};
    std::vector<std::set<std::string>> acked(kStreams);
    std::vector<std::thread> streams;
    for (int s = 0; s < kStreams; ++s) {
      streams.emplace_back([&, s] {
        ApiClient client({true, "", 0, socket_});
        for (int i = 0;; ++i) {
          const std::string name =
              "r" + std::to_string(round) + "s" + std::to_string(s) + "n" + std::to_string(i);
          auto r = client.Call("PUT", "/v1/networks/" + name,
                               json{{"port", "consumer0"}, {"vlan", next_vlan.fetch_add(1)}});
          if (!r.ok() || r->status != 201) return;  // the daemon is gone
          acked[s].insert(name);
          acked_this_round.fetch_add(1);
        }
      });
    }
    // Kill while both streams are mid-flight, at a different point each round.
    const int kill_after = 15 + 20 * round;
    while (acked_this_round.load() < kill_after)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(StopDaemon(SIGKILL), -1);
    for (auto& t : streams) t.join();
    for (const auto& set : acked) acknowledged.insert(set.begin(), set.end());

    // The database opens, passes its check and holds every acknowledged change.
    auto store = SqliteStore::Open(dir_ + "/state");
    ASSERT_TRUE(store.ok()) << store.status();
    auto contents = (*store)->Load();
    ASSERT_TRUE(contents.ok()) << contents.status();
    auto loaded = DecodeModelRows(contents->rows);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    for (const std::string& name : acknowledged) {
      EXPECT_TRUE(loaded->networks.contains(name)) << name;
    }
    EXPECT_TRUE(loaded->endpoints.contains("contoso-pe"));
  }
  EXPECT_GE(acknowledged.size(), static_cast<size_t>(15 + 35 + 55));
}

}  // namespace
}  // namespace privlink::control
