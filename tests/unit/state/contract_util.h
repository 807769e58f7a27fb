// Helpers shared by the contract suite's files: an io_context the test thread runs for watch
// callbacks, and a recorder of what a watch delivered.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "state/state.h"

namespace alto::state::testing {

// Watch callbacks run here, on the test thread, only while the test runs it; the work guard
// makes run_for wait out its time instead of returning at once when nothing is queued.
class TestIo {
 public:
  boost::asio::any_io_executor executor() { return ctx_.get_executor(); }
  // Runs callbacks until done() holds; false after `max` (generous: etcd is a real server).
  bool RunUntil(const std::function<bool()>& done,
                std::chrono::milliseconds max = std::chrono::seconds(15)) {
    auto deadline = std::chrono::steady_clock::now() + max;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      ctx_.run_for(std::chrono::milliseconds(5));
    }
    return true;
  }
  // Runs callbacks for a while: to show that nothing more arrives.
  void RunFor(std::chrono::milliseconds d) { ctx_.run_for(d); }

 private:
  boost::asio::io_context ctx_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{
      ctx_.get_executor()};
};

// What one watch delivered. Its callback runs on the test thread (TestIo), so no locking.
struct WatchRecorder {
  std::vector<WatchBatch> batches;

  std::function<void(WatchBatch)> Callback() {
    return [this](WatchBatch b) { batches.push_back(std::move(b)); };
  }
  std::vector<Event> Events() const {
    std::vector<Event> out;
    for (const auto& b : batches) out.insert(out.end(), b.events.begin(), b.events.end());
    return out;
  }
  size_t EventCount() const {
    size_t n = 0;
    for (const auto& b : batches) n += b.events.size();
    return n;
  }
};

// The value of an ok Result, failing the test (and returning T{}) otherwise.
template <class T>
T Must(Result<T> r, const char* what = "") {
  EXPECT_TRUE(r.ok()) << what << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r).value() : T{};
}

inline void MustOk(const Status& st, const char* what = "") {
  EXPECT_TRUE(st.ok()) << what << ": " << (st.ok() ? "" : st.error().message);
}

// The error code of a failed Result, or a failure when it succeeded.
template <class R>
Errc ErrorOf(const R& r) {
  EXPECT_FALSE(r.ok()) << "expected an error";
  return r.ok() ? static_cast<Errc>(-1) : r.error().code;
}

}  // namespace alto::state::testing
