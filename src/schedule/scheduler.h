// Warm pools of sandboxes per function revision: reuse an idle sandbox, cold-start one when none
// is idle, reap idle ones after the keep-alive. Runs on one I/O executor; sandbox start and
// teardown go to the blocking pool.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/result.h"
#include "runtime_api/session.h"
#include "sandbox/sandbox.h"
#include "store/code_store.h"
#include "store/function.h"

namespace alto {

struct SchedulerOptions {
  std::chrono::milliseconds keep_alive{std::chrono::minutes(5)};
  std::filesystem::path runtimes_dir;
  std::string region = "us-east-1";
  // Memory the node offers to sandboxes: the sum of their MemorySize never exceeds it.
  int64_t memory_capacity_mb = 0;  // 0: 80% of physical memory
};

struct Instance {
  std::string key;  // function name @ version @ revision
  std::string function_name;
  std::string function_version;
  std::unique_ptr<Sandbox> sandbox;
  std::shared_ptr<RuntimeSession> session;
  std::chrono::steady_clock::time_point last_used;
  int memory_mb = 128;
  bool cold = true;  // has not served an invocation yet
};
using Lease = std::shared_ptr<Instance>;

class Scheduler {
 public:
  Scheduler(boost::asio::any_io_executor io, boost::asio::thread_pool& blocking, Driver& driver,
            CodeStore& code, SchedulerOptions options);
  ~Scheduler();

  void Start();
  boost::asio::awaitable<Result<Lease>> Acquire(const FunctionConfig& function);
  // Returns a sandbox after an invocation; a broken one is destroyed.
  void Release(Lease lease, bool reusable);
  // The function changed or was deleted: none of its sandboxes is reused.
  void Retire(const std::string& function_name);
  // Only one version's sandboxes ($LATEST changed, or a version was deleted).
  void RetireVersion(const std::string& function_name, const std::string& version);
  // Destroys every idle sandbox and stops the reaper.
  void Shutdown();

  size_t idle_count() const;
  size_t live_count() const { return live_; }
  int64_t committed_mb() const { return committed_mb_; }
  int busy(const std::string& function) const {
    auto it = busy_.find(function);
    return it == busy_.end() ? 0 : it->second;
  }

 private:
  boost::asio::awaitable<Result<Lease>> AcquireSandbox(const FunctionConfig& function);
  boost::asio::awaitable<void> ReapLoop();
  void Destroy(Lease lease);
  void RetireKeys(const std::string& function_name, const std::string& version);
  // Frees memory for a new sandbox by destroying least recently used idle ones.
  bool Admit(int memory_mb);

  boost::asio::any_io_executor io_;
  boost::asio::thread_pool& blocking_;
  Driver& driver_;
  CodeStore& code_;
  SchedulerOptions options_;
  boost::asio::steady_timer reap_timer_;
  std::unordered_map<std::string, std::vector<Lease>> idle_;
  // Function names and name@version scopes; cleared when a new revision is acquired.
  std::unordered_set<std::string> retired_functions_;
  std::unordered_map<std::string, int> busy_;  // leases serving or starting, per function
  size_t live_ = 0;
  int64_t committed_mb_ = 0;  // MemorySize of live and starting sandboxes
  bool stopped_ = false;
};

}  // namespace alto
