// Put/Get/Delete/ListProvisionedConcurrencyConfig(s): a version or alias keeps N initialised
// sandboxes ready (the scheduler starts and replaces them). The config is stored first, then
// applied; at start every stored config is applied again.
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "api/lambda_api.h"
#include "common/blocking.h"
#include "common/json.h"

namespace alto {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr const char* kNotFoundMessage =
    "No Provisioned Concurrency Config found for this function";

std::string Scope(const std::string& function, const std::string& qualifier) {
  return function + ":" + qualifier;
}

json ConfigJson(const ProvisionedConfig& p, const ProvisionedStatus& st) {
  // READY once every requested sandbox has initialised; FAILED while starts fail.
  std::string status = "IN_PROGRESS";
  if (st.available >= p.requested) {
    status = "READY";
  } else if (!st.failure.empty()) {
    status = "FAILED";
  }
  json j = {{"RequestedProvisionedConcurrentExecutions", p.requested},
            {"AvailableProvisionedConcurrentExecutions", std::min(st.available, p.requested)},
            {"AllocatedProvisionedConcurrentExecutions", std::min(st.allocated, p.requested)},
            {"Status", status},
            {"LastModified", FormatLambdaTimestamp(p.last_modified_ms)}};
  if (status == "FAILED") j["StatusReason"] = st.failure;
  return j;
}

}  // namespace

asio::awaitable<Status> LambdaApi::ApplyProvisioned(std::string function, std::string qualifier,
                                                    int requested) {
  const std::string scope = Scope(function, qualifier);
  if (requested <= 0) {
    d_.scheduler.Provision(scope, FunctionConfig{}, 0);
    co_return Status{};
  }
  auto r = co_await d_.resolver.Resolve(function, qualifier, /*route=*/false);
  if (!r) co_return r.error();
  d_.scheduler.Provision(scope, r->function, requested);
  co_return Status{};
}

asio::awaitable<void> LambdaApi::RestoreProvisioned() {
  if (!provisioned_) co_return;
  auto all = co_await RunBlocking(d_.blocking, [&] { return provisioned_->ListAll(); });
  if (!all) {
    spdlog::error("provisioned concurrency: {}", all.error().message);
    co_return;
  }
  for (const auto& p : *all) {
    auto st = co_await ApplyProvisioned(p.function, p.qualifier, p.requested);
    if (!st)
      spdlog::warn("provisioned concurrency for {}:{}: {}", p.function, p.qualifier,
                   st.error().message);
  }
}

asio::awaitable<Status> LambdaApi::ForgetProvisioned(std::string function, std::string qualifier) {
  if (!provisioned_) co_return Status{};
  auto st =
      co_await RunBlocking(d_.blocking, [&] { return provisioned_->Delete(function, qualifier); });
  d_.scheduler.Provision(Scope(function, qualifier), FunctionConfig{}, 0);
  if (!st && st.error().code != Errc::kNotFound) co_return st;
  co_return Status{};
}

asio::awaitable<http::Response> LambdaApi::ProvisionedConcurrencyOp(Ctx& c) {
  if (!provisioned_) {
    co_return LambdaError(404, "UnknownOperationException", "Provisioned concurrency is off");
  }
  const bool list = c.match.op == Op::kGetProvisionedConcurrencyConfig &&
                    c.req.QueryParam("List").value_or("") == "ALL";
  std::string function = c.match.name;
  std::string qualifier;
  if (list) {
    auto f = co_await Load(c);
    if (!f) co_return LambdaErrorFrom(f.error());
    function = f->name;
  } else {
    auto r = co_await LoadQualified(c, /*route=*/false);
    if (!r) co_return LambdaErrorFrom(r.error());
    function = r->name;
    qualifier = r->qualifier;
    if (qualifier.empty() || qualifier == "$LATEST") {
      co_return LambdaError(400, "InvalidParameterValueException",
                            "Provisioned Concurrency Configs cannot be applied to unpublished "
                            "function versions.");
    }
  }
  auto all = co_await RunBlocking(d_.blocking, [&] { return provisioned_->ListAll(); });
  if (!all) co_return LambdaErrorFrom(all.error());
  const ProvisionedConfig* existing = nullptr;
  int others = 0;  // requested by the function's other versions and aliases
  for (const auto& p : *all) {
    if (p.function != function) continue;
    if (p.qualifier == qualifier) {
      existing = &p;
    } else {
      others += p.requested;
    }
  }

  if (list) {
    json out = {{"ProvisionedConcurrencyConfigs", json::array()}};
    for (const auto& p : *all) {
      if (p.function != function) continue;
      json item = ConfigJson(p, d_.scheduler.provisioned(Scope(p.function, p.qualifier)));
      item["FunctionArn"] = FunctionArn(d_.account, p.function, p.qualifier);
      out["ProvisionedConcurrencyConfigs"].push_back(std::move(item));
    }
    co_return http::JsonResponse(200, DumpJson(out));
  }
  if (c.match.op == Op::kGetProvisionedConcurrencyConfig) {
    if (!existing) {
      co_return LambdaError(404, "ProvisionedConcurrencyConfigNotFoundException", kNotFoundMessage);
    }
    co_return http::JsonResponse(
        200, DumpJson(ConfigJson(*existing, d_.scheduler.provisioned(Scope(function, qualifier)))));
  }
  if (c.match.op == Op::kDeleteProvisionedConcurrencyConfig) {
    if (!existing) {
      co_return LambdaError(404, "ProvisionedConcurrencyConfigNotFoundException", kNotFoundMessage);
    }
    if (auto st = co_await ForgetProvisioned(function, qualifier); !st) {
      co_return LambdaErrorFrom(st.error());
    }
    http::Response r;
    r.status = 204;
    co_return r;
  }

  // Put.
  auto parsed = ParseJson(c.req.body.empty() ? "{}" : c.req.body, kApiJsonDepth);
  if (!parsed) {
    co_return LambdaError(400, "InvalidParameterValueException",
                          "Could not parse request body into json: " + parsed.error().message);
  }
  json body = std::move(*parsed);
  auto it = body.is_object() ? body.find("ProvisionedConcurrentExecutions") : body.end();
  if (!body.is_object() || it == body.end() || !it->is_number_integer() || *it < 1) {
    co_return LambdaError(400, "InvalidParameterValueException",
                          "ProvisionedConcurrentExecutions must be an integer of at least 1");
  }
  const int requested = it->get<int>();
  const auto& limits = d_.scheduler.limits();
  const int reserved = limits.reservation(function);
  if (reserved >= 0 && others + requested > reserved) {
    co_return LambdaError(400, "InvalidParameterValueException",
                          "Requested Provisioned Concurrency should not be greater than the "
                          "reservedConcurrentExecution for function (" +
                              std::to_string(reserved) + ", of which " + std::to_string(others) +
                              " already provisioned for other versions and aliases)");
  }
  const int shared = limits.unreserved_limit() - limits.min_unreserved();
  if (reserved < 0 && others + requested > shared) {
    co_return LambdaError(400, "InvalidParameterValueException",
                          "Requested Provisioned Concurrency exceeds the unreserved concurrency "
                          "available to it (" +
                              std::to_string(shared) + ")");
  }
  ProvisionedConfig p{function, qualifier, requested, d_.clock.WallMillis()};
  auto st = co_await RunBlocking(d_.blocking, [&] { return provisioned_->Put(p); });
  if (!st) co_return LambdaErrorFrom(st.error());
  if (auto applied = co_await ApplyProvisioned(function, qualifier, requested); !applied) {
    co_return LambdaErrorFrom(applied.error());
  }
  spdlog::info("provisioned concurrency {} for {}:{}", requested, function, qualifier);
  co_return http::JsonResponse(
      202, DumpJson(ConfigJson(p, d_.scheduler.provisioned(Scope(function, qualifier)))));
}

}  // namespace alto
