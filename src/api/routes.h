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
  kGetAccountSettings,
  kNativeFunctionLogs,  // GET /v1/functions/{name}/logs
  kNativeFunctionCode,  // GET /v1/functions/{name}/code (GetFunction's Code.Location)
  kHealth,
};

struct RouteMatch {
  Op op;
  std::string function_name;  // percent-decoded; may be a name, name:qualifier or an ARN
};

enum class RouteMiss { kNoPath, kWrongMethod };

struct RouteResult {
  std::optional<RouteMatch> match;
  RouteMiss miss = RouteMiss::kNoPath;
};

RouteResult MatchRoute(std::string_view method, std::string_view path);
std::string_view OpName(Op op);

}  // namespace alto
