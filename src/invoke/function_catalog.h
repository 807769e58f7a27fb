// Function configurations by name, in front of the metadata store, so that invocations (sync and
// async) never touch SQLite once a function is known. Every write of a function goes through the
// API on the one I/O thread, which keeps the cache exact on a single node; a counter of writes
// stops a read that raced a write from caching the older value.
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
  // kNotFound when the function does not exist.
  boost::asio::awaitable<Result<FunctionConfig>> Get(std::string name);
  void Remember(const FunctionConfig& f);
  void Forget(const std::string& name);

 private:
  MetadataStore& store_;
  boost::asio::thread_pool& blocking_;
  std::unordered_map<std::string, FunctionConfig> cache_;
  uint64_t writes_ = 0;
};

}  // namespace alto
