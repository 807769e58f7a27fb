// Functions, versions, aliases and tags as keys of the state core, so they live on SQLite or etcd
// alike and every change is one transaction that watchers see. Keys, under the account's prefix
// A = /acct/<account>/:
//   A functions/<name>             $LATEST (its presence is the function's existence)
//   A fn/<name>/v/<%010d>          a published version (zero-padded so key order is numeric order)
//   A fn/<name>/seq                the last version number given out: numbers are never reused
//   A fn/<name>/alias/<alias>      an alias
//   A fn/<name>/alias-index        rewritten on every alias change, so that DeleteVersion's check
//                                  "no alias points here" is a compare on one key
//   A fn/<name>/tags               the tags, one JSON object
//   A fn/<name>/policy/<qualifier> the resource-based policy of the function ("$LATEST") or of
//                                  one version or alias: {"policy": document, "revision_id"}
// Whatever else belongs to the function goes under A fn/<name>/ too: DeleteFunction is one
// transaction that deletes $LATEST and that whole prefix, leaving nothing behind at any crash
// point. Every read-modify-write is optimistic: read, compute, Txn comparing the mod revisions
// read, retry on a lost race.
#include <nlohmann/json.hpp>

#include "common/json.h"
#include "state/state.h"
#include "store/function_codec.h"
#include "store/store.h"

namespace alto {
namespace {

using state::Compare;
using state::KeyValue;
using state::Op;
using state::Revision;

constexpr const char* kLatest = "$LATEST";
// Lost races retried before giving up; each retry means another writer committed meanwhile.
constexpr int kMaxAttempts = 32;

Error Busy(std::string_view name) {
  return MakeError(Errc::kConflict, "The function " + std::string(name) +
                                        " is being changed by other requests; retry");
}

std::string VersionKeyPart(std::string_view version) {
  std::string digits(version);
  if (digits.size() < 10) digits.insert(0, 10 - digits.size(), '0');
  return digits;
}

nlohmann::json AliasJson(const AliasConfig& a) {
  return {{"function", a.function},
          {"name", a.name},
          {"function_version", a.function_version},
          {"description", a.description},
          {"additional_version", a.additional_version},
          {"additional_weight", a.additional_weight},
          {"revision_id", a.revision_id}};
}

Result<AliasConfig> AliasFrom(const std::string& text) {
  auto j = ParseJson(text, kApiJsonDepth);
  if (!j || !j->is_object()) return MakeError(Errc::kInternal, "corrupt alias record");
  AliasConfig a;
  a.function = j->value("function", "");
  a.name = j->value("name", "");
  a.function_version = j->value("function_version", "");
  a.description = j->value("description", "");
  a.additional_version = j->value("additional_version", "");
  a.additional_weight = j->value("additional_weight", 0.0);
  a.revision_id = j->value("revision_id", "");
  return a;
}

Result<FunctionTags> TagsFrom(const std::string& text) {
  auto j = ParseJson(text, kApiJsonDepth);
  if (!j || !j->is_object()) return MakeError(Errc::kInternal, "corrupt tags record");
  FunctionTags tags;
  for (const auto& [k, v] : j->items()) {
    if (v.is_string()) tags[k] = v.get<std::string>();
  }
  return tags;
}

// A key's mod revision, 0 when absent (what a Compare on absence expects).
Result<Revision> ModRevision(state::StateStore& s, const std::string& key) {
  auto kv = s.Get(key);
  if (kv) return kv->mod_revision;
  if (kv.error().code == Errc::kNotFound) return Revision{0};
  return kv.error();
}

class StateFunctionStore final : public MetadataStore {
 public:
  StateFunctionStore(std::shared_ptr<state::StateStore> state, std::string account,
                     std::shared_ptr<const SecretBox> secrets)
      : owner_(std::move(state)),
        state_(*owner_),
        prefix_("/acct/" + account + "/"),
        secrets_(std::move(secrets)) {}

  Status CreateFunction(const FunctionConfig& f, const FunctionTags& tags) override {
    auto text = EncodeFunction(f, secrets_.get());
    if (!text) return text.error();
    // Nothing is left under Sub(name) from an earlier function of this name: DeleteFunction removes
    // it in the transaction that removes $LATEST, and every other write compares $LATEST. (etcd
    // would refuse clearing it here anyway: a transaction may not write a key twice.)
    std::vector<Op> ops{Op::Put(LatestKey(f.name), *text)};
    if (!tags.empty()) ops.push_back(Op::Put(Sub(f.name) + "tags", DumpJson(nlohmann::json(tags))));
    auto r = state_.Txn({Compare{LatestKey(f.name), 0}}, ops);
    if (!r) return r.error();
    if (!r->succeeded) return MakeError(Errc::kConflict, "Function already exist: " + f.name);
    return {};
  }

  Status UpdateFunction(const FunctionConfig& f, std::string_view expected_revision) override {
    auto text = EncodeFunction(f, secrets_.get());
    if (!text) return text.error();
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto current = ReadLatest(f.name);
      if (!current) return current.error();
      if (current->second.revision_id != expected_revision) {
        return MakeError(Errc::kConflict, "The function " + f.name +
                                              " was changed by another request; retry the update");
      }
      auto r = state_.Txn({Compare{LatestKey(f.name), current->first}},
                          {Op::Put(LatestKey(f.name), *text)});
      if (!r) return r.error();
      if (r->succeeded) return {};
    }
    return Busy(f.name);
  }

  Result<FunctionConfig> GetFunction(std::string_view name) override {
    return GetFunctionVersion(name, kLatest);
  }

  Result<FunctionConfig> GetFunctionVersion(std::string_view name,
                                            std::string_view version) override {
    auto kv = state_.Get(version == kLatest ? LatestKey(name) : VersionKey(name, version));
    if (!kv) {
      if (kv.error().code == Errc::kNotFound) return MakeError(Errc::kNotFound, std::string(name));
      return kv.error();
    }
    return DecodeFunction(kv->value, secrets_.get());
  }

  Result<std::vector<FunctionConfig>> ListFunctions(std::string_view after, size_t limit) override {
    const std::string base = prefix_ + "functions/";
    auto range =
        state_.Range(base, after.empty() ? std::string() : base + std::string(after), limit);
    if (!range) return range.error();
    return DecodeAll(range->kvs);
  }

  Status DeleteFunction(std::string_view name) override {
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto rev = ModRevision(state_, LatestKey(name));
      if (!rev) return rev.error();
      if (*rev == 0) return MakeError(Errc::kNotFound, std::string(name));
      auto r = state_.Txn({Compare{LatestKey(name), *rev}},
                          {Op::Delete(LatestKey(name)), Op::DeletePrefix(Sub(name))});
      if (!r) return r.error();
      if (r->succeeded) return {};
    }
    return Busy(name);
  }

  Result<FunctionTags> ListTags(std::string_view function) override {
    auto tags = ReadTags(function);
    if (!tags) return tags.error();
    return std::move(tags->tags);
  }

  Status ChangeTags(std::string_view function, const FunctionTags& set,
                    const std::vector<std::string>& remove,
                    const std::function<Status(const FunctionTags&)>& check) override {
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto current = ReadTags(function);
      if (!current) return current.error();
      FunctionTags tags = std::move(current->tags);
      for (const auto& [k, v] : set) tags[k] = v;
      for (const auto& k : remove) tags.erase(k);
      if (check) {
        if (auto st = check(tags); !st) return st;
      }
      const std::string key = Sub(function) + "tags";
      Op write = tags.empty() ? Op::Delete(key) : Op::Put(key, DumpJson(nlohmann::json(tags)));
      // The function must still exist: compare its $LATEST too (an update races harmlessly into
      // a retry).
      auto r = state_.Txn({Compare{LatestKey(function), current->latest_revision},
                           Compare{key, current->tags_revision}},
                          {write});
      if (!r) return r.error();
      if (r->succeeded) return {};
    }
    return Busy(function);
  }

  Result<FunctionConfig> PublishVersion(const FunctionConfig& snapshot,
                                        std::string_view latest_revision) override {
    const std::string& name = snapshot.name;
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto latest = ReadLatest(name);
      if (!latest) return latest.error();
      if (latest->second.revision_id != latest_revision) {
        return MakeError(Errc::kConflict,
                         "The function " + name + " was changed by another request; retry");
      }
      auto versions = state_.Range(Sub(name) + "v/");
      if (!versions) return versions.error();
      if (!versions->kvs.empty()) {
        auto newest = DecodeFunction(versions->kvs.back().value, secrets_.get());
        if (!newest) return newest.error();
        if (SameCodeAndConfig(*newest, snapshot)) return newest;
      }
      const std::string seq_key = Sub(name) + "seq";
      int64_t last = 0;
      Revision seq_revision = 0;
      if (auto seq = state_.Get(seq_key); seq) {
        last = std::stoll(seq->value);
        seq_revision = seq->mod_revision;
      } else if (seq.error().code != Errc::kNotFound) {
        return seq.error();
      }
      FunctionConfig v = snapshot;
      v.version = std::to_string(last + 1);
      auto text = EncodeFunction(v, secrets_.get());
      if (!text) return text.error();
      auto r =
          state_.Txn({Compare{LatestKey(name), latest->first}, Compare{seq_key, seq_revision}},
                     {Op::Put(VersionKey(name, v.version), *text), Op::Put(seq_key, v.version)});
      if (!r) return r.error();
      if (r->succeeded) return v;
    }
    return Busy(name);
  }

  Result<std::vector<FunctionConfig>> ListVersions(std::string_view name) override {
    auto latest = GetFunction(name);
    if (!latest) return latest.error();
    auto versions = state_.Range(Sub(name) + "v/");
    if (!versions) return versions.error();
    auto out = DecodeAll(versions->kvs);
    if (!out) return out.error();
    out->insert(out->begin(), std::move(*latest));
    return out;
  }

  Status DeleteVersion(std::string_view name, std::string_view version) override {
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto index_revision = ModRevision(state_, Sub(name) + "alias-index");
      if (!index_revision) return index_revision.error();
      auto aliases = ListAliases(name);
      if (!aliases) return aliases.error();
      std::string names;
      for (const auto& a : *aliases) {
        if (a.function_version == version || a.additional_version == version) {
          names += (names.empty() ? "" : ", ") + a.name;
        }
      }
      if (!names.empty()) {
        return MakeError(
            Errc::kConflict,
            "Unable to delete version because the following aliases reference it: [" + names + "]");
      }
      const std::string key = VersionKey(name, version);
      auto rev = ModRevision(state_, key);
      if (!rev) return rev.error();
      if (*rev == 0) return MakeError(Errc::kNotFound, std::string(version));
      // The version's resource policy goes with it: a version number is never reused, but
      // nothing should outlive what it was written for.
      auto r = state_.Txn({Compare{key, *rev}, Compare{Sub(name) + "alias-index", *index_revision}},
                          {Op::Delete(key), Op::Delete(PolicyKey(name, version))});
      if (!r) return r.error();
      if (r->succeeded) return {};
    }
    return Busy(name);
  }

  Status PutAlias(const AliasConfig& a, bool create, std::string_view expected_revision) override {
    const std::string key = AliasKey(a.function, a.name);
    const std::string text = DumpJson(AliasJson(a));
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      // The versions it names must exist when it is written (DeleteVersion compares the index).
      std::vector<Compare> compares;
      for (const std::string* v : {&a.function_version, &a.additional_version}) {
        if (v->empty() || *v == kLatest) continue;
        auto rev = ModRevision(state_, VersionKey(a.function, *v));
        if (!rev) return rev.error();
        if (*rev == 0) return MakeError(Errc::kNotFound, "Function version " + *v + " not found");
        compares.push_back(Compare{VersionKey(a.function, *v), *rev});
      }
      auto latest_revision = ModRevision(state_, LatestKey(a.function));
      if (!latest_revision) return latest_revision.error();
      if (*latest_revision == 0) return MakeError(Errc::kNotFound, a.function);
      auto current = state_.Get(key);
      if (!current && current.error().code != Errc::kNotFound) return current.error();
      if (create && current) return MakeError(Errc::kConflict, "Alias already exists");
      if (!create) {
        if (!current) return MakeError(Errc::kNotFound, a.name);
        auto stored = AliasFrom(current->value);
        if (!stored) return stored.error();
        if (stored->revision_id != expected_revision) {
          return MakeError(Errc::kPreconditionFailed, "The alias was changed by another request");
        }
      }
      compares.push_back(Compare{key, current ? current->mod_revision : 0});
      // Not on $LATEST's revision: an UpdateFunction must not fail an alias change. Existence is
      // what matters, and DeleteFunction removes aliases with the function in one transaction.
      auto r = state_.Txn(compares, {Op::Put(key, text), BumpIndex(a.function)});
      if (!r) return r.error();
      if (r->succeeded) return {};
    }
    return Busy(a.function);
  }

  Result<AliasConfig> GetAlias(std::string_view function, std::string_view alias) override {
    auto kv = state_.Get(AliasKey(function, alias));
    if (!kv) {
      if (kv.error().code == Errc::kNotFound) return MakeError(Errc::kNotFound, std::string(alias));
      return kv.error();
    }
    return AliasFrom(kv->value);
  }

  Result<std::vector<AliasConfig>> ListAliases(std::string_view function) override {
    auto range = state_.Range(Sub(function) + "alias/");
    if (!range) return range.error();
    std::vector<AliasConfig> out;
    for (const auto& kv : range->kvs) {
      auto a = AliasFrom(kv.value);
      if (!a) return a.error();
      out.push_back(std::move(*a));
    }
    return out;
  }

  Status DeleteAlias(std::string_view function, std::string_view alias) override {
    const std::string key = AliasKey(function, alias);
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto rev = ModRevision(state_, key);
      if (!rev) return rev.error();
      if (*rev == 0) return MakeError(Errc::kNotFound, std::string(alias));
      // The alias's resource policy goes with it, in the same transaction: an alias created again
      // under this name must not inherit the permissions of the one deleted.
      auto r = state_.Txn({Compare{key, *rev}}, {Op::Delete(key), BumpIndex(function),
                                                 Op::Delete(PolicyKey(function, alias))});
      if (!r) return r.error();
      if (r->succeeded) return {};
    }
    return Busy(function);
  }

  Result<StoredPolicy> GetPolicy(std::string_view function, std::string_view qualifier) override {
    auto kv = state_.Get(PolicyKey(function, qualifier));
    if (!kv) {
      if (kv.error().code == Errc::kNotFound) {
        return MakeError(Errc::kNotFound, "No policy is associated with the given resource.");
      }
      return kv.error();
    }
    return PolicyFrom(kv->value);
  }

  Status ChangePolicy(std::string_view function, std::string_view qualifier,
                      const PolicyChange& change) override {
    const std::string key = PolicyKey(function, qualifier);
    // The key whose existence the policy depends on besides $LATEST: the version or the alias.
    std::string owner;
    if (!qualifier.empty() && qualifier != kLatest) {
      const bool version = std::all_of(qualifier.begin(), qualifier.end(),
                                       [](char c) { return c >= '0' && c <= '9'; });
      owner = version ? VersionKey(function, qualifier) : AliasKey(function, qualifier);
    }
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      std::vector<Compare> compares;
      auto latest = ModRevision(state_, LatestKey(function));
      if (!latest) return latest.error();
      if (*latest == 0)
        return MakeError(Errc::kNotFound, "Function not found: " + std::string(function));
      compares.push_back(Compare{LatestKey(function), *latest});
      if (!owner.empty()) {
        auto rev = ModRevision(state_, owner);
        if (!rev) return rev.error();
        if (*rev == 0) {
          return MakeError(Errc::kNotFound, "Function not found: " + std::string(function) + ":" +
                                                std::string(qualifier));
        }
        compares.push_back(Compare{owner, *rev});
      }
      std::optional<StoredPolicy> current;
      Revision current_revision = 0;
      if (auto kv = state_.Get(key); kv) {
        auto p = PolicyFrom(kv->value);
        if (!p) return p.error();
        current = std::move(*p);
        current_revision = kv->mod_revision;
      } else if (kv.error().code != Errc::kNotFound) {
        return kv.error();
      }
      compares.push_back(Compare{key, current_revision});
      auto next = change(current ? &*current : nullptr);
      if (!next) return next.error();
      if (!*next && !current) return {};  // nothing to delete
      Op write = *next
                     ? Op::Put(key, DumpJson(nlohmann::json{{"policy", (*next)->document},
                                                            {"revision_id", (*next)->revision_id}}))
                     : Op::Delete(key);
      auto r = state_.Txn(compares, {write});
      if (!r) return r.error();
      if (r->succeeded) return {};
    }
    return Busy(function);
  }

  Result<std::vector<std::string>> ReferencedCode() override {
    // The code store is shared by every account: scan them all. Only function records carry a
    // code digest; they are the $LATEST keys and the version keys.
    auto range = state_.Range("/acct/");
    if (!range) return range.error();
    std::vector<std::string> out;
    for (const auto& kv : range->kvs) {
      if (kv.key.find("/functions/") == std::string::npos &&
          kv.key.find("/v/") == std::string::npos) {
        continue;
      }
      FunctionConfig f;
      if (DeserializeFunction(kv.value, f) && !f.code_sha256_hex.empty()) {
        out.push_back(f.code_sha256_hex);
      }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

 private:
  struct Tags {
    FunctionTags tags;
    Revision latest_revision = 0;
    Revision tags_revision = 0;
  };

  std::string LatestKey(std::string_view name) const {
    return prefix_ + "functions/" + std::string(name);
  }
  std::string Sub(std::string_view name) const { return prefix_ + "fn/" + std::string(name) + "/"; }
  std::string VersionKey(std::string_view name, std::string_view version) const {
    return Sub(name) + "v/" + VersionKeyPart(version);
  }
  std::string AliasKey(std::string_view function, std::string_view alias) const {
    return Sub(function) + "alias/" + std::string(alias);
  }
  std::string PolicyKey(std::string_view function, std::string_view qualifier) const {
    return Sub(function) + "policy/" +
           (qualifier.empty() ? std::string(kLatest) : std::string(qualifier));
  }
  static Result<StoredPolicy> PolicyFrom(const std::string& value) {
    auto j = ParseJson(value, kApiJsonDepth);
    if (!j || !j->is_object() || !j->contains("policy") || !(*j)["policy"].is_string()) {
      return MakeError(Errc::kInternal, "a stored resource policy is unreadable");
    }
    return StoredPolicy{(*j)["policy"].get<std::string>(), j->value("revision_id", "")};
  }
  Op BumpIndex(std::string_view function) const {
    return Op::Put(Sub(function) + "alias-index", "");
  }

  // $LATEST with its mod revision; kNotFound when the function does not exist.
  Result<std::pair<Revision, FunctionConfig>> ReadLatest(std::string_view name) {
    auto kv = state_.Get(LatestKey(name));
    if (!kv) {
      if (kv.error().code == Errc::kNotFound) return MakeError(Errc::kNotFound, std::string(name));
      return kv.error();
    }
    auto f = DecodeFunction(kv->value, secrets_.get());
    if (!f) return f.error();
    return std::make_pair(kv->mod_revision, std::move(*f));
  }

  Result<Tags> ReadTags(std::string_view function) {
    Tags out;
    auto latest = ModRevision(state_, LatestKey(function));
    if (!latest) return latest.error();
    if (*latest == 0) return MakeError(Errc::kNotFound, std::string(function));
    out.latest_revision = *latest;
    auto kv = state_.Get(Sub(function) + "tags");
    if (kv) {
      auto tags = TagsFrom(kv->value);
      if (!tags) return tags.error();
      out.tags = std::move(*tags);
      out.tags_revision = kv->mod_revision;
    } else if (kv.error().code != Errc::kNotFound) {
      return kv.error();
    }
    return out;
  }

  Result<std::vector<FunctionConfig>> DecodeAll(const std::vector<KeyValue>& kvs) {
    std::vector<FunctionConfig> out;
    out.reserve(kvs.size());
    for (const auto& kv : kvs) {
      auto f = DecodeFunction(kv.value, secrets_.get());
      if (!f) return f.error();
      out.push_back(std::move(*f));
    }
    return out;
  }

  std::shared_ptr<state::StateStore> owner_;
  state::StateStore& state_;
  const std::string prefix_;
  std::shared_ptr<const SecretBox> secrets_;
};

}  // namespace

std::unique_ptr<MetadataStore> OpenStateFunctionStore(std::shared_ptr<state::StateStore> state,
                                                      std::string account,
                                                      std::shared_ptr<const SecretBox> secrets) {
  return std::make_unique<StateFunctionStore>(state, std::move(account), std::move(secrets));
}

}  // namespace alto
