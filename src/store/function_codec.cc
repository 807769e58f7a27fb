// How a function version is stored: Alto's own flat JSON, with secret environment values sealed
// (SecretBox, bound to the function and variable name) and never in the clear.
#include "store/function_codec.h"

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/json.h"

namespace alto {

std::string SerializeFunction(const FunctionConfig& f) {
  std::map<std::string, std::string> plain;
  for (const auto& [k, v] : f.environment) {
    if (!f.secret_names.count(k)) plain[k] = v;
  }
  nlohmann::json j = {{"name", f.name},
                      {"version", f.version},
                      {"runtime", f.runtime},
                      {"handler", f.handler},
                      {"role", f.role},
                      {"description", f.description},
                      {"memory_mb", f.memory_mb},
                      {"timeout_s", f.timeout_s},
                      {"ephemeral_storage_mb", f.ephemeral_storage_mb},
                      {"environment", plain},
                      {"secret_names", f.secret_names},
                      {"code_sha256", f.code_sha256_hex},
                      {"code_size", f.code_size},
                      {"last_modified_ms", f.last_modified_ms},
                      {"revision_id", f.revision_id},
                      {"package_type", f.package_type},
                      {"architecture", f.architecture},
                      {"dead_letter_arn", f.dead_letter_arn},
                      {"reserved_concurrency", f.reserved_concurrency},
                      {"network_mode", f.network_mode}};
  return DumpJson(j);
}

bool DeserializeFunction(const std::string& text, FunctionConfig& f) {
  // Records read back are Alto's own flat objects; the API depth limit is ample.
  auto parsed = ParseJson(text, kApiJsonDepth);
  if (!parsed || !parsed->is_object()) return false;
  const nlohmann::json& j = *parsed;
  f.name = j.value("name", "");
  f.version = j.value("version", "$LATEST");
  f.runtime = j.value("runtime", "");
  f.handler = j.value("handler", "");
  f.role = j.value("role", "");
  f.description = j.value("description", "");
  f.memory_mb = j.value("memory_mb", 128);
  f.timeout_s = j.value("timeout_s", 3);
  f.ephemeral_storage_mb = j.value("ephemeral_storage_mb", 512);
  f.environment = j.value("environment", std::map<std::string, std::string>{});
  f.secret_names = j.value("secret_names", std::set<std::string>{});
  f.code_sha256_hex = j.value("code_sha256", "");
  f.code_size = j.value("code_size", int64_t{0});
  f.last_modified_ms = j.value("last_modified_ms", int64_t{0});
  f.revision_id = j.value("revision_id", "");
  f.package_type = j.value("package_type", "Zip");
  f.architecture = j.value("architecture", "x86_64");
  f.dead_letter_arn = j.value("dead_letter_arn", "");
  f.reserved_concurrency = j.value("reserved_concurrency", -1);
  f.network_mode = j.value("network_mode", "default");
  return !f.name.empty();
}

bool SameCodeAndConfig(const FunctionConfig& a, const FunctionConfig& b) {
  return a.code_sha256_hex == b.code_sha256_hex && a.runtime == b.runtime &&
         a.handler == b.handler && a.role == b.role && a.memory_mb == b.memory_mb &&
         a.timeout_s == b.timeout_s && a.ephemeral_storage_mb == b.ephemeral_storage_mb &&
         a.environment == b.environment && a.secret_names == b.secret_names &&
         a.package_type == b.package_type && a.architecture == b.architecture &&
         a.dead_letter_arn == b.dead_letter_arn;
}

namespace {

std::string SecretAad(const FunctionConfig& f, const std::string& var) {
  return f.name + "/" + var;
}

}  // namespace

Result<std::string> EncodeFunction(const FunctionConfig& f, const SecretBox* secrets) {
  auto parsed = ParseJson(SerializeFunction(f), kApiJsonDepth);
  if (!parsed) return parsed.error();
  nlohmann::json& j = *parsed;
  if (f.secret_names.empty()) return DumpJson(j);
  if (!secrets) return MakeError(Errc::kInternal, "no secret key configured to seal secrets");
  nlohmann::json sealed = nlohmann::json::object();
  for (const auto& k : f.secret_names) {
    auto v = f.environment.find(k);
    if (v == f.environment.end()) continue;
    auto box = secrets->Seal(v->second, SecretAad(f, k));
    if (!box) return box.error();
    sealed[k] = Base64Encode(*box);
  }
  j["sealed_secrets"] = std::move(sealed);
  return DumpJson(j);
}

Result<FunctionConfig> DecodeFunction(const std::string& text, const SecretBox* secrets) {
  FunctionConfig f;
  if (!DeserializeFunction(text, f)) return MakeError(Errc::kInternal, "corrupt function record");
  if (f.secret_names.empty()) return f;
  if (!secrets) return MakeError(Errc::kInternal, "no secret key configured to open secrets");
  auto j = ParseJson(text, kApiJsonDepth);
  if (!j) return MakeError(Errc::kInternal, "corrupt function record");
  // A named local: items() of a temporary would dangle.
  const nlohmann::json sealed = j->value("sealed_secrets", nlohmann::json::object());
  for (const auto& [k, v] : sealed.items()) {
    auto raw = Base64Decode(v.is_string() ? v.get<std::string>() : std::string());
    if (!raw) return MakeError(Errc::kInternal, "corrupt sealed secret in " + f.name);
    auto plain = secrets->Open(*raw, SecretAad(f, k));
    if (!plain) return plain.error();
    f.environment[k] = std::move(*plain);
  }
  return f;
}

}  // namespace alto
