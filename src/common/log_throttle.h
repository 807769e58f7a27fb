// Repeated-warning control: a fault that repeats thousands of times a second (accept failing
// with EMFILE, a client hammering a bad path) must cost one log line per interval with a count,
// never one line per occurrence, so that no fault can fill the disk with logs.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace alto {

class LogThrottle {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  explicit LogThrottle(std::chrono::steady_clock::duration interval) : interval_(interval) {}

  // Call once per occurrence. Returns the number of occurrences suppressed since the last line
  // that went out when this one may be logged, nullopt when it must be dropped.
  std::optional<uint64_t> Admit(time_point now) {
    if (!logged_once_ || now - last_ >= interval_) {
      logged_once_ = true;
      last_ = now;
      const uint64_t suppressed = suppressed_;
      suppressed_ = 0;
      return suppressed;
    }
    ++suppressed_;
    return std::nullopt;
  }

  uint64_t suppressed() const { return suppressed_; }

 private:
  std::chrono::steady_clock::duration interval_;
  time_point last_{};
  uint64_t suppressed_ = 0;
  bool logged_once_ = false;
};

}  // namespace alto
