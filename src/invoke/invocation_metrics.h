// Per-function counters of synchronous and asynchronous executions: cold vs warm starts, init
// and run time, errors and throttles. Updated on the I/O executor; read by /metrics and stats.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace alto {

struct InvocationCounters {
  uint64_t cold = 0;  // served by a sandbox started for it
  uint64_t warm = 0;  // served by a sandbox that had served before
  uint64_t function_errors = 0;
  uint64_t throttles = 0;
  uint64_t platform_errors = 0;  // a sandbox could not be had (start failure, shutdown)
  double init_ms_total = 0;      // sum of Init Duration over cold starts
  double duration_ms_total = 0;
  // Metering as Lambda bills: Duration rounded up to the ms, times MemorySize.
  uint64_t billed_ms_total = 0;
  double gb_seconds_total = 0;
};

// Lambda's Billed Duration: the duration rounded up to the next millisecond, at least 1 ms.
inline uint64_t BilledMillis(double duration_ms) {
  const auto whole = static_cast<uint64_t>(duration_ms);
  const uint64_t up = static_cast<double>(whole) < duration_ms ? whole + 1 : whole;
  return up < 1 ? 1 : up;
}

class InvocationMetrics {
 public:
  void RecordInvocation(const std::string& function, bool cold, bool function_error, double init_ms,
                        double duration_ms, int memory_mb) {
    auto& c = counters_[function];
    const uint64_t billed = BilledMillis(duration_ms);
    c.billed_ms_total += billed;
    c.gb_seconds_total += static_cast<double>(billed) / 1000.0 * memory_mb / 1024.0;
    ++(cold ? c.cold : c.warm);
    if (function_error) ++c.function_errors;
    c.init_ms_total += init_ms;
    c.duration_ms_total += duration_ms;
  }
  void RecordThrottle(const std::string& function) { ++counters_[function].throttles; }
  void RecordPlatformError(const std::string& function) { ++counters_[function].platform_errors; }
  void Forget(const std::string& function) { counters_.erase(function); }

  // Ordered so that /metrics output is stable.
  const std::map<std::string, InvocationCounters>& counters() const { return counters_; }
  InvocationCounters Of(const std::string& function) const {
    auto it = counters_.find(function);
    return it == counters_.end() ? InvocationCounters{} : it->second;
  }

 private:
  std::map<std::string, InvocationCounters> counters_;
};

}  // namespace alto
