// The stored text of a function URL configuration: Alto's own JSON.
#include "store/function_url.h"

#include <nlohmann/json.hpp>

#include "common/json.h"

namespace alto {

std::string SerializeFunctionUrl(const FunctionUrlConfig& u) {
  nlohmann::json j = {{"url_id", u.url_id},
                      {"function", u.function},
                      {"qualifier", u.qualifier},
                      {"auth_type", u.auth_type},
                      {"invoke_mode", u.invoke_mode},
                      {"creation_ms", u.creation_ms},
                      {"last_modified_ms", u.last_modified_ms}};
  if (u.cors.present) {
    j["cors"] = {
        {"allow_credentials", u.cors.allow_credentials}, {"allow_headers", u.cors.allow_headers},
        {"allow_methods", u.cors.allow_methods},         {"allow_origins", u.cors.allow_origins},
        {"expose_headers", u.cors.expose_headers},       {"max_age", u.cors.max_age}};
  }
  return DumpJson(j);
}

bool DeserializeFunctionUrl(const std::string& text, FunctionUrlConfig& u) {
  // Alto's own record, a few levels deep: the API depth limit is ample.
  auto parsed = ParseJson(text, kApiJsonDepth);
  if (!parsed || !parsed->is_object()) return false;
  const nlohmann::json& j = *parsed;
  using Strings = std::vector<std::string>;
  u.url_id = j.value("url_id", "");
  u.function = j.value("function", "");
  u.qualifier = j.value("qualifier", "");
  u.auth_type = j.value("auth_type", "NONE");
  u.invoke_mode = j.value("invoke_mode", "BUFFERED");
  u.creation_ms = j.value("creation_ms", int64_t{0});
  u.last_modified_ms = j.value("last_modified_ms", int64_t{0});
  u.cors = {};
  if (auto c = j.find("cors"); c != j.end() && c->is_object()) {
    u.cors.present = true;
    u.cors.allow_credentials = c->value("allow_credentials", false);
    u.cors.allow_headers = c->value("allow_headers", Strings{});
    u.cors.allow_methods = c->value("allow_methods", Strings{});
    u.cors.allow_origins = c->value("allow_origins", Strings{});
    u.cors.expose_headers = c->value("expose_headers", Strings{});
    u.cors.max_age = c->value("max_age", -1);
  }
  return !u.url_id.empty() && !u.function.empty();
}

}  // namespace alto
