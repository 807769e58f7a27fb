#include "invoke/function_catalog.h"

#include "common/blocking.h"

namespace alto {

boost::asio::awaitable<Result<FunctionConfig>> FunctionCatalog::Get(std::string name) {
  if (auto hit = cache_.find(name); hit != cache_.end()) co_return hit->second;
  const uint64_t writes_before = writes_;
  auto f = co_await RunBlocking(blocking_, [&] { return store_.GetFunction(name); });
  if (f && writes_ == writes_before) cache_[f->name] = *f;
  co_return f;
}

void FunctionCatalog::Remember(const FunctionConfig& f) {
  ++writes_;
  cache_[f.name] = f;
}

void FunctionCatalog::Forget(const std::string& name) {
  ++writes_;
  cache_.erase(name);
}

}  // namespace alto
