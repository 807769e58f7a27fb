// The Lambda-compatible control API and Invoke, plus Alto's native /v1 additions. Every request
// enters through Handle(), is matched against the route table, and dispatched to one operation.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <unordered_map>

#include "api/function_json.h"
#include "common/time.h"
#include "http/message.h"
#include "invoke/function_logs.h"
#include "invoke/invoker.h"
#include "schedule/scheduler.h"
#include "store/code_store.h"
#include "store/store.h"

namespace alto {

struct LambdaApiDeps {
  MetadataStore& store;
  CodeStore& code;
  Scheduler& scheduler;
  Invoker& invoker;
  FunctionLogs& logs;
  boost::asio::thread_pool& blocking;
  const Clock& clock;
  AccountInfo account;
};

class LambdaApi {
 public:
  explicit LambdaApi(LambdaApiDeps deps) : d_(deps) {}
  boost::asio::awaitable<http::Response> Handle(http::Request req);
  // Stop admitting new invocations (draining): they get 503.
  void StopAdmitting() { admitting_ = false; }

 private:
  struct Ctx;
  boost::asio::awaitable<http::Response> CreateFunction(Ctx& c);
  boost::asio::awaitable<http::Response> ListFunctions(Ctx& c);
  boost::asio::awaitable<http::Response> GetFunction(Ctx& c, bool configuration_only);
  boost::asio::awaitable<http::Response> DeleteFunction(Ctx& c);
  boost::asio::awaitable<http::Response> UpdateFunctionConfiguration(Ctx& c);
  boost::asio::awaitable<http::Response> UpdateFunctionCode(Ctx& c);
  boost::asio::awaitable<http::Response> Invoke(Ctx& c);
  boost::asio::awaitable<http::Response> GetAccountSettings(Ctx& c);
  boost::asio::awaitable<http::Response> FunctionLogsNative(Ctx& c);
  boost::asio::awaitable<http::Response> FunctionCodeNative(Ctx& c);
  boost::asio::awaitable<Result<FunctionConfig>> Load(Ctx& c);

  // Function configurations by name, so a warm invoke never touches SQLite. Every write of a
  // function goes through this API on the one I/O thread, which keeps the cache exact on a
  // single node; `writes_` stops a read that raced a write from caching the older value.
  void Remember(const FunctionConfig& f);
  void Forget(const std::string& name);

  LambdaApiDeps d_;
  bool admitting_ = true;
  std::unordered_map<std::string, FunctionConfig> cache_;
  uint64_t writes_ = 0;
};

}  // namespace alto
