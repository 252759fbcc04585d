#include "control/store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "control/model/log.h"
#include "control/model/str_cat.h"
#include "control/store/model_rows.h"
#include "control/store/state_file.h"

namespace privlink::control {
namespace {

absl::Status SystemError(std::string_view what, std::string_view path) {
  return absl::InternalError(Cat(what, " ", path, ": ", std::strerror(errno)));
}

// Makes a new directory entry in `dir` durable.
absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return SystemError("cannot open", dir);
  const int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? absl::OkStatus() : SystemError("cannot fsync", dir);
}

// A prepared statement, finalized on every path out.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql) : db_(db) {
    prepare_rc_ =
        sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &statement_, nullptr);
  }
  ~Statement() { sqlite3_finalize(statement_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int index, std::string_view text) {
    sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  Statement& Bind(int index, const std::string& text) {
    return Bind(index, std::string_view(text));
  }
  Statement& Bind(int index, int64_t value) {
    sqlite3_bind_int64(statement_, index, value);
    return *this;
  }
  Statement& Bind(int index, const std::optional<std::string>& text) {
    if (text) return Bind(index, std::string_view(*text));
    sqlite3_bind_null(statement_, index);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return prepare_rc_ != SQLITE_OK ? prepare_rc_ : sqlite3_step(statement_); }
  // Steps a statement without results; ready to be bound and run again afterwards.
  absl::Status Run(std::string_view what) {
    const int rc = Step();
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
    if (rc == SQLITE_DONE) return absl::OkStatus();
    return absl::InternalError(Cat(what, ": ", sqlite3_errmsg(db_)));
  }
  int64_t Int(int column) { return sqlite3_column_int64(statement_, column); }
  bool IsNull(int column) { return sqlite3_column_type(statement_, column) == SQLITE_NULL; }
  std::string Text(int column) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
    return text == nullptr
               ? std::string()
               : std::string(text, static_cast<size_t>(sqlite3_column_bytes(statement_, column)));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* statement_ = nullptr;
  int prepare_rc_;
};

absl::Status Exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) == SQLITE_OK) return absl::OkStatus();
  absl::Status status =
      absl::InternalError(Cat(sql, ": ", error != nullptr ? error : sqlite3_errmsg(db)));
  sqlite3_free(error);
  return status;
}

// The first column of the one row `sql` returns.
absl::StatusOr<int64_t> QueryInt(sqlite3* db, std::string_view sql) {
  Statement query(db, sql);
  if (query.Step() != SQLITE_ROW) return absl::InternalError(Cat(sql, ": ", sqlite3_errmsg(db)));
  return query.Int(0);
}

constexpr char kSchema[] = R"(
CREATE TABLE rows (kind TEXT NOT NULL, name TEXT NOT NULL, revision INTEGER NOT NULL,
                   document TEXT NOT NULL, PRIMARY KEY (kind, name)) WITHOUT ROWID;
CREATE TABLE changes (seq INTEGER PRIMARY KEY, revision INTEGER NOT NULL, kind TEXT NOT NULL,
                      name TEXT NOT NULL, document TEXT);
CREATE INDEX changes_by_revision ON changes (revision);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta VALUES ('revision', 0), ('feed_start', 0);
)";

}  // namespace

SqliteStore::SqliteStore(std::string dir, sqlite3* db)
    : dir_(std::move(dir)),
      path_(Cat(dir_, "/", kDatabaseFileName)),
      location_(Cat("state database ", path_)),
      db_(db) {}

SqliteStore::~SqliteStore() {
  sqlite3_close_v2(db_);
}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return SystemError("cannot create state dir", dir);
  }
  struct stat info;
  if (::stat(dir.c_str(), &info) != 0) return SystemError("cannot stat state dir", dir);
  if (!S_ISDIR(info.st_mode)) return absl::InternalError(Cat(dir, " is not a directory"));
  const std::string path = Cat(dir, "/", kDatabaseFileName);
  if (::stat(path.c_str(), &info) != 0) {
    if (errno != ENOENT) return SystemError("cannot stat", path);
    // An empty file is an empty database; SQLite's WAL and shared-memory files take its mode.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return SystemError("cannot create", path);
    ::close(fd);
    if (auto s = SyncDirectory(dir); !s.ok()) return s;
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
  std::unique_ptr<SqliteStore> store(new SqliteStore(dir, db));
  if (rc != SQLITE_OK) {
    return absl::DataLossError(Cat(store->location_, " cannot be opened: ", sqlite3_errstr(rc)));
  }
  if (auto s = store->Initialize(); !s.ok()) return s;
  if (auto s = store->MigrateStateFile(); !s.ok()) return s;
  return store;
}

absl::Status SqliteStore::Initialize() {
  auto refuse = [&](std::string_view reason) {
    return absl::DataLossError(
        Cat(location_, " is unusable: ", reason,
            "; refusing to start (the file is left untouched: repair it, restore a backup from "
            "privlinkctl state backup, or move it away to start from --config)"));
  };
  // Nothing is written before the checks pass, and closing never checkpoints the WAL into the
  // database: a refused file stays exactly as it was.
  sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  sqlite3_busy_timeout(db_, 5000);
  {
    Statement check(db_, "PRAGMA quick_check");
    std::string result;
    int rc;
    while ((rc = check.Step()) == SQLITE_ROW)
      result += (result.empty() ? "" : "; ") + check.Text(0);
    if (rc != SQLITE_DONE) return refuse(sqlite3_errmsg(db_));
    if (result != "ok") return refuse(Cat("PRAGMA quick_check: ", result));
  }
  auto format = QueryInt(db_, "PRAGMA user_version");
  if (!format.ok()) return refuse(ToStd(format.status().message()));
  if (*format == 0) {
    auto tables = QueryInt(db_, "SELECT count(*) FROM sqlite_schema");
    if (!tables.ok()) return refuse(ToStd(tables.status().message()));
    if (*tables != 0) return refuse("not a privlink state database (no format version)");
  } else if (*format != kDatabaseFormat) {
    return refuse(
        Cat("format version ", *format, "; this privlinkd reads version ", kDatabaseFormat));
  }
  {
    Statement wal(db_, "PRAGMA journal_mode=WAL");
    if (wal.Step() != SQLITE_ROW || wal.Text(0) != "wal") {
      return refuse(Cat("cannot switch to WAL mode: ", sqlite3_errmsg(db_)));
    }
  }
  // FULL: the WAL is fsynced at every commit (NORMAL could lose the last commits on power loss).
  if (auto s = Exec(db_, "PRAGMA synchronous=FULL"); !s.ok()) return refuse(ToStd(s.message()));
  if (*format == 0) {
    const std::string create =
        Cat("BEGIN IMMEDIATE;", kSchema, "PRAGMA user_version=", kDatabaseFormat, "; COMMIT;");
    if (auto s = Exec(db_, create.c_str()); !s.ok()) {
      (void)Exec(db_, "ROLLBACK");
      return absl::InternalError(Cat(location_, ": cannot create the tables: ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::MigrateStateFile() {
  const std::string legacy = Cat(dir_, "/", kStateFileName);
  const std::string renamed = Cat(legacy, kMigratedSuffix);
  struct stat info;
  if (::stat(legacy.c_str(), &info) != 0) {
    return errno == ENOENT ? absl::OkStatus() : SystemError("cannot stat", legacy);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  auto migrated = QueryInt(db_, "SELECT count(*) FROM meta WHERE key = 'migrated'");
  auto revision = QueryInt(db_, "SELECT value FROM meta WHERE key = 'revision'");
  if (!migrated.ok()) return migrated.status();
  if (!revision.ok()) return revision.status();
  if (*migrated == 0) {
    if (*revision != static_cast<int64_t>(kEmptyRevision)) {
      return absl::DataLossError(Cat("state file ", legacy, " was never migrated into ", location_,
                                     ", which holds state of its own (revision ", *revision,
                                     "); refusing to start: move one of them away"));
    }
    auto model = ReadStateFile(legacy);
    if (!model.ok()) return model.status();
    auto committed = CommitLocked(EncodeModelRows(*model), kEmptyRevision, true);
    if (!committed.ok()) return committed.status();
    PRIVLINK_LOG(NOTICE, ctl,
                 "migrated %s into %s in one transaction (networks: %zu, private link "
                 "services: %zu, private endpoints: %zu); the file is now %s",
                 legacy.c_str(), path_.c_str(), model->networks.size(), model->services.size(),
                 model->endpoints.size(), renamed.c_str());
  }
  // Also finishes a migration whose rename a crash prevented.
  if (::rename(legacy.c_str(), renamed.c_str()) != 0) return SystemError("cannot rename", legacy);
  return SyncDirectory(dir_);
}

absl::StatusOr<StoreContents> SqliteStore::Load() {
  std::lock_guard<std::mutex> lock(mutex_);
  StoreContents contents;
  if (auto s = Exec(db_, "BEGIN"); !s.ok()) return s;
  auto revision = QueryInt(db_, "SELECT value FROM meta WHERE key = 'revision'");
  if (!revision.ok()) {
    (void)Exec(db_, "ROLLBACK");
    return absl::InternalError(Cat(location_, ": ", revision.status().message()));
  }
  contents.revision = static_cast<Revision>(*revision);
  Statement rows(db_, "SELECT kind, name, document FROM rows ORDER BY kind, name");
  int rc;
  while ((rc = rows.Step()) == SQLITE_ROW) {
    contents.rows.push_back(Row{{rows.Text(0), rows.Text(1)}, rows.Text(2)});
  }
  const std::string error = sqlite3_errmsg(db_);
  (void)Exec(db_, "COMMIT");
  if (rc != SQLITE_DONE) return absl::InternalError(Cat(location_, ": cannot read rows: ", error));
  return contents;
}

absl::StatusOr<Revision> SqliteStore::Commit(const std::vector<RowOp>& ops, Revision expected) {
  std::lock_guard<std::mutex> lock(mutex_);
  return CommitLocked(ops, expected, false);
}

absl::StatusOr<Revision> SqliteStore::CommitLocked(const std::vector<RowOp>& ops, Revision expected,
                                                   bool mark_migrated) {
  if (auto s = Exec(db_, "BEGIN IMMEDIATE"); !s.ok()) {
    return absl::InternalError(Cat(location_, ": ", s.message()));
  }
  auto fail = [&](const absl::Status& s) {
    (void)Exec(db_, "ROLLBACK");
    return absl::Status(s.code(), Cat(location_, ": ", s.message()));
  };
  auto current = QueryInt(db_, "SELECT value FROM meta WHERE key = 'revision'");
  if (!current.ok()) return fail(current.status());
  if (static_cast<Revision>(*current) != expected) {
    return fail(absl::AbortedError(Cat("revision conflict: the store is at revision ", *current,
                                       ", the change was made on revision ", expected)));
  }
  const auto next = static_cast<int64_t>(expected + 1);
  Statement put(db_,
                "INSERT INTO rows (kind, name, revision, document) VALUES (?1, ?2, ?3, ?4) "
                "ON CONFLICT (kind, name) DO UPDATE SET revision = excluded.revision, "
                "document = excluded.document");
  Statement remove(db_, "DELETE FROM rows WHERE kind = ?1 AND name = ?2");
  Statement feed(db_,
                 "INSERT INTO changes (revision, kind, name, document) VALUES (?1, ?2, ?3, ?4)");
  for (const RowOp& op : ops) {
    absl::Status s = op.document ? put.Bind(1, op.key.kind)
                                       .Bind(2, op.key.name)
                                       .Bind(3, next)
                                       .Bind(4, op.document)
                                       .Run("put")
                                 : remove.Bind(1, op.key.kind).Bind(2, op.key.name).Run("delete");
    if (s.ok()) {
      s = feed.Bind(1, next)
              .Bind(2, op.key.kind)
              .Bind(3, op.key.name)
              .Bind(4, op.document)
              .Run("feed");
    }
    if (!s.ok()) return fail(s);
  }
  Statement revision(db_, "UPDATE meta SET value = ?1 WHERE key = 'revision'");
  if (auto s = revision.Bind(1, next).Run("revision"); !s.ok()) return fail(s);
  if (next > static_cast<int64_t>(kFeedRetention)) {
    const int64_t start = next - static_cast<int64_t>(kFeedRetention);
    Statement trim(db_, "DELETE FROM changes WHERE revision <= ?1");
    Statement mark(db_, "UPDATE meta SET value = ?1 WHERE key = 'feed_start'");
    if (auto s = trim.Bind(1, start).Run("feed trim"); !s.ok()) return fail(s);
    if (auto s = mark.Bind(1, start).Run("feed start"); !s.ok()) return fail(s);
  }
  if (mark_migrated) {
    Statement mark(db_, "INSERT INTO meta VALUES ('migrated', ?1)");
    if (auto s = mark.Bind(1, next).Run("migration mark"); !s.ok()) return fail(s);
  }
  // Returns once the WAL is fsynced (synchronous=FULL).
  if (auto s = Exec(db_, "COMMIT"); !s.ok()) return fail(s);
  return static_cast<Revision>(next);
}

absl::StatusOr<std::vector<RowChange>> SqliteStore::ChangesSince(Revision after) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto s = Exec(db_, "BEGIN"); !s.ok()) return s;
  auto start = QueryInt(db_, "SELECT value FROM meta WHERE key = 'feed_start'");
  if (!start.ok()) {
    (void)Exec(db_, "ROLLBACK");
    return absl::InternalError(Cat(location_, ": ", start.status().message()));
  }
  if (after < static_cast<Revision>(*start)) {
    (void)Exec(db_, "ROLLBACK");
    return absl::OutOfRangeError(Cat(location_, ": the changes after revision ", after,
                                     " are no longer kept (the feed starts after revision ", *start,
                                     "); load the whole store instead"));
  }
  Statement query(db_,
                  "SELECT revision, kind, name, document FROM changes WHERE revision > ?1 "
                  "ORDER BY seq");
  query.Bind(1, static_cast<int64_t>(after));
  std::vector<RowChange> changes;
  int rc;
  while ((rc = query.Step()) == SQLITE_ROW) {
    RowChange change;
    change.revision = static_cast<Revision>(query.Int(0));
    change.op.key = {query.Text(1), query.Text(2)};
    if (!query.IsNull(3)) change.op.document = query.Text(3);
    changes.push_back(std::move(change));
  }
  const std::string error = sqlite3_errmsg(db_);
  (void)Exec(db_, "COMMIT");
  if (rc != SQLITE_DONE) return absl::InternalError(Cat(location_, ": ", error));
  return changes;
}

absl::StatusOr<std::string> SqliteStore::Backup() {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string copy = Cat(path_, ".backup-", ::getpid());
  ::unlink(copy.c_str());  // VACUUM INTO refuses an existing file
  Statement vacuum(db_, "VACUUM INTO ?1");
  if (auto s = vacuum.Bind(1, std::string_view(copy)).Run("VACUUM INTO"); !s.ok()) {
    ::unlink(copy.c_str());
    return absl::InternalError(Cat(location_, ": cannot back up: ", s.message()));
  }
  std::ifstream in(copy, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  const bool read = static_cast<bool>(in);
  ::unlink(copy.c_str());
  if (!read) return absl::InternalError(Cat(location_, ": cannot read the backup ", copy));
  return bytes.str();
}

}  // namespace privlink::control
