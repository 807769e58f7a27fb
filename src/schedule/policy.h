// Pure scheduling policies, tested with a hand-moved clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <vector>

namespace alto {

using SteadyTime = std::chrono::steady_clock::time_point;

// An idle sandbox is reaped once it has been idle for the keep-alive period.
inline bool IdleExpired(SteadyTime last_used, SteadyTime now,
                        std::chrono::milliseconds keep_alive) {
  return now - last_used >= keep_alive;
}

// Which idle sandbox serves the next invocation: the most recently used one. Reusing the warmest
// sandbox lets the others age out, so a function keeps only as many sandboxes as its recent peak
// concurrency needs. Returns the index into last_used, or npos when empty.
inline size_t PickIdle(const std::vector<SteadyTime>& last_used) {
  size_t best = static_cast<size_t>(-1);
  for (size_t i = 0; i < last_used.size(); ++i) {
    if (best == static_cast<size_t>(-1) || last_used[i] >= last_used[best]) best = i;
  }
  return best;
}

// Which idle sandbox to destroy when a new one needs memory: the least recently used across all
// functions, never a pinned one (provisioned concurrency). Returns the index, or npos when every
// candidate is pinned (or there are none).
struct EvictionCandidate {
  SteadyTime last_used;
  bool pinned = false;
};
inline size_t PickEvictionVictim(const std::vector<EvictionCandidate>& idle) {
  size_t victim = static_cast<size_t>(-1);
  for (size_t i = 0; i < idle.size(); ++i) {
    if (idle[i].pinned) continue;
    if (victim == static_cast<size_t>(-1) || idle[i].last_used < idle[victim].last_used) victim = i;
  }
  return victim;
}

// How often the reaper looks at idle sandboxes: often enough to honour short keep-alives in
// tests, rarely enough to cost nothing.
inline std::chrono::milliseconds ReapInterval(std::chrono::milliseconds keep_alive) {
  auto quarter = keep_alive / 4;
  if (quarter < std::chrono::milliseconds(50)) return std::chrono::milliseconds(50);
  if (quarter > std::chrono::milliseconds(5000)) return std::chrono::milliseconds(5000);
  return quarter;
}

// How many stem cells to keep ready for a runtime: as many as the cold starts it saw in the last
// window (each would have been a pool hit), never fewer than the configured floor nor more than
// the ceiling. A runtime nobody cold-starts any more drops back to the floor.
inline int StemPoolTarget(int cold_starts_in_window, int floor, int ceiling) {
  int target = cold_starts_in_window > floor ? cold_starts_in_window : floor;
  return target < ceiling ? target : ceiling;
}

// How many sandboxes to start now for each function revision that has callers waiting. Callers
// that found no idle sandbox wait for the first one that becomes available: one they caused to
// start, or one another invocation just released. So each waiting caller not yet covered by a
// start under way asks for one more start, within the node's limit on starts in flight (starts
// are CPU-bound on the host: more in parallel only queue). The limit also means a burst of short
// invocations does not start a sandbox per caller when a few, reused as they free up, serve it
// sooner. Every revision with nothing under way gets its first start before any gets more, so a
// burst of one function cannot hold every slot while another function's first caller waits.
struct StartDemand {
  int waiting = 0;   // callers waiting for a sandbox of this revision
  int starting = 0;  // starts under way for it
};
inline std::vector<int> PlanStarts(const std::vector<StartDemand>& demand, int node_starting,
                                   int max_parallel) {
  std::vector<int> plan(demand.size(), 0);
  int room = max_parallel - node_starting;
  for (size_t i = 0; i < demand.size() && room > 0; ++i) {
    if (demand[i].starting == 0 && demand[i].waiting > 0) {
      plan[i] = 1;
      --room;
    }
  }
  for (size_t i = 0; i < demand.size() && room > 0; ++i) {
    int more = demand[i].waiting - demand[i].starting - plan[i];
    if (more > room) more = room;
    if (more > 0) {
      plan[i] += more;
      room -= more;
    }
  }
  return plan;
}

// The cold-start window StemPoolTarget counts over.
constexpr std::chrono::seconds kStemWindow{60};

}  // namespace alto
