#include "cli/call.h"

#include <chrono>
#include <cstdlib>
#include <iostream>

#include "auth/sigv4.h"
#include "cli/credentials.h"
#include "common/json.h"
#include "http/client.h"

namespace alto::cli {

int Fail(const std::string& message) {
  std::cerr << "alto: error: " << message << "\n";
  return 1;
}

// A reply of the server as JSON, discarded when it is not. Replies can carry documents a function
// wrote (errors, records), hence the function-document depth limit rather than the API one.
nlohmann::json ParseReply(std::string_view body) {
  auto j = ParseJson(body, kFunctionJsonDepth);
  return j ? std::move(*j) : nlohmann::json(nlohmann::json::value_t::discarded);
}

// Sends a request; returns the response, or prints why it failed and returns nullopt.
std::optional<http::Response> Call(const ClientOptions& o, const std::string& method,
                                   const std::string& target, std::string body,
                                   std::vector<http::Header> headers) {
  auto ep = http::ParseEndpoint(o.endpoint);
  if (!ep) {
    Fail(ep.error().message);
    return std::nullopt;
  }
  static const auto creds = LoadCredentials(ProcessEnvironment());
  if (!creds) {
    Fail(creds.error().message);
    return std::nullopt;
  }
  http::Request req;
  req.method = method;
  req.target = target;
  size_t q = target.find('?');
  req.path = target.substr(0, q);
  req.query = q == std::string::npos ? std::string() : target.substr(q + 1);
  req.headers = std::move(headers);
  req.headers.push_back({"Host", ep->HostHeader()});
  if (!body.empty()) req.headers.push_back({"Content-Type", "application/json"});
  req.body = std::move(body);
  auth::SignRequest(req, creds->credentials, creds->region, "lambda",
                    std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count(),
                    auth::PathStyle::kDoubleEncoded);
  // The aws CLI's variable names the CA bundle for a server with a private CA (--ca-bundle there).
  http::FetchOptions fetch;
  if (const char* ca = std::getenv("AWS_CA_BUNDLE"); ca && *ca) fetch.ca_file = ca;
  auto res = http::Fetch(*ep, req, fetch);
  if (!res) {
    Fail(res.error().message + " (is `alto server` running? set --endpoint or ALTO_ENDPOINT)");
    return std::nullopt;
  }
  return std::move(res.value());
}

// Prints a Lambda error response as "Type: Message".
int FailFrom(const http::Response& r) {
  std::string type(r.HeaderValue("x-amzn-ErrorType"));
  auto j = ParseReply(r.body);
  std::string msg = j.is_object() ? j.value("Message", j.value("message", r.body)) : r.body;
  return Fail((type.empty() ? "HTTP " + std::to_string(r.status) : type) + ": " + msg);
}

}  // namespace alto::cli
