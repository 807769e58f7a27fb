// SQLite store of provisioned concurrency configs: its own connection to alto.db (WAL), one row
// per (function, qualifier).
#include <sqlite3.h>

#include <mutex>

#include "store/provisioned.h"
#include "store/sqlite_util.h"

namespace alto {
namespace {

using sqlite::Stmt;

class SqliteProvisionedStore final : public ProvisionedStore {
 public:
  explicit SqliteProvisionedStore(sqlite3* db) : db_(db) {}
  ~SqliteProvisionedStore() override { sqlite3_close_v2(db_); }

  Status Init() {
    return sqlite::Exec(db_,
                        "CREATE TABLE IF NOT EXISTS provisioned_concurrency ("
                        "  function TEXT NOT NULL, qualifier TEXT NOT NULL,"
                        "  requested INTEGER NOT NULL, last_modified_ms INTEGER NOT NULL,"
                        "  PRIMARY KEY (function, qualifier));");
  }

  Status Put(const ProvisionedConfig& p) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "INSERT INTO provisioned_concurrency(function, qualifier, requested, last_modified_ms)"
           " VALUES(?,?,?,?) ON CONFLICT(function, qualifier) DO UPDATE SET"
           " requested=excluded.requested, last_modified_ms=excluded.last_modified_ms");
    if (!s.ok()) return DbError("prepare put provisioned");
    s.Bind(1, p.function);
    s.Bind(2, p.qualifier);
    s.Bind(3, int64_t{p.requested});
    s.Bind(4, p.last_modified_ms);
    if (s.Step() != SQLITE_DONE) return DbError("put provisioned");
    return {};
  }

  Status Delete(std::string_view function, std::string_view qualifier) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "DELETE FROM provisioned_concurrency WHERE function=? AND qualifier=?");
    if (!s.ok()) return DbError("prepare delete provisioned");
    s.Bind(1, function);
    s.Bind(2, qualifier);
    if (s.Step() != SQLITE_DONE) return DbError("delete provisioned");
    if (sqlite3_changes(db_) == 0) {
      return MakeError(Errc::kNotFound,
                       "No Provisioned Concurrency Config found for this function");
    }
    return {};
  }

  Status DeleteAll(std::string_view function) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "DELETE FROM provisioned_concurrency WHERE function=?");
    if (!s.ok()) return DbError("prepare delete provisioned");
    s.Bind(1, function);
    if (s.Step() != SQLITE_DONE) return DbError("delete provisioned");
    return {};
  }

  Result<std::vector<ProvisionedConfig>> ListAll() override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "SELECT function, qualifier, requested, last_modified_ms FROM provisioned_concurrency"
           " ORDER BY function, qualifier");
    if (!s.ok()) return DbError("prepare list provisioned");
    std::vector<ProvisionedConfig> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      out.push_back({s.Text(0), s.Text(1), static_cast<int>(s.Int(2)), s.Int(3)});
    }
    if (rc != SQLITE_DONE) return DbError("list provisioned");
    return out;
  }

 private:
  Error DbError(const char* what) { return sqlite::DbError(db_, what); }

  std::mutex mu_;
  sqlite3* db_;
};

}  // namespace

Result<std::unique_ptr<ProvisionedStore>> OpenSqliteProvisionedStore(const std::string& path) {
  return sqlite::OpenStore<ProvisionedStore, SqliteProvisionedStore>(path);
}

}  // namespace alto
