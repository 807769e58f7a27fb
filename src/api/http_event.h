// Pure conversions between HTTP and Lambda's HTTP API payload format 2.0, as function URLs use
// it: the request event, the interpretation of the function's result, CORS, and the URL host name.
// No I/O here, so every rule is unit-tested (tests/unit/http_event_test.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "http/message.h"
#include "store/function_url.h"

namespace alto {

// Lambda's request and response limits for function URLs (the sync Invoke limits).
constexpr size_t kMaxUrlRequestBytes = 6 * 1024 * 1024;
// The delimiter between the JSON prelude and the body of a streamed HTTP-integration response.
constexpr std::string_view kStreamPreludeDelimiter{"\0\0\0\0\0\0\0\0", 8};
// The content type a runtime's streamed answer has when it starts with that prelude.
constexpr std::string_view kHttpIntegrationContentType =
    "application/vnd.awslambda.http-integration-response";
// How much of a streamed answer may come before the prelude's delimiter.
constexpr size_t kMaxStreamPreludeBytes = 64 * 1024;

struct UrlEventContext {
  std::string account_id;
  std::string url_id;
  std::string region;
  std::string request_id;
  int64_t epoch_ms = 0;
};

// Text-like bodies are passed as strings; anything else (or no Content-Type) is base64.
bool IsTextContentType(std::string_view content_type);

// The payload format 2.0 event for one request. raw_path is the path the function sees (for the
// path form, the part after /url/<function>[/<alias>]).
std::string BuildUrlEvent(const http::Request& req, std::string_view raw_path,
                          const UrlEventContext& ctx);

// Lambda's reading of a function's output: an object with statusCode is a structured response;
// any other JSON value is a 200 application/json body, verbatim. Invalid output (not JSON, a bad
// statusCode, a body that is not valid base64) is an error: the caller answers 502.
Result<http::Response> InterpretUrlResult(std::string_view output);

// RESPONSE_STREAM's HTTP-integration framing: JSON prelude {statusCode, headers, cookies}, 8 NUL
// bytes, then the body. Returns nullopt when output is not in that framing.
std::optional<http::Response> InterpretStreamedResult(std::string_view output);
// The status and headers a prelude (the JSON before the delimiter) sets; nullopt when invalid.
std::optional<http::Response> ParseStreamPrelude(std::string_view prelude);

// CORS, answered from the config. A preflight is an OPTIONS with Origin and
// Access-Control-Request-Method on a URL that has a Cors config.
bool IsCorsPreflight(const CorsConfig& cors, const http::Request& req);
http::Response CorsPreflightResponse(const CorsConfig& cors, const http::Request& req);
// Adds the CORS headers of an actual response (replacing any the function set).
void AddCorsHeaders(const CorsConfig& cors, const http::Request& req, http::Response& res);

// The url id in a Host header `<url-id>.lambda-url.<region>.<anything>[:port]`; nullopt otherwise.
std::optional<std::string> UrlIdFromHost(std::string_view host);
// http://<url-id>.lambda-url.<region>.localhost:<port>/ (https:// on a TLS listener)
std::string FunctionUrlFor(std::string_view url_id, std::string_view region, uint16_t port,
                           bool https = false);

// requestContext.time: 21/Apr/2020:15:08:21 +0000
std::string FormatClfTime(int64_t epoch_ms);

}  // namespace alto
