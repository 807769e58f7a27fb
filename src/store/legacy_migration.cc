// Before the state core, functions lived in SQLite tables of their own (functions,
// function_version_seq, aliases, function_tags, function_urls, provisioned_concurrency). A data dir
// written then is moved into the state core at the first start of this build, so users upgrading
// lose nothing.
#include <sqlite3.h>

#include <map>
#include <nlohmann/json.hpp>

#include "common/json.h"
#include "state/state.h"
#include "store/sqlite_util.h"
#include "store/store.h"

namespace alto {
namespace {

using sqlite::Stmt;
using state::Op;

struct LegacyFunction {
  std::string latest;                       // $LATEST's stored text
  std::map<int64_t, std::string> versions;  // number -> stored text (same format as now)
  int64_t last_version = 0;                 // function_version_seq
  std::map<std::string, nlohmann::json> aliases;
  std::map<std::string, std::string> tags;
  std::map<std::string, std::string> urls;            // qualifier ("" unqualified) -> stored text
  std::map<std::string, nlohmann::json> provisioned;  // qualifier -> config
};

bool TableExists(sqlite3* db, const char* name) {
  Stmt s(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?");
  s.Bind(1, name);
  return s.Step() == SQLITE_ROW;
}

Result<std::map<std::string, LegacyFunction>> ReadLegacy(sqlite3* db) {
  std::map<std::string, LegacyFunction> out;
  {
    Stmt s(db, "SELECT name, version, config FROM functions");
    if (!s.ok()) return sqlite::DbError(db, "read legacy functions");
    while (s.Step() == SQLITE_ROW) {
      auto& f = out[s.Text(0)];
      std::string version = s.Text(1);
      if (version == "$LATEST") {
        f.latest = s.Text(2);
      } else {
        f.versions[std::stoll(version)] = s.Text(2);
      }
    }
  }
  if (TableExists(db, "function_version_seq")) {
    Stmt s(db, "SELECT name, last FROM function_version_seq");
    while (s.Step() == SQLITE_ROW) out[s.Text(0)].last_version = s.Int(1);
  }
  if (TableExists(db, "aliases")) {
    Stmt s(db,
           "SELECT function, name, function_version, additional_version, revision, config "
           "FROM aliases");
    while (s.Step() == SQLITE_ROW) {
      auto extra = ParseJson(s.Text(5), kApiJsonDepth);
      nlohmann::json a = {{"function", s.Text(0)},         {"name", s.Text(1)},
                          {"function_version", s.Text(2)}, {"additional_version", s.Text(3)},
                          {"revision_id", s.Text(4)},      {"description", ""},
                          {"additional_weight", 0.0}};
      if (extra && extra->is_object()) {
        a["description"] = extra->value("description", "");
        a["additional_weight"] = extra->value("additional_weight", 0.0);
      }
      out[s.Text(0)].aliases[s.Text(1)] = std::move(a);
    }
  }
  if (TableExists(db, "function_tags")) {
    Stmt s(db, "SELECT function, key, value FROM function_tags");
    while (s.Step() == SQLITE_ROW) out[s.Text(0)].tags[s.Text(1)] = s.Text(2);
  }
  if (TableExists(db, "function_urls")) {
    Stmt s(db, "SELECT function, qualifier, config FROM function_urls");
    while (s.Step() == SQLITE_ROW) out[s.Text(0)].urls[s.Text(1)] = s.Text(2);
  }
  if (TableExists(db, "provisioned_concurrency")) {
    Stmt s(db,
           "SELECT function, qualifier, requested, last_modified_ms FROM provisioned_concurrency");
    while (s.Step() == SQLITE_ROW) {
      out[s.Text(0)].provisioned[s.Text(1)] = {{"function", s.Text(0)},
                                               {"qualifier", s.Text(1)},
                                               {"requested", s.Int(2)},
                                               {"last_modified_ms", s.Int(3)}};
    }
  }
  // Rows of functions whose $LATEST is gone cannot be reached by any API: leave them behind.
  std::erase_if(out, [](const auto& kv) { return kv.second.latest.empty(); });
  return out;
}

// Writes one function. $LATEST goes last, in the final transaction: until it is there the
// function does not exist, and a rerun writes everything again.
Status WriteFunction(state::StateStore& state, const std::string& account, const std::string& name,
                     const LegacyFunction& f) {
  const std::string base = "/acct/" + account + "/";
  const std::string sub = base + "fn/" + name + "/";
  const std::string latest_key = base + "functions/" + name;
  auto existing = state.Get(latest_key);
  if (existing) return {};  // moved by an earlier, interrupted run
  if (existing.error().code != Errc::kNotFound) return existing.error();

  std::vector<Op> ops;
  auto flush = [&]() -> Status {
    if (ops.empty()) return {};
    auto r = state.Txn({}, ops);
    ops.clear();
    if (!r) return r.error();
    return {};
  };
  auto add = [&](Op op) -> Status {
    ops.push_back(std::move(op));
    if (ops.size() + 1 >= state::kMaxTxnOps) return flush();
    return {};
  };
  int64_t last = f.last_version;
  for (const auto& [number, text] : f.versions) {
    std::string digits = std::to_string(number);
    digits.insert(0, digits.size() < 10 ? 10 - digits.size() : 0, '0');
    if (auto st = add(Op::Put(sub + "v/" + digits, text)); !st) return st;
    last = std::max(last, number);
  }
  if (last > 0) {
    if (auto st = add(Op::Put(sub + "seq", std::to_string(last))); !st) return st;
  }
  for (const auto& [alias, json] : f.aliases) {
    if (auto st = add(Op::Put(sub + "alias/" + alias, DumpJson(json))); !st) return st;
  }
  if (!f.aliases.empty()) {
    if (auto st = add(Op::Put(sub + "alias-index", "")); !st) return st;
  }
  if (!f.tags.empty()) {
    if (auto st = add(Op::Put(sub + "tags", DumpJson(nlohmann::json(f.tags)))); !st) return st;
  }
  for (const auto& [qualifier, text] : f.urls) {
    const std::string part = qualifier.empty() ? std::string("$LATEST") : qualifier;
    if (auto st = add(Op::Put(sub + "url/" + part, text)); !st) return st;
  }
  for (const auto& [qualifier, json] : f.provisioned) {
    if (auto st = add(Op::Put(sub + "provisioned/" + qualifier, DumpJson(json))); !st) return st;
  }
  ops.push_back(Op::Put(latest_key, f.latest));
  return flush();
}

}  // namespace

Result<int> MigrateLegacyFunctionTables(const std::string& db_path, state::StateStore& state,
                                        const std::string& account) {
  auto db = sqlite::Open(db_path);
  if (!db) return db.error();
  std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> owner(*db, sqlite3_close_v2);
  if (!TableExists(*db, "functions")) return 0;
  auto legacy = ReadLegacy(*db);
  if (!legacy) return legacy.error();
  for (const auto& [name, f] : *legacy) {
    if (auto st = WriteFunction(state, account, name, f); !st) {
      return MakeError(st.error().code,
                       "moving function " + name + " into the state core: " + st.error().message);
    }
  }
  // Everything is in the state core (durably: each Txn is): the old tables can go.
  if (auto st = sqlite::Exec(*db,
                             "BEGIN IMMEDIATE;"
                             "DROP TABLE IF EXISTS functions;"
                             "DROP TABLE IF EXISTS function_version_seq;"
                             "DROP TABLE IF EXISTS aliases;"
                             "DROP TABLE IF EXISTS function_tags;"
                             "DROP TABLE IF EXISTS function_urls;"
                             "DROP TABLE IF EXISTS provisioned_concurrency;"
                             "COMMIT;");
      !st) {
    (void)sqlite::Exec(*db, "ROLLBACK");
    return st.error();
  }
  return static_cast<int>(legacy->size());
}

}  // namespace alto
