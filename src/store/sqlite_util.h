// Small RAII helpers over the SQLite C API, shared by the SQLite-backed stores.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"

namespace alto::sqlite {

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  void Bind(int i, std::string_view s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  void BindBlob(int i, std::string_view s) {
    sqlite3_bind_blob(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  int Step() { return sqlite3_step(stmt_); }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::string Text(int col) {
    auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

inline Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    return MakeError(Errc::kInternal, std::string("sqlite: ") + msg);
  }
  return {};
}

inline Error DbError(sqlite3* db, const char* what) {
  return MakeError(Errc::kInternal, std::string("sqlite ") + what + ": " + sqlite3_errmsg(db));
}

// A transaction that rolls back unless committed.
class Tx {
 public:
  explicit Tx(sqlite3* db) : db_(db) { ok_ = Exec(db_, "BEGIN IMMEDIATE").ok(); }
  ~Tx() {
    if (ok_ && !done_) (void)Exec(db_, "ROLLBACK");
  }
  Tx(const Tx&) = delete;
  Tx& operator=(const Tx&) = delete;
  bool ok() const { return ok_; }
  Status Commit() {
    done_ = true;
    return Exec(db_, "COMMIT");
  }

 private:
  sqlite3* db_;
  bool ok_ = false;
  bool done_ = false;
};

// Opens path in WAL mode with synchronous=FULL (durable at commit).
inline Result<sqlite3*> Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return MakeError(Errc::kInternal, "open " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  if (auto st = Exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"); !st) {
    sqlite3_close_v2(db);
    return st.error();
  }
  return db;
}

// Opens path and a store of type Impl over it (constructed from the handle and `args`, then
// Init()), handed out as its Interface.
template <class Interface, class Impl, class... Args>
Result<std::unique_ptr<Interface>> OpenStore(const std::string& path, Args&&... args) {
  auto db = Open(path);
  if (!db) return db.error();
  auto store = std::make_unique<Impl>(*db, std::forward<Args>(args)...);
  if (auto st = store->Init(); !st) return st.error();
  return std::unique_ptr<Interface>(std::move(store));
}

}  // namespace alto::sqlite
