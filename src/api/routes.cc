#include "api/routes.h"

#include <array>
#include <vector>

#include "common/encoding.h"

namespace alto {

namespace {

struct Route {
  std::string_view method;
  std::string_view pattern;  // segments; "{name}" captures the function name
  Op op;
  std::string_view name;
};

constexpr std::array kRoutes = {
    Route{"POST", "/2015-03-31/functions", Op::kCreateFunction, "CreateFunction"},
    Route{"GET", "/2015-03-31/functions", Op::kListFunctions, "ListFunctions"},
    Route{"GET", "/2015-03-31/functions/{name}", Op::kGetFunction, "GetFunction"},
    Route{"DELETE", "/2015-03-31/functions/{name}", Op::kDeleteFunction, "DeleteFunction"},
    Route{"GET", "/2015-03-31/functions/{name}/configuration", Op::kGetFunctionConfiguration,
          "GetFunctionConfiguration"},
    Route{"PUT", "/2015-03-31/functions/{name}/configuration", Op::kUpdateFunctionConfiguration,
          "UpdateFunctionConfiguration"},
    Route{"PUT", "/2015-03-31/functions/{name}/code", Op::kUpdateFunctionCode,
          "UpdateFunctionCode"},
    Route{"POST", "/2015-03-31/functions/{name}/invocations", Op::kInvoke, "Invoke"},
    Route{"POST", "/2021-11-15/functions/{name}/response-streaming-invocations",
          Op::kInvokeWithResponseStream, "InvokeWithResponseStream"},
    Route{"GET", "/2016-08-19/account-settings", Op::kGetAccountSettings, "GetAccountSettings"},
    Route{"GET", "/v1/functions/{name}/logs", Op::kNativeFunctionLogs, "FunctionLogs"},
    Route{"GET", "/v1/functions/{name}/code", Op::kNativeFunctionCode, "FunctionCode"},
    Route{"GET", "/healthz", Op::kHealth, "Health"},
    Route{"POST", "/2014-11-13/functions/{name}/invoke-async", Op::kInvokeAsyncLegacy,
          "InvokeAsync"},
    Route{"PUT", "/2019-09-25/functions/{name}/event-invoke-config", Op::kPutEventInvokeConfig,
          "PutFunctionEventInvokeConfig"},
    Route{"POST", "/2019-09-25/functions/{name}/event-invoke-config", Op::kUpdateEventInvokeConfig,
          "UpdateFunctionEventInvokeConfig"},
    Route{"GET", "/2019-09-25/functions/{name}/event-invoke-config", Op::kGetEventInvokeConfig,
          "GetFunctionEventInvokeConfig"},
    Route{"DELETE", "/2019-09-25/functions/{name}/event-invoke-config",
          Op::kDeleteEventInvokeConfig, "DeleteFunctionEventInvokeConfig"},
    Route{"GET", "/2019-09-25/functions/{name}/event-invoke-config/list",
          Op::kListEventInvokeConfigs, "ListFunctionEventInvokeConfigs"},
    Route{"GET", "/v1/functions/{name}/stats", Op::kNativeFunctionStats, "FunctionStats"},
    Route{"GET", "/v1/queues", Op::kNativeListQueues, "ListQueues"},
    Route{"PUT", "/v1/queues/{name}", Op::kNativeCreateQueue, "CreateQueue"},
    Route{"POST", "/v1/queues/{name}/messages", Op::kNativeSendMessage, "SendMessage"},
    Route{"GET", "/v1/queues/{name}/messages", Op::kNativeReadMessages, "ReadMessages"},
    Route{"GET", "/metrics", Op::kMetrics, "Metrics"},
    Route{"PUT", "/2019-09-30/functions/{name}/provisioned-concurrency",
          Op::kPutProvisionedConcurrencyConfig, "PutProvisionedConcurrencyConfig"},
    Route{"GET", "/2019-09-30/functions/{name}/provisioned-concurrency",
          Op::kGetProvisionedConcurrencyConfig, "GetProvisionedConcurrencyConfig"},
    Route{"DELETE", "/2019-09-30/functions/{name}/provisioned-concurrency",
          Op::kDeleteProvisionedConcurrencyConfig, "DeleteProvisionedConcurrencyConfig"},
    Route{"PUT", "/2017-10-31/functions/{name}/concurrency", Op::kPutFunctionConcurrency,
          "PutFunctionConcurrency"},
    Route{"GET", "/2019-09-30/functions/{name}/concurrency", Op::kGetFunctionConcurrency,
          "GetFunctionConcurrency"},
    Route{"DELETE", "/2017-10-31/functions/{name}/concurrency", Op::kDeleteFunctionConcurrency,
          "DeleteFunctionConcurrency"},
    Route{"POST", "/2015-03-31/functions/{name}/versions", Op::kPublishVersion, "PublishVersion"},
    Route{"GET", "/2015-03-31/functions/{name}/versions", Op::kListVersionsByFunction,
          "ListVersionsByFunction"},
    Route{"POST", "/2015-03-31/functions/{name}/aliases", Op::kCreateAlias, "CreateAlias"},
    Route{"GET", "/2015-03-31/functions/{name}/aliases", Op::kListAliases, "ListAliases"},
    Route{"GET", "/2015-03-31/functions/{name}/aliases/{alias}", Op::kGetAlias, "GetAlias"},
    Route{"PUT", "/2015-03-31/functions/{name}/aliases/{alias}", Op::kUpdateAlias, "UpdateAlias"},
    Route{"DELETE", "/2015-03-31/functions/{name}/aliases/{alias}", Op::kDeleteAlias,
          "DeleteAlias"},
    Route{"POST", "/2021-10-31/functions/{name}/url", Op::kCreateFunctionUrlConfig,
          "CreateFunctionUrlConfig"},
    Route{"GET", "/2021-10-31/functions/{name}/url", Op::kGetFunctionUrlConfig,
          "GetFunctionUrlConfig"},
    Route{"PUT", "/2021-10-31/functions/{name}/url", Op::kUpdateFunctionUrlConfig,
          "UpdateFunctionUrlConfig"},
    Route{"DELETE", "/2021-10-31/functions/{name}/url", Op::kDeleteFunctionUrlConfig,
          "DeleteFunctionUrlConfig"},
    Route{"GET", "/2021-10-31/functions/{name}/urls", Op::kListFunctionUrlConfigs,
          "ListFunctionUrlConfigs"},
    Route{"POST", "/2017-03-31/tags/{name}", Op::kTagResource, "TagResource"},
    Route{"DELETE", "/2017-03-31/tags/{name}", Op::kUntagResource, "UntagResource"},
    Route{"GET", "/2017-03-31/tags/{name}", Op::kListTags, "ListTags"},
    Route{"POST", "/2015-03-31/functions/{name}/policy", Op::kAddPermission, "AddPermission"},
    Route{"GET", "/2015-03-31/functions/{name}/policy", Op::kGetPolicy, "GetPolicy"},
    Route{"DELETE", "/2015-03-31/functions/{name}/policy/{sid}", Op::kRemovePermission,
          "RemovePermission"},
    Route{"GET", "/v1/accounts", Op::kAdminListAccounts, "ListAccounts"},
    Route{"POST", "/v1/accounts", Op::kAdminCreateAccount, "CreateAccount"},
    Route{"DELETE", "/v1/accounts/{name}", Op::kAdminDeleteAccount, "DeleteAccount"},
    Route{"GET", "/v1/keys", Op::kAdminListKeys, "ListAccessKeys"},
    Route{"POST", "/v1/keys", Op::kAdminCreateKey, "CreateAccessKey"},
    Route{"PUT", "/v1/keys/{name}", Op::kAdminUpdateKey, "UpdateAccessKey"},
    Route{"DELETE", "/v1/keys/{name}", Op::kAdminDeleteKey, "DeleteAccessKey"},
    Route{"GET", "/v1/audit", Op::kAdminReadAudit, "ReadAuditLog"},
};

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}

// The routes' patterns split once, in kRoutes' order: splitting them per request cost an
// allocation per route.
const std::vector<std::vector<std::string_view>>& SplitPatterns() {
  static const auto patterns = [] {
    std::vector<std::vector<std::string_view>> out;
    out.reserve(kRoutes.size());
    for (const auto& r : kRoutes) out.push_back(Split(r.pattern));
    return out;
  }();
  return patterns;
}

bool Matches(const std::vector<std::string_view>& want, const std::vector<std::string_view>& parts,
             std::string* fn, std::string* alias, std::string* sid) {
  if (want.size() != parts.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] == "{name}") {
      *fn = PercentDecode(parts[i]);
    } else if (want[i] == "{alias}") {
      *alias = PercentDecode(parts[i]);
    } else if (want[i] == "{sid}") {
      *sid = PercentDecode(parts[i]);
    } else if (want[i] != parts[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

RouteResult MatchRoute(std::string_view method, std::string_view path) {
  auto parts = Split(path);
  const auto& patterns = SplitPatterns();
  RouteResult result;
  for (size_t i = 0; i < kRoutes.size(); ++i) {
    const Route& r = kRoutes[i];
    std::string fn, alias, sid;
    if (!Matches(patterns[i], parts, &fn, &alias, &sid)) continue;
    if (r.method != method) {
      result.miss = RouteMiss::kWrongMethod;
      continue;
    }
    result.match = RouteMatch{r.op, std::move(fn), std::move(alias), std::move(sid)};
    return result;
  }
  return result;
}

std::string_view OpName(Op op) {
  for (const auto& r : kRoutes) {
    if (r.op == op) return r.name;
  }
  return "Unknown";
}

}  // namespace alto
