#include "api/routes.h"

#include <array>
#include <vector>

#include "common/encoding.h"

namespace alto {

namespace {

struct Route {
  std::string_view method;
  std::string_view pattern;  // segments; "{fn}" captures the function name
  Op op;
  std::string_view name;
};

constexpr std::array kRoutes = {
    Route{"POST", "/2015-03-31/functions", Op::kCreateFunction, "CreateFunction"},
    Route{"GET", "/2015-03-31/functions", Op::kListFunctions, "ListFunctions"},
    Route{"GET", "/2015-03-31/functions/{fn}", Op::kGetFunction, "GetFunction"},
    Route{"DELETE", "/2015-03-31/functions/{fn}", Op::kDeleteFunction, "DeleteFunction"},
    Route{"GET", "/2015-03-31/functions/{fn}/configuration", Op::kGetFunctionConfiguration,
          "GetFunctionConfiguration"},
    Route{"PUT", "/2015-03-31/functions/{fn}/configuration", Op::kUpdateFunctionConfiguration,
          "UpdateFunctionConfiguration"},
    Route{"PUT", "/2015-03-31/functions/{fn}/code", Op::kUpdateFunctionCode, "UpdateFunctionCode"},
    Route{"POST", "/2015-03-31/functions/{fn}/invocations", Op::kInvoke, "Invoke"},
    Route{"GET", "/2016-08-19/account-settings", Op::kGetAccountSettings, "GetAccountSettings"},
    Route{"GET", "/v1/functions/{fn}/logs", Op::kNativeFunctionLogs, "FunctionLogs"},
    Route{"GET", "/v1/functions/{fn}/code", Op::kNativeFunctionCode, "FunctionCode"},
    Route{"GET", "/healthz", Op::kHealth, "Health"},
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

bool Matches(std::string_view pattern, const std::vector<std::string_view>& parts,
             std::string* fn) {
  auto want = Split(pattern);
  if (want.size() != parts.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] == "{fn}") {
      *fn = PercentDecode(parts[i]);
    } else if (want[i] != parts[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

RouteResult MatchRoute(std::string_view method, std::string_view path) {
  auto parts = Split(path);
  RouteResult result;
  for (const auto& r : kRoutes) {
    std::string fn;
    if (!Matches(r.pattern, parts, &fn)) continue;
    if (r.method != method) {
      result.miss = RouteMiss::kWrongMethod;
      continue;
    }
    result.match = RouteMatch{r.op, std::move(fn)};
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
