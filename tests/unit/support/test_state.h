// The SQLite state core on a file in a test's temp dir, with a fake clock: what the typed stores'
// tests open their stores on. Reopen() is a process restart (the old store objects keep the old
// connection alive until they are dropped).
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <memory>

#include "common/fake_clock.h"
#include "state/sqlite/sqlite_state.h"

namespace alto::testing {

class TestState {
 public:
  explicit TestState(std::filesystem::path db) : db_(std::move(db)) { Reopen(); }
  void Reopen() {
    state_.reset();
    auto opened = state::OpenSqliteState(db_.string(), clock_, io_.get_executor());
    EXPECT_TRUE(opened.ok()) << opened.error().message;
    if (opened) state_ = std::move(*opened);
  }
  std::shared_ptr<state::StateStore> state() const { return state_; }
  // Hands the state over: it closes when its last user (a store) goes, as at a process exit.
  std::shared_ptr<state::StateStore> Take() { return std::move(state_); }
  FakeClock& clock() { return clock_; }
  boost::asio::io_context& io() { return io_; }

 private:
  std::filesystem::path db_;
  FakeClock clock_;
  boost::asio::io_context io_;
  std::shared_ptr<state::StateStore> state_;
};

}  // namespace alto::testing
