// Clock passed in so policies and timers can be tested with a hand-moved clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace alto {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point Now() const = 0;  // for durations
  virtual int64_t WallMillis() const = 0;                         // Unix epoch ms
};

class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point Now() const override;
  int64_t WallMillis() const override;
};

// Lambda's FunctionConfiguration.LastModified format: 2020-04-10T19:06:32.563+0000
std::string FormatLambdaTimestamp(int64_t epoch_ms);
// ISO-8601 with milliseconds and Z, for logs.
std::string FormatIsoMillis(int64_t epoch_ms);

}  // namespace alto
