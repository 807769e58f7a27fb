// SQLite-backed accounts and access keys: its own connection to alto.db (WAL), a copy of every
// key in memory for the request path.
#include "auth/key_store.h"

#include <openssl/rand.h>
#include <sqlite3.h>

#include <algorithm>
#include <mutex>

#include "auth/policy.h"
#include "store/secret_box.h"
#include "store/sqlite_util.h"

namespace alto::auth {

namespace {

using sqlite::Stmt;

std::string RandomFrom(std::string_view alphabet, size_t n) {
  std::string out(n, '\0');
  unsigned char buf[64];
  for (size_t i = 0; i < n;) {
    if (RAND_bytes(buf, sizeof buf) != 1) throw std::runtime_error("RAND_bytes failed");
    for (unsigned char b : buf) {
      // Rejection sampling keeps every character equally likely.
      if (b >= 256 - (256 % alphabet.size())) continue;
      out[i++] = alphabet[b % alphabet.size()];
      if (i == n) break;
    }
  }
  return out;
}

std::string Aad(const std::string& key_id) { return "access-key:" + key_id; }

class SqliteKeyStore final : public KeyStore {
 public:
  SqliteKeyStore(sqlite3* db, std::shared_ptr<const SecretBox> secrets, int64_t now_ms)
      : db_(db), secrets_(std::move(secrets)), now_ms_(now_ms) {}
  ~SqliteKeyStore() override { sqlite3_close_v2(db_); }

  Status Init() {
    if (auto st = sqlite::Exec(db_,
                               "CREATE TABLE IF NOT EXISTS accounts ("
                               "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
                               "  created_ms INTEGER NOT NULL);"
                               "CREATE TABLE IF NOT EXISTS access_keys ("
                               "  id TEXT PRIMARY KEY, account TEXT NOT NULL,"
                               "  secret BLOB NOT NULL, active INTEGER NOT NULL,"
                               "  policy TEXT NOT NULL, description TEXT NOT NULL,"
                               "  created_ms INTEGER NOT NULL);");
        !st)
      return st;
    Stmt ins(db_, "INSERT OR IGNORE INTO accounts(id, name, created_ms) VALUES(?,'admin',?)");
    if (!ins.ok()) return sqlite::DbError(db_, "prepare insert account");
    ins.Bind(1, kAdminAccountId);
    ins.Bind(2, now_ms_);
    if (ins.Step() != SQLITE_DONE) return sqlite::DbError(db_, "insert admin account");
    return LoadKeys();
  }

  std::optional<AccessKey> Find(const std::string& id) const override {
    std::shared_lock lock(cache_mu_);
    auto it = keys_.find(id);
    if (it == keys_.end()) return std::nullopt;
    return it->second;
  }

  Result<std::vector<Account>> ListAccounts() const override {
    std::lock_guard lock(db_mu_);
    Stmt s(db_, "SELECT id, name, created_ms FROM accounts ORDER BY id");
    if (!s.ok()) return sqlite::DbError(db_, "prepare list accounts");
    std::vector<Account> out;
    while (s.Step() == SQLITE_ROW) out.push_back({s.Text(0), s.Text(1), s.Int(2)});
    return out;
  }

  Result<Account> GetAccount(const std::string& id_or_name) const override {
    std::lock_guard lock(db_mu_);
    Stmt s(db_, "SELECT id, name, created_ms FROM accounts WHERE id = ?1 OR name = ?1");
    if (!s.ok()) return sqlite::DbError(db_, "prepare get account");
    s.Bind(1, id_or_name);
    if (s.Step() != SQLITE_ROW)
      return MakeError(Errc::kNotFound, "Account not found: " + id_or_name);
    return Account{s.Text(0), s.Text(1), s.Int(2)};
  }

  Result<AccessKey> CreateKey(const std::string& account_id, std::string policy_json,
                              std::string description, std::string id,
                              std::string secret) override {
    AccessKey k;
    k.id = id.empty() ? NewAccessKeyId() : std::move(id);
    k.secret = secret.empty() ? NewSecretAccessKey() : std::move(secret);
    if (!ValidKeyId(k.id))
      return MakeError(Errc::kInvalidArgument,
                       "An access key id is 1-128 characters of A-Z, a-z, 0-9, '_', '-' and '.'");
    if (!ValidSecret(k.secret))
      return MakeError(Errc::kInvalidArgument,
                       "A secret access key is 1-128 printable ASCII characters without spaces");
    k.account_id = account_id;
    k.active = true;
    k.description = std::move(description);
    k.created_ms = now_ms_;
    if (!policy_json.empty()) {
      auto p = ParsePolicy(policy_json, PolicyKind::kIdentity);
      if (!p) return p.error();
      k.policy = std::make_shared<const Policy>(std::move(*p));
      k.policy_json = std::move(policy_json);
    }
    auto sealed = secrets_->Seal(k.secret, Aad(k.id));
    if (!sealed) return sealed.error();
    {
      std::lock_guard lock(db_mu_);
      Stmt acct(db_, "SELECT 1 FROM accounts WHERE id = ?");
      if (!acct.ok()) return sqlite::DbError(db_, "prepare account check");
      acct.Bind(1, account_id);
      if (acct.Step() != SQLITE_ROW)
        return MakeError(Errc::kNotFound, "Account not found: " + account_id);
      Stmt s(db_,
             "INSERT INTO access_keys(id, account, secret, active, policy, description, "
             "created_ms) VALUES(?,?,?,1,?,?,?)");
      if (!s.ok()) return sqlite::DbError(db_, "prepare insert key");
      s.Bind(1, k.id);
      s.Bind(2, k.account_id);
      s.BindBlob(3, *sealed);
      s.Bind(4, k.policy_json);
      s.Bind(5, k.description);
      s.Bind(6, k.created_ms);
      int rc = s.Step();
      if (rc == SQLITE_CONSTRAINT)
        return MakeError(Errc::kConflict, "An access key with id " + k.id + " already exists");
      if (rc != SQLITE_DONE) return sqlite::DbError(db_, "insert key");
    }
    std::unique_lock lock(cache_mu_);
    keys_[k.id] = k;
    return k;
  }

  Result<std::vector<AccessKey>> ListKeys(const std::string& account_id) const override {
    std::shared_lock lock(cache_mu_);
    std::vector<AccessKey> out;
    for (const auto& [id, k] : keys_) {
      if (account_id.empty() || k.account_id == account_id) out.push_back(k);
    }
    std::sort(out.begin(), out.end(), [](const AccessKey& a, const AccessKey& b) {
      return std::tie(a.created_ms, a.id) < std::tie(b.created_ms, b.id);
    });
    return out;
  }

  Status SetActive(const std::string& id, bool active) override {
    {
      std::lock_guard lock(db_mu_);
      Stmt s(db_, "UPDATE access_keys SET active = ? WHERE id = ?");
      if (!s.ok()) return sqlite::DbError(db_, "prepare update key");
      s.Bind(1, int64_t{active ? 1 : 0});
      s.Bind(2, id);
      if (s.Step() != SQLITE_DONE) return sqlite::DbError(db_, "update key");
      if (sqlite3_changes(db_) == 0)
        return MakeError(Errc::kNotFound, "Access key not found: " + id);
    }
    std::unique_lock lock(cache_mu_);
    if (auto it = keys_.find(id); it != keys_.end()) it->second.active = active;
    return {};
  }

  Status DeleteKey(const std::string& id) override {
    {
      std::lock_guard lock(db_mu_);
      Stmt s(db_, "DELETE FROM access_keys WHERE id = ?");
      if (!s.ok()) return sqlite::DbError(db_, "prepare delete key");
      s.Bind(1, id);
      if (s.Step() != SQLITE_DONE) return sqlite::DbError(db_, "delete key");
      if (sqlite3_changes(db_) == 0)
        return MakeError(Errc::kNotFound, "Access key not found: " + id);
    }
    std::unique_lock lock(cache_mu_);
    keys_.erase(id);
    return {};
  }

 private:
  Status LoadKeys() {
    Stmt s(db_,
           "SELECT id, account, secret, active, policy, description, created_ms FROM access_keys");
    if (!s.ok()) return sqlite::DbError(db_, "prepare load keys");
    std::unordered_map<std::string, AccessKey> keys;
    while (s.Step() == SQLITE_ROW) {
      AccessKey k;
      k.id = s.Text(0);
      k.account_id = s.Text(1);
      auto plain = secrets_->Open(s.Text(2), Aad(k.id));
      if (!plain)
        return MakeError(Errc::kInternal, "access key " + k.id +
                                              ": the secret does not open with this data "
                                              "directory's secret.key: " +
                                              plain.error().message);
      k.secret = std::move(*plain);
      k.active = s.Int(3) != 0;
      k.policy_json = s.Text(4);
      k.description = s.Text(5);
      k.created_ms = s.Int(6);
      if (!k.policy_json.empty()) {
        auto p = ParsePolicy(k.policy_json, PolicyKind::kIdentity);
        // A stored policy that no longer parses denies everything rather than nothing.
        k.policy =
            p ? std::make_shared<const Policy>(std::move(*p)) : std::make_shared<const Policy>();
      }
      keys.emplace(k.id, std::move(k));
    }
    std::unique_lock lock(cache_mu_);
    keys_ = std::move(keys);
    return {};
  }

  sqlite3* db_;
  std::shared_ptr<const SecretBox> secrets_;
  int64_t now_ms_;
  mutable std::mutex db_mu_;
  mutable std::shared_mutex cache_mu_;
  std::unordered_map<std::string, AccessKey> keys_;
};

}  // namespace

Result<std::unique_ptr<KeyStore>> OpenSqliteKeyStore(const std::string& path,
                                                     std::shared_ptr<const SecretBox> secrets,
                                                     int64_t now_ms) {
  return sqlite::OpenStore<KeyStore, SqliteKeyStore>(path, std::move(secrets), now_ms);
}

std::string NewAccessKeyId() { return "AKIA" + RandomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16); }

std::string NewSecretAccessKey() {
  return RandomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+", 40);
}

bool ValidKeyId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

bool ValidSecret(std::string_view secret) {
  if (secret.empty() || secret.size() > 128) return false;
  return std::all_of(secret.begin(), secret.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

}  // namespace alto::auth
