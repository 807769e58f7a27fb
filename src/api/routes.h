// One route table: (method, path) -> a typed operation with its decoded path parameters.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace alto {

enum class Op {
  kCreateFunction,
  kListFunctions,
  kGetFunction,
  kDeleteFunction,
  kGetFunctionConfiguration,
  kUpdateFunctionConfiguration,
  kUpdateFunctionCode,
  kInvoke,
  kInvokeWithResponseStream,
  kGetAccountSettings,
  kNativeFunctionLogs,  // GET /v1/functions/{name}/logs
  kNativeFunctionCode,  // GET /v1/functions/{name}/code (GetFunction's Code.Location)
  kHealth,
  kInvokeAsyncLegacy,
  kPutEventInvokeConfig,
  kUpdateEventInvokeConfig,
  kGetEventInvokeConfig,
  kDeleteEventInvokeConfig,
  kListEventInvokeConfigs,
  kNativeFunctionStats,  // GET /v1/functions/{name}/stats
  kNativeListQueues,     // GET /v1/queues
  kNativeCreateQueue,    // PUT /v1/queues/{name}
  kNativeSendMessage,    // POST /v1/queues/{name}/messages
  kNativeReadMessages,   // GET /v1/queues/{name}/messages?max=N&consume=true|false
  kMetrics,              // GET /metrics (Prometheus)
  kPutProvisionedConcurrencyConfig,
  kGetProvisionedConcurrencyConfig,  // also ListProvisionedConcurrencyConfigs (?List=ALL)
  kDeleteProvisionedConcurrencyConfig,
  kPutFunctionConcurrency,
  kGetFunctionConcurrency,
  kDeleteFunctionConcurrency,
  kPublishVersion,
  kListVersionsByFunction,
  kCreateAlias,
  kListAliases,
  kGetAlias,
  kUpdateAlias,
  kDeleteAlias,
  kCreateFunctionUrlConfig,
  kGetFunctionUrlConfig,
  kUpdateFunctionUrlConfig,
  kDeleteFunctionUrlConfig,
  kListFunctionUrlConfigs,
  // /2017-03-31/tags/{ARN}: {name} is the function's (unqualified) ARN.
  kTagResource,
  kUntagResource,
  kListTags,
  // Resource-based policies (permissions_api.cc): the function's or one qualifier's policy.
  kAddPermission,     // POST /2015-03-31/functions/{name}/policy
  kGetPolicy,         // GET /2015-03-31/functions/{name}/policy
  kRemovePermission,  // DELETE /2015-03-31/functions/{name}/policy/{StatementId}
  // Alto's admin API (admin_api.cc): accounts, access keys, the audit log.
  kAdminListAccounts,   // GET /v1/accounts
  kAdminCreateAccount,  // POST /v1/accounts  {"Name":"team-a"}
  kAdminDeleteAccount,  // DELETE /v1/accounts/{name}
  kAdminListKeys,       // GET /v1/keys?Account=A
  kAdminCreateKey,      // POST /v1/keys
  kAdminUpdateKey,      // PUT /v1/keys/{name}  {"Status":"Active"|"Inactive"}
  kAdminDeleteKey,      // DELETE /v1/keys/{name}
  kAdminReadAudit,      // GET /v1/audit?Since=ms&Account=A&After=seq
};

struct RouteMatch {
  Op op;
  // The {name} path parameter, percent-decoded: a function (name, name:qualifier or ARN) or a
  // queue.
  std::string name;
  std::string alias;         // the {alias} path parameter of alias operations
  std::string statement_id;  // RemovePermission's {StatementId}
};

enum class RouteMiss { kNoPath, kWrongMethod };

struct RouteResult {
  std::optional<RouteMatch> match;
  RouteMiss miss = RouteMiss::kNoPath;
};

RouteResult MatchRoute(std::string_view method, std::string_view path);
std::string_view OpName(Op op);

}  // namespace alto
