#include "invoke/async_invoker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <deque>
#include <nlohmann/json.hpp>

#include "common/blocking.h"
#include "common/encoding.h"
#include "common/json.h"
#include "invoke/async_record.h"
#include "invoke/retry_policy.h"

namespace alto {

namespace asio = boost::asio;
using nlohmann::json;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

struct AsyncInvoker::Batch {
  explicit Batch(asio::any_io_executor ex) : done(ex, asio::steady_timer::time_point::max()) {}
  std::vector<AsyncEvent> events;
  asio::steady_timer done;
  bool finished = false;
  Status status;
};

AsyncInvoker::AsyncInvoker(asio::any_io_executor io, asio::thread_pool& blocking, AsyncStore& store,
                           FunctionCatalog& catalog, Invoker& invoker, const Clock& clock,
                           AccountInfo account, AsyncOptions options)
    : io_(io),
      blocking_(blocking),
      store_(store),
      catalog_(catalog),
      invoker_(invoker),
      clock_(clock),
      account_(std::move(account)),
      options_(options),
      wake_(io) {}

void AsyncInvoker::Start() { asio::co_spawn(io_, DispatchLoop(), asio::detached); }

void AsyncInvoker::Stop() {
  stopped_ = true;
  wake_.cancel();
}

// A wake that comes while the dispatcher reads the store (no wait to cancel) is remembered, so
// that the dispatcher reads again instead of sleeping through it.
void AsyncInvoker::Wake() {
  wake_pending_ = true;
  wake_.cancel();
}

asio::awaitable<Result<std::string>> AsyncInvoker::Enqueue(const std::string& function,
                                                           std::string payload, int hop,
                                                           std::string qualifier,
                                                           std::string version) {
  // Group commit: join the batch being collected; one flusher commits batches back to back.
  // (The event is built in place in the batch: GCC 12 mishandles a non-trivial local that lives
  // across this loop's co_await.)
  if (!batch_) batch_ = std::make_shared<Batch>(io_);
  std::shared_ptr<Batch> batch = batch_;
  const size_t index = batch->events.size();
  {
    AsyncEvent& e = batch->events.emplace_back();
    e.request_id = NewUuid();
    e.function = function;
    e.qualifier = std::move(qualifier);
    e.version = std::move(version);
    e.payload = std::move(payload);
    e.enqueued_ms = clock_.WallMillis();
    e.next_attempt_ms = e.enqueued_ms;
    e.hop = hop;
  }
  if (!flushing_) asio::co_spawn(io_, FlushLoop(), asio::detached);
  while (!batch->finished) co_await batch->done.async_wait(kTuple);
  if (!batch->status) co_return batch->status.error();
  ++counters_[function].enqueued;
  co_return std::string(batch->events[index].request_id);
}

asio::awaitable<void> AsyncInvoker::FlushLoop() {
  flushing_ = true;
  while (batch_) {
    auto batch = std::move(batch_);
    batch_.reset();
    batch->status = co_await RunBlocking(blocking_, [&] { return store_.Enqueue(batch->events); });
    batch->finished = true;
    batch->done.cancel();
    // After each commit, not once the flusher idles: under a steady stream of enqueues (or a
    // slower store, where batches pile up during each commit) it may not idle for a long time.
    if (batch->status) Wake();
  }
  flushing_ = false;
}

asio::awaitable<void> AsyncInvoker::DispatchLoop() {
  while (!stopped_) {
    wake_pending_ = false;
    int64_t now = clock_.WallMillis();
    if (in_flight_total_ < options_.max_in_flight) {
      reading_snapshot_ = true;
      auto due = co_await RunBlocking(
          blocking_, [&] { return store_.Due(now, options_.per_function_concurrency * 4); });
      reading_snapshot_ = false;
      std::unordered_set<int64_t> ended = std::move(ended_during_snapshot_);
      ended_during_snapshot_.clear();
      if (!due) {
        spdlog::error("async: reading due events: {}", due.error().message);
      } else {
        // Round-robin across functions, each bounded by its concurrency.
        std::map<std::string, std::deque<AsyncEvent>> by_function;
        for (auto& e : *due) {
          if (!in_flight_ids_.count(e.id) && !ended.count(e.id)) {
            by_function[e.function].push_back(std::move(e));
          }
        }
        bool progress = true;
        while (progress && !stopped_ && in_flight_total_ < options_.max_in_flight) {
          progress = false;
          for (auto& [fn, queue] : by_function) {
            if (queue.empty() || in_flight_by_function_[fn] >= options_.per_function_concurrency)
              continue;
            if (in_flight_total_ >= options_.max_in_flight) break;
            AsyncEvent e = std::move(queue.front());
            queue.pop_front();
            in_flight_ids_.insert(e.id);
            ++in_flight_by_function_[fn];
            ++in_flight_total_;
            asio::co_spawn(io_, Deliver(std::move(e)), asio::detached);
            progress = true;
          }
        }
      }
    }
    if (stopped_) break;
    if (wake_pending_) continue;  // an enqueue or a completion came while we read
    // Sleep until the next event is due (at most a second); enqueues and completions wake us.
    auto next = co_await RunBlocking(blocking_, [&] { return store_.NextDueMs(); });
    int64_t wait_ms = 1000;
    now = clock_.WallMillis();
    if (next && *next > now) wait_ms = std::min<int64_t>(wait_ms, *next - now);
    if (wake_pending_) continue;  // came during NextDueMs
    wake_.expires_after(std::chrono::milliseconds(wait_ms));
    co_await wake_.async_wait(kTuple);
  }
}

std::string AsyncInvoker::Record(const AsyncEvent& e, const std::string& condition,
                                 const std::string& function_arn, const std::string& response,
                                 bool function_error) {
  AsyncRecordContext context;
  context.timestamp_ms = clock_.WallMillis();
  context.request_id = e.request_id;
  context.function_arn = function_arn;
  context.condition = condition;
  context.approximate_invoke_count = e.invoke_count;
  context.executed_version = e.version;
  context.function_error = function_error;
  return AsyncRecordJson(context, e.payload, response);
}

Result<EventFinish> AsyncInvoker::DestinationFinish(const AsyncEvent& e,
                                                    const std::string& destination,
                                                    const std::string& record) {
  EventFinish finish;
  if (destination.empty()) return finish;
  auto dest = ParseDestinationArn(destination);
  if (!dest) return dest.error();
  int64_t now = clock_.WallMillis();
  if (dest->kind == Destination::Kind::kQueue) {
    finish.messages.push_back(QueueMessage{0, dest->name, record, "{}", now});
  } else {
    AsyncEvent next;
    next.request_id = NewUuid();
    next.function = dest->name;
    next.payload = record;
    next.enqueued_ms = now;
    next.next_attempt_ms = now;
    next.hop = e.hop + 1;
    finish.follow_up = std::move(next);
  }
  return finish;
}

asio::awaitable<void> AsyncInvoker::Fail(AsyncEvent e, const std::string& condition,
                                         const std::string& function_arn,
                                         const std::string& dead_letter_arn,
                                         const EventInvokeConfig& config,
                                         const std::string& response, bool function_error,
                                         const std::string& reason) {
  auto& c = counters_[e.function];
  std::string record = Record(e, condition, function_arn, response, function_error);
  auto finish = DestinationFinish(e, config.on_failure, record);
  if (!finish) {
    spdlog::warn("async: {}: OnFailure destination unusable: {}", e.function,
                 finish.error().message);
    finish = EventFinish{};
  }
  if (!dead_letter_arn.empty()) {
    // A dead-letter queue receives the original event, with Lambda's message attributes.
    auto dlq = ParseDestinationArn(dead_letter_arn);
    if (dlq && dlq->kind == Destination::Kind::kQueue) {
      // Lambda's ErrorMessage attribute: the function's errorMessage, first 1 KB.
      std::string message = reason.empty() ? condition : reason;
      if (function_error) {
        // A function's error document, as the runtime session rebuilt it (bounded depth).
        auto doc = ParseJson(response, kFunctionJsonDepth);
        message = doc && doc->is_object() && doc->contains("errorMessage") &&
                          (*doc)["errorMessage"].is_string()
                      ? (*doc)["errorMessage"].get<std::string>()
                      : response;
        message = message.substr(0, 1024);  // may cut a UTF-8 sequence: DumpJson replaces it
      }
      json attrs = {{"RequestID", e.request_id},
                    {"ErrorCode", function_error ? 200 : 0},
                    {"ErrorMessage", message},
                    {"Condition", condition}};
      finish->messages.push_back(
          QueueMessage{0, dlq->name, e.payload, DumpJson(attrs), clock_.WallMillis()});
    }
  }
  bool sent = !finish->messages.empty() || finish->follow_up.has_value();
  if (sent) {
    ++c.dead_lettered;
  } else {
    ++c.discarded;
    spdlog::warn(
        "async: {} event {} failed ({}) with no OnFailure destination or dead-letter queue: "
        "discarded",
        e.function, e.request_id, condition);
  }
  auto st =
      co_await RunBlocking(blocking_, [&] { return store_.Finish(e.id, std::move(*finish)); });
  if (!st) spdlog::error("async: finishing {}: {}", e.request_id, st.error().message);
}

asio::awaitable<void> AsyncInvoker::Deliver(AsyncEvent e) {
  struct Slot {
    AsyncInvoker* self;
    int64_t id;
    std::string function;
    ~Slot() {
      self->in_flight_ids_.erase(id);
      if (self->reading_snapshot_) self->ended_during_snapshot_.insert(id);
      --self->in_flight_by_function_[function];
      --self->in_flight_total_;
      self->Wake();
    }
  } slot{this, e.id, e.function};
  auto& c = counters_[e.function];

  // The version chosen at enqueue; a deleted version (or function) discards its events.
  auto fn = co_await catalog_.GetVersion(e.function, e.version);
  if (!fn) {
    if (fn.error().code == Errc::kNotFound) {
      // The function (or the version) was deleted: Lambda discards its pending events.
      ++c.discarded;
      co_await RunBlocking(blocking_, [&] { return store_.Finish(e.id, {}); });
    } else {
      e.next_attempt_ms =
          clock_.WallMillis() + ThrottleRetryDelayMs(e.invoke_count + 1, options_.retry_time_scale);
      co_await RunBlocking(blocking_, [&] { return store_.Reschedule(e); });
    }
    co_return;
  }
  auto stored_config =
      co_await RunBlocking(blocking_, [&] { return store_.GetConfig(e.function); });
  EventInvokeConfig config;
  if (stored_config) config = *stored_config;
  RetryPolicy policy{config.max_retry_attempts, int64_t{config.max_event_age_s} * 1000,
                     options_.retry_time_scale};
  const std::string arn =
      FunctionArn(account_, e.function, e.qualifier.empty() ? e.version : e.qualifier);
  const std::string dlq = fn->dead_letter_arn;

  if (e.hop >= kMaxRecursionHops) {
    ++c.recursion_stopped;
    spdlog::warn("async: {} event {} stopped: recursive invocation loop ({} hops)", e.function,
                 e.request_id, e.hop);
    co_await Fail(std::move(e), "RecursiveInvocationDetected", arn, dlq, config, "", false);
    co_return;
  }
  if (EventExpired(e.enqueued_ms, clock_.WallMillis(), policy)) {
    ++c.dropped_by_age;
    co_await Fail(std::move(e), "EventAgeExceeded", arn, dlq, config, "", false);
    co_return;
  }

  if (e.attempt_interrupted) {
    // The previous attempt was in a sandbox when the server stopped or died, and the event may be
    // what killed it: a failed attempt that spends the retry budget, so that a poison event ends
    // in OnFailure / the dead-letter queue instead of killing every restart.
    e.attempt_interrupted = false;
    auto decision = DecideAfterAttempt(AttemptResult::kInterrupted, e.retries_used, e.invoke_count,
                                       e.enqueued_ms, clock_.WallMillis(), policy);
    const std::string reason = "The server stopped during delivery attempt " +
                               std::to_string(e.invoke_count) +
                               " of this event (a crash or a restart while it ran)";
    spdlog::warn("async: {} event {}: {}", e.function, e.request_id, reason);
    if (decision.fate == EventFate::kRetry) {
      ++c.retries;
      ++e.retries_used;
      e.next_attempt_ms = decision.next_attempt_ms;
      co_await RunBlocking(blocking_, [&] { return store_.Reschedule(e); });
      co_return;
    }
    if (decision.condition == "EventAgeExceeded") ++c.dropped_by_age;
    const std::string response =
        DumpJson(json{{"errorType", "Alto.ServerStopped"}, {"errorMessage", reason}});
    co_await Fail(std::move(e), decision.condition, arn, dlq, config, response, false, reason);
    co_return;
  }

  // Claim the attempt once a sandbox is leased, right before the event is handed to it, and mark
  // it open: an attempt that was open when the server died is counted at the next start (above).
  // The claim also guards against the dispatcher's snapshot: an event finished or rescheduled by
  // another delivery since then must not run again.
  ++e.invoke_count;
  bool reached_sandbox = false;
  bool claim_lost = false;
  InvokeRequest req;
  req.function = *fn;
  req.payload = e.payload;
  req.invoked_arn = FunctionArn(account_, e.function, e.qualifier);
  req.hop = e.hop;
  req.request_id = e.request_id;
  req.before_handoff = [this, &e, &reached_sandbox, &claim_lost]() -> asio::awaitable<bool> {
    reached_sandbox = true;
    auto claimed = co_await RunBlocking(blocking_, [&] { return store_.RecordAttempt(e, true); });
    claim_lost = !claimed || !*claimed;
    co_return !claim_lost;
  };
  auto result = co_await invoker_.Invoke(std::move(req));
  if (claim_lost) co_return;
  if (!reached_sandbox) {
    // Throttled, or no sandbox could start: still an attempt (approximateInvokeCount, back-off).
    auto claimed = co_await RunBlocking(blocking_, [&] { return store_.RecordAttempt(e, false); });
    if (!claimed || !*claimed) co_return;
  }

  AttemptResult attempt = !result                  ? AttemptResult::kThrottledOrPlatformError
                          : result->function_error ? AttemptResult::kFunctionError
                                                   : AttemptResult::kSuccess;
  int64_t now = clock_.WallMillis();
  auto decision =
      DecideAfterAttempt(attempt, e.retries_used, e.invoke_count, e.enqueued_ms, now, policy);
  const std::string response = result ? result->body : "";
  switch (decision.fate) {
    case EventFate::kDone: {
      ++c.delivered;
      if (e.invoke_count > 1) ++c.redelivered;
      auto finish =
          DestinationFinish(e, config.on_success, Record(e, "Success", arn, response, false));
      if (!finish) {
        spdlog::warn("async: {}: OnSuccess destination unusable: {}", e.function,
                     finish.error().message);
        finish = EventFinish{};
      }
      auto st =
          co_await RunBlocking(blocking_, [&] { return store_.Finish(e.id, std::move(*finish)); });
      if (!st) spdlog::error("async: finishing {}: {}", e.request_id, st.error().message);
      break;
    }
    case EventFate::kRetry:
      ++c.retries;
      if (attempt == AttemptResult::kFunctionError) ++e.retries_used;
      e.next_attempt_ms = decision.next_attempt_ms;
      co_await RunBlocking(blocking_, [&] { return store_.Reschedule(e); });
      break;
    case EventFate::kFailed:
      if (decision.condition == "EventAgeExceeded") ++c.dropped_by_age;
      co_await Fail(std::move(e), decision.condition, arn, dlq, config, response,
                    attempt == AttemptResult::kFunctionError);
      break;
  }
}

asio::awaitable<Result<AsyncFunctionStats>> AsyncInvoker::Stats(const std::string& function) {
  auto q = co_await RunBlocking(blocking_, [&] { return store_.Stats(function); });
  if (!q) co_return q.error();
  AsyncFunctionStats s;
  if (auto it = counters_.find(function); it != counters_.end()) s.counters = it->second;
  s.queue_depth = q->depth;
  if (q->oldest_enqueued_ms > 0)
    s.oldest_event_age_s = (clock_.WallMillis() - q->oldest_enqueued_ms) / 1000.0;
  if (auto it = in_flight_by_function_.find(function); it != in_flight_by_function_.end())
    s.in_flight = it->second;
  co_return s;
}

}  // namespace alto
