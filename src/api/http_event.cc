#include "api/http_event.h"

#include <cctype>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/encoding.h"
#include "common/json.h"

namespace alto {

using nlohmann::json;

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Query components: '+' is a space in form encoding, as API Gateway and Lambda decode it.
std::string DecodeQueryPart(std::string_view s) {
  std::string v(s);
  for (char& c : v) {
    if (c == '+') c = ' ';
  }
  return PercentDecode(v);
}

bool Contains(const std::vector<std::string>& list, std::string_view value) {
  for (const auto& v : list) {
    if (http::IEquals(v, value)) return true;
  }
  return false;
}

std::string Join(const std::vector<std::string>& list, std::string_view sep) {
  std::string out;
  for (const auto& v : list) {
    if (!out.empty()) out += sep;
    out += v;
  }
  return out;
}

// Headers the HTTP server owns (framing, connection management): never taken from a function.
bool IsFramingHeader(std::string_view name) {
  return http::IEquals(name, "content-length") || http::IEquals(name, "transfer-encoding") ||
         http::IEquals(name, "connection") || http::IEquals(name, "keep-alive") ||
         http::IEquals(name, "upgrade");
}

// The server writes a function's header names and values into the response head as they are:
// a CR or LF would end the head early and let the function forge headers or a whole second
// response (found by tests/fuzz/fuzz_http_event). Names must be RFC 9110 tokens; values may hold
// any byte but controls other than tab.
bool IsHeaderName(std::string_view name) {
  static constexpr std::string_view kTokenPunct = "!#$%&'*+-.^_`|~";
  if (name.empty()) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        kTokenPunct.find(c) == std::string_view::npos)
      return false;
  }
  return true;
}

bool IsHeaderValue(std::string_view value) {
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

Status ApplyHeaders(const json& headers, http::Response& r) {
  if (headers.is_null()) return {};
  if (!headers.is_object()) return MakeError(Errc::kInvalidArgument, "headers must be an object");
  for (const auto& [name, value] : headers.items()) {
    if (IsFramingHeader(name) || value.is_null()) continue;
    std::string text = value.is_string() ? value.get<std::string>() : DumpJson(value);
    if (!IsHeaderName(name) || !IsHeaderValue(text)) {
      return MakeError(Errc::kInvalidArgument, "a header name or value holds invalid characters");
    }
    r.Set(name, std::move(text));
  }
  return {};
}

Status ApplyCookies(const json& cookies, http::Response& r) {
  if (cookies.is_null()) return {};
  if (!cookies.is_array()) return MakeError(Errc::kInvalidArgument, "cookies must be an array");
  for (const auto& c : cookies) {
    if (!c.is_string()) return MakeError(Errc::kInvalidArgument, "a cookie must be a string");
    if (!IsHeaderValue(c.get_ref<const std::string&>())) {
      return MakeError(Errc::kInvalidArgument, "a cookie holds invalid characters");
    }
    r.headers.push_back({"Set-Cookie", c.get<std::string>()});  // one header per cookie
  }
  return {};
}

bool OriginAllowed(const CorsConfig& cors, std::string_view origin) {
  return !origin.empty() &&
         (Contains(cors.allow_origins, "*") || Contains(cors.allow_origins, origin));
}

void SetAllowOrigin(const CorsConfig& cors, std::string_view origin, http::Response& r) {
  // "*" cannot be used with credentials; echoing the origin works in both cases.
  bool star = Contains(cors.allow_origins, "*") && !cors.allow_credentials;
  r.Set("Access-Control-Allow-Origin", star ? std::string("*") : std::string(origin));
  if (cors.allow_credentials) r.Set("Access-Control-Allow-Credentials", "true");
  if (!star) r.Set("Vary", "Origin");
}

}  // namespace

bool IsTextContentType(std::string_view ct) {
  std::string base = Lower(Trim(ct.substr(0, ct.find(';'))));
  if (base.empty()) return false;
  if (base.starts_with("text/")) return true;
  if (base == "application/json" || base == "application/javascript" || base == "application/xml" ||
      base == "application/yaml" || base == "application/x-yaml" || base == "application/graphql") {
    return true;
  }
  return base.ends_with("+json") || base.ends_with("+xml");
}

std::string FormatClfTime(int64_t epoch_ms) {
  std::time_t secs = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  snprintf(buf, sizeof buf, "%02d/%s/%04d:%02d:%02d:%02d +0000", tm.tm_mday, kMonths[tm.tm_mon],
           tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string BuildUrlEvent(const http::Request& req, std::string_view raw_path,
                          const UrlEventContext& ctx) {
  json headers = json::object();
  json cookies = json::array();
  for (const auto& h : req.headers) {
    std::string name = Lower(h.name);
    if (name == "cookie") {
      // Cookies move to their own array; the cookie header is not repeated in headers.
      std::string_view rest = h.value;
      while (!rest.empty()) {
        size_t semi = rest.find(';');
        auto one = Trim(rest.substr(0, semi));
        if (!one.empty()) cookies.push_back(std::string(one));
        if (semi == std::string_view::npos) break;
        rest.remove_prefix(semi + 1);
      }
      continue;
    }
    auto it = headers.find(name);
    if (it == headers.end()) {
      headers[name] = h.value;
    } else {
      it->get_ref<std::string&>() += "," + h.value;
    }
  }

  const std::string domain = ctx.url_id + ".lambda-url." + ctx.region + ".localhost";
  std::string path = raw_path.empty() ? std::string("/") : std::string(raw_path);
  json event = {
      {"version", "2.0"},
      {"routeKey", "$default"},
      {"rawPath", path},
      {"rawQueryString", req.query},
      {"headers", headers},
      {"requestContext",
       {{"accountId", "anonymous"},
        {"apiId", ctx.url_id},
        {"domainName", domain},
        {"domainPrefix", ctx.url_id},
        {"http",
         {{"method", req.method},
          {"path", path},
          {"protocol", "HTTP/1.1"},
          {"sourceIp", req.remote_ip},
          {"userAgent", std::string(req.HeaderValue("user-agent"))}}},
        {"requestId", ctx.request_id},
        {"routeKey", "$default"},
        {"stage", "$default"},
        {"time", FormatClfTime(ctx.epoch_ms)},
        {"timeEpoch", ctx.epoch_ms}}},
      {"isBase64Encoded", false},
  };
  if (!cookies.empty()) event["cookies"] = std::move(cookies);

  if (!req.query.empty()) {
    json params = json::object();
    std::string_view q = req.query;
    while (!q.empty()) {
      size_t amp = q.find('&');
      std::string_view pair = q.substr(0, amp);
      if (!pair.empty()) {
        size_t eq = pair.find('=');
        std::string key = DecodeQueryPart(pair.substr(0, eq));
        std::string value =
            eq == std::string_view::npos ? "" : DecodeQueryPart(pair.substr(eq + 1));
        auto it = params.find(key);
        if (it == params.end()) {
          params[key] = std::move(value);
        } else {
          it->get_ref<std::string&>() += "," + value;
        }
      }
      if (amp == std::string_view::npos) break;
      q.remove_prefix(amp + 1);
    }
    event["queryStringParameters"] = std::move(params);
  }

  if (!req.body.empty()) {
    if (IsTextContentType(req.HeaderValue("content-type"))) {
      event["body"] = req.body;
    } else {
      event["body"] = Base64Encode(req.body);
      event["isBase64Encoded"] = true;
    }
  }
  // Bodies are arbitrary bytes; a text body that is not UTF-8 must not make dump() throw.
  return event.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<http::Response> InterpretUrlResult(std::string_view output) {
  http::Response r;
  r.status = 200;
  if (output.empty()) {
    r.Set("Content-Type", "application/json");
    return r;
  }
  // The output is the function's: validated without a DOM first, and only an object (which may
  // carry statusCode) is parsed, with a depth limit, since its fields are copied and dumped.
  if (!IsJson(output)) {
    return MakeError(Errc::kInvalidArgument, "The function's response is not valid JSON");
  }
  size_t first = output.find_first_not_of(" \t\r\n");
  if (output[first] != '{') {
    r.Set("Content-Type", "application/json");
    r.body = std::string(output);
    return r;
  }
  // An object nested deeper than the limit is refused even without statusCode: rare, and
  // telling the two apart would mean walking the tree.
  auto parsed = ParseJson(output, kFunctionJsonDepth);
  if (!parsed) {
    return MakeError(Errc::kInvalidArgument,
                     "The function's response cannot be used: " + parsed.error().message);
  }
  const json& j = *parsed;
  auto sc = j.find("statusCode");
  if (sc == j.end()) {
    // Lambda assumes a 200 JSON response and passes the output through unchanged.
    r.Set("Content-Type", "application/json");
    r.body = std::string(output);
    return r;
  }
  if (!sc->is_number_integer() || sc->get<int64_t>() < 100 || sc->get<int64_t>() > 599) {
    return MakeError(Errc::kInvalidArgument, "statusCode must be an integer between 100 and 599");
  }
  r.status = sc->get<int>();
  if (auto st = ApplyHeaders(j.value("headers", json()), r); !st) return st.error();
  if (auto st = ApplyCookies(j.value("cookies", json()), r); !st) return st.error();
  if (r.HeaderValue("Content-Type").empty()) r.Set("Content-Type", "application/json");
  json body = j.value("body", json());
  if (body.is_string()) {
    r.body = body.get<std::string>();
  } else if (!body.is_null()) {
    r.body = DumpJson(body);
  }
  if (j.value("isBase64Encoded", false)) {
    auto decoded = Base64Decode(r.body);
    if (!decoded) return MakeError(Errc::kInvalidArgument, "body is not valid base64");
    r.body = std::move(*decoded);
  }
  return r;
}

std::optional<http::Response> ParseStreamPrelude(std::string_view text) {
  auto parsed = ParseJson(text, kFunctionJsonDepth);
  if (!parsed || !parsed->is_object()) return std::nullopt;
  const json& prelude = *parsed;
  http::Response r;
  auto sc = prelude.find("statusCode");
  r.status = sc != prelude.end() && sc->is_number_integer() ? sc->get<int>() : 200;
  if (r.status < 100 || r.status > 599) return std::nullopt;
  if (!ApplyHeaders(prelude.value("headers", json()), r)) return std::nullopt;
  if (!ApplyCookies(prelude.value("cookies", json()), r)) return std::nullopt;
  if (r.HeaderValue("Content-Type").empty()) r.Set("Content-Type", "application/octet-stream");
  return r;
}

std::optional<http::Response> InterpretStreamedResult(std::string_view output) {
  size_t cut = output.find(kStreamPreludeDelimiter);
  if (cut == std::string_view::npos) return std::nullopt;
  auto r = ParseStreamPrelude(output.substr(0, cut));
  if (r) r->body = std::string(output.substr(cut + kStreamPreludeDelimiter.size()));
  return r;
}

bool IsCorsPreflight(const CorsConfig& cors, const http::Request& req) {
  return cors.present && req.method == "OPTIONS" && req.HasHeader("Origin") &&
         req.HasHeader("Access-Control-Request-Method");
}

http::Response CorsPreflightResponse(const CorsConfig& cors, const http::Request& req) {
  http::Response r;
  r.status = 200;
  std::string_view origin = req.HeaderValue("Origin");
  // An origin outside the list gets no CORS headers: the browser then refuses the request.
  if (!OriginAllowed(cors, origin)) return r;
  SetAllowOrigin(cors, origin, r);
  if (!cors.allow_methods.empty()) {
    r.Set("Access-Control-Allow-Methods",
          Contains(cors.allow_methods, "*") ? std::string("*") : Join(cors.allow_methods, ", "));
  }
  if (!cors.allow_headers.empty()) {
    r.Set("Access-Control-Allow-Headers", Join(cors.allow_headers, ", "));
  }
  if (cors.max_age >= 0) r.Set("Access-Control-Max-Age", std::to_string(cors.max_age));
  return r;
}

void AddCorsHeaders(const CorsConfig& cors, const http::Request& req, http::Response& res) {
  if (!cors.present) return;
  std::string_view origin = req.HeaderValue("Origin");
  if (!OriginAllowed(cors, origin)) return;
  // The URL's configuration wins over CORS headers the function set itself.
  std::erase_if(res.headers,
                [](const http::Header& h) { return Lower(h.name).starts_with("access-control-"); });
  SetAllowOrigin(cors, origin, res);
  if (!cors.expose_headers.empty()) {
    res.Set("Access-Control-Expose-Headers", Join(cors.expose_headers, ", "));
  }
}

std::optional<std::string> UrlIdFromHost(std::string_view host) {
  if (auto colon = host.rfind(':'); colon != std::string_view::npos) host = host.substr(0, colon);
  std::string h = Lower(host);
  static constexpr std::string_view kMarker = ".lambda-url.";
  size_t pos = h.find(kMarker);
  if (pos == 0 || pos == std::string::npos) return std::nullopt;
  if (pos + kMarker.size() >= h.size()) return std::nullopt;  // a region must follow
  std::string id = h.substr(0, pos);
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return std::nullopt;
  }
  return id;
}

std::string FunctionUrlFor(std::string_view url_id, std::string_view region, uint16_t port,
                           bool https) {
  return (https ? "https://" : "http://") + std::string(url_id) + ".lambda-url." +
         std::string(region) + ".localhost:" + std::to_string(port) + "/";
}

}  // namespace alto
