// The server's log, with a ceiling on its rate: whatever fault repeats a warning per request or
// per failure (and call sites that use LogThrottle already count their own), the log grows by at
// most `per_second` lines a second after a burst of `burst`, and a line says how many were
// dropped. A backstop under the per-site throttles, so that no fault can fill the disk.
#pragma once

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace alto {

class RateLimitedSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  RateLimitedSink(spdlog::sink_ptr inner, double per_second, double burst)
      : inner_(std::move(inner)), per_second_(per_second), burst_(burst), tokens_(burst) {}

  uint64_t dropped() const { return dropped_total_; }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const auto now = std::chrono::steady_clock::now();
    if (last_ != std::chrono::steady_clock::time_point{}) {
      const double elapsed = std::chrono::duration<double>(now - last_).count();
      tokens_ = std::min(burst_, tokens_ + elapsed * per_second_);
    }
    last_ = now;
    if (tokens_ < 1) {
      ++dropped_;
      ++dropped_total_;
      return;
    }
    if (dropped_ > 0) {
      tokens_ -= 1;
      const std::string note =
          std::to_string(dropped_) + " log lines dropped: the log's rate limit was reached";
      spdlog::details::log_msg summary(msg.logger_name, spdlog::level::warn, note);
      inner_->log(summary);
      dropped_ = 0;
      if (tokens_ < 1) return;
    }
    tokens_ -= 1;
    inner_->log(msg);
  }

  void flush_() override { inner_->flush(); }

 private:
  spdlog::sink_ptr inner_;
  double per_second_;
  double burst_;
  double tokens_;
  std::chrono::steady_clock::time_point last_{};
  uint64_t dropped_ = 0;
  uint64_t dropped_total_ = 0;
};

}  // namespace alto
