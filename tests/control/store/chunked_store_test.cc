// The store interface with a store whose transactions are small (as etcd's are): the control
// plane splits a change's rows into commits of at most max_ops_per_commit(), each on the revision
// the previous one made, and a restart from the rows gives the same model.
#include <map>

#include <gtest/gtest.h>

#include "control/config/daemon_config.h"
#include "control/plane/control_plane.h"
#include "control/store/model_rows.h"
#include "control/store/store.h"
#include "tests/control/framework/test_util.h"

namespace privlink::control {
namespace {

using namespace privlink::control::testing;

// Rows in memory, at most three operations a commit.
class SmallTransactionStore final : public Store {
 public:
  const std::string& location() const override { return location_; }
  absl::StatusOr<StoreContents> Load() override {
    StoreContents contents;
    for (const auto& [key, document] : rows_) contents.rows.push_back(Row{key, document});
    contents.revision = revision_;
    return contents;
  }
  absl::StatusOr<Revision> Commit(const std::vector<RowOp>& ops, Revision expected) override {
    if (ops.size() > max_ops_per_commit()) return absl::InvalidArgumentError("too many ops");
    if (expected != revision_) return absl::AbortedError("revision conflict");
    for (const RowOp& op : ops) {
      if (op.document) {
        rows_[op.key] = *op.document;
      } else {
        rows_.erase(op.key);
      }
    }
    commit_sizes.push_back(ops.size());
    return ++revision_;
  }
  absl::StatusOr<std::vector<RowChange>> ChangesSince(Revision) override {
    return absl::UnimplementedError("no feed");
  }
  absl::StatusOr<std::string> Backup() override { return absl::UnimplementedError("no backup"); }
  size_t max_ops_per_commit() const override { return 3; }

  std::vector<size_t> commit_sizes;

 private:
  std::string location_ = "memory";
  std::map<RowKey, std::string> rows_;
  Revision revision_ = kEmptyRevision;
};

TEST(ChunkedStoreTest, ABatchOverTheLimitIsCommittedInChunksThatRestore) {
  auto config = ParseDaemonConfig(kReferenceConfig);
  ASSERT_TRUE(config.ok());
  ResourceDocument seed = config->resources;
  for (int i = 0; i < 4; ++i) {
    seed.networks.push_back(
        MakeNetwork("n" + std::to_string(i), "consumer0", static_cast<uint16_t>(10 + i)));
  }
  ControlPlaneOptions options;
  options.consumer_ports = {"consumer0"};
  SequentialUuids uuids;
  auto owned = std::make_unique<SmallTransactionStore>();
  SmallTransactionStore* store = owned.get();
  auto plane = ControlPlane::Create(options, std::move(owned), seed, &uuids);
  ASSERT_TRUE(plane.ok()) << plane.status();
  // 5 networks, a service, its connection, an endpoint, the cursors: 9 rows in commits of 3.
  EXPECT_EQ(store->commit_sizes, (std::vector<size_t>{3, 3, 3}));
  EXPECT_EQ((*plane)->revision(), 3u);
  auto contents = store->Load();
  ASSERT_TRUE(contents.ok());
  auto model = DecodeModelRows(contents->rows);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(*model, *(*plane)->model());
}

TEST(ChunkedStoreTest, ChunkBatchKeepsOrderAndSizes) {
  std::vector<RowOp> ops;
  for (int i = 0; i < 7; ++i) ops.push_back(RowOp{{"networks", std::to_string(i)}, "{}"});
  auto chunks = ChunkBatch(ops, 3);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].size(), 3u);
  EXPECT_EQ(chunks[2].size(), 1u);
  EXPECT_EQ(chunks[2][0].key.name, "6");
  EXPECT_TRUE(ChunkBatch({}, 3).empty());
  EXPECT_EQ(ChunkBatch(ops, kEtcdMaxOpsPerCommit).size(), 1u);
}

}  // namespace
}  // namespace privlink::control
