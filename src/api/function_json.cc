#include "api/function_json.h"

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/time.h"

namespace alto {

std::string FunctionArn(const AccountInfo& a, const std::string& name,
                        const std::string& qualifier) {
  std::string arn = "arn:aws:lambda:" + a.region + ":" + a.account_id + ":function:" + name;
  if (!qualifier.empty()) arn += ":" + qualifier;
  return arn;
}

nlohmann::json FunctionConfigurationJson(const FunctionConfig& f, const AccountInfo& a,
                                         const std::string& arn_qualifier) {
  std::string qualifier = arn_qualifier;
  if (qualifier.empty() && f.version != "$LATEST") qualifier = f.version;
  std::string raw_digest;
  for (size_t i = 0; i + 1 < f.code_sha256_hex.size(); i += 2) {
    raw_digest += static_cast<char>(std::stoi(f.code_sha256_hex.substr(i, 2), nullptr, 16));
  }
  nlohmann::json j = {
      {"FunctionName", f.name},
      {"FunctionArn", FunctionArn(a, f.name, qualifier)},
      {"Runtime", f.runtime},
      {"Role", f.role},
      {"Handler", f.handler},
      {"CodeSize", f.code_size},
      {"Description", f.description},
      {"Timeout", f.timeout_s},
      {"MemorySize", f.memory_mb},
      {"LastModified", FormatLambdaTimestamp(f.last_modified_ms)},
      {"CodeSha256", Base64Encode(raw_digest)},
      {"Version", f.version},
      {"TracingConfig", {{"Mode", "PassThrough"}}},
      {"RevisionId", f.revision_id},
      {"State", "Active"},
      {"LastUpdateStatus", "Successful"},
      {"PackageType", f.package_type},
      {"Architectures", {f.architecture}},
      {"EphemeralStorage", {{"Size", f.ephemeral_storage_mb}}},
      {"LoggingConfig", {{"LogFormat", "Text"}, {"LogGroup", "/aws/lambda/" + f.name}}},
      {"SnapStart", {{"ApplyOn", "None"}, {"OptimizationStatus", "Off"}}},
      {"NetworkMode", f.network_mode},  // Alto extension
  };
  if (!f.environment.empty()) {
    nlohmann::json vars = nlohmann::json::object();
    for (const auto& [k, v] : f.environment) {
      vars[k] = f.secret_names.count(k) ? std::string(kSecretRedacted) : v;
    }
    j["Environment"] = {{"Variables", std::move(vars)}};
    // Alto's extension: which variables are secret (SDKs ignore the unknown member).
    if (!f.secret_names.empty()) j["Environment"]["Secrets"] = f.secret_names;
  }
  if (!f.dead_letter_arn.empty()) j["DeadLetterConfig"] = {{"TargetArn", f.dead_letter_arn}};
  return j;
}

}  // namespace alto

namespace alto {

nlohmann::json AliasConfigurationJson(const AliasConfig& al, const AccountInfo& a) {
  nlohmann::json j = {{"AliasArn", FunctionArn(a, al.function, al.name)},
                      {"Name", al.name},
                      {"FunctionVersion", al.function_version},
                      {"Description", al.description},
                      {"RevisionId", al.revision_id}};
  if (!al.additional_version.empty()) {
    j["RoutingConfig"] = {
        {"AdditionalVersionWeights", {{al.additional_version, al.additional_weight}}}};
  }
  return j;
}

}  // namespace alto
