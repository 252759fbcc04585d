// Persistence: crash-safe saves, exact restarts, refusal of corrupt state, and the control
// plane's promise that a refused change leaves model, state file and snapshot untouched.
#include "control/store/persist.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/config/daemon_config.h"
#include "control/plane/control_plane.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control {
namespace {

using ::testing::HasSubstr;
using namespace privlink::control::testing;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

class PersistTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/privlink-persist-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    auto config = ParseDaemonConfig(kReferenceConfig);
    ASSERT_TRUE(config.ok());
    seed_ = config->resources;
    options_.region = "local";
    options_.consumer_ports = {"consumer0"};
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  absl::StatusOr<std::unique_ptr<ControlPlane>> Start(const ResourceDocument& seed) {
    return ControlPlane::Create(options_, std::make_unique<StateStore>(dir_), seed, &uuids_);
  }
  std::string StatePath() const { return dir_ + "/state.json"; }

  std::string dir_;
  ResourceDocument seed_;
  ControlPlaneOptions options_;
  SequentialUuids uuids_;
};

TEST_F(PersistTest, NoStateFileYet) {
  StateStore store(dir_);
  auto loaded = store.Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
}

TEST_F(PersistTest, SaveThenLoadIsExactAndLeavesNoTempFile) {
  auto plane = Start(seed_);
  ASSERT_TRUE(plane.ok()) << plane.status();
  const Model& model = *(*plane)->model();
  StateStore store(dir_);
  auto loaded = store.Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ(**loaded, model);
  EXPECT_FALSE(std::filesystem::exists(StatePath() + ".tmp"));
  struct stat info;
  ASSERT_EQ(stat(StatePath().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST_F(PersistTest, RestartRestoresAliasesIdsAndStatusesAndStateWinsOverConfig) {
  Model before;
  {
    auto plane = Start(seed_);
    ASSERT_TRUE(plane.ok()) << plane.status();
    ASSERT_TRUE((*plane)
                    ->Change([](Model& m, const WorkflowContext&) {
                      auto pe = PutEndpoint(
                          m, MakeEndpoint("late", "sub-x", "contoso", "10.0.0.9", "fabrikam-api"),
                          "");
                      if (!pe.ok()) return pe.status();
                      return RejectConnection(m, "fabrikam-api", "late", "no").status();
                    })
                    .ok());
    ASSERT_TRUE((*plane)
                    ->Change([](Model& m, const WorkflowContext&) {
                      return DeleteEndpoint(m, "contoso-pe");
                    })
                    .ok());
    before = *(*plane)->model();
  }
  // A different seed: ignored, because the state file exists.
  ResourceDocument other;
  other.networks = {MakeNetwork("unrelated")};
  auto plane = Start(other);
  ASSERT_TRUE(plane.ok()) << plane.status();
  const Model& after = *(*plane)->model();
  EXPECT_EQ(after, before);
  EXPECT_FALSE(after.networks.contains("unrelated"));
  const PrivateLinkService& s = after.services.at("fabrikam-api");
  EXPECT_EQ(s.alias, "fabrikam-api.00000000-0000-4000-8000-000000000001.local.privlinkservice");
  EXPECT_EQ(s.connections.at("late").status, ConnectionStatus::kRejected);
  EXPECT_EQ(s.connections.at("contoso-pe").status, ConnectionStatus::kDisconnected);
  // The restored snapshot carries traffic exactly as before.
  const Snapshot* snapshot = (*plane)->publisher().latest();
  EXPECT_FALSE(snapshot->Endpoint(after.endpoints.at("late").id).carries_traffic);
}

// The state file was written under other ports: a restored service with a backend no provider
// port reaches stops the start, naming the file and the backend; the file is kept.
TEST_F(PersistTest, RestoredBackendNoProviderPortReachesRefusesToStart) {
  ASSERT_TRUE(Start(seed_).ok());
  const std::string saved = ReadFile(StatePath());
  options_.provider_ports = std::vector<ProviderPortReach>{{"provider0", Ip("192.168.99.1"), 24}};
  auto plane = Start(seed_);
  ASSERT_FALSE(plane.ok());
  EXPECT_EQ(Msg(plane),
            "state file " + StatePath() +
                ": backends[0].ip: backend 192.168.10.11 of private link service 'fabrikam-api' "
                "is reachable through no provider port (provider0: subnet 192.168.99.1/24, no "
                "gateway): give a provider port a subnet that contains it "
                "(dataplane.ports[].subnet) or a gateway (dataplane.ports[].gateway)");
  EXPECT_EQ(ReadFile(StatePath()), saved);
  options_.provider_ports = std::vector<ProviderPortReach>{{"provider0", Ip("192.168.10.1"), 24}};
  EXPECT_TRUE(Start(seed_).ok());
}

TEST_F(PersistTest, CorruptStateRefusesToStartAndIsNeverOverwritten) {
  const std::string corrupt[] = {
      "{ not json",
      R"({"version": 1})",
      R"({"version": 2, "idCursors": {"network": 0, "service": 0, "endpoint": 0},
          "networks": [], "privateLinkServices": [], "privateEndpoints": []})",
      // Parses, but an endpoint sits in a network that does not exist.
      R"({"version": 1, "idCursors": {"network": 0, "service": 0, "endpoint": 1},
          "networks": [], "privateLinkServices": [],
          "privateEndpoints": [{"name": "e", "subscription": "s", "network": "gone",
            "ip": "10.0.0.1", "privateLinkService": "x", "id": 1, "privateLinkServiceId": 1}]})",
      "",
  };
  for (const std::string& text : corrupt) {
    WriteFile(StatePath(), text);
    auto plane = Start(seed_);
    ASSERT_FALSE(plane.ok()) << text;
    EXPECT_EQ(plane.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(Msg(plane), HasSubstr(StatePath()));
    EXPECT_THAT(Msg(plane), HasSubstr("refusing to start"));
    EXPECT_EQ(ReadFile(StatePath()), text);
  }
}

TEST_F(PersistTest, UnreadableStateRefusesToStart) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  WriteFile(StatePath(), "{}");
  chmod(StatePath().c_str(), 0);
  EXPECT_EQ(Start(seed_).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(PersistTest, LeftoverTempFileFromACrashIsIgnored) {
  { ASSERT_TRUE(Start(seed_).ok()); }
  const std::string saved = ReadFile(StatePath());
  WriteFile(StatePath() + ".tmp", "{ half written");
  auto plane = Start(ResourceDocument());
  ASSERT_TRUE(plane.ok()) << plane.status();
  EXPECT_EQ((*plane)->model()->services.size(), 1u);
  EXPECT_EQ(ReadFile(StatePath()), saved);
}

TEST_F(PersistTest, RefusedChangeLeavesModelFileAndSnapshotUntouched) {
  auto plane = Start(seed_);
  ASSERT_TRUE(plane.ok());
  const std::shared_ptr<const Model> before = (*plane)->model();
  const std::string file_before = ReadFile(StatePath());
  const Snapshot* snapshot_before = (*plane)->publisher().latest();
  // The first step succeeds on the copy, the second fails: nothing of it may show.
  absl::Status refused = (*plane)->Change([](Model& m, const WorkflowContext& context) {
    if (auto s = PutNetwork(m, MakeNetwork("extra", "consumer0", 3), context, ""); !s.ok()) {
      return s.status();
    }
    return DeleteService(m, "fabrikam-api");  // has an Approved connection: 409
  });
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*(*plane)->model(), *before);
  EXPECT_EQ(ReadFile(StatePath()), file_before);
  EXPECT_EQ((*plane)->publisher().latest(), snapshot_before);
  EXPECT_EQ((*plane)->counters().changes_rejected, 1u);
}

TEST_F(PersistTest, ChangeThatCannotBeSavedIsNotApplied) {
  auto plane = Start(seed_);
  ASSERT_TRUE(plane.ok());
  const Model before = *(*plane)->model();
  // Replace the state dir by a file: the temp file cannot be created.
  std::filesystem::remove_all(dir_);
  WriteFile(dir_, "not a directory");
  absl::Status s = (*plane)->Change([](Model& m, const WorkflowContext& context) {
    return PutNetwork(m, MakeNetwork("extra", "consumer0", 3), context, "").status();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(Msg(s), HasSubstr("change not applied"));
  EXPECT_EQ(*(*plane)->model(), before);
  std::filesystem::remove(dir_);
  std::filesystem::create_directory(dir_);
}

TEST_F(PersistTest, InvalidSeedRefusesToStart) {
  seed_.endpoints[0].network = "nowhere";
  auto plane = Start(seed_);
  EXPECT_EQ(plane.status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(StatePath()));
}

}  // namespace
}  // namespace privlink::control
