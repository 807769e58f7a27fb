#include <sqlite3.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/json.h"
#include "store/sqlite_util.h"
#include "store/store.h"

namespace alto {

std::string SerializeFunction(const FunctionConfig& f) {
  std::map<std::string, std::string> plain;
  for (const auto& [k, v] : f.environment) {
    if (!f.secret_names.count(k)) plain[k] = v;
  }
  nlohmann::json j = {{"name", f.name},
                      {"version", f.version},
                      {"runtime", f.runtime},
                      {"handler", f.handler},
                      {"role", f.role},
                      {"description", f.description},
                      {"memory_mb", f.memory_mb},
                      {"timeout_s", f.timeout_s},
                      {"ephemeral_storage_mb", f.ephemeral_storage_mb},
                      {"environment", plain},
                      {"secret_names", f.secret_names},
                      {"code_sha256", f.code_sha256_hex},
                      {"code_size", f.code_size},
                      {"last_modified_ms", f.last_modified_ms},
                      {"revision_id", f.revision_id},
                      {"package_type", f.package_type},
                      {"architecture", f.architecture},
                      {"dead_letter_arn", f.dead_letter_arn},
                      {"reserved_concurrency", f.reserved_concurrency},
                      {"network_mode", f.network_mode}};
  return DumpJson(j);
}

bool DeserializeFunction(const std::string& text, FunctionConfig& f) {
  // Records read back are Alto's own flat objects; the API depth limit is ample.
  auto parsed = ParseJson(text, kApiJsonDepth);
  if (!parsed || !parsed->is_object()) return false;
  const nlohmann::json& j = *parsed;
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
  f.secret_names = j.value("secret_names", std::set<std::string>{});
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

bool SameCodeAndConfig(const FunctionConfig& a, const FunctionConfig& b) {
  return a.code_sha256_hex == b.code_sha256_hex && a.runtime == b.runtime &&
         a.handler == b.handler && a.role == b.role && a.memory_mb == b.memory_mb &&
         a.timeout_s == b.timeout_s && a.ephemeral_storage_mb == b.ephemeral_storage_mb &&
         a.environment == b.environment && a.secret_names == b.secret_names &&
         a.package_type == b.package_type && a.architecture == b.architecture &&
         a.dead_letter_arn == b.dead_letter_arn;
}

namespace {

using sqlite::Stmt;
using sqlite::Tx;

constexpr const char* kLatest = "$LATEST";

nlohmann::json AliasJson(const AliasConfig& a) {
  return {{"description", a.description},
          {"additional_version", a.additional_version},
          {"additional_weight", a.additional_weight}};
}

class SqliteStore final : public MetadataStore {
 public:
  SqliteStore(sqlite3* db, std::shared_ptr<const SecretBox> secrets)
      : db_(db), secrets_(std::move(secrets)) {}
  ~SqliteStore() override { sqlite3_close_v2(db_); }

  Status Init() {
    const char* ddl =
        "CREATE TABLE IF NOT EXISTS functions ("
        "  name TEXT NOT NULL, version TEXT NOT NULL, revision TEXT NOT NULL,"
        "  code_sha256 TEXT NOT NULL, config TEXT NOT NULL,"
        "  PRIMARY KEY (name, version));"
        // Version numbers are never reused, even after the newest version is deleted.
        "CREATE TABLE IF NOT EXISTS function_version_seq ("
        "  name TEXT PRIMARY KEY, last INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS aliases ("
        "  function TEXT NOT NULL, name TEXT NOT NULL, function_version TEXT NOT NULL,"
        "  additional_version TEXT NOT NULL, revision TEXT NOT NULL, config TEXT NOT NULL,"
        "  PRIMARY KEY (function, name));"
        // A function's tags, apart from its version records: tagging neither changes a
        // revision nor races UpdateFunction's read-modify-write of $LATEST.
        "CREATE TABLE IF NOT EXISTS function_tags ("
        "  function TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
        "  PRIMARY KEY (function, key));";
    return sqlite::Exec(db_, ddl);
  }

  Status CreateFunction(const FunctionConfig& f, const FunctionTags& tags) override {
    std::lock_guard lock(mu_);
    Tx tx(db_);
    if (!tx.ok()) return DbError("begin");
    auto st = Insert(f);
    if (!st && st.error().code == Errc::kConflict) {
      return MakeError(Errc::kConflict, "Function already exist: " + f.name);
    }
    if (!st) return st;
    if (auto put = PutTags(f.name, tags); !put) return put;
    return tx.Commit();
  }

  Status UpdateFunction(const FunctionConfig& f, std::string_view expected_revision) override {
    std::lock_guard lock(mu_);
    auto text = Encode(f);
    if (!text) return text.error();
    Stmt s(db_,
           "UPDATE functions SET revision=?, code_sha256=?, config=? "
           "WHERE name=? AND version=? AND revision=?");
    if (!s.ok()) return DbError("prepare update");
    s.Bind(1, f.revision_id);
    s.Bind(2, f.code_sha256_hex);
    s.Bind(3, *text);
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
    return GetFunctionVersion(name, kLatest);
  }

  Result<FunctionConfig> GetFunctionVersion(std::string_view name,
                                            std::string_view version) override {
    std::lock_guard lock(mu_);
    return Get(name, version);
  }

  Result<std::vector<FunctionConfig>> ListFunctions(std::string_view after, size_t limit) override {
    std::lock_guard lock(mu_);
    Stmt s(
        db_,
        "SELECT config FROM functions WHERE version='$LATEST' AND name > ? ORDER BY name LIMIT ?");
    if (!s.ok()) return DbError("prepare list");
    s.Bind(1, after);
    s.Bind(2, static_cast<int64_t>(limit));
    return Rows(s);
  }

  Status DeleteFunction(std::string_view name) override {
    std::lock_guard lock(mu_);
    Tx tx(db_);
    if (!tx.ok()) return DbError("begin");
    Stmt s(db_, "DELETE FROM functions WHERE name=?");
    if (!s.ok()) return DbError("prepare delete");
    s.Bind(1, name);
    if (s.Step() != SQLITE_DONE) return DbError("delete function");
    if (sqlite3_changes(db_) == 0) return MakeError(Errc::kNotFound, std::string(name));
    for (const char* sql :
         {"DELETE FROM function_version_seq WHERE name=?", "DELETE FROM aliases WHERE function=?",
          "DELETE FROM function_tags WHERE function=?"}) {
      Stmt d(db_, sql);
      d.Bind(1, name);
      if (d.Step() != SQLITE_DONE) return DbError("delete function");
    }
    return tx.Commit();
  }

  Result<FunctionTags> ListTags(std::string_view function) override {
    std::lock_guard lock(mu_);
    return TagsOf(function);
  }

  Status ChangeTags(std::string_view function, const FunctionTags& set,
                    const std::vector<std::string>& remove,
                    const std::function<Status(const FunctionTags&)>& check) override {
    std::lock_guard lock(mu_);
    Tx tx(db_);
    if (!tx.ok()) return DbError("begin");
    auto tags = TagsOf(function);
    if (!tags) return tags.error();
    for (const auto& [k, v] : set) (*tags)[k] = v;
    for (const auto& k : remove) tags->erase(k);
    if (check) {
      if (auto st = check(*tags); !st) return st;
    }
    if (auto st = ClearTags(function); !st) return st;
    if (auto st = PutTags(function, *tags); !st) return st;
    return tx.Commit();
  }

  Result<FunctionConfig> PublishVersion(const FunctionConfig& snapshot,
                                        std::string_view latest_revision) override {
    std::lock_guard lock(mu_);
    Tx tx(db_);
    if (!tx.ok()) return DbError("begin");
    auto latest = Get(snapshot.name, kLatest);
    if (!latest) return latest.error();
    if (latest->revision_id != latest_revision) {
      return MakeError(Errc::kConflict,
                       "The function " + snapshot.name + " was changed by another request; retry");
    }
    {
      Stmt newest(db_,
                  "SELECT config FROM functions WHERE name=? AND version!='$LATEST' "
                  "ORDER BY CAST(version AS INTEGER) DESC LIMIT 1");
      newest.Bind(1, snapshot.name);
      auto rows = Rows(newest);
      if (!rows) return rows.error();
      if (!rows->empty() && SameCodeAndConfig(rows->front(), snapshot)) return rows->front();
    }
    int64_t next = 1;
    {
      Stmt seq(db_, "SELECT last FROM function_version_seq WHERE name=?");
      seq.Bind(1, snapshot.name);
      if (seq.Step() == SQLITE_ROW) next = seq.Int(0) + 1;
    }
    Stmt put(db_, "INSERT OR REPLACE INTO function_version_seq(name, last) VALUES(?,?)");
    put.Bind(1, snapshot.name);
    put.Bind(2, next);
    if (put.Step() != SQLITE_DONE) return DbError("version sequence");
    FunctionConfig v = snapshot;
    v.version = std::to_string(next);
    if (auto st = Insert(v); !st) return st.error();
    if (auto st = tx.Commit(); !st) return st.error();
    return v;
  }

  Result<std::vector<FunctionConfig>> ListVersions(std::string_view name) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "SELECT config FROM functions WHERE name=? ORDER BY version!='$LATEST', "
           "CAST(version AS INTEGER)");
    if (!s.ok()) return DbError("prepare versions");
    s.Bind(1, name);
    auto rows = Rows(s);
    if (rows && rows->empty()) return MakeError(Errc::kNotFound, std::string(name));
    return rows;
  }

  Status DeleteVersion(std::string_view name, std::string_view version) override {
    std::lock_guard lock(mu_);
    Tx tx(db_);
    if (!tx.ok()) return DbError("begin");
    Stmt refs(db_,
              "SELECT name FROM aliases WHERE function=? AND "
              "(function_version=? OR additional_version=?) ORDER BY name");
    refs.Bind(1, name);
    refs.Bind(2, version);
    refs.Bind(3, version);
    std::string names;
    while (refs.Step() == SQLITE_ROW) names += (names.empty() ? "" : ", ") + refs.Text(0);
    if (!names.empty()) {
      return MakeError(
          Errc::kConflict,
          "Unable to delete version because the following aliases reference it: [" + names + "]");
    }
    Stmt s(db_, "DELETE FROM functions WHERE name=? AND version=?");
    s.Bind(1, name);
    s.Bind(2, version);
    if (s.Step() != SQLITE_DONE) return DbError("delete version");
    if (sqlite3_changes(db_) == 0) return MakeError(Errc::kNotFound, std::string(version));
    return tx.Commit();
  }

  Status PutAlias(const AliasConfig& a, bool create, std::string_view expected_revision) override {
    std::lock_guard lock(mu_);
    if (create) {
      Stmt s(db_,
             "INSERT INTO aliases(function, name, function_version, additional_version, revision,"
             " config) VALUES(?,?,?,?,?,?)");
      BindAlias(s, a);
      int rc = s.Step();
      if (rc == SQLITE_CONSTRAINT) return MakeError(Errc::kConflict, "Alias already exists");
      if (rc != SQLITE_DONE) return DbError("insert alias");
      return {};
    }
    Stmt s(db_,
           "UPDATE aliases SET function=?, name=?, function_version=?, additional_version=?, "
           "revision=?, config=? WHERE function=? AND name=? AND revision=?");
    BindAlias(s, a);
    s.Bind(7, a.function);
    s.Bind(8, a.name);
    s.Bind(9, expected_revision);
    if (s.Step() != SQLITE_DONE) return DbError("update alias");
    if (sqlite3_changes(db_) == 0) {
      if (GetAliasLocked(a.function, a.name)) {
        return MakeError(Errc::kPreconditionFailed, "The alias was changed by another request");
      }
      return MakeError(Errc::kNotFound, a.name);
    }
    return {};
  }

  Result<AliasConfig> GetAlias(std::string_view function, std::string_view alias) override {
    std::lock_guard lock(mu_);
    return GetAliasLocked(function, alias);
  }

  Result<std::vector<AliasConfig>> ListAliases(std::string_view function) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, std::string(kAliasSelect).append(" WHERE function=? ORDER BY name").c_str());
    s.Bind(1, function);
    std::vector<AliasConfig> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out.push_back(AliasFromRow(s));
    if (rc != SQLITE_DONE) return DbError("list aliases");
    return out;
  }

  Status DeleteAlias(std::string_view function, std::string_view alias) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "DELETE FROM aliases WHERE function=? AND name=?");
    s.Bind(1, function);
    s.Bind(2, alias);
    if (s.Step() != SQLITE_DONE) return DbError("delete alias");
    if (sqlite3_changes(db_) == 0) return MakeError(Errc::kNotFound, std::string(alias));
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
  static constexpr const char* kAliasSelect =
      "SELECT function, name, function_version, additional_version, revision, config FROM aliases";

  Error DbError(const char* what) { return sqlite::DbError(db_, what); }

  static std::string Aad(const FunctionConfig& f, const std::string& var) {
    return f.name + "/" + var;
  }

  // The stored text of a function: secret values sealed, never in the clear.
  Result<std::string> Encode(const FunctionConfig& f) {
    auto parsed = ParseJson(SerializeFunction(f), kApiJsonDepth);
    if (!parsed) return parsed.error();
    nlohmann::json& j = *parsed;
    if (f.secret_names.empty()) return DumpJson(j);
    if (!secrets_) return MakeError(Errc::kInternal, "no secret key configured to seal secrets");
    nlohmann::json sealed = nlohmann::json::object();
    for (const auto& k : f.secret_names) {
      auto v = f.environment.find(k);
      if (v == f.environment.end()) continue;
      auto box = secrets_->Seal(v->second, Aad(f, k));
      if (!box) return box.error();
      sealed[k] = Base64Encode(*box);
    }
    j["sealed_secrets"] = std::move(sealed);
    return DumpJson(j);
  }

  Result<FunctionConfig> Decode(const std::string& text) {
    FunctionConfig f;
    if (!DeserializeFunction(text, f)) return MakeError(Errc::kInternal, "corrupt function record");
    if (f.secret_names.empty()) return f;
    if (!secrets_) return MakeError(Errc::kInternal, "no secret key configured to open secrets");
    auto j = ParseJson(text, kApiJsonDepth);
    if (!j) return MakeError(Errc::kInternal, "corrupt function record");
    // A named local: items() of a temporary would dangle.
    const nlohmann::json sealed = j->value("sealed_secrets", nlohmann::json::object());
    for (const auto& [k, v] : sealed.items()) {
      auto raw = Base64Decode(v.is_string() ? v.get<std::string>() : std::string());
      if (!raw) return MakeError(Errc::kInternal, "corrupt sealed secret in " + f.name);
      auto plain = secrets_->Open(*raw, Aad(f, k));
      if (!plain) return plain.error();
      f.environment[k] = std::move(*plain);
    }
    return f;
  }

  Status Insert(const FunctionConfig& f) {
    auto text = Encode(f);
    if (!text) return text.error();
    Stmt s(db_,
           "INSERT INTO functions(name, version, revision, code_sha256, config) VALUES(?,?,?,?,?)");
    if (!s.ok()) return DbError("prepare insert");
    s.Bind(1, f.name);
    s.Bind(2, f.version);
    s.Bind(3, f.revision_id);
    s.Bind(4, f.code_sha256_hex);
    s.Bind(5, *text);
    int rc = s.Step();
    if (rc == SQLITE_CONSTRAINT) return MakeError(Errc::kConflict, f.name + ":" + f.version);
    if (rc != SQLITE_DONE) return DbError("insert function");
    return {};
  }

  // kNotFound when the function has no $LATEST record.
  Result<FunctionTags> TagsOf(std::string_view function) {
    {
      Stmt exists(db_, "SELECT 1 FROM functions WHERE name=? AND version='$LATEST'");
      exists.Bind(1, function);
      int rc = exists.Step();
      if (rc == SQLITE_DONE) return MakeError(Errc::kNotFound, std::string(function));
      if (rc != SQLITE_ROW) return DbError("get function");
    }
    Stmt s(db_, "SELECT key, value FROM function_tags WHERE function=?");
    s.Bind(1, function);
    FunctionTags out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out[s.Text(0)] = s.Text(1);
    if (rc != SQLITE_DONE) return DbError("read tags");
    return out;
  }

  Status ClearTags(std::string_view function) {
    Stmt s(db_, "DELETE FROM function_tags WHERE function=?");
    s.Bind(1, function);
    if (s.Step() != SQLITE_DONE) return DbError("clear tags");
    return {};
  }

  Status PutTags(std::string_view function, const FunctionTags& tags) {
    Stmt s(db_, "INSERT INTO function_tags(function, key, value) VALUES(?,?,?)");
    if (!s.ok()) return DbError("prepare tags");
    for (const auto& [k, v] : tags) {
      s.Reset();
      s.Bind(1, function);
      s.Bind(2, k);
      s.Bind(3, v);
      if (s.Step() != SQLITE_DONE) return DbError("insert tag");
    }
    return {};
  }

  Result<FunctionConfig> Get(std::string_view name, std::string_view version) {
    Stmt s(db_, "SELECT config FROM functions WHERE name=? AND version=?");
    if (!s.ok()) return DbError("prepare get");
    s.Bind(1, name);
    s.Bind(2, version);
    int rc = s.Step();
    if (rc == SQLITE_DONE) return MakeError(Errc::kNotFound, std::string(name));
    if (rc != SQLITE_ROW) return DbError("get function");
    return Decode(s.Text(0));
  }

  Result<std::vector<FunctionConfig>> Rows(Stmt& s) {
    std::vector<FunctionConfig> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      auto f = Decode(s.Text(0));
      if (!f) return f.error();
      out.push_back(std::move(f.value()));
    }
    if (rc != SQLITE_DONE) return DbError("read functions");
    return out;
  }

  static void BindAlias(Stmt& s, const AliasConfig& a) {
    s.Bind(1, a.function);
    s.Bind(2, a.name);
    s.Bind(3, a.function_version);
    s.Bind(4, a.additional_version);
    s.Bind(5, a.revision_id);
    s.Bind(6, DumpJson(AliasJson(a)));
  }

  static AliasConfig AliasFromRow(Stmt& s) {
    AliasConfig a;
    a.function = s.Text(0);
    a.name = s.Text(1);
    a.function_version = s.Text(2);
    a.additional_version = s.Text(3);
    a.revision_id = s.Text(4);
    auto j = ParseJson(s.Text(5), kApiJsonDepth);
    if (j && j->is_object()) {
      a.description = j->value("description", "");
      a.additional_weight = j->value("additional_weight", 0.0);
    }
    return a;
  }

  Result<AliasConfig> GetAliasLocked(std::string_view function, std::string_view alias) {
    Stmt s(db_, std::string(kAliasSelect).append(" WHERE function=? AND name=?").c_str());
    s.Bind(1, function);
    s.Bind(2, alias);
    int rc = s.Step();
    if (rc == SQLITE_DONE) return MakeError(Errc::kNotFound, std::string(alias));
    if (rc != SQLITE_ROW) return DbError("get alias");
    return AliasFromRow(s);
  }

  std::mutex mu_;  // one connection shared by the blocking pool's threads
  sqlite3* db_;
  std::shared_ptr<const SecretBox> secrets_;
};

}  // namespace

Result<std::unique_ptr<MetadataStore>> OpenSqliteStore(const std::string& path,
                                                       std::shared_ptr<const SecretBox> secrets) {
  return sqlite::OpenStore<MetadataStore, SqliteStore>(path, std::move(secrets));
}

}  // namespace alto
