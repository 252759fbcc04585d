// A state.json of the landed format (testdata/state-landed.json, written by privlinkd before the
// SQLite store) is migrated once at start: every resource in one transaction, then renamed to
// state.json.migrated; broken files and ambiguous directories stop the start, nothing lost.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/config/daemon_config.h"
#include "control/config/json_codec.h"
#include "control/config/json_reader.h"
#include "control/plane/control_plane.h"
#include "control/store/model_rows.h"
#include "control/store/sqlite_store.h"
#include "tests/control/framework/state_dir.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control {
namespace {

using ::testing::HasSubstr;
using namespace privlink::control::testing;

class MigrationTest : public StateDirTest {
 protected:
  void SetUp() override {
    const char* root = std::getenv("PRIVLINK_SOURCE_ROOT");
    ASSERT_NE(root, nullptr) << "set PRIVLINK_SOURCE_ROOT to the source tree";
    landed_ = ReadFile(std::string(root) + "/tests/control/store/testdata/state-landed.json");
    ASSERT_FALSE(landed_.empty());
    StateDirTest::SetUp();
  }
  Model LandedModel() const {
    nlohmann::json document;
    EXPECT_TRUE(ParseJson(landed_, document).ok());
    auto model = DecodeState(document);
    EXPECT_TRUE(model.ok()) << model.status();
    return model.ok() ? *model : Model();
  }
  std::string StateJson() const { return dir_ + "/state.json"; }

  std::string landed_;
};

TEST_F(MigrationTest, ALandedStateFileIsMigratedOnceInOneTransaction) {
  std::ofstream(StateJson()) << landed_;
  const Model expected = LandedModel();
  ASSERT_EQ(expected.endpoints.size(), 1u);
  {
    auto plane = Start();
    ASSERT_TRUE(plane.ok()) << plane.status();
    EXPECT_EQ(*(*plane)->model(), expected);  // the state file wins over --config
    EXPECT_EQ((*plane)->revision(), 1u);
    const PrivateLinkService& s = (*plane)->model()->services.at("fabrikam-api");
    EXPECT_EQ(s.connections.at("late").status, ConnectionStatus::kRejected);
    EXPECT_EQ(s.connections.at("contoso-pe").status, ConnectionStatus::kDisconnected);
    EXPECT_EQ(s.alias, "fabrikam-api.3a395756-79e2-4f5b-ba7e-a0fc0d8d7d35.local.privlinkservice");
    // The same document as before the migration.
    EXPECT_EQ(EncodeResources(*(*plane)->model()), EncodeResources(expected));
  }
  EXPECT_FALSE(std::filesystem::exists(StateJson()));
  EXPECT_EQ(ReadFile(StateJson() + ".migrated"), landed_);
  // Every resource came in revision 1, the one transaction.
  auto store = SqliteStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  auto changes = (*store)->ChangesSince(kEmptyRevision);
  ASSERT_TRUE(changes.ok());
  // 2 networks, a service, its 2 connections, an endpoint, the cursors.
  EXPECT_EQ(changes->size(), 2u + 1u + 2u + 1u + 1u);
  for (const RowChange& c : *changes) EXPECT_EQ(c.revision, 1u);
  store->reset();
  // A second start reads the database; no second migration.
  auto plane = Start();
  ASSERT_TRUE(plane.ok()) << plane.status();
  EXPECT_EQ(*(*plane)->model(), expected);
  EXPECT_EQ((*plane)->revision(), 1u);
}

// A crash after the migration's commit but before the rename: the next start finishes the rename
// and reads the database, without importing the file again.
TEST_F(MigrationTest, AMigrationCutBeforeTheRenameIsFinished) {
  std::ofstream(StateJson()) << landed_;
  ASSERT_TRUE(Start().ok());
  std::filesystem::rename(StateJson() + ".migrated", StateJson());
  auto plane = Start();
  ASSERT_TRUE(plane.ok()) << plane.status();
  EXPECT_EQ((*plane)->revision(), 1u);
  EXPECT_FALSE(std::filesystem::exists(StateJson()));
  EXPECT_EQ(ReadFile(StateJson() + ".migrated"), landed_);
}

TEST_F(MigrationTest, ACorruptStateFileStopsTheStartAndIsKept) {
  std::ofstream(StateJson()) << "{\"version\": 1, \"networks\": [";
  auto plane = Start();
  ASSERT_FALSE(plane.ok());
  EXPECT_EQ(plane.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Msg(plane), HasSubstr("state file " + StateJson() + " is unusable"));
  EXPECT_EQ(ReadFile(StateJson()), "{\"version\": 1, \"networks\": [");
  EXPECT_FALSE(std::filesystem::exists(StateJson() + ".migrated"));
}

// A state.json beside a database that holds state of its own: which one is meant is not known,
// so the start stops and both are kept.
TEST_F(MigrationTest, AStateFileBesideADatabaseWithStateStopsTheStart) {
  ASSERT_TRUE(Start().ok());
  std::ofstream(StateJson()) << landed_;
  auto plane = Start();
  ASSERT_FALSE(plane.ok());
  EXPECT_EQ(plane.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Msg(plane), HasSubstr("was never migrated into state database " + dir_ +
                                    "/state.db, which holds state of its own"));
  EXPECT_EQ(ReadFile(StateJson()), landed_);
}

}  // namespace
}  // namespace privlink::control
