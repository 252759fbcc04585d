// The SQLite store under the control plane: exact restarts, refusal of corrupt databases (left
// untouched), the revision compare-and-set, one transaction per change holding only the rows it
// changed, the change feed, backups, and the control plane's promise that a refused change
// leaves model, store and snapshot untouched.
#include "control/store/sqlite_store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/config/daemon_config.h"
#include "control/plane/control_plane.h"
#include "control/store/model_rows.h"
#include "tests/control/framework/state_dir.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control {
namespace {

using ::testing::HasSubstr;
using namespace privlink::control::testing;

// Runs SQL on a database behind the store's back (what a damaged or hand-edited file looks like).
void ExecSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error != nullptr ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

std::unique_ptr<SqliteStore> OpenStore(const std::string& dir) {
  auto store = SqliteStore::Open(dir);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

std::set<std::string> Keys(const std::vector<RowChange>& changes) {
  std::set<std::string> keys;
  for (const RowChange& c : changes) keys.insert(c.op.key.kind + "/" + c.op.key.name);
  return keys;
}

class SqliteStoreTest : public StateDirTest {
 protected:
  std::string DbPath() const { return dir_ + "/state.db"; }
  // The database and its WAL, byte for byte.
  std::string DbBytes() const { return ReadFile(DbPath()) + "|" + ReadFile(DbPath() + "-wal"); }
};

TEST_F(SqliteStoreTest, ANewDatabaseIsEmptyPrivateAndInWalMode) {
  auto store = OpenStore(dir_);
  ASSERT_NE(store, nullptr);
  auto contents = store->Load();
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(contents->revision, kEmptyRevision);
  EXPECT_TRUE(contents->rows.empty());
  struct stat info;
  ASSERT_EQ(stat(DbPath().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(dir_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  EXPECT_EQ(ReadFile(DbPath()).substr(18, 2), std::string("\x02\x02", 2)) << "WAL in the header";
}

TEST_F(SqliteStoreTest, SaveThenLoadIsExact) {
  // Every service field, UDP's included, comes back as it went in.
  PrivateLinkService& service = seed_.services.at(0).service;
  service.load_balancing_rules.push_back({53, 5353, RuleProtocol::kUdp});
  service.udp_idle_timeout_seconds = 900;
  // And a VXLAN network's VNI and local IP.
  seed_.networks.push_back(MakeVxlanNetwork("vx", "consumer0", 5000, "172.16.0.1"));
  auto plane = Start(seed_);
  ASSERT_TRUE(plane.ok()) << plane.status();
  auto store = OpenStore(dir_);
  auto contents = store->Load();
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(contents->revision, (*plane)->revision());
  auto model = DecodeModelRows(contents->rows);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(*model, *(*plane)->model());
  EXPECT_EQ(model->networks.at("vx").vxlan, (VxlanNetwork{5000, Ip("172.16.0.1")}));
}

TEST_F(SqliteStoreTest, RestartRestoresAliasesIdsAndStatusesAndStateWinsOverConfig) {
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
  // A different seed: ignored, because the database holds state.
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

// An empty seed is state too: the next start keeps the empty model, not a new --config's.
TEST_F(SqliteStoreTest, AnEmptyFirstStartIsKept) {
  ASSERT_TRUE(Start(ResourceDocument()).ok());
  auto plane = Start(seed_);
  ASSERT_TRUE(plane.ok()) << plane.status();
  EXPECT_EQ(*(*plane)->model(), Model());
}

// The database was written under other ports: a restored service with a backend no provider port
// reaches stops the start, naming the database and the backend; the database is kept.
TEST_F(SqliteStoreTest, RestoredBackendNoProviderPortReachesRefusesToStart) {
  ASSERT_TRUE(Start(seed_).ok());
  const std::string saved = DbBytes();
  options_.provider_ports = std::vector<ProviderPortReach>{{"provider0", Ip("192.168.99.1"), 24}};
  auto plane = Start(seed_);
  ASSERT_FALSE(plane.ok());
  EXPECT_EQ(Msg(plane),
            "state database " + DbPath() +
                ": backends[0].ip: backend 192.168.10.11 of private link service 'fabrikam-api' "
                "is reachable through no provider port (provider0: subnet 192.168.99.1/24, no "
                "gateway): give a provider port a subnet that contains it "
                "(dataplane.ports[].subnet) or a gateway (dataplane.ports[].gateway)");
  EXPECT_EQ(DbBytes(), saved);
  options_.provider_ports = std::vector<ProviderPortReach>{{"provider0", Ip("192.168.10.1"), 24}};
  EXPECT_TRUE(Start(seed_).ok());
}

// Each way a database can be broken: the start stops with kDataLoss naming the file (and the
// row, where one is at fault), and not one byte of the database or its WAL changes.
TEST_F(SqliteStoreTest, CorruptDatabaseRefusesToStartAndIsNeverOverwritten) {
  ASSERT_TRUE(Start(seed_).ok());
  const std::string good_db = ReadFile(DbPath());
  const std::string good_wal = ReadFile(DbPath() + "-wal");
  struct Case {
    std::string name;
    std::function<void()> damage;
    std::string message;
  };
  auto fresh = [&] {
    WriteFile(DbPath(), good_db);
    WriteFile(DbPath() + "-wal", good_wal);
    std::filesystem::remove(DbPath() + "-shm");
  };
  const std::vector<Case> cases = {
      {"not a database",
       [&] {
         std::filesystem::remove(DbPath() + "-wal");
         std::filesystem::remove(DbPath() + "-shm");
         WriteFile(DbPath(), std::string(8192, 'x'));
       },
       "file is not a database"},
      {"cut in the middle",
       [&] {
         fresh();
         ExecSql(DbPath(), "PRAGMA wal_checkpoint(TRUNCATE)");
         const std::string whole = ReadFile(DbPath());
         std::filesystem::remove(DbPath() + "-wal");
         WriteFile(DbPath(), whole.substr(0, whole.size() / 2));
       },
       "is unusable"},
      {"a page overwritten",
       [&] {
         fresh();
         ExecSql(DbPath(), "PRAGMA wal_checkpoint(TRUNCATE)");
         std::string whole = ReadFile(DbPath());
         std::filesystem::remove(DbPath() + "-wal");
         for (size_t i = 4096 + 8; i < 4096 + 200 && i < whole.size(); ++i) whole[i] = '\x7f';
         WriteFile(DbPath(), whole);
       },
       "is unusable"},
      {"another program's database",
       [&] {
         std::filesystem::remove(DbPath());
         std::filesystem::remove(DbPath() + "-wal");
         ExecSql(DbPath(), "CREATE TABLE notes (text TEXT)");
       },
       "not a privlink state database"},
      {"a newer format",
       [&] {
         fresh();
         ExecSql(DbPath(), "PRAGMA user_version = 2");
       },
       "format version 2"},
      {"a row that is not JSON",
       [&] {
         fresh();
         ExecSql(DbPath(), "UPDATE rows SET document = '{ cut' WHERE kind = 'privateEndpoints'");
       },
       "privateEndpoints['contoso-pe']. is not JSON"},
      {"a row with a wrong field",
       [&] {
         fresh();
         ExecSql(DbPath(),
                 "UPDATE rows SET document = json_set(document, '$.ip', '10.0.0.300') "
                 "WHERE kind = 'privateEndpoints'");
       },
       "privateEndpoints['contoso-pe'].ip"},
      {"an endpoint whose network is gone",
       [&] {
         fresh();
         ExecSql(DbPath(), "DELETE FROM rows WHERE kind = 'networks'");
       },
       "private endpoint 'contoso-pe': network 'contoso' does not exist"},
      {"a connection whose service is gone",
       [&] {
         fresh();
         ExecSql(DbPath(), "DELETE FROM rows WHERE kind = 'privateLinkServices'");
       },
       "privateEndpointConnections['fabrikam-api/...']: private link service 'fabrikam-api' has "
       "no row"},
      {"no id cursors",
       [&] {
         fresh();
         ExecSql(DbPath(), "DELETE FROM rows WHERE kind = 'model'");
       },
       "model['idCursors']: row is missing"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    c.damage();
    const std::string damaged = DbBytes();
    auto plane = Start(seed_);
    ASSERT_FALSE(plane.ok());
    EXPECT_EQ(plane.status().code(), absl::StatusCode::kDataLoss) << Msg(plane);
    EXPECT_THAT(Msg(plane), HasSubstr("state database " + DbPath()));
    EXPECT_THAT(Msg(plane), HasSubstr("refusing to start"));
    EXPECT_THAT(Msg(plane), HasSubstr(c.message));
    EXPECT_EQ(DbBytes(), damaged);
  }
}

TEST_F(SqliteStoreTest, UnreadableDatabaseRefusesToStart) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  ASSERT_TRUE(Start(seed_).ok());
  chmod(DbPath().c_str(), 0);
  EXPECT_EQ(Start(seed_).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(SqliteStoreTest, RefusedChangeLeavesModelStoreAndSnapshotUntouched) {
  auto plane = Start(seed_);
  ASSERT_TRUE(plane.ok());
  const std::shared_ptr<const Model> before = (*plane)->model();
  const Revision revision = (*plane)->revision();
  const std::string bytes_before = DbBytes();
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
  EXPECT_EQ((*plane)->revision(), revision);
  EXPECT_EQ(DbBytes(), bytes_before);
  EXPECT_EQ((*plane)->publisher().latest(), snapshot_before);
  EXPECT_EQ((*plane)->counters().changes_rejected, 1u);
}

// Another writer moved the store on: the compare-and-set refuses the commit, nothing of it is
// written, and the control plane applies nothing.
TEST_F(SqliteStoreTest, ARevisionConflictWritesNothingAndIsNotApplied) {
  auto plane = Start(seed_);
  ASSERT_TRUE(plane.ok());
  const Revision at = (*plane)->revision();
  auto other = OpenStore(dir_);
  const RowOp put{{"networks", "x"}, R"({"name":"x","port":"consumer0","vlan":9,"id":9})"};
  auto moved = other->Commit({put}, at);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(*moved, at + 1);
  // The same revision again: refused, and the store stays where it is.
  auto stale = other->Commit({RowOp{{"networks", "y"}, put.document}}, at);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(Msg(stale),
              HasSubstr("revision conflict: the store is at revision " + std::to_string(at + 1) +
                        ", the change was made on revision " + std::to_string(at)));
  auto contents = other->Load();
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(contents->revision, at + 1);
  for (const Row& row : contents->rows) EXPECT_NE(row.key.name, "y");

  const Model before = *(*plane)->model();
  absl::Status s = (*plane)->Change([](Model& m, const WorkflowContext& context) {
    return PutNetwork(m, MakeNetwork("extra", "consumer0", 3), context, "").status();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(Msg(s), HasSubstr("change not applied: cannot save state: state database " +
                                DbPath() + ": revision conflict"));
  EXPECT_EQ(*(*plane)->model(), before);
  EXPECT_EQ((*plane)->revision(), at);
}

// A change is one revision holding exactly the rows of the resources it changed: creating an
// endpoint writes the endpoint, the connection its service records and the id cursors, and
// none of the other resources (not the service's own row either).
TEST_F(SqliteStoreTest, OneTransactionPerChangeHoldingOnlyTheRowsItChanged) {
  auto plane = Start(seed_);
  ASSERT_TRUE(plane.ok());
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE((*plane)
                    ->Change([i](Model& m, const WorkflowContext& context) {
                      return PutNetwork(m,
                                        MakeNetwork("n" + std::to_string(i), "consumer0",
                                                    static_cast<uint16_t>(100 + i)),
                                        context, "")
                          .status();
                    })
                    .ok());
  }
  auto store = OpenStore(dir_);
  const Revision at = (*plane)->revision();
  ASSERT_TRUE((*plane)
                  ->Change([](Model& m, const WorkflowContext&) {
                    return PutEndpoint(
                               m, MakeEndpoint("late", "sub-x", "n3", "10.0.0.9", "fabrikam-api"),
                               "")
                        .status();
                  })
                  .ok());
  EXPECT_EQ((*plane)->revision(), at + 1);
  auto changes = store->ChangesSince(at);
  ASSERT_TRUE(changes.ok()) << changes.status();
  EXPECT_EQ(Keys(*changes), (std::set<std::string>{"privateEndpoints/late",
                                                   "privateEndpointConnections/fabrikam-api/late",
                                                   "model/idCursors"}));
  for (const RowChange& c : *changes) EXPECT_EQ(c.revision, at + 1);

  // Updating one network writes one row; a repeat of the same change writes nothing.
  auto retag = [](Model& m, const WorkflowContext& context) {
    return PutNetwork(m, MakeNetwork("n7", "consumer0", 999), context, "").status();
  };
  ASSERT_TRUE((*plane)->Change(retag).ok());
  ASSERT_TRUE((*plane)->Change(retag).ok());
  EXPECT_EQ((*plane)->revision(), at + 2);
  changes = store->ChangesSince(at + 1);
  ASSERT_TRUE(changes.ok());
  EXPECT_EQ(Keys(*changes), (std::set<std::string>{"networks/n7"}));

  // A delete is a row without a document in the feed.
  ASSERT_TRUE((*plane)
                  ->Change([](Model& m, const WorkflowContext&) { return DeleteNetwork(m, "n9"); })
                  .ok());
  changes = store->ChangesSince(at + 2);
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes->size(), 1u);
  EXPECT_EQ((*changes)[0].op.key.name, "n9");
  EXPECT_FALSE((*changes)[0].op.document.has_value());
}

TEST_F(SqliteStoreTest, BackupIsAConsistentDatabaseThatRestores) {
  auto plane = Start(seed_);
  ASSERT_TRUE(plane.ok());
  ASSERT_TRUE(
      (*plane)
          ->Change([](Model& m, const WorkflowContext& context) {
            return PutNetwork(m, MakeNetwork("extra", "consumer0", 3), context, "").status();
          })
          .ok());
  auto backup = (*plane)->Backup();
  ASSERT_TRUE(backup.ok()) << backup.status();
  EXPECT_EQ(backup->substr(0, 16), std::string("SQLite format 3\0", 16));
  const std::string restored = dir_ + "/restored";
  std::filesystem::create_directory(restored);
  WriteFile(restored + "/state.db", *backup);
  auto store = OpenStore(restored);
  ASSERT_NE(store, nullptr);
  auto contents = store->Load();
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(contents->revision, (*plane)->revision());
  auto model = DecodeModelRows(contents->rows);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(*model, *(*plane)->model());
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    EXPECT_THAT(entry.path().filename().string(), ::testing::Not(HasSubstr("backup")));
  }
}

TEST_F(SqliteStoreTest, InvalidSeedRefusesToStartAndCommitsNothing) {
  seed_.endpoints[0].network = "nowhere";
  auto plane = Start(seed_);
  EXPECT_EQ(plane.status().code(), absl::StatusCode::kNotFound);
  auto contents = OpenStore(dir_)->Load();
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(contents->revision, kEmptyRevision);
}

}  // namespace
}  // namespace privlink::control
