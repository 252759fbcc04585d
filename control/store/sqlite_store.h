// The embedded store: SQLite in <stateDir>/state.db, one row per resource (model_rows.h).
//
// - Durable before acknowledged: WAL journal with synchronous=FULL, so a commit returns only once
//   its WAL frames are fsynced; every acknowledged change survives kill -9 and power loss.
// - Checked at open with PRAGMA quick_check. A database that cannot be read, fails the check or
//   is not privlink's stops the start with kDataLoss naming the file, which is never written to
//   (no checkpoint on close either).
// - A state.json of earlier releases in the same directory is migrated once, at open: read as it
//   always was (state_file.h), written as rows in one transaction, then renamed to
//   state.json.migrated (a log line says so). A crash in between is finished by the next start.
// - Tables: rows (kind, name, revision, document), changes (the feed of the last
//   kFeedRetention revisions), meta (the store's revision, the feed's start, the migration).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "control/store/store.h"

struct sqlite3;

namespace privlink::control {

inline constexpr std::string_view kDatabaseFileName = "state.db";
inline constexpr std::string_view kMigratedSuffix = ".migrated";
// The database's format (PRAGMA user_version); another version is refused.
inline constexpr int kDatabaseFormat = 1;
// Revisions whose changes ChangesSince can still return.
inline constexpr Revision kFeedRetention = 10000;

class SqliteStore final : public Store {
 public:
  // Creates `dir` (mode 0700) and the database (mode 0600) if missing, checks the database and
  // migrates a state.json found beside it.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& dir);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  const std::string& location() const override { return location_; }
  absl::StatusOr<StoreContents> Load() override;
  absl::StatusOr<Revision> Commit(const std::vector<RowOp>& ops, Revision expected) override;
  absl::StatusOr<std::vector<RowChange>> ChangesSince(Revision after) override;
  // VACUUM INTO a file beside the database, read back and removed: a consistent copy taken in
  // one read transaction, never the database file without its WAL.
  absl::StatusOr<std::string> Backup() override;
  // One SQLite transaction holds any number of rows.
  size_t max_ops_per_commit() const override { return SIZE_MAX; }

  const std::string& path() const { return path_; }

 private:
  SqliteStore(std::string dir, sqlite3* db);
  absl::Status Initialize();
  absl::Status MigrateStateFile();
  absl::StatusOr<Revision> CommitLocked(const std::vector<RowOp>& ops, Revision expected,
                                        bool mark_migrated);

  const std::string dir_;
  const std::string path_;
  const std::string location_;  // "state database <path>"
  std::mutex mutex_;            // one user of the connection at a time
  sqlite3* db_;
};

}  // namespace privlink::control
