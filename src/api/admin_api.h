// Alto's admin API: accounts, access keys and the audit log, under /v1 (the `alto account`,
// `alto key` and `alto audit` commands). Requests arrive verified like every other; what a key
// may do here is decided by its policy (iam:* actions) like everywhere else.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "api/routes.h"
#include "auth/audit_log.h"
#include "auth/authenticator.h"
#include "auth/key_store.h"
#include "http/message.h"

namespace alto {

struct AdminApiDeps {
  auth::KeyStore& keys;
  auth::Authenticator& auth;
  auth::AuditLog& audit;
  boost::asio::thread_pool& blocking;
};

class AdminApi {
 public:
  explicit AdminApi(AdminApiDeps deps) : d_(deps) {}
  boost::asio::awaitable<http::Response> Handle(const RouteMatch& m, const http::Request& req,
                                                const auth::Caller& p);

 private:
  boost::asio::awaitable<http::Response> CreateAccount(const http::Request& req,
                                                       const auth::Caller& p);
  boost::asio::awaitable<http::Response> DeleteAccount(const RouteMatch& m, const auth::Caller& p);
  boost::asio::awaitable<http::Response> CreateKey(const http::Request& req, const auth::Caller& p);
  boost::asio::awaitable<http::Response> ListKeys(const http::Request& req, const auth::Caller& p);
  boost::asio::awaitable<http::Response> UpdateKey(const RouteMatch& m, const http::Request& req,
                                                   const auth::Caller& p);
  boost::asio::awaitable<http::Response> DeleteKey(const RouteMatch& m, const auth::Caller& p);
  boost::asio::awaitable<http::Response> ReadAudit(const http::Request& req, const auth::Caller& p);
  // The account a request names (or the caller's); only the admin account may name another.
  Result<std::string> AccountFor(const std::string& named, const auth::Caller& p) const;

  AdminApiDeps d_;
};

}  // namespace alto
