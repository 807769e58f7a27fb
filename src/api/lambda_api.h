// The Lambda-compatible control API and Invoke, plus Alto's native /v1 additions. Every request
// enters through Handle(), is matched against the route table, and dispatched to one operation.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <unordered_map>

#include "api/access.h"
#include "api/admin_api.h"
#include "api/function_json.h"
#include "api/resolver.h"
#include "api/routes.h"
#include "api/url_gateway.h"
#include "api/validation.h"
#include "auth/audit_log.h"
#include "auth/authenticator.h"
#include "auth/caller.h"
#include "common/time.h"
#include "http/message.h"
#include "invoke/async_invoker.h"
#include "invoke/function_catalog.h"
#include "invoke/function_logs.h"
#include "invoke/invoker.h"
#include "schedule/scheduler.h"
#include "store/code_store.h"
#include "store/provisioned.h"
#include "store/store.h"

namespace alto {

struct LambdaApiDeps {
  MetadataStore& store;
  FunctionCatalog& catalog;
  FunctionResolver& resolver;
  CodeStore& code;
  Scheduler& scheduler;
  Invoker& invoker;
  AsyncStore& async_store;
  AsyncInvoker& async;
  FunctionLogs& logs;
  InvocationMetrics& metrics;
  boost::asio::thread_pool& blocking;
  const Clock& clock;
  AccountInfo account;
  // Every request but /healthz is verified (SigV4) before routing and authorized after it.
  const auth::Authenticator& auth;
};

// The last 4 KB of an invocation's log, base64: X-Amz-Log-Result and LogResult.
std::string EncodedLogTail(std::string_view log);

class LambdaApi {
 public:
  explicit LambdaApi(LambdaApiDeps deps) : d_(deps) {}
  boost::asio::awaitable<http::Response> Handle(http::Request req);
  // Stop admitting new invocations (draining): they get 503.
  void StopAdmitting() { admitting_ = false; }
  // Function URL configs (function_url_api.cc); without them the URL operations answer 404.
  void AttachUrls(UrlCatalog* urls) { urls_ = urls; }
  // Provisioned concurrency configs (provisioned_api.cc); without them those operations 404.
  void AttachProvisioned(ProvisionedStore* store) { provisioned_ = store; }
  // More Prometheus text for /metrics from outside the API (the HTTP listeners' counters).
  void AttachMetrics(std::function<std::string()> more) { more_metrics_ = std::move(more); }
  // The admin API (accounts, keys, audit) and the audit log every control-plane change goes to.
  void AttachAdmin(AdminApi* admin, auth::AuditLog* audit) {
    admin_ = admin;
    audit_ = audit;
  }
  // Applies every stored provisioned concurrency config (at start, and after a state resync).
  boost::asio::awaitable<void> RestoreProvisioned();
  // Resolves (function, qualifier) and tells the scheduler; requested 0 stops provisioning. Also
  // what the StateFollower calls when any node changed a config.
  boost::asio::awaitable<Status> ApplyProvisioned(std::string function, std::string qualifier,
                                                  int requested);

 private:
  struct Ctx {  // one request on its way through an operation
    http::Request req;
    RouteMatch match;
    FunctionRef ref;
    auth::Caller principal;
  };
  struct PendingAudit {  // a control-plane change to record once it is answered
    auth::Caller principal;
    AccessTarget target;
    std::string source_ip;
  };
  // The operation's handler, once the request is verified and allowed.
  boost::asio::awaitable<http::Response> Dispatch(Ctx& c);
  boost::asio::awaitable<void> Audit(const PendingAudit& a, const http::Response& res);
  boost::asio::awaitable<http::Response> CreateFunction(Ctx& c);
  boost::asio::awaitable<http::Response> ListFunctions(Ctx& c);
  boost::asio::awaitable<http::Response> GetFunction(Ctx& c, bool configuration_only);
  boost::asio::awaitable<http::Response> DeleteFunction(Ctx& c);
  boost::asio::awaitable<http::Response> UpdateFunctionConfiguration(Ctx& c);
  boost::asio::awaitable<http::Response> UpdateFunctionCode(Ctx& c);
  boost::asio::awaitable<http::Response> Invoke(Ctx& c);
  boost::asio::awaitable<http::Response> InvokeWithResponseStream(Ctx& c);
  // The input checks every invoke shares (payload size and JSON, client context): an error
  // response, or nullopt with the decoded client context.
  std::optional<http::Response> CheckInvokeInput(const Ctx& c, const std::string& type,
                                                 std::string& client_context) const;
  boost::asio::awaitable<http::Response> GetAccountSettings(Ctx& c);
  boost::asio::awaitable<http::Response> FunctionLogsNative(Ctx& c);
  boost::asio::awaitable<http::Response> FunctionCodeNative(Ctx& c);
  // $LATEST only: a qualifier other than $LATEST is not found (operations without versions).
  boost::asio::awaitable<Result<FunctionConfig>> Load(Ctx& c);
  // The {name} and Qualifier of the request resolved to a version (route: an alias's weighted
  // choice, else its FunctionVersion). Sets c.ref.
  boost::asio::awaitable<Result<ResolvedFunction>> LoadQualified(Ctx& c, bool route);
  // The request's {name} parsed and scoped to this account, with its ?Qualifier= (which must
  // agree with a qualifier in the name).
  Result<FunctionRef> RequestRef(const Ctx& c) const;
  // Asynchronous invocation and its configuration (async_api.cc).
  boost::asio::awaitable<http::Response> InvokeEvent(Ctx& c, const ResolvedFunction& r,
                                                     bool legacy);
  boost::asio::awaitable<http::Response> PutEventInvokeConfig(Ctx& c, bool merge);
  boost::asio::awaitable<http::Response> GetEventInvokeConfig(Ctx& c, bool as_list);
  boost::asio::awaitable<http::Response> DeleteEventInvokeConfig(Ctx& c);
  boost::asio::awaitable<http::Response> FunctionStatsNative(Ctx& c);
  boost::asio::awaitable<http::Response> QueuesNative(Ctx& c);
  boost::asio::awaitable<http::Response> Metrics(Ctx& c);
  // Reserved concurrency (concurrency_api.cc).
  boost::asio::awaitable<http::Response> FunctionConcurrency(Ctx& c);
  // Versions and aliases (versions_api.cc).
  boost::asio::awaitable<http::Response> PublishVersion(Ctx& c);
  boost::asio::awaitable<http::Response> ListVersions(Ctx& c);
  boost::asio::awaitable<http::Response> DeleteVersion(Ctx& c, const ResolvedFunction& r);
  boost::asio::awaitable<http::Response> AliasOp(Ctx& c);
  boost::asio::awaitable<http::Response> ListAliases(Ctx& c);
  // Publishes $LATEST as read (f) as a version: a new number, or the newest when unchanged.
  boost::asio::awaitable<Result<FunctionConfig>> Publish(const FunctionConfig& latest,
                                                         const std::string* description);
  // TagResource, UntagResource, ListTags (tags_api.cc).
  boost::asio::awaitable<http::Response> TagsOp(Ctx& c);
  // The function name behind a tag operation's ARN, or why that ARN is refused.
  Result<std::string> TaggedFunction(const Ctx& c) const;
  // AddPermission, GetPolicy, RemovePermission (permissions_api.cc).
  boost::asio::awaitable<http::Response> PermissionsOp(Ctx& c);
  // A caller of another account than the node's, which CheckAccount refused (`refusal`):
  // allowed only what the target function's resource-based policy grants it (and, for a key with
  // a policy, its own policy too). nullopt when allowed, else the 403 to send.
  boost::asio::awaitable<std::optional<http::Response>> CrossAccountAccess(const auth::Caller& p,
                                                                           const AccessTarget& t,
                                                                           http::Response refusal);
  // Create/Get/Update/Delete/ListFunctionUrlConfig(s) (function_url_api.cc).
  boost::asio::awaitable<http::Response> FunctionUrlConfigOp(Ctx& c);
  // Provisioned concurrency (provisioned_api.cc).
  boost::asio::awaitable<http::Response> ProvisionedConcurrencyOp(Ctx& c);
  // Deletes the config of a version or alias going away (absent is fine).
  boost::asio::awaitable<Status> ForgetProvisioned(std::string function, std::string qualifier);
  // Makes sure the Alto queue behind a destination or dead-letter ARN exists.
  boost::asio::awaitable<Status> EnsureDestination(const std::string& arn, bool queue_only);

  void Remember(const FunctionConfig& f) { d_.catalog.Remember(f); }
  void Forget(const std::string& name) { d_.catalog.Forget(name); }

  LambdaApiDeps d_;
  bool admitting_ = true;
  UrlCatalog* urls_ = nullptr;
  ProvisionedStore* provisioned_ = nullptr;
  std::function<std::string()> more_metrics_;
  AdminApi* admin_ = nullptr;
  auth::AuditLog* audit_ = nullptr;
};

}  // namespace alto
