// SQLite store of function URL configurations: its own connection to alto.db (WAL), one row per
// URL, the config as JSON.
#include <sqlite3.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "common/json.h"
#include "store/function_url.h"
#include "store/sqlite_util.h"

namespace alto {

std::string SerializeFunctionUrl(const FunctionUrlConfig& u) {
  nlohmann::json j = {{"url_id", u.url_id},
                      {"function", u.function},
                      {"qualifier", u.qualifier},
                      {"auth_type", u.auth_type},
                      {"invoke_mode", u.invoke_mode},
                      {"creation_ms", u.creation_ms},
                      {"last_modified_ms", u.last_modified_ms}};
  if (u.cors.present) {
    j["cors"] = {
        {"allow_credentials", u.cors.allow_credentials}, {"allow_headers", u.cors.allow_headers},
        {"allow_methods", u.cors.allow_methods},         {"allow_origins", u.cors.allow_origins},
        {"expose_headers", u.cors.expose_headers},       {"max_age", u.cors.max_age}};
  }
  return DumpJson(j);
}

bool DeserializeFunctionUrl(const std::string& text, FunctionUrlConfig& u) {
  // Alto's own record, a few levels deep: the API depth limit is ample.
  auto parsed = ParseJson(text, kApiJsonDepth);
  if (!parsed || !parsed->is_object()) return false;
  const nlohmann::json& j = *parsed;
  using Strings = std::vector<std::string>;
  u.url_id = j.value("url_id", "");
  u.function = j.value("function", "");
  u.qualifier = j.value("qualifier", "");
  u.auth_type = j.value("auth_type", "NONE");
  u.invoke_mode = j.value("invoke_mode", "BUFFERED");
  u.creation_ms = j.value("creation_ms", int64_t{0});
  u.last_modified_ms = j.value("last_modified_ms", int64_t{0});
  u.cors = {};
  if (auto c = j.find("cors"); c != j.end() && c->is_object()) {
    u.cors.present = true;
    u.cors.allow_credentials = c->value("allow_credentials", false);
    u.cors.allow_headers = c->value("allow_headers", Strings{});
    u.cors.allow_methods = c->value("allow_methods", Strings{});
    u.cors.allow_origins = c->value("allow_origins", Strings{});
    u.cors.expose_headers = c->value("expose_headers", Strings{});
    u.cors.max_age = c->value("max_age", -1);
  }
  return !u.url_id.empty() && !u.function.empty();
}

namespace {

using sqlite::Stmt;

class SqliteFunctionUrlStore final : public FunctionUrlStore {
 public:
  explicit SqliteFunctionUrlStore(sqlite3* db) : db_(db) {}
  ~SqliteFunctionUrlStore() override { sqlite3_close_v2(db_); }

  Status Init() {
    return sqlite::Exec(db_,
                        "CREATE TABLE IF NOT EXISTS function_urls ("
                        "  url_id TEXT PRIMARY KEY, function TEXT NOT NULL,"
                        "  qualifier TEXT NOT NULL, config TEXT NOT NULL,"
                        "  UNIQUE (function, qualifier));");
  }

  Status Create(const FunctionUrlConfig& u) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "INSERT INTO function_urls(url_id, function, qualifier, config) VALUES(?,?,?,?)");
    if (!s.ok()) return DbError("prepare insert url");
    s.Bind(1, u.url_id);
    s.Bind(2, u.function);
    s.Bind(3, u.qualifier);
    s.Bind(4, SerializeFunctionUrl(u));
    int rc = s.Step();
    if (rc == SQLITE_CONSTRAINT) {
      return MakeError(Errc::kConflict, "Failed to create function url config for [functionArn = " +
                                            u.function + "]. Error message:  FunctionUrlConfig " +
                                            "exists for this Lambda function");
    }
    if (rc != SQLITE_DONE) return DbError("insert url");
    return {};
  }

  Status Update(const FunctionUrlConfig& u) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "UPDATE function_urls SET config=? WHERE url_id=?");
    if (!s.ok()) return DbError("prepare update url");
    s.Bind(1, SerializeFunctionUrl(u));
    s.Bind(2, u.url_id);
    if (s.Step() != SQLITE_DONE) return DbError("update url");
    if (sqlite3_changes(db_) == 0) return MakeError(Errc::kNotFound, "url config not found");
    return {};
  }

  Status Delete(std::string_view function, std::string_view qualifier) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "DELETE FROM function_urls WHERE function=? AND qualifier=?");
    if (!s.ok()) return DbError("prepare delete url");
    s.Bind(1, function);
    s.Bind(2, qualifier);
    if (s.Step() != SQLITE_DONE) return DbError("delete url");
    if (sqlite3_changes(db_) == 0) return MakeError(Errc::kNotFound, "url config not found");
    return {};
  }

  Status DeleteAll(std::string_view function) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "DELETE FROM function_urls WHERE function=?");
    if (!s.ok()) return DbError("prepare delete urls");
    s.Bind(1, function);
    if (s.Step() != SQLITE_DONE) return DbError("delete urls");
    return {};
  }

  Result<std::vector<FunctionUrlConfig>> ListAll() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT config FROM function_urls ORDER BY function, qualifier");
    if (!s.ok()) return DbError("prepare list urls");
    std::vector<FunctionUrlConfig> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      FunctionUrlConfig u;
      if (DeserializeFunctionUrl(s.Text(0), u)) out.push_back(std::move(u));
    }
    if (rc != SQLITE_DONE) return DbError("list urls");
    return out;
  }

 private:
  Error DbError(const char* what) { return sqlite::DbError(db_, what); }

  std::mutex mu_;
  sqlite3* db_;
};

}  // namespace

Result<std::unique_ptr<FunctionUrlStore>> OpenSqliteFunctionUrlStore(const std::string& path) {
  return sqlite::OpenStore<FunctionUrlStore, SqliteFunctionUrlStore>(path);
}

}  // namespace alto
