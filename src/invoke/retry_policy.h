// What happens to an asynchronous event after an attempt: pure, table-tested policy.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

namespace alto {

enum class AttemptResult {
  kSuccess,
  kFunctionError,
  kThrottledOrPlatformError,
  // A platform failure of the worst kind: the attempt was in a sandbox when the server stopped or
  // died, and the event may be what killed it. Unlike a throttle it spends the retry budget
  // (MaximumRetryAttempts), so a poison event ends in OnFailure / the dead-letter queue after a
  // bounded number of restarts instead of killing every new server.
  kInterrupted,
};

enum class EventFate {
  kDone,    // delivered: OnSuccess destination
  kRetry,   // try again at next_attempt_ms
  kFailed,  // OnFailure destination / dead-letter queue, with `condition`
};

struct EventDecision {
  EventFate fate = EventFate::kDone;
  int64_t next_attempt_ms = 0;
  std::string condition;  // Lambda's requestContext.condition for failures
};

struct RetryPolicy {
  int max_retry_attempts = 2;  // after function errors, 0-2
  int64_t max_event_age_ms = 6 * 3600 * 1000;
  // Lambda waits about 1 minute, then about 2 minutes, between retries of a function error;
  // throttles and platform errors back off from 1 s to 5 minutes. `time_scale` shrinks all of
  // it for tests (a flag of the server).
  double time_scale = 1.0;
};

inline int64_t FunctionErrorRetryDelayMs(int retry_number, double scale) {
  return static_cast<int64_t>(60000.0 * retry_number * scale);
}

inline int64_t ThrottleRetryDelayMs(int attempts_so_far, double scale) {
  int64_t base = 1000;
  for (int i = 1; i < attempts_so_far && base < 300000; ++i) base *= 2;
  return static_cast<int64_t>(static_cast<double>(std::min<int64_t>(base, 300000)) * scale);
}

// retries_used: retries already spent after function errors and interruptions (before this
// attempt's result); invoke_count: attempts including this one.
inline EventDecision DecideAfterAttempt(AttemptResult result, int retries_used, int invoke_count,
                                        int64_t enqueued_ms, int64_t now_ms, const RetryPolicy& p) {
  EventDecision d;
  switch (result) {
    case AttemptResult::kSuccess:
      d.fate = EventFate::kDone;
      d.condition = "Success";
      return d;
    case AttemptResult::kFunctionError:
    case AttemptResult::kInterrupted:
      if (retries_used >= p.max_retry_attempts) {
        d.fate = EventFate::kFailed;
        d.condition = "RetriesExhausted";
        return d;
      }
      // After an interruption the restart itself was the pause: retry at once.
      d.next_attempt_ms = result == AttemptResult::kInterrupted
                              ? now_ms
                              : now_ms + FunctionErrorRetryDelayMs(retries_used + 1, p.time_scale);
      break;
    case AttemptResult::kThrottledOrPlatformError:
      d.next_attempt_ms = now_ms + ThrottleRetryDelayMs(invoke_count, p.time_scale);
      break;
  }
  // A retry that would start after the event's maximum age is not made.
  if (d.next_attempt_ms - enqueued_ms > p.max_event_age_ms) {
    d.fate = EventFate::kFailed;
    d.condition = "EventAgeExceeded";
    return d;
  }
  d.fate = EventFate::kRetry;
  return d;
}

inline bool EventExpired(int64_t enqueued_ms, int64_t now_ms, const RetryPolicy& p) {
  return now_ms - enqueued_ms > p.max_event_age_ms;
}

}  // namespace alto
