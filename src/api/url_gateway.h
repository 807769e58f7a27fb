// Function URLs on Alto's HTTP listener: the in-memory catalog of URL configs (in front of the
// SQLite store, so serving never touches the database), and the gateway that turns an HTTP request
// into an invocation and the function's result back into an HTTP response.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/function_json.h"
#include "api/resolver.h"
#include "auth/authenticator.h"
#include "common/result.h"
#include "common/time.h"
#include "http/message.h"
#include "invoke/function_catalog.h"
#include "invoke/invoker.h"
#include "store/function_url.h"
#include "store/store.h"

namespace alto {

class UrlCatalog {
 public:
  using Ptr = std::shared_ptr<const FunctionUrlConfig>;
  UrlCatalog(FunctionUrlStore& store, boost::asio::thread_pool& blocking)
      : store_(store), blocking_(blocking) {}
  // Reads every config; called once at startup, before serving. Drops the configs of functions
  // that no longer exist (only a data dir of an Alto before the state core can hold such orphans:
  // DeleteFunction is now one transaction).
  Status Load(const std::function<bool(const std::string&)>& function_exists);
  Ptr ById(const std::string& url_id) const;
  Ptr For(const std::string& function, const std::string& qualifier) const;
  std::vector<Ptr> ListFor(const std::string& function) const;
  // What the state now holds for (function, qualifier), applied by the node's StateFollower when
  // any node changed it.
  void Apply(Ptr p) { Put(std::move(p)); }
  void Remove(const std::string& function, const std::string& qualifier) {
    Drop(function, qualifier);
  }
  // Writes go to the store first (durable before acknowledged), then to the cache.
  boost::asio::awaitable<Status> Create(FunctionUrlConfig u);
  boost::asio::awaitable<Status> Update(FunctionUrlConfig u);
  boost::asio::awaitable<Status> Delete(std::string function, std::string qualifier);
  boost::asio::awaitable<Status> DeleteAll(std::string function);
  // The listener's port and scheme, for FunctionUrl (known once the server listens).
  void set_port(uint16_t port, bool https = false) {
    port_ = port;
    https_ = https;
  }
  uint16_t port() const { return port_; }
  bool https() const { return https_; }

 private:
  void Put(Ptr p);
  void Drop(const std::string& function, const std::string& qualifier);
  static std::string Key(const std::string& function, const std::string& qualifier) {
    return function + '\n' + qualifier;
  }

  FunctionUrlStore& store_;
  boost::asio::thread_pool& blocking_;
  std::unordered_map<std::string, Ptr> by_id_;
  std::unordered_map<std::string, std::string> id_by_key_;  // function\nqualifier -> url id
  uint16_t port_ = 0;
  bool https_ = false;
};

struct UrlGatewayDeps {
  UrlCatalog& urls;
  FunctionResolver& resolver;  // a URL's (function, alias) resolves as any invocation does
  Invoker& invoker;
  const Clock& clock;
  AccountInfo account;
  // Verifies URLs with AuthType AWS_IAM (SigV4, service "lambda"); without it they answer 403.
  const auth::Authenticator* auth = nullptr;
  // Resource-based policies, for AWS_IAM callers of another account; without them those are
  // refused.
  MetadataStore* store = nullptr;
  boost::asio::thread_pool* blocking = nullptr;
};

class UrlGateway {
 public:
  explicit UrlGateway(UrlGatewayDeps deps) : d_(deps) {}
  // True when the request is for a function URL: by Host `<url-id>.lambda-url.<region>...` or by
  // the path form `/url/<function>[/<alias>]/...`.
  bool Claims(const http::Request& req) const;
  boost::asio::awaitable<http::Response> Handle(http::Request req);
  void StopAdmitting() { admitting_ = false; }

 private:
  // A signed request whose key may lambda:InvokeFunctionUrl this URL's function.
  boost::asio::awaitable<bool> IamAllows(const FunctionUrlConfig& url,
                                         const http::Request& req) const;
  boost::asio::awaitable<http::Response> InvokeStreamed(std::string url_id, InvokeRequest ir);

  UrlGatewayDeps d_;
  bool admitting_ = true;
};

}  // namespace alto
