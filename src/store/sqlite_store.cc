#include <sqlite3.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "store/sqlite_util.h"
#include "store/store.h"

namespace alto {

std::string SerializeFunction(const FunctionConfig& f) {
  nlohmann::json j = {{"name", f.name},
                      {"version", f.version},
                      {"runtime", f.runtime},
                      {"handler", f.handler},
                      {"role", f.role},
                      {"description", f.description},
                      {"memory_mb", f.memory_mb},
                      {"timeout_s", f.timeout_s},
                      {"ephemeral_storage_mb", f.ephemeral_storage_mb},
                      {"environment", f.environment},
                      {"code_sha256", f.code_sha256_hex},
                      {"code_size", f.code_size},
                      {"last_modified_ms", f.last_modified_ms},
                      {"revision_id", f.revision_id},
                      {"package_type", f.package_type},
                      {"architecture", f.architecture},
                      {"dead_letter_arn", f.dead_letter_arn},
                      {"reserved_concurrency", f.reserved_concurrency},
                      {"network_mode", f.network_mode}};
  return j.dump();
}

bool DeserializeFunction(const std::string& text, FunctionConfig& f) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  f.name = j.value("name", "");
  f.version = j.value("version", "$LATEST");
  f.runtime = j.value("runtime", "");
  f.handler = j.value("handler", "");
  f.role = j.value("role", "");
  f.description = j.value("description", "");
  f.memory_mb = j.value("memory_mb", 128);
  f.timeout_s = j.value("timeout_s", 3);
  f.ephemeral_storage_mb = j.value("ephemeral_storage_mb", 512);
  f.environment = j.value("environment", std::map<std::string, std::string>{});
  f.code_sha256_hex = j.value("code_sha256", "");
  f.code_size = j.value("code_size", int64_t{0});
  f.last_modified_ms = j.value("last_modified_ms", int64_t{0});
  f.revision_id = j.value("revision_id", "");
  f.package_type = j.value("package_type", "Zip");
  f.architecture = j.value("architecture", "x86_64");
  f.dead_letter_arn = j.value("dead_letter_arn", "");
  f.reserved_concurrency = j.value("reserved_concurrency", -1);
  f.network_mode = j.value("network_mode", "default");
  return !f.name.empty();
}

namespace {

using sqlite::Stmt;

class SqliteStore final : public MetadataStore {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  ~SqliteStore() override { sqlite3_close_v2(db_); }

  Status Init() {
    const char* ddl =
        "CREATE TABLE IF NOT EXISTS functions ("
        "  name TEXT NOT NULL, version TEXT NOT NULL, revision TEXT NOT NULL,"
        "  code_sha256 TEXT NOT NULL, config TEXT NOT NULL,"
        "  PRIMARY KEY (name, version));";
    return sqlite::Exec(db_, ddl);
  }

  Status CreateFunction(const FunctionConfig& f) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "INSERT INTO functions(name, version, revision, code_sha256, config) VALUES(?,?,?,?,?)");
    if (!s.ok()) return DbError("prepare insert");
    s.Bind(1, f.name);
    s.Bind(2, f.version);
    s.Bind(3, f.revision_id);
    s.Bind(4, f.code_sha256_hex);
    s.Bind(5, SerializeFunction(f));
    int rc = s.Step();
    if (rc == SQLITE_CONSTRAINT) {
      return MakeError(Errc::kConflict, "Function already exist: " + f.name);
    }
    if (rc != SQLITE_DONE) return DbError("insert function");
    return {};
  }

  Status UpdateFunction(const FunctionConfig& f, std::string_view expected_revision) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "UPDATE functions SET revision=?, code_sha256=?, config=? "
           "WHERE name=? AND version=? AND revision=?");
    if (!s.ok()) return DbError("prepare update");
    s.Bind(1, f.revision_id);
    s.Bind(2, f.code_sha256_hex);
    s.Bind(3, SerializeFunction(f));
    s.Bind(4, f.name);
    s.Bind(5, f.version);
    s.Bind(6, expected_revision);
    if (s.Step() != SQLITE_DONE) return DbError("update function");
    if (sqlite3_changes(db_) == 0) {
      return MakeError(Errc::kConflict, "The function " + f.name +
                                            " was changed by another request; retry the update");
    }
    return {};
  }

  Result<FunctionConfig> GetFunction(std::string_view name) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT config FROM functions WHERE name=? AND version='$LATEST'");
    if (!s.ok()) return DbError("prepare get");
    s.Bind(1, name);
    int rc = s.Step();
    if (rc == SQLITE_DONE) return MakeError(Errc::kNotFound, std::string(name));
    if (rc != SQLITE_ROW) return DbError("get function");
    FunctionConfig f;
    if (!DeserializeFunction(s.Text(0), f))
      return MakeError(Errc::kInternal, "corrupt function record");
    return f;
  }

  Result<std::vector<FunctionConfig>> ListFunctions(std::string_view after, size_t limit) override {
    std::lock_guard lock(mu_);
    Stmt s(
        db_,
        "SELECT config FROM functions WHERE version='$LATEST' AND name > ? ORDER BY name LIMIT ?");
    if (!s.ok()) return DbError("prepare list");
    s.Bind(1, after);
    s.Bind(2, static_cast<int64_t>(limit));
    std::vector<FunctionConfig> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      FunctionConfig f;
      if (DeserializeFunction(s.Text(0), f)) out.push_back(std::move(f));
    }
    if (rc != SQLITE_DONE) return DbError("list functions");
    return out;
  }

  Status DeleteFunction(std::string_view name) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "DELETE FROM functions WHERE name=?");
    if (!s.ok()) return DbError("prepare delete");
    s.Bind(1, name);
    if (s.Step() != SQLITE_DONE) return DbError("delete function");
    if (sqlite3_changes(db_) == 0) return MakeError(Errc::kNotFound, std::string(name));
    return {};
  }

  Result<std::vector<std::string>> ReferencedCode() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT DISTINCT code_sha256 FROM functions");
    if (!s.ok()) return DbError("prepare code refs");
    std::vector<std::string> out;
    while (s.Step() == SQLITE_ROW) out.push_back(s.Text(0));
    return out;
  }

 private:
  Error DbError(const char* what) { return sqlite::DbError(db_, what); }

  std::mutex mu_;  // one connection shared by the blocking pool's threads
  sqlite3* db_;
};

}  // namespace

Result<std::unique_ptr<MetadataStore>> OpenSqliteStore(const std::string& path) {
  auto db = sqlite::Open(path);
  if (!db) return db.error();
  auto store = std::make_unique<SqliteStore>(*db);
  if (auto st = store->Init(); !st) return st.error();
  return std::unique_ptr<MetadataStore>(std::move(store));
}

}  // namespace alto
