#include "common/log_throttle.h"

#include <gtest/gtest.h>

namespace alto {
namespace {

TEST(LogThrottle, OneLinePerIntervalWithTheCountOfTheRest) {
  using namespace std::chrono_literals;
  LogThrottle throttle(10s);
  const LogThrottle::time_point t0{};
  auto first = throttle.Admit(t0 + 1s);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, 0u);
  int admitted = 0;
  for (int i = 0; i < 100000; ++i) admitted += throttle.Admit(t0 + 1s + i * 50us).has_value();
  EXPECT_EQ(admitted, 0) << "100,000 failures within 5 s: no line";
  auto next = throttle.Admit(t0 + 11s);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, 100000u);
  EXPECT_FALSE(throttle.Admit(t0 + 12s).has_value());
}

}  // namespace
}  // namespace alto
