// Accounts and their access keys. Secrets are kept sealed (SecretBox, the data dir's
// secret.key): SigV4 needs the plain secret on the server, so it is stored encrypted rather than
// hashed. They live in the state core, so every node of a cluster sees the same ones. Lookups on
// the request path are served from memory: every change goes to the state first and then to this
// node's memory, and a watch brings in the changes other nodes make, so a disabled or deleted key
// stops working with the next request here and, as soon as the watch delivers it, everywhere.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"

namespace alto {
class SecretBox;
}
namespace alto::state {
class StateStore;
}

namespace alto::auth {

struct Policy;

inline constexpr std::string_view kAdminAccountId = "000000000000";

struct AccessKey {
  std::string id;      // AKIA + 16 characters, or what ALTO_ADMIN_ACCESS_KEY_ID set
  std::string secret;  // plain, in memory only
  std::string account_id;
  bool active = true;
  std::string policy_json;  // empty: the account's administrator
  std::shared_ptr<const Policy> policy;
  std::string description;
  int64_t created_ms = 0;
};

struct Account {
  std::string id;  // 12 digits
  std::string name;
  int64_t created_ms = 0;
};

class KeyStore {
 public:
  virtual ~KeyStore() = default;
  // The key with this id, active or not; nullopt when unknown. Served from memory.
  virtual std::optional<AccessKey> Find(const std::string& id) const = 0;

  virtual Result<std::vector<Account>> ListAccounts() const = 0;
  virtual Result<Account> GetAccount(const std::string& id_or_name) const = 0;
  // A new account with a generated id. kConflict when the name is taken, kInvalidArgument when it
  // is not 1-64 of [A-Za-z0-9._-] with at least one non-digit (so it never reads as an id).
  virtual Result<Account> CreateAccount(const std::string& name) = 0;
  // Deletes an account (by id or name) and its keys in one transaction. Refused for the admin
  // account (kInvalidArgument) and for an account that still owns resources (kPreconditionFailed:
  // nothing under /acct/<id>/), so deleting an account never orphans a function.
  virtual Status DeleteAccount(const std::string& id_or_name) = 0;

  // A new key for an account; `policy_json` empty makes an administrator key. `id`/`secret`
  // empty: generated.
  virtual Result<AccessKey> CreateKey(const std::string& account_id, std::string policy_json,
                                      std::string description, std::string id = {},
                                      std::string secret = {}) = 0;
  virtual Result<std::vector<AccessKey>> ListKeys(const std::string& account_id) const = 0;
  virtual Status SetActive(const std::string& id, bool active) = 0;
  virtual Status DeleteKey(const std::string& id) = 0;
};

// Opens the store on the state core: loads every account and key, then watches for changes,
// applying them on `watch_executor` (the store must be destroyed before that executor's context).
// Creates the admin account when the state has none (kAdminAccountId: resources from before
// accounts existed already carry that id in their ARNs, so they become the admin account's
// without moving); nodes starting at once create it once. Fails when a stored secret does not
// open with `secrets` (another data dir's secret.key).
Result<std::unique_ptr<KeyStore>> OpenStateKeyStore(std::shared_ptr<state::StateStore> state,
                                                    std::shared_ptr<const SecretBox> secrets,
                                                    boost::asio::any_io_executor watch_executor,
                                                    int64_t now_ms);

// Moves the accounts and access keys from the SQLite tables that held them before the state core
// (in the database at db_path, if it has them) into `state`, sealed secrets as they are, then
// drops those tables. Idempotent: what is already in the state is skipped, so a crash in the
// middle is finished by the next start. Returns how many accounts and keys moved.
Result<int> MigrateLegacyKeyTables(const std::string& db_path, state::StateStore& state);

// Key ids and secrets as AWS shapes them: AKIA + 16 of [A-Z2-7]; 40 of [A-Za-z0-9/+].
std::string NewAccessKeyId();
std::string NewSecretAccessKey();
// What a client may send as a key id or secret (printable, no spaces or separators SigV4 uses).
bool ValidKeyId(std::string_view id);
bool ValidSecret(std::string_view secret);

}  // namespace alto::auth
