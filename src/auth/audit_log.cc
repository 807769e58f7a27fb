#include "auth/audit_log.h"

#include <sqlite3.h>

#include <mutex>

#include "store/sqlite_util.h"

namespace alto::auth {

namespace {

using sqlite::Stmt;

class SqliteAuditLog final : public AuditLog {
 public:
  explicit SqliteAuditLog(sqlite3* db) : db_(db) {}
  ~SqliteAuditLog() override { sqlite3_close_v2(db_); }

  Status Init() {
    return sqlite::Exec(db_,
                        "CREATE TABLE IF NOT EXISTS audit_log ("
                        "  seq INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL,"
                        "  account TEXT NOT NULL, access_key TEXT NOT NULL,"
                        "  action TEXT NOT NULL, resource TEXT NOT NULL,"
                        "  source TEXT NOT NULL, status INTEGER NOT NULL,"
                        "  error_type TEXT NOT NULL);"
                        "CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log(time_ms);");
  }

  Status Append(const AuditEntry& e) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "INSERT INTO audit_log(time_ms, account, access_key, action, resource, source, "
           "status, error_type) VALUES(?,?,?,?,?,?,?,?)");
    if (!s.ok()) return sqlite::DbError(db_, "prepare audit append");
    s.Bind(1, e.time_ms);
    s.Bind(2, e.account_id);
    s.Bind(3, e.access_key_id);
    s.Bind(4, e.action);
    s.Bind(5, e.resource);
    s.Bind(6, e.source_ip);
    s.Bind(7, int64_t{e.status});
    s.Bind(8, e.error_type);
    if (s.Step() != SQLITE_DONE) return sqlite::DbError(db_, "audit append");
    return {};
  }

  Result<std::vector<AuditEntry>> Read(const AuditQuery& q) const override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "SELECT seq, time_ms, account, access_key, action, resource, source, status, "
           "error_type FROM audit_log WHERE time_ms >= ?1 AND seq > ?2 AND (?3 = '' OR "
           "account = ?3) ORDER BY seq LIMIT ?4");
    if (!s.ok()) return sqlite::DbError(db_, "prepare audit read");
    s.Bind(1, q.since_ms);
    s.Bind(2, q.after_seq);
    s.Bind(3, q.account_id);
    s.Bind(4, static_cast<int64_t>(q.limit));
    std::vector<AuditEntry> out;
    while (s.Step() == SQLITE_ROW) {
      AuditEntry e;
      e.seq = s.Int(0);
      e.time_ms = s.Int(1);
      e.account_id = s.Text(2);
      e.access_key_id = s.Text(3);
      e.action = s.Text(4);
      e.resource = s.Text(5);
      e.source_ip = s.Text(6);
      e.status = static_cast<int>(s.Int(7));
      e.error_type = s.Text(8);
      out.push_back(std::move(e));
    }
    return out;
  }

 private:
  sqlite3* db_;
  mutable std::mutex mu_;
};

}  // namespace

Result<std::unique_ptr<AuditLog>> OpenSqliteAuditLog(const std::string& path) {
  return sqlite::OpenStore<AuditLog, SqliteAuditLog>(path);
}

}  // namespace alto::auth
