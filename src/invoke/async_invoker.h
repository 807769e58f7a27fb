// Asynchronous invocation (X-Amz-Invocation-Type: Event) that never loses an event.
//  - Enqueue: the event is committed to the AsyncStore (group commit: concurrent enqueues share
//    one transaction and one fsync) before the caller's 202.
//  - Dispatch: due events are delivered through the synchronous Invoker, round-robin across
//    functions and bounded per function, at least once: an event leaves the store only in the
//    transaction that records its outcome (destination record, dead letter), so a crash at any
//    moment leaves it queued and a restart delivers it again.
//  - Retries, maximum age, destinations and the recursion guard follow Lambda's rules
//    (retry_policy.h).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "api/function_json.h"
#include "common/result.h"
#include "common/time.h"
#include "invoke/destination.h"
#include "invoke/function_catalog.h"
#include "invoke/invoker.h"
#include "store/async_store.h"

namespace alto {

constexpr size_t kMaxAsyncPayloadBytes = 1024 * 1024;  // Lambda's current Event limit
constexpr int kMaxRecursionHops = 16;

struct AsyncOptions {
  double retry_time_scale = 1.0;  // shrinks retry spacing (tests)
  size_t per_function_concurrency = 8;
  size_t max_in_flight = 64;
};

struct AsyncCounters {
  uint64_t enqueued = 0;
  uint64_t delivered = 0;    // succeeded
  uint64_t redelivered = 0;  // succeeded on an attempt after a crash or retry (invoke count > 1)
  uint64_t retries = 0;
  uint64_t dropped_by_age = 0;
  uint64_t dead_lettered = 0;  // failed events sent to OnFailure or a dead-letter queue
  uint64_t recursion_stopped = 0;
  uint64_t discarded = 0;  // failed with nowhere to go, or the function was deleted
};

struct AsyncFunctionStats {
  AsyncCounters counters;
  int64_t queue_depth = 0;
  double oldest_event_age_s = 0;
  size_t in_flight = 0;
};

class AsyncInvoker {
 public:
  AsyncInvoker(boost::asio::any_io_executor io, boost::asio::thread_pool& blocking,
               AsyncStore& store, FunctionCatalog& catalog, Invoker& invoker, const Clock& clock,
               AccountInfo account, AsyncOptions options);
  void Start();
  void Stop();
  // Durable before it returns; returns the event's request id. qualifier is what the caller
  // invoked, version what runs (an alias's weighted choice is made once, here, by the caller).
  boost::asio::awaitable<Result<std::string>> Enqueue(const std::string& function,
                                                      std::string payload, int hop,
                                                      std::string qualifier = {},
                                                      std::string version = "$LATEST");
  boost::asio::awaitable<Result<AsyncFunctionStats>> Stats(const std::string& function);
  const std::map<std::string, AsyncCounters>& counters() const { return counters_; }
  size_t in_flight() const { return in_flight_total_; }
  // No delivery running and no enqueue waiting on a commit.
  bool idle() const { return in_flight_total_ == 0 && !flushing_; }

 private:
  struct Batch;
  boost::asio::awaitable<void> FlushLoop();
  boost::asio::awaitable<void> DispatchLoop();
  boost::asio::awaitable<void> Deliver(AsyncEvent event);
  boost::asio::awaitable<void> Fail(AsyncEvent event, const std::string& condition,
                                    const std::string& function_arn,
                                    const std::string& dead_letter_arn,
                                    const EventInvokeConfig& config, const std::string& response,
                                    bool function_error, const std::string& reason = {});
  Result<EventFinish> DestinationFinish(const AsyncEvent& event, const std::string& destination,
                                        const std::string& record);
  std::string Record(const AsyncEvent& event, const std::string& condition,
                     const std::string& function_arn, const std::string& response,
                     bool function_error);
  void Wake();

  boost::asio::any_io_executor io_;
  boost::asio::thread_pool& blocking_;
  AsyncStore& store_;
  FunctionCatalog& catalog_;
  Invoker& invoker_;
  const Clock& clock_;
  AccountInfo account_;
  AsyncOptions options_;
  boost::asio::steady_timer wake_;
  std::shared_ptr<Batch> batch_;
  bool flushing_ = false;
  bool stopped_ = false;
  bool wake_pending_ = false;  // Wake() since the dispatcher last started reading due events
  std::unordered_set<int64_t> in_flight_ids_;
  // Deliveries that ended while the dispatcher was reading a snapshot of due events: the
  // snapshot may still show them as due.
  std::unordered_set<int64_t> ended_during_snapshot_;
  bool reading_snapshot_ = false;
  std::unordered_map<std::string, size_t> in_flight_by_function_;
  size_t in_flight_total_ = 0;
  std::map<std::string, AsyncCounters> counters_;
};

}  // namespace alto
