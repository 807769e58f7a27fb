#include "schedule/concurrency.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace alto {
namespace {

std::string ReasonOf(const Status& st) { return st ? "" : st.error().reason; }

TEST(ConcurrencyLimits, UnreservedFunctionsShareWhatReservationsLeave) {
  ConcurrencyLimits l(10, 2);
  ASSERT_TRUE(l.CheckReservation("a", 3));
  l.SetReservation("a", 3);
  EXPECT_EQ(l.unreserved_limit(), 7);
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(l.TryAcquire(i % 2 ? "b" : "c")) << i;
  EXPECT_EQ(ReasonOf(l.TryAcquire("b")), "ConcurrentInvocationLimitExceeded");
  // The reserved function still has its own slots.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(l.TryAcquire("a"));
  EXPECT_EQ(ReasonOf(l.TryAcquire("a")), "ReservedFunctionConcurrentInvocationLimitExceeded");
  EXPECT_EQ(l.running_total(), 10);
  l.Release("b");
  EXPECT_TRUE(l.TryAcquire("d"));
  EXPECT_EQ(ReasonOf(l.TryAcquire("a")), "ReservedFunctionConcurrentInvocationLimitExceeded");
}

TEST(ConcurrencyLimits, ReservationZeroThrottlesEverything) {
  ConcurrencyLimits l(10, 1);
  l.SetReservation("off", 0);
  Status st = l.TryAcquire("off");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kThrottled);
  EXPECT_EQ(l.running("off"), 0);
}

TEST(ConcurrencyLimits, ReservationsCannotEatTheMinimumUnreservedPool) {
  struct Case {
    int node, min_unreserved, other_reserved, wanted;
    bool ok;
  };
  const std::vector<Case> cases = {
      {1000, 100, 0, 900, true},    {1000, 100, 0, 901, false}, {1000, 100, 500, 400, true},
      {1000, 100, 500, 401, false}, {10, 1, 0, 9, true},        {10, 1, 0, 10, false},
      {10, 1, 5, -1, true},  // removing is always allowed
  };
  for (const auto& c : cases) {
    ConcurrencyLimits l(c.node, c.min_unreserved);
    if (c.other_reserved > 0) l.SetReservation("other", c.other_reserved);
    EXPECT_EQ(static_cast<bool>(l.CheckReservation("f", c.wanted)), c.ok)
        << c.node << " " << c.other_reserved << " " << c.wanted;
  }
  // Changing one's own reservation counts it once.
  ConcurrencyLimits l(10, 2);
  l.SetReservation("f", 8);
  EXPECT_TRUE(l.CheckReservation("f", 8));
  EXPECT_FALSE(l.CheckReservation("g", 1));
}

TEST(ConcurrencyLimits, SlotsGoBackToThePoolTheyCameFrom) {
  ConcurrencyLimits l(4, 1);
  ASSERT_TRUE(l.TryAcquire("f"));
  ASSERT_TRUE(l.TryAcquire("f"));
  EXPECT_EQ(l.unreserved_running(), 2);
  l.SetReservation("f", 2);  // reserved while two unreserved executions run
  EXPECT_EQ(l.unreserved_limit(), 2);
  EXPECT_FALSE(l.TryAcquire("f"));  // its two slots are in use
  l.Release("f");
  l.Release("f");
  EXPECT_EQ(l.unreserved_running(), 0);
  EXPECT_EQ(l.running_total(), 0);
  ASSERT_TRUE(l.TryAcquire("f"));
  EXPECT_EQ(l.unreserved_running(), 0);
  l.Release("f");
  l.Release("f");  // an extra release is ignored
  EXPECT_EQ(l.running_total(), 0);
}

TEST(ConcurrencyLimits, Defaults) {
  EXPECT_EQ(DefaultNodeConcurrency(0), 10);
  EXPECT_EQ(DefaultNodeConcurrency(19660), 153);
  EXPECT_EQ(DefaultMinUnreserved(153), 15);
  EXPECT_EQ(DefaultMinUnreserved(5000), 100);
  EXPECT_EQ(DefaultMinUnreserved(3), 1);
}

}  // namespace
}  // namespace alto
