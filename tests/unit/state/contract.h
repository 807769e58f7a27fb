// The state core's contract, one suite for every backend: each backend's test file instantiates
// StateContractTest with a factory for it (INSTANTIATE_TEST_SUITE_P), and the same TEST_Ps
// (state_contract_test.cc) run against SQLite and against a real etcd.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "state/state.h"

namespace alto::state::testing {

// One backend under test, over data that survives Reopen().
class BackendUnderTest {
 public:
  virtual ~BackendUnderTest() = default;
  virtual StateStore& store() = 0;
  // Closes and opens the store again over the same data, as a process restart does. Watches and
  // references to the old store die with it.
  virtual void Reopen() = 0;
  // Discards the change history up to `revision`, so a watch from before it must resync.
  virtual void Compact(Revision revision) = 0;
  // Lets leases of ttl_seconds run out: SQLite's backend moves its fake clock; etcd's waits for
  // real time (its leases follow the etcd server's clock).
  virtual void LetLeasesExpire(int64_t ttl_seconds) = 0;
};

struct BackendFactory {
  std::string name;  // for test names: "sqlite", "etcd"
  std::function<std::unique_ptr<BackendUnderTest>()> make;
};

class StateContractTest : public ::testing::TestWithParam<BackendFactory> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make();
    ASSERT_TRUE(backend_) << "backend " << GetParam().name << " did not start";
  }
  StateStore& store() { return backend_->store(); }
  BackendUnderTest& backend() { return *backend_; }

  std::unique_ptr<BackendUnderTest> backend_;
};

inline std::string BackendName(const ::testing::TestParamInfo<BackendFactory>& info) {
  return info.param.name;
}

}  // namespace alto::state::testing
