// Metadata store interface: functions, versions, aliases and tags, stored in the state core
// (SQLite by default, etcd for clusters).
// Calls block: callers on an I/O thread run them on the blocking pool.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/function.h"
#include "store/secret_box.h"

namespace alto::state {
class StateStore;
}  // namespace alto::state

namespace alto {

// A function's (or one qualifier's) resource-based policy as stored: the document and the
// RevisionId that GetPolicy shows and AddPermission/RemovePermission compare.
struct StoredPolicy {
  std::string document;
  std::string revision_id;
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;
  // Fails with kConflict if a function of that name exists. The function and its tags are
  // stored in one transaction: either both or neither.
  virtual Status CreateFunction(const FunctionConfig& f, const FunctionTags& tags) = 0;
  Status CreateFunction(const FunctionConfig& f) { return CreateFunction(f, {}); }
  // Replaces $LATEST if its revision still equals expected_revision (kConflict otherwise).
  virtual Status UpdateFunction(const FunctionConfig& f, std::string_view expected_revision) = 0;
  virtual Result<FunctionConfig> GetFunction(std::string_view name) = 0;  // $LATEST
  // $LATEST or a published version; kNotFound when absent.
  virtual Result<FunctionConfig> GetFunctionVersion(std::string_view name,
                                                    std::string_view version) = 0;
  // Functions ordered by name, strictly after `after` (empty: from the start).
  virtual Result<std::vector<FunctionConfig>> ListFunctions(std::string_view after,
                                                            size_t limit) = 0;
  // Deletes the function with all its versions, aliases and tags.
  virtual Status DeleteFunction(std::string_view name) = 0;

  // The function's tags; kNotFound when there is no such function.
  virtual Result<FunctionTags> ListTags(std::string_view function) = 0;
  // Sets `set` (replacing values of keys already there) and removes `remove` in one
  // transaction, after `check` accepts the tags the function would then have (its error is
  // returned and nothing changes otherwise). kNotFound when there is no such function.
  virtual Status ChangeTags(std::string_view function, const FunctionTags& set,
                            const std::vector<std::string>& remove,
                            const std::function<Status(const FunctionTags&)>& check) = 0;

  // Publishes `snapshot` (a copy of $LATEST whose revision was latest_revision) as the next
  // version number, atomically: kConflict if $LATEST changed since. Returns the newest existing
  // version instead when it has the same code and configuration (Lambda's rule).
  virtual Result<FunctionConfig> PublishVersion(const FunctionConfig& snapshot,
                                                std::string_view latest_revision) = 0;
  // $LATEST first, then published versions in ascending number.
  virtual Result<std::vector<FunctionConfig>> ListVersions(std::string_view name) = 0;
  // kConflict when an alias points to the version (either of its two).
  virtual Status DeleteVersion(std::string_view name, std::string_view version) = 0;

  // create: kConflict if it exists. Otherwise replaces it if its revision is expected_revision
  // (kNotFound when gone, kPreconditionFailed when changed).
  virtual Status PutAlias(const AliasConfig& alias, bool create,
                          std::string_view expected_revision) = 0;
  virtual Result<AliasConfig> GetAlias(std::string_view function, std::string_view alias) = 0;
  virtual Result<std::vector<AliasConfig>> ListAliases(std::string_view function) = 0;  // by name
  virtual Status DeleteAlias(std::string_view function, std::string_view alias) = 0;

  // The resource-based policy of (function, qualifier): qualifier "" (or "$LATEST") for the
  // function itself, else a version or alias. kNotFound when there is none.
  virtual Result<StoredPolicy> GetPolicy(std::string_view function, std::string_view qualifier) = 0;
  // Read-modify-write of that policy: `change` gets the current one (nullptr when none) and
  // returns the new one (nullopt: delete it) or an error, which is returned with nothing changed.
  // The write compares the policy key, $LATEST and the version's or alias's key: a lost race is
  // retried on the fresh policy (so concurrent changes never lose one another), and nothing is
  // written for a function, version or alias that is gone (kNotFound). DeleteFunction,
  // DeleteVersion and DeleteAlias delete the policy in their own transaction.
  using PolicyChange =
      std::function<Result<std::optional<StoredPolicy>>(const StoredPolicy* current)>;
  virtual Status ChangePolicy(std::string_view function, std::string_view qualifier,
                              const PolicyChange& change) = 0;

  // Every code digest still referenced, for garbage collection of the code store.
  virtual Result<std::vector<std::string>> ReferencedCode() = 0;
};

// The functions of `account` as keys of the state core (state_function_store.cc has the layout).
// Secret environment values are sealed with `secrets`; without it, storing a function that has
// secrets fails.
std::unique_ptr<MetadataStore> OpenStateFunctionStore(
    std::shared_ptr<state::StateStore> state, std::string account,
    std::shared_ptr<const SecretBox> secrets = nullptr);

// Moves functions with their versions, aliases, tags, URLs and provisioned configs from the SQLite
// tables that held them before the state core (in the database at db_path, if it has them) into
// `state` under `account`, then drops those tables. Idempotent: a function already in the state is
// skipped, so a crash in the middle is finished by the next start. Returns how many functions
// moved.
Result<int> MigrateLegacyFunctionTables(const std::string& db_path, state::StateStore& state,
                                        const std::string& account);

}  // namespace alto
