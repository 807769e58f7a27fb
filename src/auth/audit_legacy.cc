// Before the state core, the audit log was a table of alto.db (audit_log). A data dir written then
// has its entries moved into the state's log at the first start of this build, in order and in
// batches, then the table is dropped.
#include <sqlite3.h>

#include <charconv>

#include "auth/audit_log.h"
#include "store/sqlite_util.h"

namespace alto::auth {

namespace {

using sqlite::Stmt;

// The last legacy row moved, written in the same transaction as the batch it ends: a move that
// is interrupted continues after it instead of appending the same rows twice.
constexpr std::string_view kMovedThroughKey = "/audit/legacy-moved-through";
constexpr int kBatch = 100;

}  // namespace

Result<int> MigrateLegacyAuditLog(const std::string& db_path, AuditLog& log,
                                  state::StateStore& state) {
  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close_v2(raw);
    return 0;  // no alto.db: nothing to move
  }
  std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> db(raw, &sqlite3_close_v2);
  sqlite3_busy_timeout(db.get(), 5000);
  {
    Stmt exists(db.get(), "SELECT 1 FROM sqlite_master WHERE type='table' AND name='audit_log'");
    if (exists.Step() != SQLITE_ROW) return 0;
  }
  int64_t through = 0;
  if (auto kv = state.Get(kMovedThroughKey)) {
    std::from_chars(kv->value.data(), kv->value.data() + kv->value.size(), through);
  } else if (kv.error().code != Errc::kNotFound) {
    return kv.error();
  }
  int moved = 0;
  while (true) {
    Stmt s(db.get(),
           "SELECT seq, time_ms, account, access_key, action, resource, source, status, "
           "error_type FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?");
    if (!s.ok()) return sqlite::DbError(db.get(), "read the legacy audit log");
    s.Bind(1, through);
    s.Bind(2, int64_t{kBatch});
    std::vector<AuditEntry> batch;
    int64_t last = through;
    while (s.Step() == SQLITE_ROW) {
      AuditEntry e;
      last = s.Int(0);
      e.time_ms = s.Int(1);
      e.account_id = s.Text(2);
      e.access_key_id = s.Text(3);
      e.action = s.Text(4);
      e.resource = s.Text(5);
      e.source_ip = s.Text(6);
      e.status = static_cast<int>(s.Int(7));
      e.error_type = s.Text(8);
      batch.push_back(std::move(e));
    }
    if (batch.empty()) break;
    auto appended = log.AppendBatch(
        batch, {state::Op::Put(std::string(kMovedThroughKey), std::to_string(last))});
    if (!appended) return appended.error();
    moved += static_cast<int>(batch.size());
    through = last;
  }
  if (auto st = sqlite::Exec(db.get(), "DROP TABLE audit_log"); !st) return st.error();
  if (auto del = state.Delete(std::string(kMovedThroughKey)); !del) return del.error();
  return moved;
}

}  // namespace alto::auth
