#include "invoke/function_catalog.h"

#include "common/blocking.h"

namespace alto {

boost::asio::awaitable<Result<FunctionConfig>> FunctionCatalog::Get(std::string name) {
  co_return co_await GetVersion(std::move(name), "$LATEST");
}

boost::asio::awaitable<Result<FunctionConfig>> FunctionCatalog::GetVersion(std::string name,
                                                                           std::string version) {
  Result<FunctionConfig> f = MakeError(Errc::kNotFound, name);
  if (auto hit = cache_.find(Key(name, version)); hit != cache_.end()) {
    f = hit->second;
  } else {
    const uint64_t writes_before = writes_;
    f = co_await RunBlocking(blocking_, [&] { return store_.GetFunctionVersion(name, version); });
    if (f && writes_ == writes_before) cache_[Key(name, version)] = *f;
  }
  if (!f || version == "$LATEST") co_return f;
  auto latest = co_await GetVersion(name, "$LATEST");
  if (!latest) co_return latest.error();
  f->reserved_concurrency = latest->reserved_concurrency;
  co_return f;
}

boost::asio::awaitable<Result<AliasConfig>> FunctionCatalog::GetAlias(std::string function,
                                                                      std::string alias) {
  if (auto hit = aliases_.find(Key(function, alias)); hit != aliases_.end()) co_return hit->second;
  const uint64_t writes_before = writes_;
  auto a = co_await RunBlocking(blocking_, [&] { return store_.GetAlias(function, alias); });
  if (a && writes_ == writes_before) aliases_[Key(function, alias)] = *a;
  co_return a;
}

void FunctionCatalog::Remember(const FunctionConfig& f) {
  ++writes_;
  cache_[Key(f.name, f.version)] = f;
}

void FunctionCatalog::RememberAlias(const AliasConfig& a) {
  ++writes_;
  aliases_[Key(a.function, a.name)] = a;
}

void FunctionCatalog::ForgetVersion(const std::string& name, const std::string& version) {
  ++writes_;
  cache_.erase(Key(name, version));
}

void FunctionCatalog::ForgetAlias(const std::string& function, const std::string& alias) {
  ++writes_;
  aliases_.erase(Key(function, alias));
}

void FunctionCatalog::Forget(const std::string& name) {
  ++writes_;
  const std::string prefix = name + ":";
  std::erase_if(cache_, [&](const auto& kv) { return kv.first.starts_with(prefix); });
  std::erase_if(aliases_, [&](const auto& kv) { return kv.first.starts_with(prefix); });
}

void FunctionCatalog::ForgetAll() {
  ++writes_;
  cache_.clear();
  aliases_.clear();
}

std::string FunctionCatalog::CachedRevision(const std::string& name) const {
  auto it = cache_.find(Key(name, "$LATEST"));
  return it == cache_.end() ? std::string() : it->second.revision_id;
}

}  // namespace alto
