// CreateFunctionUrlConfig / GetFunctionUrlConfig / UpdateFunctionUrlConfig /
// DeleteFunctionUrlConfig / ListFunctionUrlConfigs. The configs live in the function_urls table
// (src/store/sqlite_url_store.cc) behind the UrlCatalog that the URL gateway serves from.
#include <algorithm>
#include <boost/asio.hpp>
#include <cctype>
#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "api/http_event.h"
#include "api/lambda_api.h"
#include "common/encoding.h"
#include "common/json.h"

namespace alto {

using nlohmann::json;

namespace {

Status ReadStrings(const json& cors, const char* key, size_t max_items, size_t max_len,
                   std::vector<std::string>& out) {
  auto it = cors.find(key);
  if (it == cors.end() || it->is_null()) return {};
  if (!it->is_array() || it->size() > max_items) {
    return MakeError(Errc::kInvalidArgument, std::string("Cors.") + key +
                                                 " must be a list of at most " +
                                                 std::to_string(max_items) + " strings");
  }
  out.clear();
  for (const auto& v : *it) {
    if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
        v.get_ref<const std::string&>().size() > max_len) {
      return MakeError(Errc::kInvalidArgument, std::string("Cors.") + key +
                                                   " items must be strings of 1 to " +
                                                   std::to_string(max_len) + " characters");
    }
    // The items go into response headers as they are: a control character (CR, LF, NUL...)
    // would let the config split every response of the URL.
    const auto& text = v.get_ref<const std::string&>();
    if (std::any_of(text.begin(), text.end(),
                    [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; })) {
      return MakeError(Errc::kInvalidArgument,
                       std::string("Cors.") + key + " items must not hold control characters");
    }
    out.push_back(text);
  }
  return {};
}

Result<CorsConfig> ParseCors(const json& j) {
  if (!j.is_object()) return MakeError(Errc::kInvalidArgument, "Cors must be an object");
  CorsConfig c;
  c.present = true;
  if (auto it = j.find("AllowCredentials"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean())
      return MakeError(Errc::kInvalidArgument, "Cors.AllowCredentials must be a boolean");
    c.allow_credentials = it->get<bool>();
  }
  if (auto st = ReadStrings(j, "AllowHeaders", 100, 1024, c.allow_headers); !st) return st.error();
  if (auto st = ReadStrings(j, "AllowMethods", 6, 6, c.allow_methods); !st) return st.error();
  if (auto st = ReadStrings(j, "AllowOrigins", 100, 253, c.allow_origins); !st) return st.error();
  if (auto st = ReadStrings(j, "ExposeHeaders", 100, 1024, c.expose_headers); !st)
    return st.error();
  if (auto it = j.find("MaxAge"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() || *it < 0 || *it > 86400)
      return MakeError(Errc::kInvalidArgument, "Cors.MaxAge must be an integer from 0 to 86400");
    c.max_age = it->get<int>();
  }
  return c;
}

// Applies the fields of a Create/Update body to u.
Status ApplyUrlBody(const json& body, bool create, FunctionUrlConfig& u) {
  auto auth = body.find("AuthType");
  if (auth == body.end() || auth->is_null()) {
    if (create) return MakeError(Errc::kInvalidArgument, "AuthType is required");
  } else if (!auth->is_string() || (*auth != "NONE" && *auth != "AWS_IAM")) {
    return MakeError(Errc::kInvalidArgument,
                     "1 validation error detected: Value at 'authType' failed to satisfy "
                     "constraint: Member must satisfy enum value set: [AWS_IAM, NONE]");
  } else {
    u.auth_type = auth->get<std::string>();
  }
  if (auto mode = body.find("InvokeMode"); mode != body.end() && !mode->is_null()) {
    if (!mode->is_string() || (*mode != "BUFFERED" && *mode != "RESPONSE_STREAM")) {
      return MakeError(Errc::kInvalidArgument,
                       "1 validation error detected: Value at 'invokeMode' failed to satisfy "
                       "constraint: Member must satisfy enum value set: [BUFFERED, "
                       "RESPONSE_STREAM]");
    }
    u.invoke_mode = mode->get<std::string>();
  }
  if (auto cors = body.find("Cors"); cors != body.end() && !cors->is_null()) {
    auto c = ParseCors(*cors);
    if (!c) return c.error();
    u.cors = std::move(c.value());
  }
  return {};
}

json CorsJson(const CorsConfig& c) {
  json j = {{"AllowCredentials", c.allow_credentials}};
  if (!c.allow_headers.empty()) j["AllowHeaders"] = c.allow_headers;
  if (!c.allow_methods.empty()) j["AllowMethods"] = c.allow_methods;
  if (!c.allow_origins.empty()) j["AllowOrigins"] = c.allow_origins;
  if (!c.expose_headers.empty()) j["ExposeHeaders"] = c.expose_headers;
  if (c.max_age >= 0) j["MaxAge"] = c.max_age;
  return j;
}

json UrlConfigJson(const FunctionUrlConfig& u, const AccountInfo& account, uint16_t port,
                   bool with_last_modified, bool https) {
  json j = {{"FunctionUrl", FunctionUrlFor(u.url_id, account.region, port, https)},
            {"FunctionArn", FunctionArn(account, u.function, u.qualifier)},
            {"AuthType", u.auth_type},
            {"CreationTime", FormatLambdaTimestamp(u.creation_ms)},
            {"InvokeMode", u.invoke_mode}};
  if (u.cors.present) j["Cors"] = CorsJson(u.cors);
  if (with_last_modified) j["LastModifiedTime"] = FormatLambdaTimestamp(u.last_modified_ms);
  return j;
}

// Function URLs take an alias (or $LATEST, which is the unqualified function), never a version.
Status ValidateUrlQualifier(const std::string& q) {
  if (q.empty() || q == "$LATEST") return {};
  bool digits = true, valid = q.size() <= 128;
  for (char ch : q) {
    digits = digits && ch >= '0' && ch <= '9';
    valid = valid && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_');
  }
  if (digits || !valid) {
    return MakeError(Errc::kInvalidArgument,
                     "1 validation error detected: Value '" + q +
                         "' at 'qualifier' failed to satisfy constraint: Member must satisfy "
                         "regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)");
  }
  return {};
}

}  // namespace

boost::asio::awaitable<http::Response> LambdaApi::FunctionUrlConfigOp(Ctx& c) {
  if (!urls_) co_return LambdaError(404, "UnknownOperationException", "Function URLs are off");
  auto ref = RequestRef(c);
  if (!ref) co_return LambdaErrorFrom(ref.error());
  std::string qualifier = ref->qualifier;
  if (auto st = ValidateUrlQualifier(qualifier); !st) co_return LambdaErrorFrom(st.error());
  if (qualifier == "$LATEST") qualifier.clear();
  // The function (and alias) must exist, for every operation.
  auto f = co_await d_.resolver.Resolve(ref->name, qualifier, /*route=*/false);
  if (!f) co_return LambdaErrorFrom(f.error());
  const std::string name = f->name;
  const uint16_t port = urls_->port();
  const bool https = urls_->https();
  const std::string arn = FunctionArn(d_.account, name, qualifier);

  if (c.match.op == Op::kListFunctionUrlConfigs) {
    json out = {{"FunctionUrlConfigs", json::array()}};
    for (const auto& p : urls_->ListFor(name))
      out["FunctionUrlConfigs"].push_back(UrlConfigJson(*p, d_.account, port, true, https));
    co_return http::JsonResponse(200, DumpJson(out));
  }
  auto existing = urls_->For(name, qualifier);
  const std::string missing = "The resource you requested does not exist.";
  switch (c.match.op) {
    case Op::kGetFunctionUrlConfig:
      if (!existing) co_return LambdaError(404, "ResourceNotFoundException", missing);
      co_return http::JsonResponse(
          200, DumpJson(UrlConfigJson(*existing, d_.account, port, true, https)));
    case Op::kDeleteFunctionUrlConfig: {
      if (!existing) co_return LambdaError(404, "ResourceNotFoundException", missing);
      auto st = co_await urls_->Delete(name, qualifier);
      if (!st) co_return LambdaErrorFrom(st.error());
      http::Response r;
      r.status = 204;
      co_return r;
    }
    default:
      break;
  }
  auto parsed = ParseJson(c.req.body.empty() ? "{}" : c.req.body, kApiJsonDepth);
  if (!parsed || !parsed->is_object()) {
    co_return LambdaError(400, "InvalidRequestContentException",
                          "Could not parse request body into json" +
                              (parsed ? std::string() : ": " + parsed.error().message));
  }
  json body = std::move(*parsed);
  const bool create = c.match.op == Op::kCreateFunctionUrlConfig;
  if (create && existing) {
    co_return LambdaError(409, "ResourceConflictException",
                          "Failed to create function url config for [functionArn = " + arn +
                              "]. Error message:  FunctionUrlConfig exists for this Lambda "
                              "function");
  }
  if (!create && !existing) co_return LambdaError(404, "ResourceNotFoundException", missing);
  FunctionUrlConfig u = create ? FunctionUrlConfig{} : *existing;
  if (auto st = ApplyUrlBody(body, create, u); !st) co_return LambdaErrorFrom(st.error());
  u.last_modified_ms = d_.clock.WallMillis();
  Status st;
  if (create) {
    u.url_id = RandomHex(16);  // 32 lower-case characters, stable for the config's lifetime
    u.function = name;
    u.qualifier = qualifier;
    u.creation_ms = u.last_modified_ms;
    st = co_await urls_->Create(u);
  } else {
    st = co_await urls_->Update(u);
  }
  if (!st) co_return LambdaErrorFrom(st.error());
  co_return http::JsonResponse(create ? 201 : 200,
                               DumpJson(UrlConfigJson(u, d_.account, port, !create, https)));
}

}  // namespace alto
