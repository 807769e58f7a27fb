#include "cli/client_commands.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/call.h"
#include "common/encoding.h"
#include "common/json.h"
#include "http/client.h"
#include "store/zip.h"

namespace alto::cli {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

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

std::string AliasPath(const std::string& name, const std::string& alias = {}) {
  std::string p = FnPath(name) + "/aliases";
  if (!alias.empty()) p += "/" + PercentEncode(alias);
  return p;
}

void PrintAlias(const json& a) {
  std::cout << a.value("Name", "") << " -> " << a.value("FunctionVersion", "");
  if (a.contains("RoutingConfig")) {
    const json weights = a["RoutingConfig"].value("AdditionalVersionWeights", json::object());
    for (const auto& [v, w] : weights.items()) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.4g", w.get<double>() * 100.0);
      std::cout << " (+ version " << v << " at " << buf << "%)";
    }
  }
  std::cout << "\n";
}

int Publish(const ClientOptions& o, const std::string& name, const std::string& description,
            std::string* version) {
  json body = json::object();
  if (!description.empty()) body["Description"] = description;
  auto r = Call(o, "POST", FnPath(name) + "/versions", DumpJson(body));
  if (!r) return 1;
  if (r->status != 201) return FailFrom(*r);
  auto j = ParseReply(r->body);
  *version = j.value("Version", "");
  std::cout << "published " << name << " version " << *version << "\n";
  return 0;
}

// Creates the alias at version, or updates it: with weight_percent >= 0 (and < 100) the alias
// keeps its version and sends that share to `version` (a canary); otherwise it moves to it.
int MoveAlias(const ClientOptions& o, const std::string& name, const std::string& alias,
              const std::string& version, double weight_percent) {
  auto got = Call(o, "GET", AliasPath(name, alias));
  if (!got) return 1;
  json body;
  std::string method = "PUT", target = AliasPath(name, alias);
  if (got->status == 404) {
    method = "POST";
    target = AliasPath(name);
    body = {{"Name", alias}, {"FunctionVersion", version}};
  } else if (got->status != 200) {
    return FailFrom(*got);
  } else {
    auto current = ParseReply(got->body);
    std::string primary = current.value("FunctionVersion", "");
    if (weight_percent < 0 || weight_percent >= 100 || primary == version || primary == "$LATEST") {
      body = {{"FunctionVersion", version}, {"RoutingConfig", json::object()}};
    } else {
      body = {
          {"FunctionVersion", primary},
          {"RoutingConfig", {{"AdditionalVersionWeights", {{version, weight_percent / 100.0}}}}}};
    }
  }
  auto r = Call(o, method, target, DumpJson(body));
  if (!r) return 1;
  if (r->status / 100 != 2) return FailFrom(*r);
  std::cout << "alias ";
  PrintAlias(ParseReply(r->body));
  return 0;
}

}  // namespace

int FnPublish(const ClientOptions& o, const std::string& name, const std::string& description) {
  std::string version;
  return Publish(o, name, description, &version);
}

int FnAlias(const ClientOptions& o, const std::string& name, const std::string& alias,
            const std::string& version, const std::string& weight, const std::string& description) {
  json routing = json::object();
  if (!weight.empty()) {
    auto eq = weight.find('=');
    char* end = nullptr;
    double w = eq == std::string::npos ? -1 : std::strtod(weight.c_str() + eq + 1, &end);
    if (eq == std::string::npos || eq == 0 || end == weight.c_str() + eq + 1 || *end != '\0' ||
        w < 0 || w > 1) {
      return Fail("--weight takes VERSION=FRACTION with a fraction from 0 to 1, e.g. 2=0.1");
    }
    routing = {{"AdditionalVersionWeights", {{weight.substr(0, eq), w}}}};
  }
  json body = {{"FunctionVersion", version}, {"RoutingConfig", routing}};
  if (!description.empty()) body["Description"] = description;
  json create = body;
  create["Name"] = alias;
  auto r = Call(o, "POST", AliasPath(name), DumpJson(create));
  if (!r) return 1;
  if (r->status == 409) r = Call(o, "PUT", AliasPath(name, alias), DumpJson(body));
  if (!r) return 1;
  if (r->status / 100 != 2) return FailFrom(*r);
  PrintAlias(ParseReply(r->body));
  return 0;
}

int FnAliasList(const ClientOptions& o, const std::string& name) {
  std::string marker;
  do {
    std::string target = AliasPath(name) + "?MaxItems=50";
    if (!marker.empty()) target += "&Marker=" + PercentEncode(marker);
    auto r = Call(o, "GET", target);
    if (!r) return 1;
    if (r->status != 200) return FailFrom(*r);
    auto j = ParseReply(r->body);
    for (const auto& a : j.value("Aliases", json::array())) PrintAlias(a);
    marker = j.value("NextMarker", "");
  } while (!marker.empty());
  return 0;
}

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
  if (!a.network.empty()) config["NetworkMode"] = a.network;
  if (!a.env.empty() || !a.secrets.empty()) {
    json vars = json::object();
    json secret_names = json::array();
    for (const auto* list : {&a.env, &a.secrets}) {
      for (const auto& kv : *list) {
        auto eq = kv.find('=');
        // Never echo a --secret argument: it holds the value.
        if (eq == std::string::npos || eq == 0) {
          return Fail(list == &a.env ? "--env takes KEY=VALUE, got '" + kv + "'"
                                     : std::string("--secret takes KEY=VALUE"));
        }
        vars[kv.substr(0, eq)] = kv.substr(eq + 1);
        if (list == &a.secrets) secret_names.push_back(kv.substr(0, eq));
      }
    }
    config["Environment"] = {{"Variables", vars}};
    if (!secret_names.empty()) config["Environment"]["Secrets"] = secret_names;
  }
  if (!a.alias.empty() && !a.publish) return Fail("--alias needs --publish");
  if (a.weight_percent >= 0 && a.alias.empty()) return Fail("--weight needs --alias");
  if (a.weight_percent > 100) return Fail("--weight is a percentage between 0 and 100");
  std::string zip_b64 = Base64Encode(zip);

  json create = config;
  create["FunctionName"] = a.name;
  create["Role"] = a.role;
  create["Code"] = {{"ZipFile", zip_b64}};
  // An existing function is updated (then --runtime and --handler may be left out).
  auto exists = Call(o, "GET", FnPath(a.name) + "/configuration");
  if (!exists) return 1;
  std::optional<http::Response> r = exists;
  if (exists->status != 200) r = Call(o, "POST", "/2015-03-31/functions", DumpJson(create));
  if (!r) return 1;
  if (r->status == 200 || r->status == 409) {
    // Exists: update the code, then whatever configuration was given.
    auto rc = Call(o, "PUT", FnPath(a.name) + "/code", DumpJson(json{{"ZipFile", zip_b64}}));
    if (!rc) return 1;
    if (rc->status != 200) return FailFrom(*rc);
    r = rc;
    if (!config.empty()) {
      auto ru = Call(o, "PUT", FnPath(a.name) + "/configuration", DumpJson(config));
      if (!ru) return 1;
      if (ru->status != 200) return FailFrom(*ru);
      r = ru;
    }
  } else if (r->status != 201) {
    return FailFrom(*r);
  }
  auto j = ParseReply(r->body);
  std::cout << "deployed " << j.value("FunctionName", a.name) << " (" << j.value("Runtime", "")
            << ", " << j.value("CodeSize", 0) << " bytes, sha256 " << j.value("CodeSha256", "")
            << ")\n";
  if (!a.publish) return 0;
  std::string version;
  if (int rc = Publish(o, a.name, a.description, &version); rc != 0) return rc;
  if (a.alias.empty()) return 0;
  return MoveAlias(o, a.name, a.alias, version, a.weight_percent);
}

int FnInvoke(const ClientOptions& o, const std::string& name, const std::string& payload_arg,
             bool show_log, bool async) {
  std::string payload = payload_arg;
  if (payload.starts_with("@")) {
    auto bytes = ReadFile(payload.substr(1));
    if (!bytes) return Fail("cannot read " + payload.substr(1));
    payload = std::move(*bytes);
  }
  if (!payload.empty() && !IsJson(payload)) return Fail("--payload is not valid JSON");
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
    auto j = ParseReply(r->body);
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
  std::cout << DumpJson(ParseReply(r->body), 2) << "\n";
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
  auto j = ParseReply(r->body);
  for (const auto& inv : j.value("Invocations", json::array())) std::cout << inv.value("Log", "");
  return 0;
}

int FnStats(const ClientOptions& o, const std::string& name) {
  auto r = Call(o, "GET", "/v1/functions/" + PercentEncode(name) + "/stats");
  if (!r) return 1;
  if (r->status != 200) return FailFrom(*r);
  auto j = ParseReply(r->body);
  const auto& a = j["Async"];
  std::printf("%s\n", j.value("FunctionName", name).c_str());
  const auto& inv = j["Invocations"];
  for (const char* k : {"Total", "Cold", "Warm", "FunctionErrors", "Throttles", "PlatformErrors"}) {
    std::printf("  %-24s %lld\n", k, inv.value(k, 0LL));
  }
  std::printf("  %-24s %.2f ms\n", "AverageInitDuration", inv.value("AverageInitDurationMs", 0.0));
  std::printf("  %-24s %.2f ms\n", "AverageDuration", inv.value("AverageDurationMs", 0.0));
  const auto& mt = j["Metering"];
  std::printf("  %-24s %lld ms\n", "BilledDuration", mt.value("BilledDurationMs", 0LL));
  std::printf("  %-24s %.6f\n", "GBSeconds", mt.value("GBSeconds", 0.0));
  std::printf("  %-24s %.3f s (%lld ended sandboxes)\n", "SandboxCpuTime",
              mt.value("SandboxCpuSeconds", 0.0), mt.value("EndedSandboxes", 0LL));
  const auto& cc = j["Concurrency"];
  std::printf("  %-24s %lld\n", "Executing", cc.value("Executing", 0LL));
  long long reserved = cc.value("Reserved", -1LL);
  if (reserved >= 0) std::printf("  %-24s %lld\n", "ReservedConcurrency", reserved);
  std::printf("  %-24s %lld\n", "NodeConcurrencyLimit", cc.value("NodeLimit", 0LL));
  std::printf("  %-24s %lld\n", "AsyncQueueDepth", a.value("QueueDepth", 0LL));
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
  std::cout << ParseReply(r->body).value("Arn", name) << "\n";
  return 0;
}

int QueueList(const ClientOptions& o) {
  auto r = Call(o, "GET", "/v1/queues");
  if (!r) return 1;
  if (r->status != 200) return FailFrom(*r);
  for (const auto& q : ParseReply(r->body).value("Queues", json::array())) {
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
  for (const auto& m : ParseReply(r->body).value("Messages", json::array())) {
    std::cout << DumpJson(m) << "\n";
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
      auto j = ParseReply(r->body);
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
    r = Call(o, r->status == 404 ? "POST" : "PUT", path, DumpJson(body));
    if (!r) return 1;
    if (r->status / 100 != 2) return FailFrom(*r);
  }
  auto j = ParseReply(r->body);
  if (!j.is_object() || !j.contains("FunctionUrl")) return Fail("unexpected answer: " + r->body);
  std::cout << j["FunctionUrl"].get<std::string>() << "\n";
  return 0;
}

}  // namespace alto::cli
