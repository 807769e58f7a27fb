// Accounts and their access keys. Secrets are kept sealed (SecretBox, the data dir's
// secret.key): SigV4 needs the plain secret on the server, so it is stored encrypted rather than
// hashed. Lookups on the request path are served from memory; every change goes to SQLite first
// and then to memory, so a disabled or deleted key stops working with the next request.
#pragma once

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

  // A new key for an account; `policy_json` empty makes an administrator key. `id`/`secret`
  // empty: generated.
  virtual Result<AccessKey> CreateKey(const std::string& account_id, std::string policy_json,
                                      std::string description, std::string id = {},
                                      std::string secret = {}) = 0;
  virtual Result<std::vector<AccessKey>> ListKeys(const std::string& account_id) const = 0;
  virtual Status SetActive(const std::string& id, bool active) = 0;
  virtual Status DeleteKey(const std::string& id) = 0;
};

// Opens (creating the tables) the store in the SQLite file at `path`. On the first start it
// creates the admin account (kAdminAccountId: resources from before accounts existed already
// carry that id in their ARNs, so they become the admin account's without moving).
Result<std::unique_ptr<KeyStore>> OpenSqliteKeyStore(const std::string& path,
                                                     std::shared_ptr<const SecretBox> secrets,
                                                     int64_t now_ms);

// Key ids and secrets as AWS shapes them: AKIA + 16 of [A-Z2-7]; 40 of [A-Za-z0-9/+].
std::string NewAccessKeyId();
std::string NewSecretAccessKey();
// What a client may send as a key id or secret (printable, no spaces or separators SigV4 uses).
bool ValidKeyId(std::string_view id);
bool ValidSecret(std::string_view secret);

}  // namespace alto::auth
