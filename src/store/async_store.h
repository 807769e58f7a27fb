// Durable state of asynchronous invocation: the event queue, per-function event-invoke
// configurations, and Alto's own durable queues (destinations and dead-letter targets; the seed
// of the queue event source). On the state core (SQLite or etcd): an event is durable before its
// 202 goes out.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace alto::state {
class StateStore;
}  // namespace alto::state

namespace alto {

struct AsyncEvent {
  int64_t id = 0;  // assigned by the store
  std::string request_id;
  std::string function;
  std::string qualifier;            // as invoked (alias, version or empty): the invoked ARN's
  std::string version = "$LATEST";  // the version that runs, chosen once at enqueue
  std::string payload;
  int64_t enqueued_ms = 0;
  int64_t next_attempt_ms = 0;
  int retries_used = 0;  // retries after function errors
  int invoke_count = 0;  // every attempt, Lambda's approximateInvokeCount
  int hop = 0;           // recursion depth: events sent by destinations or by functions
  // Read back from the store: an attempt was handed to a sandbox and its outcome never recorded,
  // so the server stopped (or died) during it. See RecordAttempt.
  bool attempt_interrupted = false;
};

struct EventInvokeConfig {
  std::string function;
  int max_retry_attempts = 2;
  int max_event_age_s = 21600;
  std::string on_success;  // destination ARN or empty
  std::string on_failure;
  int64_t last_modified_ms = 0;
};

struct QueueMessage {
  int64_t id = 0;
  std::string queue;
  std::string body;
  std::string attributes;  // JSON object text
  int64_t sent_ms = 0;
};

// What finishing an event does, atomically with deleting it.
struct EventFinish {
  std::vector<QueueMessage> messages;   // to destination and dead-letter queues
  std::optional<AsyncEvent> follow_up;  // to a destination function
};

struct QueueStats {
  int64_t depth = 0;
  int64_t oldest_enqueued_ms = 0;  // 0 when empty
};

class AsyncStore {
 public:
  virtual ~AsyncStore() = default;
  // One transaction, one fsync for the whole batch (group commit; a batch past the state's
  // transaction limits is split into as few as fit). Assigns ids, unique across every store on
  // the same state.
  virtual Status Enqueue(std::vector<AsyncEvent>& events) = 0;
  // Events due at now_ms, oldest first, at most per_function of each function (so one busy
  // function cannot hide the others). Skips an event whose attempt is claimed by another store
  // (another node) whose lease is alive.
  virtual Result<std::vector<AsyncEvent>> Due(int64_t now_ms, size_t per_function) = 0;
  virtual Result<int64_t> NextDueMs() = 0;  // 0 when the queue is empty
  // next_attempt, counters; the attempt it follows is over (clears the handed-off mark and the
  // claim, in the same transaction).
  virtual Status Reschedule(const AsyncEvent& event) = 0;
  // Claims an attempt: sets invoke_count to event.invoke_count if the stored count is still
  // event.invoke_count - 1. False when the event is gone or another attempt already claimed it (a
  // stale snapshot, or another node). handed_off: the event is about to be handed to a sandbox, so
  // the claim also marks the attempt open until Reschedule or Finish, and writes a claim key on
  // this store's lease; an event read back with the mark set and no live claim
  // (attempt_interrupted) was in a sandbox when its node died (its lease ran out) or stopped,
  // which is how a poison event that kills servers is recognized.
  virtual Result<bool> RecordAttempt(const AsyncEvent& event, bool handed_off) = 0;
  // Deletes the event (and its claim) and sends the destination messages and follow-up event, in
  // one transaction.
  virtual Status Finish(int64_t event_id, EventFinish finish) = 0;
  virtual Result<QueueStats> Stats(std::string_view function) = 0;
  virtual Status DropFunctionEvents(std::string_view function) = 0;

  virtual Status PutConfig(const EventInvokeConfig& config) = 0;
  virtual Result<EventInvokeConfig> GetConfig(std::string_view function) = 0;  // kNotFound
  virtual Status DeleteConfig(std::string_view function) = 0;

  virtual Status CreateQueue(std::string_view name) = 0;  // idempotent
  virtual Result<bool> QueueExists(std::string_view name) = 0;
  virtual Result<std::vector<std::string>> ListQueues() = 0;
  virtual Status SendMessage(const QueueMessage& message) = 0;
  // Oldest first; consume deletes what it returns in the same transaction.
  virtual Result<std::vector<QueueMessage>> ReadMessages(std::string_view queue, size_t max,
                                                         bool consume) = 0;
};

struct StateAsyncOptions {
  // Stable per node (across restarts of one node, distinct between nodes): a restarted node
  // revokes the lease of its previous incarnation at open, so its claims do not wait for the TTL.
  // Empty: no such record. Also the value of the claim keys (who holds them).
  std::string node;
  // The lease of this store's in-flight claims: when the process dies, the other nodes see its
  // events due again (attempt_interrupted) once it ran out.
  int64_t lease_ttl_s = 10;
  // Revoke the lease when the store is destroyed (a clean stop): its claims are released at once.
  bool revoke_at_close = true;
};

// The AsyncStore on the state core (keys under /acct/<account>/async/): several nodes on one
// etcd share the queue; in-flight claims are leased (see state_async_store.cc).
Result<std::unique_ptr<AsyncStore>> OpenStateAsyncStore(std::shared_ptr<state::StateStore> state,
                                                        std::string account,
                                                        StateAsyncOptions options = {});

// Before the state core, the async tables (async_events, event_invoke_configs, queues,
// queue_messages) lived in alto.db: moves what they hold into the state core, then drops them.
// Returns how many rows moved. Configs of functions that no longer exist are left behind.
Result<int> MigrateLegacyAsyncTables(const std::string& db_path,
                                     std::shared_ptr<state::StateStore> state,
                                     const std::string& account);

}  // namespace alto
