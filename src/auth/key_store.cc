// Accounts and access keys as keys of the state core, mirrored in memory for the request path:
//   /accounts/<id>            {"id", "name", "created_ms"}
//   /account-names/<name>     the account's id: written in the transaction that creates the
//                             account, comparing it absent, so names stay unique across nodes
//   /access-keys/<key id>     {"account", "secret" (sealed, base64), "active", "policy",
//                             "description", "created_ms"}
// A key's secret is sealed with the additional data "access-key:<id>", so a sealed secret copied
// onto another key id does not open. The store watches /accounts/ and /access-keys/ from the
// revision it loaded: changes other nodes make reach the mirror there, and this node's own writes
// reach it at once and again through the watch. Every mirrored entry remembers the revision it
// reflects and only a newer revision replaces it, so the watch never rolls back a local write
// that overtook it (a local delete leaves a tombstone until the watch has passed its revision).
#include "auth/key_store.h"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <unordered_map>

#include "auth/policy.h"
#include "common/encoding.h"
#include "common/json.h"
#include "state/state.h"
#include "store/secret_box.h"

namespace alto::auth {

namespace {

using state::Compare;
using state::Op;
using state::Revision;

constexpr std::string_view kAccountsPrefix = "/accounts/";
constexpr std::string_view kAccountNamesPrefix = "/account-names/";
constexpr std::string_view kKeysPrefix = "/access-keys/";
// Lost races retried before giving up; each retry means another writer committed meanwhile.
constexpr int kMaxAttempts = 32;

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

std::string AccountKey(std::string_view id) {
  return std::string(kAccountsPrefix) + std::string(id);
}
std::string AccountNameKey(std::string_view name) {
  return std::string(kAccountNamesPrefix) + std::string(name);
}
std::string KeyKey(std::string_view id) { return std::string(kKeysPrefix) + std::string(id); }

bool ValidAccountName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  bool all_digits =
      std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
  return !all_digits && ValidKeyId(name);  // the same alphabet as key ids
}

std::string EncodeAccount(const Account& a) {
  return DumpJson({{"id", a.id}, {"name", a.name}, {"created_ms", a.created_ms}});
}

Result<Account> DecodeAccount(std::string_view text) {
  auto j = ParseJson(text, kApiJsonDepth);
  if (!j || !j->is_object()) return MakeError(Errc::kInternal, "corrupt account record");
  Account a;
  a.id = j->value("id", "");
  a.name = j->value("name", "");
  a.created_ms = j->value("created_ms", int64_t{0});
  return a;
}

// The record of a key whose secret is sealed already (by CreateKey, or as the old tables held it).
std::string EncodeKeyRecord(const std::string& account, std::string_view sealed, bool active,
                            const std::string& policy_json, const std::string& description,
                            int64_t created_ms) {
  return DumpJson({{"account", account},
                   {"secret", Base64Encode(sealed)},
                   {"active", active},
                   {"policy", policy_json},
                   {"description", description},
                   {"created_ms", created_ms}});
}

Result<AccessKey> DecodeKey(const std::string& id, std::string_view text, const SecretBox& box) {
  auto j = ParseJson(text, kApiJsonDepth);
  if (!j || !j->is_object())
    return MakeError(Errc::kInternal, "access key " + id + ": corrupt record");
  AccessKey k;
  k.id = id;
  k.account_id = j->value("account", "");
  k.active = j->value("active", false);
  k.policy_json = j->value("policy", "");
  k.description = j->value("description", "");
  k.created_ms = j->value("created_ms", int64_t{0});
  auto sealed = Base64Decode(j->value("secret", ""));
  if (!sealed) return MakeError(Errc::kInternal, "access key " + id + ": corrupt sealed secret");
  auto plain = box.Open(*sealed, Aad(id));
  if (!plain)
    return MakeError(Errc::kInternal, "access key " + id +
                                          ": the secret does not open with this data "
                                          "directory's secret.key (" +
                                          plain.error().message +
                                          "); every node on one state needs the same "
                                          "secret.key: copy it from a node of this cluster "
                                          "into the data dir before the first start");
  k.secret = std::move(*plain);
  if (!k.policy_json.empty()) {
    auto p = ParsePolicy(k.policy_json, PolicyKind::kIdentity);
    // A stored policy that no longer parses denies everything rather than nothing.
    k.policy = p ? std::make_shared<const Policy>(std::move(*p)) : std::make_shared<const Policy>();
  }
  return k;
}

// What this node knows of one prefix: id -> value at a revision, or a tombstone (nullopt) for a
// local delete the watch has not passed yet. Not locked: the store's mutex guards it.
template <typename T>
class Mirror {
 public:
  struct Entry {
    std::optional<T> value;
    Revision revision = 0;
  };

  const T* Find(const std::string& id) const {
    auto it = entries_.find(id);
    return it == entries_.end() || !it->second.value ? nullptr : &*it->second.value;
  }
  template <typename F>
  void ForEach(F&& f) const {
    for (const auto& [id, e] : entries_) {
      if (e.value) f(*e.value);
    }
  }

  // The value of `id` as of `revision` (nullopt: deleted then), unless what is held is newer.
  // A delete from the watch leaves no tombstone: the watch delivers in order, so nothing older
  // about this id can follow it.
  void Apply(const std::string& id, std::optional<T> value, Revision revision, bool tombstone) {
    auto it = entries_.find(id);
    if (it != entries_.end() && it->second.revision >= revision) return;
    if (!value && !tombstone) {
      if (it != entries_.end()) entries_.erase(it);
      return;
    }
    entries_[id] = Entry{std::move(value), revision};
  }

  // The watch has delivered everything up to `revision`: tombstones at or before it are done.
  void Passed(Revision revision) {
    std::erase_if(entries_, [&](const auto& kv) {
      return !kv.second.value && kv.second.revision <= revision;
    });
  }

  // A resync: `fresh` is everything as of `revision`; only local writes made after it survive.
  void Replace(std::unordered_map<std::string, Entry> fresh, Revision revision) {
    for (auto& [id, e] : entries_) {
      if (e.revision > revision) fresh[id] = std::move(e);
    }
    entries_ = std::move(fresh);
    Passed(revision);
  }

 private:
  std::unordered_map<std::string, Entry> entries_;
};

class StateKeyStore final : public KeyStore {
 public:
  StateKeyStore(std::shared_ptr<state::StateStore> state, std::shared_ptr<const SecretBox> secrets,
                int64_t now_ms)
      : owner_(std::move(state)), state_(*owner_), secrets_(std::move(secrets)), now_ms_(now_ms) {}

  Status Init(const boost::asio::any_io_executor& executor) {
    if (auto st = EnsureAdminAccount(); !st) return st;
    auto accounts = state_.Range(kAccountsPrefix);
    if (!accounts) return accounts.error();
    auto keys = state_.Range(kKeysPrefix);
    if (!keys) return keys.error();
    {
      std::unique_lock lock(mu_);
      for (const auto& kv : accounts->kvs) {
        auto a = DecodeAccount(kv.value);
        if (!a) return a.error();
        accounts_.Apply(kv.key.substr(kAccountsPrefix.size()), std::move(*a), kv.mod_revision,
                        false);
      }
      for (const auto& kv : keys->kvs) {
        std::string id = kv.key.substr(kKeysPrefix.size());
        auto k = DecodeKey(id, kv.value, *secrets_);
        if (!k) return k.error();  // another secret.key: refuse to start rather than drop keys
        keys_.Apply(id, std::move(*k), kv.mod_revision, false);
      }
    }
    // Each watch starts right after the revision its range was read at: nothing is missed
    // between the load and the watch.
    auto account_watch =
        state_.Watch(std::string(kAccountsPrefix), accounts->revision + 1, executor,
                     [this](state::WatchBatch b) { OnAccounts(std::move(b)); });
    if (!account_watch) return account_watch.error();
    account_watch_ = std::move(*account_watch);
    auto key_watch = state_.Watch(std::string(kKeysPrefix), keys->revision + 1, executor,
                                  [this](state::WatchBatch b) { OnKeys(std::move(b)); });
    if (!key_watch) return key_watch.error();
    key_watch_ = std::move(*key_watch);
    return {};
  }

  std::optional<AccessKey> Find(const std::string& id) const override {
    std::shared_lock lock(mu_);
    const AccessKey* k = keys_.Find(id);
    // A key whose account is gone is no key (one created while its account was being deleted).
    if (!k || !accounts_.Find(k->account_id)) return std::nullopt;
    return *k;
  }

  Result<std::vector<Account>> ListAccounts() const override {
    std::vector<Account> out;
    {
      std::shared_lock lock(mu_);
      accounts_.ForEach([&](const Account& a) { out.push_back(a); });
    }
    std::sort(out.begin(), out.end(),
              [](const Account& a, const Account& b) { return a.id < b.id; });
    return out;
  }

  Result<Account> GetAccount(const std::string& id_or_name) const override {
    std::shared_lock lock(mu_);
    if (const Account* a = accounts_.Find(id_or_name)) return *a;
    std::optional<Account> named;
    accounts_.ForEach([&](const Account& a) {
      if (a.name == id_or_name) named = a;
    });
    if (named) return std::move(*named);
    return MakeError(Errc::kNotFound, "Account not found: " + id_or_name);
  }

  Result<Account> CreateAccount(const std::string& name) override {
    if (!ValidAccountName(name))
      return MakeError(Errc::kInvalidArgument,
                       "An account name is 1-64 characters of A-Z, a-z, 0-9, '_', '-' and '.', "
                       "not all digits");
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      Account a{RandomFrom("0123456789", 12), name, now_ms_};
      if (a.id == kAdminAccountId) continue;
      auto r = state_.Txn(
          {Compare{AccountKey(a.id), 0}, Compare{AccountNameKey(name), 0}},
          {Op::Put(AccountKey(a.id), EncodeAccount(a)), Op::Put(AccountNameKey(name), a.id)});
      if (!r) return r.error();
      if (r->succeeded) {
        std::unique_lock lock(mu_);
        accounts_.Apply(a.id, a, r->revision, false);
        return a;
      }
      auto taken = state_.Get(AccountNameKey(name));
      if (taken) return MakeError(Errc::kConflict, "An account named " + name + " already exists");
      if (taken.error().code != Errc::kNotFound) return taken.error();
      // Else the random id was taken: draw another.
    }
    return MakeError(Errc::kConflict, "Could not find a free account id; retry");
  }

  Status DeleteAccount(const std::string& id_or_name) override {
    auto account = GetAccount(id_or_name);
    if (!account) return account.error();
    if (account->id == kAdminAccountId)
      return MakeError(Errc::kInvalidArgument, "The admin account cannot be deleted");
    auto owned = state_.Range("/acct/" + account->id + "/", {}, 1);
    if (!owned) return owned.error();
    if (!owned->kvs.empty())
      return MakeError(Errc::kPreconditionFailed, "Account " + account->name + " (" + account->id +
                                                      ") still owns resources; delete them first");
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto kv = state_.Get(AccountKey(account->id));
      if (!kv) {
        if (kv.error().code == Errc::kNotFound)
          return MakeError(Errc::kNotFound, "Account not found: " + id_or_name);
        return kv.error();
      }
      auto keys = ListKeys(account->id);
      if (!keys) return keys.error();
      // Bounded by the transaction limit: an account with more keys deletes some first.
      if (keys->size() + 2 > state::kMaxTxnOps)
        return MakeError(Errc::kPreconditionFailed,
                         "Account " + account->name + " has " + std::to_string(keys->size()) +
                             " access keys; delete keys until it has at most " +
                             std::to_string(state::kMaxTxnOps - 2));
      std::vector<state::Op> ops{Op::Delete(AccountKey(account->id)),
                                 Op::Delete(AccountNameKey(account->name))};
      for (const auto& k : *keys) ops.push_back(Op::Delete(KeyKey(k.id)));
      auto r = state_.Txn({Compare{AccountKey(account->id), kv->mod_revision}}, std::move(ops));
      if (!r) return r.error();
      if (r->succeeded) {
        std::unique_lock lock(mu_);
        accounts_.Apply(account->id, std::nullopt, r->revision, true);
        for (const auto& k : *keys) keys_.Apply(k.id, std::nullopt, r->revision, true);
        return {};
      }
    }
    return MakeError(Errc::kConflict, "The account " + id_or_name + " is being changed; retry");
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
    const std::string record = EncodeKeyRecord(k.account_id, *sealed, k.active, k.policy_json,
                                               k.description, k.created_ms);
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      // The account must exist when the key is written: compare its revision.
      auto account = state_.Get(AccountKey(account_id));
      if (!account) {
        if (account.error().code == Errc::kNotFound)
          return MakeError(Errc::kNotFound, "Account not found: " + account_id);
        return account.error();
      }
      auto r = state_.Txn(
          {Compare{AccountKey(account_id), account->mod_revision}, Compare{KeyKey(k.id), 0}},
          {Op::Put(KeyKey(k.id), record)});
      if (!r) return r.error();
      if (r->succeeded) {
        std::unique_lock lock(mu_);
        keys_.Apply(k.id, k, r->revision, false);
        return k;
      }
      auto existing = state_.Get(KeyKey(k.id));
      if (existing)
        return MakeError(Errc::kConflict, "An access key with id " + k.id + " already exists");
      if (existing.error().code != Errc::kNotFound) return existing.error();
    }
    return MakeError(Errc::kConflict, "The account " + account_id + " is being changed; retry");
  }

  Result<std::vector<AccessKey>> ListKeys(const std::string& account_id) const override {
    std::vector<AccessKey> out;
    {
      std::shared_lock lock(mu_);
      keys_.ForEach([&](const AccessKey& k) {
        if (account_id.empty() || k.account_id == account_id) out.push_back(k);
      });
    }
    std::sort(out.begin(), out.end(), [](const AccessKey& a, const AccessKey& b) {
      return std::tie(a.created_ms, a.id) < std::tie(b.created_ms, b.id);
    });
    return out;
  }

  Status SetActive(const std::string& id, bool active) override {
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto kv = state_.Get(KeyKey(id));
      if (!kv) {
        if (kv.error().code == Errc::kNotFound)
          return MakeError(Errc::kNotFound, "Access key not found: " + id);
        return kv.error();
      }
      auto record = ParseJson(kv->value, kApiJsonDepth);
      if (!record || !record->is_object())
        return MakeError(Errc::kInternal, "access key " + id + ": corrupt record");
      (*record)["active"] = active;
      const std::string text = DumpJson(*record);
      auto k = DecodeKey(id, text, *secrets_);
      if (!k) return k.error();
      auto r = state_.Txn({Compare{KeyKey(id), kv->mod_revision}}, {Op::Put(KeyKey(id), text)});
      if (!r) return r.error();
      if (r->succeeded) {
        std::unique_lock lock(mu_);
        keys_.Apply(id, std::move(*k), r->revision, false);
        return {};
      }
    }
    return MakeError(Errc::kConflict, "The access key " + id + " is being changed; retry");
  }

  Status DeleteKey(const std::string& id) override {
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto kv = state_.Get(KeyKey(id));
      if (!kv) {
        if (kv.error().code == Errc::kNotFound)
          return MakeError(Errc::kNotFound, "Access key not found: " + id);
        return kv.error();
      }
      auto r = state_.Txn({Compare{KeyKey(id), kv->mod_revision}}, {Op::Delete(KeyKey(id))});
      if (!r) return r.error();
      if (r->succeeded) {
        std::unique_lock lock(mu_);
        keys_.Apply(id, std::nullopt, r->revision, true);
        return {};
      }
    }
    return MakeError(Errc::kConflict, "The access key " + id + " is being changed; retry");
  }

 private:
  // Both compares: nodes starting at once race here and exactly one transaction succeeds.
  Status EnsureAdminAccount() {
    const std::string id(kAdminAccountId);
    Account admin{id, "admin", now_ms_};
    auto r = state_.Txn(
        {Compare{AccountKey(id), 0}, Compare{AccountNameKey("admin"), 0}},
        {Op::Put(AccountKey(id), EncodeAccount(admin)), Op::Put(AccountNameKey("admin"), id)});
    if (!r) return r.error();
    if (r->succeeded) return {};
    auto existing = state_.Get(AccountKey(id));
    if (existing) return {};
    if (existing.error().code != Errc::kNotFound) return existing.error();
    return MakeError(Errc::kInternal,
                     "the account name admin belongs to another account than " + id);
  }

  void OnAccounts(state::WatchBatch batch) {
    if (batch.resync) {
      std::unordered_map<std::string, Mirror<Account>::Entry> fresh;
      for (auto& e : batch.events) {
        auto a = DecodeAccount(e.kv.value);
        if (!a) {
          spdlog::warn("key store: {}: {}", e.kv.key, a.error().message);
          continue;
        }
        fresh[e.kv.key.substr(kAccountsPrefix.size())] = {std::move(*a), e.kv.mod_revision};
      }
      std::unique_lock lock(mu_);
      accounts_.Replace(std::move(fresh), batch.revision);
      return;
    }
    std::unique_lock lock(mu_);
    for (auto& e : batch.events) {
      std::string id = e.kv.key.substr(kAccountsPrefix.size());
      std::optional<Account> a;
      if (e.type == state::Event::Type::kPut) {
        auto decoded = DecodeAccount(e.kv.value);
        if (!decoded) {
          spdlog::warn("key store: {}: {}", e.kv.key, decoded.error().message);
          continue;
        }
        a = std::move(*decoded);
      }
      accounts_.Apply(id, std::move(a), e.kv.mod_revision, false);
    }
    accounts_.Passed(batch.revision);
  }

  // Keys are decoded (their secrets opened) before the lock is taken: the request path reads
  // under it. A key that does not decode here is dropped, not kept at its old value: failing
  // closed is the safe side for credentials.
  void OnKeys(state::WatchBatch batch) {
    std::vector<std::tuple<std::string, std::optional<AccessKey>, Revision>> changes;
    changes.reserve(batch.events.size());
    for (auto& e : batch.events) {
      std::string id = e.kv.key.substr(kKeysPrefix.size());
      std::optional<AccessKey> k;
      if (e.type == state::Event::Type::kPut) {
        auto decoded = DecodeKey(id, e.kv.value, *secrets_);
        if (decoded) {
          k = std::move(*decoded);
        } else {
          spdlog::warn("key store: ignoring access key {}: {}", id, decoded.error().message);
        }
      }
      changes.emplace_back(std::move(id), std::move(k), e.kv.mod_revision);
    }
    std::unique_lock lock(mu_);
    if (batch.resync) {
      std::unordered_map<std::string, Mirror<AccessKey>::Entry> fresh;
      for (auto& [id, k, revision] : changes) {
        if (k) fresh[id] = {std::move(k), revision};
      }
      keys_.Replace(std::move(fresh), batch.revision);
      return;
    }
    for (auto& [id, k, revision] : changes) keys_.Apply(id, std::move(k), revision, false);
    keys_.Passed(batch.revision);
  }

  std::shared_ptr<state::StateStore> owner_;
  state::StateStore& state_;
  std::shared_ptr<const SecretBox> secrets_;
  int64_t now_ms_;
  mutable std::shared_mutex mu_;
  Mirror<Account> accounts_;
  Mirror<AccessKey> keys_;
  // Last, so they stop first: no callback runs once they are gone.
  std::unique_ptr<state::WatchHandle> account_watch_;
  std::unique_ptr<state::WatchHandle> key_watch_;
};

}  // namespace

Result<std::unique_ptr<KeyStore>> OpenStateKeyStore(std::shared_ptr<state::StateStore> state,
                                                    std::shared_ptr<const SecretBox> secrets,
                                                    boost::asio::any_io_executor watch_executor,
                                                    int64_t now_ms) {
  auto store = std::make_unique<StateKeyStore>(std::move(state), std::move(secrets), now_ms);
  if (auto st = store->Init(watch_executor); !st) return st.error();
  return std::unique_ptr<KeyStore>(std::move(store));
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
