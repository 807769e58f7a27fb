#include "invoke/retry_policy.h"

#include <gtest/gtest.h>

#include "invoke/async_invoker.h"

namespace alto {
namespace {

constexpr int64_t kT0 = 1'000'000;

TEST(RetryPolicy, FunctionErrorsRetryAfterOneThenTwoMinutes) {
  RetryPolicy p;  // 2 retries, 6 h
  auto d1 = DecideAfterAttempt(AttemptResult::kFunctionError, 0, 1, kT0, kT0, p);
  EXPECT_EQ(d1.fate, EventFate::kRetry);
  EXPECT_EQ(d1.next_attempt_ms, kT0 + 60000);
  auto d2 = DecideAfterAttempt(AttemptResult::kFunctionError, 1, 2, kT0, kT0 + 60000, p);
  EXPECT_EQ(d2.fate, EventFate::kRetry);
  EXPECT_EQ(d2.next_attempt_ms, kT0 + 60000 + 120000);
  auto d3 = DecideAfterAttempt(AttemptResult::kFunctionError, 2, 3, kT0, kT0 + 180000, p);
  EXPECT_EQ(d3.fate, EventFate::kFailed);
  EXPECT_EQ(d3.condition, "RetriesExhausted");
}

TEST(RetryPolicy, ZeroRetriesFailsAtOnce) {
  RetryPolicy p;
  p.max_retry_attempts = 0;
  auto d = DecideAfterAttempt(AttemptResult::kFunctionError, 0, 1, kT0, kT0, p);
  EXPECT_EQ(d.fate, EventFate::kFailed);
  EXPECT_EQ(d.condition, "RetriesExhausted");
}

// A poison event: an attempt the server died during spends the retry budget like a function
// error, and is retried at once (the restart was the pause), so it cannot loop forever.
TEST(RetryPolicy, InterruptedAttemptsSpendTheRetryBudget) {
  RetryPolicy p;  // 2 retries
  auto d1 = DecideAfterAttempt(AttemptResult::kInterrupted, 0, 1, kT0, kT0 + 500, p);
  EXPECT_EQ(d1.fate, EventFate::kRetry);
  EXPECT_EQ(d1.next_attempt_ms, kT0 + 500);
  auto d2 = DecideAfterAttempt(AttemptResult::kInterrupted, 1, 2, kT0, kT0 + 900, p);
  EXPECT_EQ(d2.fate, EventFate::kRetry);
  auto d3 = DecideAfterAttempt(AttemptResult::kInterrupted, 2, 3, kT0, kT0 + 1300, p);
  EXPECT_EQ(d3.fate, EventFate::kFailed);
  EXPECT_EQ(d3.condition, "RetriesExhausted");
}

TEST(RetryPolicy, InterruptedWithZeroRetriesFailsAtOnce) {
  RetryPolicy p;
  p.max_retry_attempts = 0;
  auto d = DecideAfterAttempt(AttemptResult::kInterrupted, 0, 1, kT0, kT0, p);
  EXPECT_EQ(d.fate, EventFate::kFailed);
  EXPECT_EQ(d.condition, "RetriesExhausted");
}

TEST(RetryPolicy, InterruptedPastTheMaximumAgeIsAgeExceeded) {
  RetryPolicy p;
  p.max_event_age_ms = 60000;
  auto d = DecideAfterAttempt(AttemptResult::kInterrupted, 0, 1, kT0, kT0 + 60001, p);
  EXPECT_EQ(d.fate, EventFate::kFailed);
  EXPECT_EQ(d.condition, "EventAgeExceeded");
}

TEST(RetryPolicy, ThrottlesBackOffExponentiallyToFiveMinutes) {
  EXPECT_EQ(ThrottleRetryDelayMs(1, 1.0), 1000);
  EXPECT_EQ(ThrottleRetryDelayMs(2, 1.0), 2000);
  EXPECT_EQ(ThrottleRetryDelayMs(5, 1.0), 16000);
  EXPECT_EQ(ThrottleRetryDelayMs(30, 1.0), 300000);
  RetryPolicy p;
  auto d = DecideAfterAttempt(AttemptResult::kThrottledOrPlatformError, 0, 3, kT0, kT0, p);
  EXPECT_EQ(d.fate, EventFate::kRetry);
  EXPECT_EQ(d.next_attempt_ms, kT0 + 4000);
}

TEST(RetryPolicy, NoRetryStartsPastTheMaximumAge) {
  RetryPolicy p;
  p.max_event_age_ms = 60000;
  auto d = DecideAfterAttempt(AttemptResult::kFunctionError, 0, 1, kT0, kT0 + 1000, p);
  EXPECT_EQ(d.fate, EventFate::kFailed);
  EXPECT_EQ(d.condition, "EventAgeExceeded");
  EXPECT_TRUE(EventExpired(kT0, kT0 + 60001, p));
  EXPECT_FALSE(EventExpired(kT0, kT0 + 60000, p));
}

TEST(RetryPolicy, ScaleShrinksDelaysForTests) {
  RetryPolicy p;
  p.time_scale = 0.01;
  auto d = DecideAfterAttempt(AttemptResult::kFunctionError, 0, 1, kT0, kT0, p);
  EXPECT_EQ(d.next_attempt_ms, kT0 + 600);
}

TEST(RetryPolicy, SuccessIsDone) {
  auto d = DecideAfterAttempt(AttemptResult::kSuccess, 2, 3, kT0, kT0 + 999999999, RetryPolicy{});
  EXPECT_EQ(d.fate, EventFate::kDone);
}

TEST(Destinations, ParsesFunctionAndQueueArns) {
  auto f = ParseDestinationArn("arn:aws:lambda:us-east-1:000000000000:function:next");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->kind, Destination::Kind::kFunction);
  EXPECT_EQ(f->name, "next");
  auto q = ParseDestinationArn("arn:aws:sqs:us-east-1:000000000000:failures");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->kind, Destination::Kind::kQueue);
  EXPECT_EQ(q->name, "failures");
  for (const char* bad :
       {"", "failures", "arn:aws:sns:us-east-1:000000000000:topic",
        "arn:aws:sqs:us-east-1:000000000000:bad name", "arn:aws:lambda:us-east-1:0:function"}) {
    EXPECT_FALSE(ParseDestinationArn(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace alto
