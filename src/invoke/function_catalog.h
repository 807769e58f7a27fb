// Function configurations (every version) and aliases, in front of the metadata store, so that
// invocations (sync and async) never touch the state once a function is known. A write through
// this node's API updates it at once (the one I/O thread keeps it exact); a write by any other
// node reaches it through the StateFollower's watch, which forgets what changed. A counter of
// writes stops a read that raced a write from caching the older value.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string>
#include <unordered_map>

#include "common/result.h"
#include "store/store.h"

namespace alto {

class FunctionCatalog {
 public:
  FunctionCatalog(MetadataStore& store, boost::asio::thread_pool& blocking)
      : store_(store), blocking_(blocking) {}
  // $LATEST; kNotFound when the function does not exist.
  boost::asio::awaitable<Result<FunctionConfig>> Get(std::string name);
  // $LATEST or a published version. A version carries the function's current reserved
  // concurrency (a per-function setting kept on $LATEST).
  boost::asio::awaitable<Result<FunctionConfig>> GetVersion(std::string name, std::string version);
  boost::asio::awaitable<Result<AliasConfig>> GetAlias(std::string function, std::string alias);
  void Remember(const FunctionConfig& f);
  void RememberAlias(const AliasConfig& a);
  void ForgetVersion(const std::string& name, const std::string& version);
  void ForgetAlias(const std::string& function, const std::string& alias);
  // The function and all its versions and aliases.
  void Forget(const std::string& name);
  // Everything (after a state resync: whatever was cached may be stale).
  void ForgetAll();
  // The cached $LATEST's revision id, empty when none is cached.
  std::string CachedRevision(const std::string& name) const;

 private:
  static std::string Key(const std::string& name, const std::string& q) { return name + ":" + q; }

  MetadataStore& store_;
  boost::asio::thread_pool& blocking_;
  std::unordered_map<std::string, FunctionConfig> cache_;  // name:version
  std::unordered_map<std::string, AliasConfig> aliases_;   // function:alias
  uint64_t writes_ = 0;
};

}  // namespace alto
