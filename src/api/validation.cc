#include "api/validation.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "api/function_json.h"
#include "common/json.h"
#include "invoke/destination.h"
#include "sandbox/runtimes.h"

namespace alto {

using nlohmann::json;

namespace {

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

bool IsValidQualifier(std::string_view q) {
  if (q == "$LATEST") return true;
  if (q.empty() || q.size() > 128) return false;
  return std::all_of(q.begin(), q.end(), IsNameChar);
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Error Invalid(std::string message) { return MakeError(Errc::kInvalidArgument, std::move(message)); }

constexpr std::array<std::string_view, 18> kReservedEnv = {
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
};

// Typed field readers: a present field of the wrong JSON type is an error, never ignored.
template <class T>
Status Read(const json& body, const char* field, T& out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return {};
  if constexpr (std::is_integral_v<T>) {
    // get<int> would truncate 128.5, wrap 4294967424 to 128, and 1e300 is undefined behaviour
    // (found by tests/fuzz/fuzz_api_validation): integers only, and only in T's range.
    const bool fits =
        (it->is_number_unsigned() &&
         it->template get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max())) ||
        (it->is_number_integer() && !it->is_number_unsigned() &&
         it->template get<int64_t>() >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
         it->template get<int64_t>() <= static_cast<int64_t>(std::numeric_limits<T>::max()));
    if (!fits) return Invalid(std::string("Value for '") + field + "' has the wrong type");
  }
  try {
    out = it->get<T>();
  } catch (const json::exception&) {
    return Invalid(std::string("Value for '") + field + "' has the wrong type");
  }
  return {};
}

Status ReadConfigFields(const json& body, FunctionConfig& f) {
  if (!body.is_object()) return Invalid("Request body must be a JSON object");
  for (auto st : {Read(body, "Runtime", f.runtime), Read(body, "Handler", f.handler),
                  Read(body, "Role", f.role), Read(body, "Description", f.description),
                  Read(body, "MemorySize", f.memory_mb), Read(body, "Timeout", f.timeout_s),
                  Read(body, "NetworkMode", f.network_mode)}) {
    if (!st) return st;
  }
  if (auto it = body.find("Environment"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return Invalid("Environment must be an object");
    std::map<std::string, std::string> vars;
    if (auto v = it->find("Variables"); v != it->end() && !v->is_null()) {
      if (!v->is_object()) return Invalid("Environment.Variables must be an object");
      for (auto& [k, val] : v->items()) {
        if (!val.is_string()) return Invalid("Environment variable " + k + " must be a string");
        vars[k] = val.get<std::string>();
      }
    }
    // Alto's extension Environment.Secrets: which Variables are secret. Absent, the variables
    // that were secret stay secret (an SDK cannot send the field).
    std::set<std::string> secrets;
    if (auto sec = it->find("Secrets"); sec != it->end() && !sec->is_null()) {
      if (!sec->is_array()) return Invalid("Environment.Secrets must be a list of variable names");
      for (const auto& n : *sec) {
        if (!n.is_string() || !vars.count(n.get<std::string>())) {
          return Invalid("Environment.Secrets must name variables in Environment.Variables: " +
                         DumpJson(n));
        }
        secrets.insert(n.get<std::string>());
      }
    } else {
      for (const auto& n : f.secret_names) {
        if (vars.count(n)) secrets.insert(n);
      }
    }
    // A secret sent back redacted (a get-then-update round trip) keeps its stored value.
    for (const auto& n : secrets) {
      if (vars[n] != kSecretRedacted) continue;
      auto old = f.environment.find(n);
      if (!f.secret_names.count(n) || old == f.environment.end()) {
        return Invalid("Environment variable " + n +
                       " holds the redaction marker, but no secret value is stored for it");
      }
      vars[n] = old->second;
    }
    f.environment = std::move(vars);
    f.secret_names = std::move(secrets);
  }
  if (auto it = body.find("EphemeralStorage"); it != body.end() && !it->is_null()) {
    if (!it->is_object() || !it->contains("Size") || !(*it)["Size"].is_number_integer()) {
      return Invalid("EphemeralStorage must be {\"Size\": integer}");
    }
    if (!Read(*it, "Size", f.ephemeral_storage_mb)) {
      return Invalid("EphemeralStorage must be {\"Size\": integer}");
    }
  }
  if (auto it = body.find("DeadLetterConfig"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return Invalid("DeadLetterConfig must be an object");
    std::string target;
    if (auto st = Read(*it, "TargetArn", target); !st) return st;
    if (!target.empty()) {
      auto dest = ParseDestinationArn(target);
      if (!dest || dest->kind != Destination::Kind::kQueue) {
        return Invalid(
            "DeadLetterConfig.TargetArn must be an Alto queue ARN "
            "(arn:aws:sqs:REGION:ACCOUNT:NAME): " +
            target);
      }
    }
    f.dead_letter_arn = target;
  }
  if (auto it = body.find("Architectures"); it != body.end() && !it->is_null()) {
    if (!it->is_array() || it->size() != 1 || !(*it)[0].is_string()) {
      return Invalid("Architectures must list exactly one architecture");
    }
    f.architecture = (*it)[0].get<std::string>();
  }
  return {};
}

}  // namespace

Result<json> ParseRequestObject(std::string_view body) {
  if (body.empty()) return json::object();
  auto j = ParseJson(body, kApiJsonDepth);
  if (!j) return Invalid("Could not parse request body into json: " + j.error().message);
  if (!j->is_object()) return Invalid("Request body must be a JSON object");
  return j;
}

bool IsValidFunctionName(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), IsNameChar);
}

Result<FunctionRef> ParseFunctionRef(std::string_view raw) {
  if (raw.size() > 140) {
    return Invalid("1 validation error detected: Value '" + std::string(raw) +
                   "' at 'functionName' failed to satisfy constraint: Member must have length less "
                   "than or equal to 140");
  }
  std::string_view rest = raw;
  FunctionRef ref;
  if (rest.starts_with("arn:")) {
    // arn:partition:lambda:region:account:function:name[:qualifier]
    std::array<std::string_view, 6> parts{};
    for (auto& p : parts) {
      size_t colon = rest.find(':');
      if (colon == std::string_view::npos)
        return Invalid("Invalid function ARN: " + std::string(raw));
      p = rest.substr(0, colon);
      rest.remove_prefix(colon + 1);
    }
    if (!parts[1].starts_with("aws") || parts[2] != "lambda" || !AllDigits(parts[4]) ||
        parts[4].size() != 12 || parts[5] != "function") {
      return Invalid("Invalid function ARN: " + std::string(raw));
    }
    ref.region = std::string(parts[3]);
    ref.account = std::string(parts[4]);
  } else if (size_t c = rest.find(":function:"); c != std::string_view::npos) {
    if (c != 12 || !AllDigits(rest.substr(0, 12)))
      return Invalid("Invalid function ARN: " + std::string(raw));
    ref.account = std::string(rest.substr(0, 12));
    rest.remove_prefix(c + 10);
  }
  size_t colon = rest.find(':');
  ref.name = std::string(rest.substr(0, colon));
  if (colon != std::string_view::npos) {
    ref.qualifier = std::string(rest.substr(colon + 1));
    if (!IsValidQualifier(ref.qualifier)) return Invalid("Invalid qualifier: " + ref.qualifier);
  }
  if (!IsValidFunctionName(ref.name)) {
    return Invalid(
        "1 validation error detected: Value '" + std::string(raw) +
        "' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression "
        "pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
        "(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?");
  }
  return ref;
}

Status CheckRefScope(const FunctionRef& ref, std::string_view region, std::string_view account,
                     std::string_view raw) {
  if ((!ref.region.empty() && ref.region != region) ||
      (!ref.account.empty() && ref.account != account)) {
    return MakeError(Errc::kNotFound, "Function not found: " + std::string(raw));
  }
  return {};
}

Status ValidateEnvironment(const std::map<std::string, std::string>& env) {
  size_t total = 0;
  std::string reserved;
  for (const auto& [k, v] : env) {
    bool name_ok = k.size() >= 2 && std::isalpha(static_cast<unsigned char>(k[0])) &&
                   std::all_of(k.begin(), k.end(), [](char c) {
                     return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                   });
    if (!name_ok) {
      return Invalid("Environment variable name '" + k + "' must match [a-zA-Z]([a-zA-Z0-9_])+");
    }
    if (std::find(kReservedEnv.begin(), kReservedEnv.end(), k) != kReservedEnv.end()) {
      reserved += reserved.empty() ? k : ", " + k;
    }
  }
  // Lambda measures the variables as the JSON text {"K":"V",...} (quotes, colons and commas
  // included); the message gives the size only, so no value is echoed back.
  if (!env.empty()) total = DumpJson(json(env)).size();
  if (!reserved.empty()) {
    return Invalid(
        "Lambda was unable to configure your environment variables because the environment "
        "variables you have "
        "provided contains reserved keys that are currently not supported for modification. "
        "Reserved keys used "
        "in this request: " +
        reserved);
  }
  if (total > kMaxEnvironmentBytes) {
    return Invalid(
        "Lambda was unable to configure your environment variables because the environment "
        "variables you have "
        "provided exceeded the 4KB limit. String measured: " +
        std::to_string(total) + " bytes");
  }
  return {};
}

Status ValidateConfig(const FunctionConfig& f) {
  if (!IsValidFunctionName(f.name)) return Invalid("Invalid function name: '" + f.name + "'");
  if (!FindRuntime(f.runtime)) {
    std::string names;
    for (auto n : SupportedRuntimeNames()) names += (names.empty() ? "" : ", ") + std::string(n);
    return Invalid(
        "Value " + f.runtime +
        " at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [" +
        names + "]");
  }
  if (f.handler.empty() || f.handler.size() > 128 ||
      std::any_of(f.handler.begin(), f.handler.end(),
                  [](char c) { return std::isspace(static_cast<unsigned char>(c)); })) {
    return Invalid("Handler must be 1-128 characters without whitespace");
  }
  if (f.memory_mb < 128 || f.memory_mb > 10240) {
    return Invalid(
        "'MemorySize' value failed to satisfy constraint: Member must have value between 128 and "
        "10240");
  }
  if (f.timeout_s < 1 || f.timeout_s > 900) {
    return Invalid(
        "'Timeout' value failed to satisfy constraint: Member must have value between 1 and 900");
  }
  if (f.ephemeral_storage_mb < 512 || f.ephemeral_storage_mb > 10240) {
    return Invalid(
        "'EphemeralStorage.Size' value failed to satisfy constraint: Member must have value "
        "between 512 and 10240");
  }
  if (f.network_mode != "default" && f.network_mode != "none") {
    return Invalid(
        "Value '" + f.network_mode +
        "' at 'NetworkMode' failed to satisfy constraint: Member must satisfy enum value "
        "set: [default, none]");
  }
  if (f.description.size() > 256) return Invalid("Description must be at most 256 characters");
  if (f.architecture != "x86_64")
    return Invalid("Architecture " + f.architecture + " is not available on this node");
  if (f.role.size() > 2048) return Invalid("Role must be at most 2048 characters");
  if (!f.role.empty() &&
      !(f.role.starts_with("arn:") && f.role.find(":iam::") != std::string::npos &&
        f.role.find(":role/") != std::string::npos)) {
    return Invalid("The role defined for the function is not an IAM role ARN: " + f.role);
  }
  return ValidateEnvironment(f.environment);
}

Result<FunctionConfig> ConfigFromCreateRequest(const json& body) {
  FunctionConfig f;
  if (!body.is_object()) return Invalid("Request body must be a JSON object");
  if (auto st = Read(body, "FunctionName", f.name); !st) return st.error();
  if (f.name.empty()) return Invalid("FunctionName is required");
  auto ref = ParseFunctionRef(f.name);
  if (!ref) return ref.error();
  if (!ref->qualifier.empty()) return Invalid("FunctionName must not carry a qualifier on create");
  f.name = ref->name;
  std::string package_type = "Zip";
  if (auto st = Read(body, "PackageType", package_type); !st) return st.error();
  if (package_type != "Zip")
    return Invalid("PackageType " + package_type + " is not supported yet; use Zip");
  if (auto st = ReadConfigFields(body, f); !st) return st.error();
  if (f.role.empty()) return Invalid("Role is required");
  if (f.runtime.empty()) return Invalid("Runtime is required for a Zip package");
  if (auto st = ValidateConfig(f); !st) return st.error();
  return f;
}

Status ApplyConfigUpdate(FunctionConfig& f, const json& body) {
  FunctionConfig updated = f;
  if (auto st = ReadConfigFields(body, updated); !st) return st;
  if (auto st = ValidateConfig(updated); !st) return st;
  f = std::move(updated);
  return {};
}

}  // namespace alto
