#include "cli/client_commands.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/encoding.h"
#include "http/client.h"
#include "store/zip.h"

namespace alto::cli {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

int Fail(const std::string& message) {
  std::cerr << "alto: error: " << message << "\n";
  return 1;
}

// Sends a request; returns the response, or prints why it failed and returns nullopt.
std::optional<http::Response> Call(const ClientOptions& o, const std::string& method,
                                   const std::string& target, std::string body = {},
                                   std::vector<http::Header> headers = {}) {
  auto ep = http::ParseEndpoint(o.endpoint);
  if (!ep) {
    Fail(ep.error().message);
    return std::nullopt;
  }
  http::Request req;
  req.method = method;
  req.target = target;
  req.headers = std::move(headers);
  if (!body.empty()) req.headers.push_back({"Content-Type", "application/json"});
  req.body = std::move(body);
  auto res = http::Fetch(*ep, req);
  if (!res) {
    Fail(res.error().message + " (is `alto server` running? set --endpoint or ALTO_ENDPOINT)");
    return std::nullopt;
  }
  return std::move(res.value());
}

// Prints a Lambda error response as "Type: Message".
int FailFrom(const http::Response& r) {
  std::string type(r.HeaderValue("x-amzn-ErrorType"));
  auto j = json::parse(r.body, nullptr, false);
  std::string msg = j.is_object() ? j.value("Message", j.value("message", r.body)) : r.body;
  return Fail((type.empty() ? "HTTP " + std::to_string(r.status) : type) + ": " + msg);
}

std::string FnPath(const std::string& name) {
  return "/2015-03-31/functions/" + PercentEncode(name);
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int FnDeploy(const ClientOptions& o, const DeployArgs& a) {
  std::string zip;
  std::error_code ec;
  if (fs::is_directory(a.path, ec)) {
    auto z = ZipDirectory(a.path);
    if (!z) return Fail(z.error().message);
    zip = std::move(*z);
  } else {
    auto bytes = ReadFile(a.path);
    if (!bytes) return Fail("cannot read " + a.path);
    zip = std::move(*bytes);
  }
  json config = json::object();
  if (!a.runtime.empty()) config["Runtime"] = a.runtime;
  if (!a.handler.empty()) config["Handler"] = a.handler;
  if (a.memory_mb) config["MemorySize"] = a.memory_mb;
  if (a.timeout_s) config["Timeout"] = a.timeout_s;
  if (!a.description.empty()) config["Description"] = a.description;
  if (!a.env.empty()) {
    json vars = json::object();
    for (const auto& kv : a.env) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        return Fail("--env takes KEY=VALUE, got '" + kv + "'");
      vars[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    config["Environment"] = {{"Variables", vars}};
  }
  std::string zip_b64 = Base64Encode(zip);

  json create = config;
  create["FunctionName"] = a.name;
  create["Role"] = a.role;
  create["Code"] = {{"ZipFile", zip_b64}};
  auto r = Call(o, "POST", "/2015-03-31/functions", create.dump());
  if (!r) return 1;
  if (r->status == 409) {
    // Exists: update the code, then whatever configuration was given.
    auto rc = Call(o, "PUT", FnPath(a.name) + "/code", json{{"ZipFile", zip_b64}}.dump());
    if (!rc) return 1;
    if (rc->status != 200) return FailFrom(*rc);
    r = rc;
    if (!config.empty()) {
      auto ru = Call(o, "PUT", FnPath(a.name) + "/configuration", config.dump());
      if (!ru) return 1;
      if (ru->status != 200) return FailFrom(*ru);
      r = ru;
    }
  } else if (r->status != 201) {
    return FailFrom(*r);
  }
  auto j = json::parse(r->body, nullptr, false);
  std::cout << "deployed " << j.value("FunctionName", a.name) << " (" << j.value("Runtime", "")
            << ", " << j.value("CodeSize", 0) << " bytes, sha256 " << j.value("CodeSha256", "")
            << ")\n";
  return 0;
}

int FnInvoke(const ClientOptions& o, const std::string& name, const std::string& payload_arg,
             bool show_log, bool async) {
  std::string payload = payload_arg;
  if (payload.starts_with("@")) {
    auto bytes = ReadFile(payload.substr(1));
    if (!bytes) return Fail("cannot read " + payload.substr(1));
    payload = std::move(*bytes);
  }
  if (!payload.empty() && !json::accept(payload)) return Fail("--payload is not valid JSON");
  std::vector<http::Header> headers;
  if (show_log && !async) headers.push_back({"X-Amz-Log-Type", "Tail"});
  if (async) headers.push_back({"X-Amz-Invocation-Type", "Event"});
  auto r = Call(o, "POST", FnPath(name) + "/invocations", payload, headers);
  if (!r) return 1;
  if (async) {
    if (r->status != 202) return FailFrom(*r);
    std::cout << "queued " << r->HeaderValue("x-amzn-RequestId") << "\n";
    return 0;
  }
  if (r->status != 200) return FailFrom(*r);
  if (show_log) {
    auto log = Base64Decode(r->HeaderValue("X-Amz-Log-Result"));
    if (log) std::cerr << *log;
  }
  std::cout << r->body << "\n";
  if (!r->HeaderValue("X-Amz-Function-Error").empty()) {
    std::cerr << "alto: the function returned an error (" << r->HeaderValue("X-Amz-Function-Error")
              << ")\n";
    return 3;
  }
  return 0;
}

int FnList(const ClientOptions& o) {
  std::string marker;
  bool header = false;
  do {
    std::string target = "/2015-03-31/functions?MaxItems=50";
    if (!marker.empty()) target += "&Marker=" + PercentEncode(marker);
    auto r = Call(o, "GET", target);
    if (!r) return 1;
    if (r->status != 200) return FailFrom(*r);
    auto j = json::parse(r->body, nullptr, false);
    if (!header) {
      std::printf("%-40s %-16s %7s %8s  %s\n", "NAME", "RUNTIME", "MEMORY", "TIMEOUT",
                  "LAST MODIFIED");
      header = true;
    }
    for (const auto& f : j.value("Functions", json::array())) {
      std::printf("%-40s %-16s %7d %8d  %s\n", f.value("FunctionName", "").c_str(),
                  f.value("Runtime", "").c_str(), f.value("MemorySize", 0), f.value("Timeout", 0),
                  f.value("LastModified", "").c_str());
    }
    marker = j.value("NextMarker", "");
  } while (!marker.empty());
  return 0;
}

int FnGet(const ClientOptions& o, const std::string& name) {
  auto r = Call(o, "GET", FnPath(name) + "/configuration");
  if (!r) return 1;
  if (r->status != 200) return FailFrom(*r);
  std::cout << json::parse(r->body, nullptr, false).dump(2) << "\n";
  return 0;
}

int FnRemove(const ClientOptions& o, const std::string& name) {
  auto r = Call(o, "DELETE", FnPath(name));
  if (!r) return 1;
  if (r->status / 100 != 2) return FailFrom(*r);
  std::cout << "removed " << name << "\n";
  return 0;
}

int FnLogs(const ClientOptions& o, const std::string& name, int limit) {
  auto r = Call(o, "GET",
                "/v1/functions/" + PercentEncode(name) + "/logs?limit=" + std::to_string(limit));
  if (!r) return 1;
  if (r->status != 200) return FailFrom(*r);
  auto j = json::parse(r->body, nullptr, false);
  for (const auto& inv : j.value("Invocations", json::array())) std::cout << inv.value("Log", "");
  return 0;
}

int FnStats(const ClientOptions& o, const std::string& name) {
  auto r = Call(o, "GET", "/v1/functions/" + PercentEncode(name) + "/stats");
  if (!r) return 1;
  if (r->status != 200) return FailFrom(*r);
  auto j = json::parse(r->body, nullptr, false);
  const auto& a = j["Async"];
  std::printf("%s\n", j.value("FunctionName", name).c_str());
  std::printf("  %-24s %lld\n", "QueueDepth", a.value("QueueDepth", 0LL));
  std::printf("  %-24s %.1f s\n", "OldestEventAge", a.value("OldestEventAgeSeconds", 0.0));
  for (const char* k : {"InFlight", "Enqueued", "Delivered", "Redelivered", "Retries",
                        "DroppedByAge", "DeadLettered", "RecursionStopped", "Discarded"}) {
    std::printf("  %-24s %lld\n", k, a.value(k, 0LL));
  }
  return 0;
}

int QueueCreate(const ClientOptions& o, const std::string& name) {
  auto r = Call(o, "PUT", "/v1/queues/" + PercentEncode(name));
  if (!r) return 1;
  if (r->status != 200) return FailFrom(*r);
  std::cout << json::parse(r->body, nullptr, false).value("Arn", name) << "\n";
  return 0;
}

int QueueList(const ClientOptions& o) {
  auto r = Call(o, "GET", "/v1/queues");
  if (!r) return 1;
  if (r->status != 200) return FailFrom(*r);
  for (const auto& q : json::parse(r->body, nullptr, false).value("Queues", json::array())) {
    std::cout << q.value("Name", "") << "\t" << q.value("Arn", "") << "\n";
  }
  return 0;
}

int QueueRead(const ClientOptions& o, const std::string& name, int max, bool peek) {
  auto r = Call(o, "GET",
                "/v1/queues/" + PercentEncode(name) + "/messages?max=" + std::to_string(max) +
                    "&consume=" + (peek ? "false" : "true"));
  if (!r) return 1;
  if (r->status != 200) return FailFrom(*r);
  for (const auto& m : json::parse(r->body, nullptr, false).value("Messages", json::array())) {
    std::cout << m.dump() << "\n";
  }
  return 0;
}

}  // namespace alto::cli

namespace alto::cli {

int FnUrl(const ClientOptions& o, const UrlArgs& a) {
  std::string path = "/2021-10-31/functions/" + PercentEncode(a.name) + "/url";
  if (!a.qualifier.empty()) path += "?Qualifier=" + PercentEncode(a.qualifier);
  auto r = Call(o, "GET", path);
  if (!r) return 1;
  if (r->status != 200 && !(r->status == 404 && a.create)) {
    if (r->status == 404 && r->HeaderValue("x-amzn-ErrorType") == "ResourceNotFoundException") {
      // Either the function or its URL is missing; the server's message says which.
      auto j = json::parse(r->body, nullptr, false);
      std::string msg = j.is_object() ? j.value("Message", "") : "";
      if (msg.starts_with("Function not found")) return FailFrom(*r);
      return Fail(a.name + " has no function URL (create one with --create)");
    }
    return FailFrom(*r);
  }
  if (a.create && (r->status == 404 || !a.cors_origins.empty())) {
    json body = json::object();
    if (r->status == 404) body["AuthType"] = "NONE";
    if (!a.cors_origins.empty()) {
      body["Cors"] = {
          {"AllowOrigins", a.cors_origins}, {"AllowMethods", {"*"}}, {"AllowHeaders", {"*"}}};
    }
    r = Call(o, r->status == 404 ? "POST" : "PUT", path, body.dump());
    if (!r) return 1;
    if (r->status / 100 != 2) return FailFrom(*r);
  }
  auto j = json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("FunctionUrl")) return Fail("unexpected answer: " + r->body);
  std::cout << j["FunctionUrl"].get<std::string>() << "\n";
  return 0;
}

}  // namespace alto::cli
