#include "schedule/policy.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace alto {
namespace {

using std::chrono::milliseconds;

TEST(IdlePolicy, ExpiresExactlyAtKeepAlive) {
  SteadyTime t0{};  // a hand-moved clock: plain time points
  const milliseconds keep(1000);
  EXPECT_FALSE(IdleExpired(t0, t0, keep));
  EXPECT_FALSE(IdleExpired(t0, t0 + milliseconds(999), keep));
  EXPECT_TRUE(IdleExpired(t0, t0 + milliseconds(1000), keep));
  EXPECT_TRUE(IdleExpired(t0, t0 + milliseconds(5000), keep));
}

TEST(IdlePolicy, PicksMostRecentlyUsed) {
  SteadyTime t0{};
  EXPECT_EQ(PickIdle({}), static_cast<size_t>(-1));
  EXPECT_EQ(PickIdle({t0}), 0u);
  EXPECT_EQ(PickIdle({t0 + milliseconds(5), t0 + milliseconds(9), t0 + milliseconds(1)}), 1u);
  EXPECT_EQ(PickIdle({t0 + milliseconds(9), t0 + milliseconds(9)}), 1u);  // ties: the later pushed
}

TEST(EvictionPolicy, LeastRecentlyUsedAcrossFunctionsSkippingPinned) {
  const SteadyTime t0{};
  using std::chrono::seconds;
  struct Case {
    std::vector<EvictionCandidate> idle;
    size_t expected;
  };
  const size_t none = static_cast<size_t>(-1);
  const std::vector<Case> cases = {
      {{}, none},
      {{{t0 + seconds(5), false}}, 0},
      {{{t0 + seconds(5), false}, {t0 + seconds(1), false}, {t0 + seconds(3), false}}, 1},
      // The oldest is provisioned: the next oldest goes.
      {{{t0 + seconds(5), false}, {t0 + seconds(1), true}, {t0 + seconds(3), false}}, 2},
      {{{t0 + seconds(1), true}, {t0 + seconds(2), true}}, none},
      // Ties: the first seen (stable).
      {{{t0 + seconds(2), false}, {t0 + seconds(2), false}}, 0},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(PickEvictionVictim(cases[i].idle), cases[i].expected) << "case " << i;
  }
}

TEST(IdlePolicy, ReapIntervalIsClamped) {
  EXPECT_EQ(ReapInterval(milliseconds(100)), milliseconds(50));
  EXPECT_EQ(ReapInterval(milliseconds(1000)), milliseconds(250));
  EXPECT_EQ(ReapInterval(milliseconds(3600000)), milliseconds(5000));
}

TEST(ScaleOutPolicy, OneStartPerUncoveredCallerWithinTheParallelLimit) {
  struct Row {
    int waiting, starting, node_starting, max_parallel, want;
  };
  const Row rows[] = {
      {1, 0, 0, 4, 1},    // a lone caller starts one sandbox
      {200, 0, 0, 4, 4},  // a burst: as many as may run at once
      {200, 4, 4, 4, 0},  // all start slots busy: wait for one to finish
      {196, 3, 3, 4, 1},  // one start finished: the next one
      {3, 4, 4, 4, 0},    // released sandboxes served the rest: no more starts
      {5, 2, 3, 4, 1},    // another function holds one of the node's slots
      {0, 0, 0, 4, 0},    // nobody waits
      {2, 0, 6, 4, 0},    // over the limit (it was lowered): never negative
  };
  for (const auto& r : rows) {
    EXPECT_EQ(PlanStarts({{r.waiting, r.starting}}, r.node_starting, r.max_parallel),
              std::vector<int>{r.want})
        << r.waiting << " waiting, " << r.starting << " starting, " << r.node_starting
        << " on the node, limit " << r.max_parallel;
  }
}

TEST(ScaleOutPolicy, EveryFunctionGetsAFirstStartBeforeABurstGetsMore) {
  struct Row {
    std::vector<StartDemand> demand;
    int node_starting;
    std::vector<int> want;
  };
  const Row rows[] = {
      {{{200, 0}, {1, 0}}, 0, {3, 1}},           // both arrive at once: the lone caller gets one
      {{{196, 3}, {1, 0}}, 3, {0, 1}},           // a slot frees: the other function's first caller
      {{{196, 3}, {1, 1}}, 4, {0, 0}},           // nothing free
      {{{196, 3}, {1, 1}}, 3, {1, 0}},           // the other is covered: the burst goes on
      {{{9, 0}, {9, 0}, {9, 0}}, 0, {2, 1, 1}},  // three bursts: one each, then in order
      {{{0, 0}, {2, 0}}, 2, {0, 2}},             // a revision with nobody waiting gets none
  };
  for (const auto& r : rows) {
    EXPECT_EQ(PlanStarts(r.demand, r.node_starting, 4), r.want)
        << "node starting " << r.node_starting;
  }
}

}  // namespace
}  // namespace alto

#include "invoke/invoker.h"

namespace alto {
namespace {

TEST(ReportLine, MatchesLambdasFormat) {
  EXPECT_EQ(ReportLine("r1", 1.234, 128, 42, 0),
            "REPORT RequestId: r1\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t"
            "Max Memory Used: 42 MB\t\n");
  EXPECT_EQ(ReportLine("r2", 0.2, 256, -1, 55.5),
            "REPORT RequestId: r2\tDuration: 0.20 ms\tBilled Duration: 1 ms\tMemory Size: 256 MB\t"
            "Init Duration: 55.50 ms\t\n");
}

TEST(ReportLine, DurationsReadAsPrintfWouldShowThem) {
  for (double d : {0.0, 0.004, 0.005, 0.015, 1.005, 2.345, 9.995, 99.999, 1234.5678, 3e6 + 0.125}) {
    char want[64];
    snprintf(want, sizeof want, "Duration: %.2f ms\t", d);
    EXPECT_NE(ReportLine("r", d, 128, -1, 0).find(want), std::string::npos) << want;
    snprintf(want, sizeof want, "Init Duration: %.2f ms\t", d + 1);
    EXPECT_NE(ReportLine("r", 1, 128, -1, d + 1).find(want), std::string::npos) << want;
  }
}

}  // namespace
}  // namespace alto
