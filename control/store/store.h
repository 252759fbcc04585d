// The store interface: accepted control state as one row per resource, committed before a change
// is acknowledged. Shaped for both the embedded SQLite store (sqlite_store.h) and a replicated
// key-value store such as etcd:
//
// - A row is (kind, name) -> a JSON document (model_rows.h says which kinds there are and how a
//   model maps onto them); validation and the workflow never see rows.
// - Every commit gets the next revision of the whole store. Commit is a compare-and-set: it
//   applies only if the store is still at `expected` (else kAborted, and nothing is written), so
//   two writers can never both build on the same revision.
// - ChangesSince feeds the rows changed after a revision, in revision order, for watchers.
// - A batch larger than max_ops_per_commit() (etcd limits a transaction's operations) must be
//   split by the caller with ChunkBatch; each chunk is then its own commit and revision, so such a
//   batch is not atomic: a failure between chunks leaves the first ones committed. SqliteStore
//   has no limit and never chunks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace privlink::control {

using Revision = uint64_t;
// The revision of a store nothing was ever committed to.
inline constexpr Revision kEmptyRevision = 0;

// etcd's default --max-txn-ops: the most operations one commit of a chunked batch holds.
inline constexpr size_t kEtcdMaxOpsPerCommit = 128;

struct RowKey {
  std::string kind;  // "networks", "privateLinkServices", "privateEndpoints", "model"
  std::string name;
  auto operator<=>(const RowKey&) const = default;
};

// A put (document set) or a delete (document empty).
struct RowOp {
  RowKey key;
  std::optional<std::string> document;
  bool operator==(const RowOp&) const = default;
};

struct Row {
  RowKey key;
  std::string document;
};

struct StoreContents {
  std::vector<Row> rows;  // ordered by kind, then name
  Revision revision = kEmptyRevision;
};

struct RowChange {
  Revision revision = kEmptyRevision;
  RowOp op;
};

class Store {
 public:
  virtual ~Store() = default;

  // Where the state lives, for messages ("state database /var/lib/privlink/state.db").
  virtual const std::string& location() const = 0;
  // Every row and the revision they are at, read as one consistent view.
  virtual absl::StatusOr<StoreContents> Load() = 0;
  // Applies `ops` in one transaction if the store is at `expected`; returns the new revision once
  // the change is durable. kAborted when the store moved on (nothing written); kInvalidArgument
  // for a batch over max_ops_per_commit().
  virtual absl::StatusOr<Revision> Commit(const std::vector<RowOp>& ops, Revision expected) = 0;
  // The changes of every revision after `after`, oldest first. kOutOfRange when the feed no longer
  // reaches back that far (the caller then Loads again).
  virtual absl::StatusOr<std::vector<RowChange>> ChangesSince(Revision after) = 0;
  // A consistent copy of the whole store, taken while changes go on, in the store's own format.
  virtual absl::StatusOr<std::string> Backup() = 0;
  virtual size_t max_ops_per_commit() const = 0;
};

// Splits `ops` into batches of at most `max_ops` operations, in order.
std::vector<std::vector<RowOp>> ChunkBatch(const std::vector<RowOp>& ops, size_t max_ops);

}  // namespace privlink::control
