// Per-function configurations that live beside the function in the state core, under
// /acct/<account>/fn/<name>/ (see state_function_store.cc), so DeleteFunction's one transaction
// removes them with it:
//   url/<qualifier>           a function URL ("$LATEST" for the unqualified function: no alias
//                             name can contain '$')
//   provisioned/<qualifier>   a provisioned concurrency config
// Each write compares the function's $LATEST key, so a configuration is never written for a
// function that a concurrent DeleteFunction just removed.
#include <nlohmann/json.hpp>

#include "common/json.h"
#include "state/state.h"
#include "store/function_url.h"
#include "store/provisioned.h"

namespace alto {
namespace {

using state::Compare;
using state::Op;
using state::Revision;

constexpr int kMaxAttempts = 32;

class FunctionKeys {
 public:
  FunctionKeys(std::shared_ptr<state::StateStore> state, const std::string& account)
      : owner_(std::move(state)), state_(*owner_), prefix_("/acct/" + account + "/") {}

 protected:
  std::string LatestKey(std::string_view fn) const {
    return prefix_ + "functions/" + std::string(fn);
  }
  std::string Sub(std::string_view fn) const { return prefix_ + "fn/" + std::string(fn) + "/"; }

  // The function's $LATEST mod revision; kNotFound with `missing` when it does not exist.
  Result<Revision> Existing(std::string_view fn, std::string_view missing) {
    auto kv = state_.Get(LatestKey(fn));
    if (kv) return kv->mod_revision;
    if (kv.error().code == Errc::kNotFound) return MakeError(Errc::kNotFound, std::string(missing));
    return kv.error();
  }

  // Writes `key` (put, or delete when value is empty) if the function exists and the key's state
  // is what `expect` says: absent (kAbsent), present (kPresent) or either (kAny).
  enum class Expect { kAbsent, kPresent, kAny };
  struct Outcome {
    bool function_missing = false;
    bool key_present = false;  // when the expectation failed: was the key there?
    bool done = false;
  };
  Result<Outcome> WriteIf(std::string_view fn, const std::string& key, Expect expect,
                          std::optional<std::string> value) {
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto latest = state_.Get(LatestKey(fn));
      if (!latest) {
        if (latest.error().code == Errc::kNotFound) return Outcome{true, false, false};
        return latest.error();
      }
      auto current = state_.Get(key);
      if (!current && current.error().code != Errc::kNotFound) return current.error();
      bool present = current.ok();
      if ((expect == Expect::kAbsent && present) || (expect == Expect::kPresent && !present)) {
        return Outcome{false, present, false};
      }
      Op op = value ? Op::Put(key, *value) : Op::Delete(key);
      auto r = state_.Txn({Compare{LatestKey(fn), latest->mod_revision},
                           Compare{key, present ? current->mod_revision : 0}},
                          {op});
      if (!r) return r.error();
      if (r->succeeded) return Outcome{false, present, true};
    }
    return MakeError(Errc::kConflict, "The function " + std::string(fn) +
                                          " is being changed by other requests; retry");
  }

  // Every value under /acct/*/fn/*/<kind>/ across accounts (nodes serve them all).
  Result<std::vector<std::string>> ScanAll(std::string_view kind) {
    auto range = state_.Range("/acct/");
    if (!range) return range.error();
    const std::string marker = "/" + std::string(kind) + "/";
    std::vector<std::string> out;
    for (const auto& kv : range->kvs) {
      auto fn = kv.key.find("/fn/");
      if (fn == std::string::npos) continue;
      auto slash = kv.key.find('/', fn + 4);  // the end of the function name
      if (slash != std::string::npos && kv.key.compare(slash, marker.size(), marker) == 0) {
        out.push_back(kv.value);
      }
    }
    return out;
  }

  std::shared_ptr<state::StateStore> owner_;
  state::StateStore& state_;
  const std::string prefix_;
};

std::string UrlQualifierPart(std::string_view qualifier) {
  return qualifier.empty() ? std::string("$LATEST") : std::string(qualifier);
}

class StateFunctionUrlStore final : public FunctionUrlStore, FunctionKeys {
 public:
  using FunctionKeys::FunctionKeys;

  Status Create(const FunctionUrlConfig& u) override {
    auto r =
        WriteIf(u.function, Key(u.function, u.qualifier), Expect::kAbsent, SerializeFunctionUrl(u));
    if (!r) return r.error();
    if (r->function_missing) return MakeError(Errc::kNotFound, "Function not found: " + u.function);
    if (!r->done) {
      return MakeError(Errc::kConflict, "Failed to create function url config for [functionArn = " +
                                            u.function + "]. Error message:  FunctionUrlConfig " +
                                            "exists for this Lambda function");
    }
    return {};
  }

  Status Update(const FunctionUrlConfig& u) override {
    auto r = WriteIf(u.function, Key(u.function, u.qualifier), Expect::kPresent,
                     SerializeFunctionUrl(u));
    if (!r) return r.error();
    if (!r->done) return MakeError(Errc::kNotFound, "url config not found");
    return {};
  }

  Status Delete(std::string_view function, std::string_view qualifier) override {
    auto r = WriteIf(function, Key(function, qualifier), Expect::kPresent, std::nullopt);
    if (!r) return r.error();
    if (!r->done) return MakeError(Errc::kNotFound, "url config not found");
    return {};
  }

  Status DeleteAll(std::string_view function) override {
    auto r = state_.Txn({}, {Op::DeletePrefix(Sub(function) + "url/")});
    if (!r) return r.error();
    return {};
  }

  Result<std::vector<FunctionUrlConfig>> ListAll() override {
    auto values = ScanAll("url");
    if (!values) return values.error();
    std::vector<FunctionUrlConfig> out;
    for (const auto& v : *values) {
      FunctionUrlConfig u;
      if (DeserializeFunctionUrl(v, u)) out.push_back(std::move(u));
    }
    return out;
  }

 private:
  std::string Key(std::string_view function, std::string_view qualifier) const {
    return Sub(function) + "url/" + UrlQualifierPart(qualifier);
  }
};

std::string SerializeProvisioned(const ProvisionedConfig& p) {
  return DumpJson(nlohmann::json{{"function", p.function},
                                 {"qualifier", p.qualifier},
                                 {"requested", p.requested},
                                 {"last_modified_ms", p.last_modified_ms}});
}

class StateProvisionedStore final : public ProvisionedStore, FunctionKeys {
 public:
  using FunctionKeys::FunctionKeys;

  Status Put(const ProvisionedConfig& p) override {
    auto r =
        WriteIf(p.function, Key(p.function, p.qualifier), Expect::kAny, SerializeProvisioned(p));
    if (!r) return r.error();
    if (r->function_missing) return MakeError(Errc::kNotFound, "Function not found: " + p.function);
    return {};
  }

  Status Delete(std::string_view function, std::string_view qualifier) override {
    auto r = WriteIf(function, Key(function, qualifier), Expect::kPresent, std::nullopt);
    if (!r) return r.error();
    if (!r->done) {
      return MakeError(Errc::kNotFound,
                       "No Provisioned Concurrency Config found for this function");
    }
    return {};
  }

  Status DeleteAll(std::string_view function) override {
    auto r = state_.Txn({}, {Op::DeletePrefix(Sub(function) + "provisioned/")});
    if (!r) return r.error();
    return {};
  }

  Result<std::vector<ProvisionedConfig>> ListAll() override {
    auto values = ScanAll("provisioned");
    if (!values) return values.error();
    std::vector<ProvisionedConfig> out;
    for (const auto& v : *values) {
      auto j = ParseJson(v, kApiJsonDepth);
      if (!j || !j->is_object()) continue;
      out.push_back({j->value("function", ""), j->value("qualifier", ""), j->value("requested", 0),
                     j->value("last_modified_ms", int64_t{0})});
    }
    return out;
  }

 private:
  std::string Key(std::string_view function, std::string_view qualifier) const {
    return Sub(function) + "provisioned/" + std::string(qualifier);
  }
};

}  // namespace

std::unique_ptr<FunctionUrlStore> OpenStateFunctionUrlStore(
    std::shared_ptr<state::StateStore> state, const std::string& account) {
  return std::make_unique<StateFunctionUrlStore>(std::move(state), account);
}

std::unique_ptr<ProvisionedStore> OpenStateProvisionedStore(
    std::shared_ptr<state::StateStore> state, const std::string& account) {
  return std::make_unique<StateProvisionedStore>(std::move(state), account);
}

}  // namespace alto
