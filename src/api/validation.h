// Lambda's request validation as pure functions: names, ARNs, configuration fields, environment.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "common/result.h"
#include "store/function.h"

namespace alto {

constexpr size_t kMaxSyncPayloadBytes = 6 * 1024 * 1024;  // 6,291,456
constexpr size_t kMaxCreateRequestBytes = 69905067;       // base64 of a 50 MiB zip, in JSON
constexpr size_t kMaxEnvironmentBytes = 4096;
constexpr size_t kMaxClientContextBytes = 3583;

struct FunctionRef {
  std::string name;
  std::string qualifier;  // empty when none was given
};

bool IsValidFunctionName(std::string_view name);
// Accepts `name`, `name:qualifier`, `arn:aws:lambda:region:account:function:name[:qualifier]` and
// `account:function:name[:qualifier]`.
Result<FunctionRef> ParseFunctionRef(std::string_view raw);

Status ValidateEnvironment(const std::map<std::string, std::string>& env);
Status ValidateConfig(const FunctionConfig& f);

// A control-plane request body (empty means {}) as a JSON object, parsed through the one JSON
// entry point with the API depth limit. kInvalidArgument naming what is wrong: malformed, nested
// deeper than kApiJsonDepth, or not an object.
Result<nlohmann::json> ParseRequestObject(std::string_view body);

// Reads the configuration fields of a CreateFunction body (not the code) and validates them.
Result<FunctionConfig> ConfigFromCreateRequest(const nlohmann::json& body);
// Applies the fields present in an UpdateFunctionConfiguration body, then validates.
Status ApplyConfigUpdate(FunctionConfig& f, const nlohmann::json& body);

}  // namespace alto
