// Before the state core, accounts and access keys lived in SQLite tables of their own (accounts,
// access_keys, in alto.db). A data dir written then is moved into the state core at the first
// start of this build, so users upgrading keep their keys. The key layout is key_store.cc's.
#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "auth/key_store.h"
#include "common/encoding.h"
#include "common/json.h"
#include "state/state.h"
#include "store/sqlite_util.h"

namespace alto::auth {
namespace {

using sqlite::Stmt;
using state::Compare;
using state::Op;

bool TableExists(sqlite3* db, const char* name) {
  Stmt s(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?");
  s.Bind(1, name);
  return s.Step() == SQLITE_ROW;
}

// Writes `key` = `value` (and `extra`) unless `key` exists. Returns whether it wrote.
Result<bool> PutIfAbsent(state::StateStore& state, const std::string& key, std::string value,
                         std::vector<Compare> compares = {}, std::vector<Op> extra = {}) {
  compares.push_back(Compare{key, 0});
  extra.push_back(Op::Put(key, std::move(value)));
  auto r = state.Txn(compares, extra);
  if (!r) return r.error();
  return r->succeeded;
}

Result<int> MoveAccounts(sqlite3* db, state::StateStore& state) {
  Stmt s(db, "SELECT id, name, created_ms FROM accounts");
  if (!s.ok()) return sqlite::DbError(db, "read legacy accounts");
  int moved = 0;
  while (s.Step() == SQLITE_ROW) {
    const std::string id = s.Text(0), name = s.Text(1);
    const std::string name_key = "/account-names/" + name;
    auto wrote = PutIfAbsent(state, "/accounts/" + id,
                             DumpJson({{"id", id}, {"name", name}, {"created_ms", s.Int(2)}}),
                             {Compare{name_key, 0}}, {Op::Put(name_key, id)});
    if (!wrote) return wrote.error();
    if (*wrote) {
      ++moved;
      continue;
    }
    // Moved by an earlier, interrupted run; or the name is another account's, which the old
    // table's UNIQUE constraint rules out unless the state was written to meanwhile.
    auto owner = state.Get(name_key);
    if (!owner) return owner.error();
    if (owner->value != id) {
      return MakeError(Errc::kConflict, "account " + id + ": its name " + name +
                                            " is taken in the state by account " + owner->value);
    }
  }
  return moved;
}

Result<int> MoveKeys(sqlite3* db, state::StateStore& state) {
  Stmt s(db,
         "SELECT id, account, secret, active, policy, description, created_ms FROM access_keys");
  if (!s.ok()) return sqlite::DbError(db, "read legacy access keys");
  int moved = 0;
  while (s.Step() == SQLITE_ROW) {
    // The sealed secret moves as it is: its additional data names the key id, which stays.
    nlohmann::json record = {{"account", s.Text(1)},     {"secret", Base64Encode(s.Text(2))},
                             {"active", s.Int(3) != 0},  {"policy", s.Text(4)},
                             {"description", s.Text(5)}, {"created_ms", s.Int(6)}};
    auto wrote = PutIfAbsent(state, "/access-keys/" + s.Text(0), DumpJson(record));
    if (!wrote) return wrote.error();
    if (*wrote) ++moved;
  }
  return moved;
}

}  // namespace

Result<int> MigrateLegacyKeyTables(const std::string& db_path, state::StateStore& state) {
  auto db = sqlite::Open(db_path);
  if (!db) return db.error();
  std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> owner(*db, sqlite3_close_v2);
  const bool has_accounts = TableExists(*db, "accounts");
  const bool has_keys = TableExists(*db, "access_keys");
  if (!has_accounts && !has_keys) return 0;
  int moved = 0;
  if (has_accounts) {
    auto n = MoveAccounts(*db, state);
    if (!n)
      return MakeError(n.error().code, "moving accounts into the state core: " + n.error().message);
    moved += *n;
  }
  if (has_keys) {
    auto n = MoveKeys(*db, state);
    if (!n)
      return MakeError(n.error().code,
                       "moving access keys into the state core: " + n.error().message);
    moved += *n;
  }
  // Everything is in the state core (durably: each Txn is): the old tables can go.
  if (auto st = sqlite::Exec(*db,
                             "BEGIN IMMEDIATE;"
                             "DROP TABLE IF EXISTS access_keys;"
                             "DROP TABLE IF EXISTS accounts;"
                             "COMMIT;");
      !st) {
    (void)sqlite::Exec(*db, "ROLLBACK");
    return st.error();
  }
  return moved;
}

}  // namespace alto::auth
