// Warm pools of sandboxes per function revision: reuse an idle sandbox, cold-start one when none
// is idle, reap idle ones after the keep-alive. Runs on one I/O executor; sandbox start and
// teardown go to the blocking pool.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/result.h"
#include "runtime_api/session.h"
#include "sandbox/sandbox.h"
#include "schedule/concurrency.h"
#include "schedule/policy.h"
#include "schedule/usage.h"
#include "store/code_store.h"
#include "store/function.h"

namespace alto {

struct SchedulerOptions {
  std::chrono::milliseconds keep_alive{std::chrono::minutes(5)};
  std::filesystem::path runtimes_dir;
  std::string region = "us-east-1";
  // Memory the node offers to sandboxes: the sum of their MemorySize never exceeds it.
  int64_t memory_capacity_mb = 0;  // 0: 80% of physical memory
  int node_concurrency = 0;        // 0: DefaultNodeConcurrency(memory capacity)
  // Stem cells per runtime: at least stem_floor for each of stem_runtimes (started at once), and
  // up to stem_ceiling for any runtime as its cold-start rate asks (StemPoolTarget).
  std::vector<std::string> stem_runtimes;
  int stem_floor = 0;
  int stem_ceiling = 4;
  // Sandbox starts in flight on the node at once (PlanStarts); the blocking pool's size.
  int max_parallel_starts = 4;
  // Each sandbox's Runtime API listener: its connection cap and the counters all of them share.
  size_t runtime_api_max_connections = 8;
  std::shared_ptr<http::ListenerStats> runtime_api_stats;
};

struct StemCounters {
  uint64_t hits = 0;    // cold starts served by a stem cell
  uint64_t misses = 0;  // cold starts that had to start a sandbox from scratch
  uint64_t started = 0;
};

struct Instance {
  std::string key;  // function name @ version @ revision
  std::string function_name;
  std::string function_version;
  std::unique_ptr<Sandbox> sandbox;
  std::shared_ptr<RuntimeSession> session;
  std::chrono::steady_clock::time_point last_used;
  std::chrono::steady_clock::time_point started_at;
  int memory_mb = 128;
  bool cold = true;  // has not served an invocation yet
  // Provisioned concurrency: the scope (function:qualifier) this sandbox is kept ready for; it is
  // neither reaped when idle nor evicted for memory. Empty for on-demand sandboxes.
  std::string provision_scope;
};
using Lease = std::shared_ptr<Instance>;

// GetProvisionedConcurrencyConfig's counts for one scope.
struct ProvisionedStatus {
  int requested = 0;
  int allocated = 0;    // sandboxes started for it (initialising or ready)
  int available = 0;    // initialised: the runtime is waiting for its first event
  std::string failure;  // why the last start failed, while short of requested
};

class Scheduler {
 public:
  // `blocking` runs the work an invocation waits on (a cold start, a stem's specialisation);
  // `background` the work ahead of or after demand (stem refills, teardown), so that a burst of
  // either never queues the other.
  Scheduler(boost::asio::any_io_executor io, boost::asio::thread_pool& blocking,
            boost::asio::thread_pool& background, Driver& driver, CodeStore& code,
            SchedulerOptions options);
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

  // Provisioned concurrency: keeps `count` initialised sandboxes of `version` (a published
  // version's configuration) for `scope` ("function:qualifier"), replacing any that die; they
  // start with AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency. Count 0 (or a new
  // version for the scope) lets the previous ones go.
  void Provision(const std::string& scope, const FunctionConfig& version, int count);
  ProvisionedStatus provisioned(const std::string& scope) const;

  size_t idle_count() const;
  size_t live_count() const { return live_; }
  size_t stem_count() const;
  const StemCounters& stem_counters() const { return stem_counters_; }
  int64_t committed_mb() const { return committed_mb_; }
  // CPU time and reserved memory of ended sandboxes, per function.
  const UsageLedger& usage() const { return *usage_; }
  // Reservations are recorded here by the API (and at start, from the store).
  ConcurrencyLimits& limits() { return limits_; }
  const ConcurrencyLimits& limits() const { return limits_; }

 private:
  boost::asio::awaitable<Result<Lease>> AcquireSandbox(const FunctionConfig& function);
  // An invocation that found no idle sandbox: it takes the first one that becomes available for
  // its function revision, started for it or released by another invocation.
  struct Waiter {
    Waiter(boost::asio::any_io_executor io, const FunctionConfig& f)
        : wake(io, SteadyTime::max()), function(f) {}
    boost::asio::steady_timer wake;  // cancelled once `result` is set
    FunctionConfig function;
    std::optional<Result<Lease>> result;
  };
  Lease TakeIdle(const std::string& key);
  // Starts sandboxes for waiting invocations, as PlanStarts allows.
  void LaunchStarts();
  void LaunchFor(const std::string& key, std::deque<std::shared_ptr<Waiter>>& queue, int n);
  boost::asio::awaitable<void> StartFor(FunctionConfig function);
  // A ready sandbox goes to the oldest waiter of its revision, else to the idle pool.
  void Offer(Lease lease);
  // The function (or this version of it) changed or was deleted since the sandbox started.
  bool Retired(const Instance& lease) const;
  // Hands `result` to the oldest (or, for throttles, the newest) waiter of `key`.
  void Deliver(const std::string& key, Result<Lease> result, bool newest = false);
  boost::asio::awaitable<void> ReapLoop();
  SandboxSpec SpecFor(const FunctionConfig& f, bool provisioned = false) const;
  // Wraps a started sandbox in a lease with its Runtime API session (counted live).
  Lease NewLease(const FunctionConfig& f, std::unique_ptr<Sandbox> sandbox,
                 const std::string& provision_scope);
  struct ProvisionPlan {
    FunctionConfig version;
    int target = 0;
    int starting = 0;
    std::vector<std::weak_ptr<Instance>> members;
    std::string failure;
  };
  int ProvisionedLive(ProvisionPlan& plan) const;
  void RefillProvisioned(const std::string& scope);
  boost::asio::awaitable<void> StartProvisioned(std::string scope);
  // Provisioned sandboxes of `scope` that are idle now, or all idle ones beyond `keep`.
  void DropIdleProvisioned(const std::string& scope, size_t keep);
  // A ready stem cell specialised for f, or nullptr when none fits or specialising failed.
  boost::asio::awaitable<std::unique_ptr<Sandbox>> TakeStem(const SandboxSpec& spec);
  // Starts stem cells until the runtime's pool reaches its target.
  void RefillStems(const std::string& runtime);
  // RefillStems for every runtime with a pool, unless callers wait for starts.
  void RefillStemsIfNobodyWaits();
  boost::asio::awaitable<void> StartStem(std::string runtime);
  int StemTarget(const std::string& runtime);
  void Destroy(Lease lease);
  void RetireKeys(const std::string& function_name, const std::string& version);
  // Frees memory for a new sandbox by destroying least recently used idle ones.
  bool Admit(int memory_mb);

  boost::asio::any_io_executor io_;
  boost::asio::thread_pool& blocking_;
  boost::asio::thread_pool& background_;
  Driver& driver_;
  CodeStore& code_;
  SchedulerOptions options_;
  boost::asio::steady_timer reap_timer_;
  std::unordered_map<std::string, std::vector<Lease>> idle_;
  std::unordered_map<std::string, std::deque<std::shared_ptr<Waiter>>> waiters_;  // by key
  std::unordered_map<std::string, int> starting_;  // starts in flight, by key (none: absent)
  int starts_in_flight_ = 0;
  // Function names and name@version scopes; cleared when a new revision is acquired.
  std::unordered_set<std::string> retired_functions_;
  ConcurrencyLimits limits_;  // one slot per lease serving or starting
  std::unordered_map<std::string, std::vector<std::unique_ptr<Sandbox>>> stems_;  // by runtime
  std::unordered_map<std::string, int> stems_starting_;
  std::unordered_map<std::string, std::vector<SteadyTime>> cold_starts_;  // within kStemWindow
  StemCounters stem_counters_;
  std::unordered_map<std::string, ProvisionPlan> provisions_;  // by scope
  // Shared with teardown tasks on the blocking pool, which may outlive a pass of the scheduler.
  std::shared_ptr<UsageLedger> usage_ = std::make_shared<UsageLedger>();
  size_t live_ = 0;
  int64_t committed_mb_ = 0;  // MemorySize of live and starting sandboxes
  bool stopped_ = false;
};

}  // namespace alto
