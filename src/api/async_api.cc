// Asynchronous invocation, event-invoke configuration, Alto queues, stats and metrics.
#include <boost/asio.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api/errors.h"
#include "api/lambda_api.h"
#include "api/validation.h"
#include "common/blocking.h"
#include "common/json.h"

namespace alto {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr size_t kMaxLegacyAsyncBytes = 256 * 1024;
constexpr size_t kMaxQueueMessageBytes = 256 * 1024;

http::Response Json(int status, const json& body) {
  return http::JsonResponse(status, DumpJson(body));
}

json DestinationJson(const std::string& arn) {
  return arn.empty() ? json::object() : json{{"Destination", arn}};
}

json EventInvokeConfigJson(const EventInvokeConfig& c, const AccountInfo& account) {
  return {{"LastModified", static_cast<double>(c.last_modified_ms) / 1000.0},
          {"FunctionArn", FunctionArn(account, c.function, "$LATEST")},
          {"MaximumRetryAttempts", c.max_retry_attempts},
          {"MaximumEventAgeInSeconds", c.max_event_age_s},
          {"DestinationConfig",
           {{"OnSuccess", DestinationJson(c.on_success)},
            {"OnFailure", DestinationJson(c.on_failure)}}}};
}

// Reads the fields present in a Put/UpdateFunctionEventInvokeConfig body into c.
Status ApplyEventInvokeConfig(const json& body, EventInvokeConfig& c) {
  if (!body.is_object())
    return MakeError(Errc::kInvalidArgument, "Request body must be a JSON object");
  if (auto it = body.find("MaximumRetryAttempts"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || *it < 0 || *it > 2) {
      return MakeError(Errc::kInvalidArgument,
                       "MaximumRetryAttempts must be an integer between 0 and 2");
    }
    c.max_retry_attempts = it->get<int>();
  }
  if (auto it = body.find("MaximumEventAgeInSeconds"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || *it < 60 || *it > 21600) {
      return MakeError(Errc::kInvalidArgument,
                       "MaximumEventAgeInSeconds must be an integer between 60 and 21600");
    }
    c.max_event_age_s = it->get<int>();
  }
  if (auto it = body.find("DestinationConfig"); it != body.end() && !it->is_null()) {
    if (!it->is_object())
      return MakeError(Errc::kInvalidArgument, "DestinationConfig must be an object");
    for (auto [key, field] :
         {std::pair{"OnSuccess", &c.on_success}, std::pair{"OnFailure", &c.on_failure}}) {
      auto d = it->find(key);
      if (d == it->end() || d->is_null()) continue;
      if (!d->is_object())
        return MakeError(Errc::kInvalidArgument, std::string(key) + " must be an object");
      auto arn = d->find("Destination");
      if (arn == d->end() || arn->is_null()) {
        field->clear();
        continue;
      }
      if (!arn->is_string())
        return MakeError(Errc::kInvalidArgument,
                         std::string(key) + ".Destination must be a string");
      *field = arn->get<std::string>();
    }
  }
  return {};
}

std::string Escape(std::string_view label) {
  std::string out;
  for (char ch : label) {
    if (ch == '\\' || ch == '"') out += '\\';
    out += ch;
  }
  return out;
}

}  // namespace

asio::awaitable<Status> LambdaApi::EnsureDestination(const std::string& arn, bool queue_only) {
  auto dest = ParseDestinationArn(arn);
  if (!dest) co_return dest.error();
  if (dest->kind == Destination::Kind::kQueue) {
    co_return co_await RunBlocking(d_.blocking,
                                   [&] { return d_.async_store.CreateQueue(dest->name); });
  }
  if (queue_only)
    co_return MakeError(Errc::kInvalidArgument, "The target " + arn + " must be an Alto queue");
  auto f = co_await d_.catalog.Get(dest->name);
  if (!f) {
    co_return MakeError(Errc::kInvalidArgument,
                        "The destination function " + arn + " does not exist; create it first");
  }
  co_return Status{};
}

asio::awaitable<http::Response> LambdaApi::InvokeEvent(Ctx& c, const ResolvedFunction& f,
                                                       bool legacy) {
  if (legacy && c.req.body.size() > kMaxLegacyAsyncBytes) {
    co_return LambdaError(413, "RequestTooLargeException",
                          std::to_string(c.req.body.size()) +
                              " byte payload is too large for InvokeAsync (limit " +
                              std::to_string(kMaxLegacyAsyncBytes) + " bytes)");
  }
  if (legacy && !c.req.body.empty() && !IsJson(c.req.body)) {  // a payload: any depth, no DOM
    co_return LambdaError(400, "InvalidRequestContentException",
                          "Could not parse request body into json");
  }
  // A function that invokes (itself) asynchronously passes its trace header on: count the hop.
  int parent_hop = LineageHop(c.req.HeaderValue("X-Amzn-Trace-Id"));
  int hop = parent_hop >= 0 ? parent_hop + 1 : 0;
  // A named local, not a conditional temporary: GCC 12 miscompiles a conditional prvalue passed
  // by value to a coroutine inside co_await.
  std::string payload = std::move(c.req.body);
  if (payload.empty()) payload = "{}";
  // An alias's weighted choice is made here, once: retries run the same version.
  auto id =
      co_await d_.async.Enqueue(f.name, std::move(payload), hop, f.qualifier, f.executed_version);
  if (!id) co_return LambdaErrorFrom(id.error());
  http::Response r = legacy ? Json(202, {{"Status", 202}}) : http::Response{};
  r.status = 202;
  r.Set("X-Amz-Executed-Version", f.executed_version);
  r.Set("x-amzn-RequestId", *id);
  co_return r;
}

asio::awaitable<http::Response> LambdaApi::PutEventInvokeConfig(Ctx& c, bool merge) {
  auto f = co_await Load(c);
  if (!f) co_return LambdaErrorFrom(f.error());
  auto parsed = ParseJson(c.req.body.empty() ? "{}" : c.req.body, kApiJsonDepth);
  if (!parsed) {
    co_return LambdaError(400, "InvalidParameterValueException",
                          "Could not parse request body into json: " + parsed.error().message);
  }
  json body = std::move(*parsed);
  EventInvokeConfig config;
  config.function = f->name;
  if (merge) {
    auto existing =
        co_await RunBlocking(d_.blocking, [&] { return d_.async_store.GetConfig(f->name); });
    if (existing) config = *existing;
  }
  if (auto st = ApplyEventInvokeConfig(body, config); !st) co_return LambdaErrorFrom(st.error());
  for (const auto* arn : {&config.on_success, &config.on_failure}) {
    if (arn->empty()) continue;
    if (auto st = co_await EnsureDestination(*arn, false); !st)
      co_return LambdaErrorFrom(st.error());
  }
  config.last_modified_ms = d_.clock.WallMillis();
  auto st = co_await RunBlocking(d_.blocking, [&] { return d_.async_store.PutConfig(config); });
  if (!st) co_return LambdaErrorFrom(st.error());
  co_return Json(200, EventInvokeConfigJson(config, d_.account));
}

asio::awaitable<http::Response> LambdaApi::GetEventInvokeConfig(Ctx& c, bool as_list) {
  auto f = co_await Load(c);
  if (!f) co_return LambdaErrorFrom(f.error());
  auto config =
      co_await RunBlocking(d_.blocking, [&] { return d_.async_store.GetConfig(f->name); });
  if (as_list) {
    json list = json::array();
    if (config) list.push_back(EventInvokeConfigJson(*config, d_.account));
    co_return Json(200, {{"FunctionEventInvokeConfigs", list}});
  }
  if (!config) {
    if (config.error().code != Errc::kNotFound) co_return LambdaErrorFrom(config.error());
    co_return LambdaError(404, "ResourceNotFoundException",
                          "The function " + FunctionArn(d_.account, f->name, "$LATEST") +
                              " doesn't have an EventInvokeConfig");
  }
  co_return Json(200, EventInvokeConfigJson(*config, d_.account));
}

asio::awaitable<http::Response> LambdaApi::DeleteEventInvokeConfig(Ctx& c) {
  auto f = co_await Load(c);
  if (!f) co_return LambdaErrorFrom(f.error());
  auto st = co_await RunBlocking(d_.blocking, [&] { return d_.async_store.DeleteConfig(f->name); });
  if (!st) {
    if (st.error().code != Errc::kNotFound) co_return LambdaErrorFrom(st.error());
    co_return LambdaError(404, "ResourceNotFoundException",
                          "The function " + FunctionArn(d_.account, f->name, "$LATEST") +
                              " doesn't have an EventInvokeConfig");
  }
  http::Response r;
  r.status = 204;
  co_return r;
}

asio::awaitable<http::Response> LambdaApi::FunctionStatsNative(Ctx& c) {
  auto f = co_await Load(c);
  if (!f) co_return LambdaErrorFrom(f.error());
  auto s = co_await d_.async.Stats(f->name);
  if (!s) co_return LambdaErrorFrom(s.error());
  const auto& k = s->counters;
  const InvocationCounters inv = d_.metrics.Of(f->name);
  const auto& limits = d_.scheduler.limits();
  const uint64_t started = inv.cold + inv.warm;
  const auto usage_all = d_.scheduler.usage().Snapshot();
  const auto usage_it = usage_all.find(f->name);
  const SandboxUsage usage = usage_it == usage_all.end() ? SandboxUsage{} : usage_it->second;
  co_return Json(200, {{"FunctionName", f->name},
                       {"Metering",
                        {{"BilledDurationMs", inv.billed_ms_total},
                         {"GBSeconds", inv.gb_seconds_total},
                         {"EndedSandboxes", usage.sandboxes},
                         {"SandboxCpuSeconds", usage.cpu_seconds},
                         {"SandboxReservedGBSeconds", usage.reserved_gb_seconds},
                         {"SandboxPeakMemoryMB", usage.peak_memory_bytes >> 20}}},
                       {"Invocations",
                        {{"Total", started},
                         {"Cold", inv.cold},
                         {"Warm", inv.warm},
                         {"FunctionErrors", inv.function_errors},
                         {"Throttles", inv.throttles},
                         {"PlatformErrors", inv.platform_errors},
                         {"AverageInitDurationMs", inv.cold ? inv.init_ms_total / inv.cold : 0.0},
                         {"AverageDurationMs", started ? inv.duration_ms_total / started : 0.0}}},
                       {"Concurrency",
                        {{"Executing", limits.running(f->name)},
                         {"Reserved", limits.reservation(f->name)},
                         {"NodeLimit", limits.node_limit()},
                         {"UnreservedLimit", limits.unreserved_limit()}}},
                       {"Async",
                        {{"QueueDepth", s->queue_depth},
                         {"OldestEventAgeSeconds", s->oldest_event_age_s},
                         {"InFlight", s->in_flight},
                         {"Enqueued", k.enqueued},
                         {"Delivered", k.delivered},
                         {"Redelivered", k.redelivered},
                         {"Retries", k.retries},
                         {"DroppedByAge", k.dropped_by_age},
                         {"DeadLettered", k.dead_lettered},
                         {"RecursionStopped", k.recursion_stopped},
                         {"Discarded", k.discarded}}}});
}

asio::awaitable<http::Response> LambdaApi::QueuesNative(Ctx& c) {
  auto& store = d_.async_store;
  if (c.match.op == Op::kNativeListQueues) {
    auto names = co_await RunBlocking(d_.blocking, [&] { return store.ListQueues(); });
    if (!names) co_return LambdaErrorFrom(names.error());
    json out = json::array();
    for (const auto& n : *names) out.push_back({{"Name", n}, {"Arn", QueueArn(d_.account, n)}});
    co_return Json(200, {{"Queues", out}});
  }
  const std::string name = c.match.name;
  if (!IsValidQueueName(name)) {
    co_return LambdaError(400, "InvalidParameterValueException",
                          "Queue names are 1-80 characters of letters, digits, '-' and '_'");
  }
  if (c.match.op == Op::kNativeCreateQueue) {
    auto st = co_await RunBlocking(d_.blocking, [&] { return store.CreateQueue(name); });
    if (!st) co_return LambdaErrorFrom(st.error());
    co_return Json(200, {{"Name", name}, {"Arn", QueueArn(d_.account, name)}});
  }
  auto exists = co_await RunBlocking(d_.blocking, [&] { return store.QueueExists(name); });
  if (!exists) co_return LambdaErrorFrom(exists.error());
  if (!*exists) co_return LambdaError(404, "ResourceNotFoundException", "Queue not found: " + name);
  if (c.match.op == Op::kNativeSendMessage) {
    if (c.req.body.size() > kMaxQueueMessageBytes) {
      co_return LambdaError(413, "RequestTooLargeException",
                            "Messages are limited to 262144 bytes");
    }
    QueueMessage m{0, name, c.req.body, "{}", d_.clock.WallMillis()};
    auto st = co_await RunBlocking(d_.blocking, [&] { return store.SendMessage(m); });
    if (!st) co_return LambdaErrorFrom(st.error());
    co_return Json(200, {{"Queued", true}});
  }
  size_t max = 10;
  if (auto m = c.req.QueryParam("max")) {
    char* end = nullptr;
    long v = std::strtol(m->c_str(), &end, 10);
    if (m->empty() || *end || v < 1 || v > 1000) {
      co_return LambdaError(400, "InvalidParameterValueException",
                            "max must be between 1 and 1000");
    }
    max = static_cast<size_t>(v);
  }
  bool consume = c.req.QueryParam("consume").value_or("true") != "false";
  auto messages =
      co_await RunBlocking(d_.blocking, [&] { return store.ReadMessages(name, max, consume); });
  if (!messages) co_return LambdaErrorFrom(messages.error());
  json out = json::array();
  for (const auto& m : *messages) {
    // Attributes are Alto's own small object (kApiJsonDepth is plenty).
    auto attrs = ParseJson(m.attributes, kApiJsonDepth);
    out.push_back({{"MessageId", m.id},
                   {"Body", m.body},
                   {"Attributes", attrs ? std::move(*attrs) : json::object()},
                   {"SentTimestamp", m.sent_ms}});
  }
  co_return Json(200, {{"Queue", name}, {"Messages", out}});
}

asio::awaitable<http::Response> LambdaApi::Metrics(Ctx&) {
  std::ostringstream m;
  auto family = [&](const char* name, const char* type, const char* help) {
    m << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  };
  family("alto_sandboxes_live", "gauge", "Sandboxes running on this node.");
  m << "alto_sandboxes_live " << d_.scheduler.live_count() << "\n";
  family("alto_sandboxes_idle", "gauge", "Warm sandboxes waiting for an invocation.");
  m << "alto_sandboxes_idle " << d_.scheduler.idle_count() << "\n";
  family("alto_sandbox_memory_committed_megabytes", "gauge", "Sum of live sandboxes' MemorySize.");
  m << "alto_sandbox_memory_committed_megabytes " << d_.scheduler.committed_mb() << "\n";
  family("alto_invocations_in_flight", "gauge", "Invocations running now (sync and async).");
  m << "alto_invocations_in_flight " << d_.invoker.in_flight() << "\n";
  const auto& stems = d_.scheduler.stem_counters();
  family("alto_stem_cells_ready", "gauge", "Generic sandboxes waiting to be specialised.");
  m << "alto_stem_cells_ready " << d_.scheduler.stem_count() << "\n";
  family("alto_stem_pool_hits_total", "counter", "Cold starts served by a stem cell.");
  m << "alto_stem_pool_hits_total " << stems.hits << "\n";
  family("alto_stem_pool_misses_total", "counter", "Cold starts that started a sandbox whole.");
  m << "alto_stem_pool_misses_total " << stems.misses << "\n";
  family("alto_stem_cells_started_total", "counter", "Stem cells started.");
  m << "alto_stem_cells_started_total " << stems.started << "\n";
  const auto& limits = d_.scheduler.limits();
  family("alto_concurrency_limit", "gauge", "Concurrent executions this node allows.");
  m << "alto_concurrency_limit " << limits.node_limit() << "\n";
  family("alto_concurrency_unreserved_limit", "gauge",
         "Concurrent executions shared by functions without a reservation.");
  m << "alto_concurrency_unreserved_limit " << limits.unreserved_limit() << "\n";
  const auto& inv = d_.metrics.counters();
  auto per_function = [&](const char* name, const char* type, const char* help, auto get) {
    family(name, type, help);
    for (const auto& [fn, c] : inv)
      m << name << "{function=\"" << Escape(fn) << "\"} " << get(fn, c) << "\n";
  };
  per_function("alto_invocations_total", "counter", "Executions by start type.",
               [](auto&, auto& c) { return c.cold + c.warm; });
  per_function("alto_cold_starts_total", "counter", "Executions that started a sandbox.",
               [](auto&, auto& c) { return c.cold; });
  per_function("alto_warm_starts_total", "counter", "Executions served by a warm sandbox.",
               [](auto&, auto& c) { return c.warm; });
  per_function("alto_function_errors_total", "counter", "Executions that ended in an error.",
               [](auto&, auto& c) { return c.function_errors; });
  per_function("alto_throttles_total", "counter", "Invocations refused by a concurrency limit.",
               [](auto&, auto& c) { return c.throttles; });
  per_function("alto_init_duration_seconds_total", "counter", "Sum of cold starts' Init Duration.",
               [](auto&, auto& c) { return c.init_ms_total / 1000.0; });
  per_function("alto_concurrent_executions", "gauge", "Executions running now.",
               [&](auto& fn, auto&) { return limits.running(fn); });
  per_function("alto_billed_duration_seconds_total", "counter",
               "Billed Duration (rounded up to the ms) of executions.",
               [](auto&, auto& c) { return static_cast<double>(c.billed_ms_total) / 1000.0; });
  per_function("alto_gb_seconds_total", "counter", "Billed Duration x MemorySize, in GB-s.",
               [](auto&, auto& c) { return c.gb_seconds_total; });
  {
    // What ended sandboxes used, whatever their executions were billed.
    const auto usage = d_.scheduler.usage().Snapshot();
    auto ledger = [&](const char* name, const char* type, const char* help, auto get) {
      family(name, type, help);
      for (const auto& [fn, u] : usage)
        m << name << "{function=\"" << Escape(fn) << "\"} " << get(u) << "\n";
    };
    ledger("alto_sandbox_cpu_seconds_total", "counter",
           "CPU time of ended sandboxes' processes, init included.",
           [](const SandboxUsage& u) { return u.cpu_seconds; });
    ledger("alto_sandbox_reserved_gb_seconds_total", "counter",
           "MemorySize x lifetime of ended sandboxes.",
           [](const SandboxUsage& u) { return u.reserved_gb_seconds; });
    ledger("alto_sandboxes_ended_total", "counter", "Sandboxes torn down.",
           [](const SandboxUsage& u) { return u.sandboxes; });
  }

  struct Row {
    std::string fn;
    AsyncFunctionStats stats;
  };
  std::vector<Row> rows;
  for (const auto& [fn, counters] : d_.async.counters()) {
    auto s = co_await d_.async.Stats(fn);
    if (s) rows.push_back({fn, *s});
  }
  auto gauge = [&](const char* name, const char* type, const char* help, auto get) {
    family(name, type, help);
    for (const auto& r : rows)
      m << name << "{function=\"" << Escape(r.fn) << "\"} " << get(r.stats) << "\n";
  };
  gauge("alto_async_queue_depth", "gauge", "Events waiting for delivery.",
        [](auto& s) { return s.queue_depth; });
  gauge("alto_async_oldest_event_age_seconds", "gauge", "Age of the oldest undelivered event.",
        [](auto& s) { return s.oldest_event_age_s; });
  gauge("alto_async_enqueued_total", "counter", "Events accepted.",
        [](auto& s) { return s.counters.enqueued; });
  gauge("alto_async_delivered_total", "counter", "Events delivered successfully.",
        [](auto& s) { return s.counters.delivered; });
  gauge("alto_async_redelivered_total", "counter", "Successful deliveries on a later attempt.",
        [](auto& s) { return s.counters.redelivered; });
  gauge("alto_async_retries_total", "counter", "Attempts rescheduled.",
        [](auto& s) { return s.counters.retries; });
  gauge("alto_async_dropped_by_age_total", "counter", "Events past their maximum age.",
        [](auto& s) { return s.counters.dropped_by_age; });
  gauge("alto_async_dead_lettered_total", "counter",
        "Failed events sent to OnFailure or a dead-letter queue.",
        [](auto& s) { return s.counters.dead_lettered; });
  gauge("alto_async_recursion_stopped_total", "counter", "Events stopped by the recursion guard.",
        [](auto& s) { return s.counters.recursion_stopped; });
  if (more_metrics_) m << more_metrics_();
  http::Response r;
  r.body = m.str();
  r.Set("Content-Type", "text/plain; version=0.0.4");
  co_return r;
}

}  // namespace alto
