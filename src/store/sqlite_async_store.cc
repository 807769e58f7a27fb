#include <mutex>

#include "store/async_store.h"
#include "store/sqlite_util.h"

namespace alto {

namespace {

using sqlite::Stmt;

using sqlite::Tx;

constexpr const char* kEventColumns =
    "id, request_id, function, payload, enqueued_ms, next_attempt_ms, retries_used, invoke_count, "
    "hop, qualifier, version, attempt_open";

AsyncEvent EventFromRow(Stmt& s) {
  AsyncEvent e;
  e.id = s.Int(0);
  e.request_id = s.Text(1);
  e.function = s.Text(2);
  e.payload = s.Text(3);
  e.enqueued_ms = s.Int(4);
  e.next_attempt_ms = s.Int(5);
  e.retries_used = static_cast<int>(s.Int(6));
  e.invoke_count = static_cast<int>(s.Int(7));
  e.hop = static_cast<int>(s.Int(8));
  e.qualifier = s.Text(9);
  e.version = s.Text(10);
  if (e.version.empty()) e.version = "$LATEST";
  e.attempt_interrupted = s.Int(11) != 0;
  return e;
}

class SqliteAsyncStore final : public AsyncStore {
 public:
  explicit SqliteAsyncStore(sqlite3* db) : db_(db) {}
  ~SqliteAsyncStore() override { sqlite3_close_v2(db_); }

  Status Init() {
    if (auto st = CreateTables(); !st) return st;
    // Databases from before versions: add the invoked qualifier and the version that runs.
    for (const char* column : {"qualifier", "version"}) {
      std::string sql = std::string("ALTER TABLE async_events ADD COLUMN ") + column +
                        " TEXT NOT NULL DEFAULT ''";
      auto st = sqlite::Exec(db_, sql.c_str());
      if (!st && st.error().message.find("duplicate column") == std::string::npos) return st;
    }
    // Schema 2 marks an attempt handed to a sandbox until its outcome is recorded. The column's
    // presence is the schema version: the async tables share their file with other stores, so
    // PRAGMA user_version is not this store's to own.
    auto has = HasColumn("async_events", "attempt_open");
    if (!has) return has.error();
    if (!*has) {
      auto st = sqlite::Exec(
          db_, "ALTER TABLE async_events ADD COLUMN attempt_open INTEGER NOT NULL DEFAULT 0");
      if (!st) return st;
    }
    return {};
  }

  Result<bool> HasColumn(const char* table, std::string_view column) {
    Stmt s(db_, (std::string("PRAGMA table_info(") + table + ")").c_str());
    if (!s.ok()) return DbError("table info");
    while (s.Step() == SQLITE_ROW) {
      if (s.Text(1) == column) return true;
    }
    return false;
  }

  Status CreateTables() {
    return sqlite::Exec(
        db_,
        "CREATE TABLE IF NOT EXISTS async_events ("
        "  id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL,"
        "  function TEXT NOT NULL, payload BLOB NOT NULL, enqueued_ms INTEGER NOT NULL,"
        "  next_attempt_ms INTEGER NOT NULL, retries_used INTEGER NOT NULL DEFAULT 0,"
        "  invoke_count INTEGER NOT NULL DEFAULT 0, hop INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX IF NOT EXISTS async_events_due ON async_events(next_attempt_ms);"
        "CREATE INDEX IF NOT EXISTS async_events_fn ON async_events(function, enqueued_ms);"
        "CREATE TABLE IF NOT EXISTS event_invoke_configs ("
        "  function TEXT PRIMARY KEY, max_retry_attempts INTEGER NOT NULL,"
        "  max_event_age_s INTEGER NOT NULL, on_success TEXT NOT NULL, on_failure TEXT NOT NULL,"
        "  last_modified_ms INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY, created_ms INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS queue_messages ("
        "  id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, body BLOB NOT NULL,"
        "  attributes TEXT NOT NULL, sent_ms INTEGER NOT NULL);"
        "CREATE INDEX IF NOT EXISTS queue_messages_q ON queue_messages(queue, id);");
  }

  Status Enqueue(std::vector<AsyncEvent>& events) override {
    std::lock_guard lock(mu_);
    Tx tx(db_);
    if (!tx.ok()) return DbError("begin");
    for (auto& e : events) {
      if (auto st = InsertEvent(e); !st) return st;
    }
    return tx.Commit();
  }

  Result<std::vector<AsyncEvent>> Due(int64_t now_ms, size_t per_function) override {
    std::lock_guard lock(mu_);
    std::string sql =
        std::string("SELECT ") + kEventColumns +
        " FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY function ORDER BY next_attempt_ms, id) "
        "AS rn"
        " FROM async_events WHERE next_attempt_ms <= ?) WHERE rn <= ? ORDER BY next_attempt_ms, id";
    Stmt s(db_, sql.c_str());
    if (!s.ok()) return DbError("prepare due");
    s.Bind(1, now_ms);
    s.Bind(2, static_cast<int64_t>(per_function));
    std::vector<AsyncEvent> out;
    while (s.Step() == SQLITE_ROW) out.push_back(EventFromRow(s));
    return out;
  }

  Result<int64_t> NextDueMs() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT MIN(next_attempt_ms) FROM async_events");
    if (!s.ok() || s.Step() != SQLITE_ROW) return DbError("next due");
    return s.Int(0);
  }

  Status Reschedule(const AsyncEvent& e) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "UPDATE async_events SET next_attempt_ms=?, retries_used=?, invoke_count=?, "
           "attempt_open=0 WHERE id=?");
    s.Bind(1, e.next_attempt_ms);
    s.Bind(2, int64_t{e.retries_used});
    s.Bind(3, int64_t{e.invoke_count});
    s.Bind(4, e.id);
    if (s.Step() != SQLITE_DONE) return DbError("reschedule");
    return {};
  }

  Result<bool> RecordAttempt(const AsyncEvent& e, bool handed_off) override {
    std::lock_guard lock(mu_);
    (void)sqlite::Exec(db_, "PRAGMA synchronous=NORMAL");
    Stmt s(db_,
           "UPDATE async_events SET invoke_count=?, attempt_open=? WHERE id=? AND invoke_count=?");
    s.Bind(1, int64_t{e.invoke_count});
    s.Bind(2, int64_t{handed_off ? 1 : 0});
    s.Bind(3, e.id);
    s.Bind(4, int64_t{e.invoke_count - 1});
    int rc = s.Step();
    bool claimed = sqlite3_changes(db_) == 1;
    (void)sqlite::Exec(db_, "PRAGMA synchronous=FULL");
    if (rc != SQLITE_DONE) return DbError("record attempt");
    return claimed;
  }

  Status Finish(int64_t event_id, EventFinish finish) override {
    std::lock_guard lock(mu_);
    Tx tx(db_);
    if (!tx.ok()) return DbError("begin");
    {
      Stmt s(db_, "DELETE FROM async_events WHERE id=?");
      s.Bind(1, event_id);
      if (s.Step() != SQLITE_DONE) return DbError("delete event");
    }
    for (const auto& m : finish.messages) {
      if (auto st = InsertMessage(m); !st) return st;
    }
    if (finish.follow_up) {
      if (auto st = InsertEvent(*finish.follow_up); !st) return st;
    }
    return tx.Commit();
  }

  Result<QueueStats> Stats(std::string_view function) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "SELECT COUNT(*), COALESCE(MIN(enqueued_ms), 0) FROM async_events WHERE function=?");
    s.Bind(1, function);
    if (s.Step() != SQLITE_ROW) return DbError("stats");
    return QueueStats{s.Int(0), s.Int(1)};
  }

  Status DropFunctionEvents(std::string_view function) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "DELETE FROM async_events WHERE function=?");
    s.Bind(1, function);
    if (s.Step() != SQLITE_DONE) return DbError("drop events");
    Stmt c(db_, "DELETE FROM event_invoke_configs WHERE function=?");
    c.Bind(1, function);
    if (c.Step() != SQLITE_DONE) return DbError("drop config");
    return {};
  }

  Status PutConfig(const EventInvokeConfig& c) override {
    std::lock_guard lock(mu_);
    Stmt s(
        db_,
        "INSERT OR REPLACE INTO event_invoke_configs(function, max_retry_attempts, max_event_age_s,"
        " on_success, on_failure, last_modified_ms) VALUES(?,?,?,?,?,?)");
    s.Bind(1, c.function);
    s.Bind(2, int64_t{c.max_retry_attempts});
    s.Bind(3, int64_t{c.max_event_age_s});
    s.Bind(4, c.on_success);
    s.Bind(5, c.on_failure);
    s.Bind(6, c.last_modified_ms);
    if (s.Step() != SQLITE_DONE) return DbError("put config");
    return {};
  }

  Result<EventInvokeConfig> GetConfig(std::string_view function) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "SELECT max_retry_attempts, max_event_age_s, on_success, on_failure, last_modified_ms "
           "FROM event_invoke_configs WHERE function=?");
    s.Bind(1, function);
    int rc = s.Step();
    if (rc == SQLITE_DONE) return MakeError(Errc::kNotFound, std::string(function));
    if (rc != SQLITE_ROW) return DbError("get config");
    EventInvokeConfig c;
    c.function = std::string(function);
    c.max_retry_attempts = static_cast<int>(s.Int(0));
    c.max_event_age_s = static_cast<int>(s.Int(1));
    c.on_success = s.Text(2);
    c.on_failure = s.Text(3);
    c.last_modified_ms = s.Int(4);
    return c;
  }

  Status DeleteConfig(std::string_view function) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "DELETE FROM event_invoke_configs WHERE function=?");
    s.Bind(1, function);
    if (s.Step() != SQLITE_DONE) return DbError("delete config");
    if (sqlite3_changes(db_) == 0) return MakeError(Errc::kNotFound, std::string(function));
    return {};
  }

  Status CreateQueue(std::string_view name) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "INSERT OR IGNORE INTO queues(name, created_ms) VALUES(?, strftime('%s','now') * 1000)");
    s.Bind(1, name);
    if (s.Step() != SQLITE_DONE) return DbError("create queue");
    return {};
  }

  Result<bool> QueueExists(std::string_view name) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT 1 FROM queues WHERE name=?");
    s.Bind(1, name);
    return s.Step() == SQLITE_ROW;
  }

  Result<std::vector<std::string>> ListQueues() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT name FROM queues ORDER BY name");
    std::vector<std::string> out;
    while (s.Step() == SQLITE_ROW) out.push_back(s.Text(0));
    return out;
  }

  Status SendMessage(const QueueMessage& m) override {
    std::lock_guard lock(mu_);
    return InsertMessage(m);
  }

  Result<std::vector<QueueMessage>> ReadMessages(std::string_view queue, size_t max,
                                                 bool consume) override {
    std::lock_guard lock(mu_);
    Tx tx(db_);
    if (!tx.ok()) return DbError("begin");
    std::vector<QueueMessage> out;
    {
      Stmt s(db_,
             "SELECT id, body, attributes, sent_ms FROM queue_messages WHERE queue=? ORDER BY id "
             "LIMIT ?");
      s.Bind(1, queue);
      s.Bind(2, static_cast<int64_t>(max));
      while (s.Step() == SQLITE_ROW) {
        out.push_back(QueueMessage{s.Int(0), std::string(queue), s.Text(1), s.Text(2), s.Int(3)});
      }
    }
    if (consume && !out.empty()) {
      Stmt d(db_, "DELETE FROM queue_messages WHERE queue=? AND id<=?");
      d.Bind(1, queue);
      d.Bind(2, out.back().id);
      if (d.Step() != SQLITE_DONE) return DbError("consume");
    }
    if (auto st = tx.Commit(); !st) return st.error();
    return out;
  }

 private:
  Status InsertEvent(AsyncEvent& e) {
    Stmt s(db_,
           "INSERT INTO async_events(request_id, function, payload, enqueued_ms, next_attempt_ms,"
           " retries_used, invoke_count, hop, qualifier, version) VALUES(?,?,?,?,?,?,?,?,?,?)");
    s.Bind(1, e.request_id);
    s.Bind(2, e.function);
    s.BindBlob(3, e.payload);
    s.Bind(4, e.enqueued_ms);
    s.Bind(5, e.next_attempt_ms);
    s.Bind(6, int64_t{e.retries_used});
    s.Bind(7, int64_t{e.invoke_count});
    s.Bind(8, int64_t{e.hop});
    s.Bind(9, e.qualifier);
    s.Bind(10, e.version);
    if (s.Step() != SQLITE_DONE) return DbError("insert event");
    e.id = sqlite3_last_insert_rowid(db_);
    return {};
  }

  Status InsertMessage(const QueueMessage& m) {
    Stmt s(db_, "INSERT INTO queue_messages(queue, body, attributes, sent_ms) VALUES(?,?,?,?)");
    s.Bind(1, m.queue);
    s.BindBlob(2, m.body);
    s.Bind(3, m.attributes.empty() ? std::string_view("{}") : std::string_view(m.attributes));
    s.Bind(4, m.sent_ms);
    if (s.Step() != SQLITE_DONE) return DbError("insert message");
    return {};
  }

  Error DbError(const char* what) { return sqlite::DbError(db_, what); }

  std::mutex mu_;
  sqlite3* db_;
};

}  // namespace

Result<std::unique_ptr<AsyncStore>> OpenSqliteAsyncStore(const std::string& path) {
  return sqlite::OpenStore<AsyncStore, SqliteAsyncStore>(path);
}

}  // namespace alto
