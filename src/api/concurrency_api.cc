// PutFunctionConcurrency / GetFunctionConcurrency / DeleteFunctionConcurrency: reserved
// concurrency caps a function's concurrent executions; over it, invokes get 429 with Reason
// ReservedFunctionConcurrentInvocationLimitExceeded (the scheduler enforces it).
#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "api/lambda_api.h"
#include "common/blocking.h"
#include "common/json.h"

namespace alto {

boost::asio::awaitable<http::Response> LambdaApi::FunctionConcurrency(Ctx& c) {
  using nlohmann::json;
  auto f = co_await Load(c);
  if (!f) co_return LambdaErrorFrom(f.error());
  if (c.match.op == Op::kGetFunctionConcurrency) {
    json out = json::object();
    if (f->reserved_concurrency >= 0) out["ReservedConcurrentExecutions"] = f->reserved_concurrency;
    co_return http::JsonResponse(200, DumpJson(out));
  }
  FunctionConfig updated = *f;
  if (c.match.op == Op::kPutFunctionConcurrency) {
    auto parsed = ParseJson(c.req.body.empty() ? "{}" : c.req.body, kApiJsonDepth);
    if (!parsed) {
      co_return LambdaError(400, "InvalidParameterValueException",
                            "Could not parse request body into json: " + parsed.error().message);
    }
    json body = std::move(*parsed);
    auto it = body.is_object() ? body.find("ReservedConcurrentExecutions") : body.end();
    const int node_limit = d_.scheduler.limits().node_limit();
    if (!body.is_object() || it == body.end() || !it->is_number_integer() || *it < 0 ||
        *it > node_limit) {
      co_return LambdaError(400, "InvalidParameterValueException",
                            "ReservedConcurrentExecutions must be an integer between 0 and " +
                                std::to_string(node_limit) + " (the node's concurrency limit)");
    }
    updated.reserved_concurrency = it->get<int>();
    if (auto st = d_.scheduler.limits().CheckReservation(f->name, updated.reserved_concurrency);
        !st) {
      co_return LambdaErrorFrom(st.error());
    }
  } else {
    updated.reserved_concurrency = -1;
  }
  // Recorded before the store write so that two concurrent reservations cannot both pass the
  // check above; undone if the write fails.
  auto& limits = d_.scheduler.limits();
  const int previous = limits.reservation(f->name);
  limits.SetReservation(f->name, updated.reserved_concurrency);
  // The code and configuration a sandbox runs are unchanged: same revision, warm sandboxes stay.
  auto st = co_await RunBlocking(d_.blocking,
                                 [&] { return d_.store.UpdateFunction(updated, f->revision_id); });
  if (!st) {
    limits.SetReservation(f->name, previous);
    co_return LambdaErrorFrom(st.error());
  }
  Remember(updated);
  if (c.match.op == Op::kDeleteFunctionConcurrency) {
    http::Response r;
    r.status = 204;
    co_return r;
  }
  co_return http::JsonResponse(
      200, DumpJson(json{{"ReservedConcurrentExecutions", updated.reserved_concurrency}}));
}

}  // namespace alto
