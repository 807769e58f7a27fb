#include "common/time.h"

#include <ctime>

namespace alto {

std::chrono::steady_clock::time_point SystemClock::Now() const {
  return std::chrono::steady_clock::now();
}

int64_t SystemClock::WallMillis() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {
std::string Format(int64_t epoch_ms, const char* suffix) {
  time_t secs = static_cast<time_t>(epoch_ms / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[96];
  snprintf(out, sizeof out, "%.*s.%03d%s", static_cast<int>(n), buf,
           static_cast<int>(epoch_ms % 1000), suffix);
  return out;
}
}  // namespace

std::string FormatLambdaTimestamp(int64_t epoch_ms) { return Format(epoch_ms, "+0000"); }
std::string FormatIsoMillis(int64_t epoch_ms) { return Format(epoch_ms, "Z"); }

}  // namespace alto
