// A clock that moves only when told: tests of policies, leases and retries advance it by hand
// instead of waiting for wall time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "common/time.h"

namespace alto {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t wall_ms = 1'700'000'000'000) : wall_ms_(wall_ms) {}
  std::chrono::steady_clock::time_point Now() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(steady_ms_.load()));
  }
  int64_t WallMillis() const override { return wall_ms_.load(); }
  void Advance(std::chrono::milliseconds d) {
    steady_ms_ += d.count();
    wall_ms_ += d.count();
  }

 private:
  std::atomic<int64_t> steady_ms_{1'000'000};
  std::atomic<int64_t> wall_ms_;
};

}  // namespace alto
