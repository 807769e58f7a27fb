#include "schedule/scheduler.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>

#include "common/blocking.h"
#include "common/encoding.h"
#include "sandbox/specialize.h"
#include "schedule/policy.h"

namespace alto {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

namespace {
// A version's sandboxes are distinct from $LATEST's (they see another AWS_LAMBDA_FUNCTION_VERSION).
std::string KeyOf(const FunctionConfig& f) {
  return f.name + "@" + f.version + "@" + f.revision_id;
}

std::string LogStreamName(const std::string& version) {
  time_t now = time(nullptr);
  struct tm tm {};
  gmtime_r(&now, &tm);
  char date[16];
  strftime(date, sizeof date, "%Y/%m/%d", &tm);
  return std::string(date) + "/[" + version + "]" + RandomHex(16);
}
}  // namespace

Scheduler::Scheduler(asio::any_io_executor io, asio::thread_pool& blocking,
                     asio::thread_pool& background, Driver& driver, CodeStore& code,
                     SchedulerOptions options)
    : io_(io),
      blocking_(blocking),
      background_(background),
      driver_(driver),
      code_(code),
      options_(std::move(options)),
      reap_timer_(io),
      limits_(1, 0) {
  if (options_.memory_capacity_mb <= 0) {
    int64_t physical_mb =
        static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE) / (1024 * 1024);
    options_.memory_capacity_mb = physical_mb * 8 / 10;
  }
  if (options_.node_concurrency <= 0) {
    options_.node_concurrency = DefaultNodeConcurrency(options_.memory_capacity_mb);
  }
  limits_ =
      ConcurrencyLimits(options_.node_concurrency, DefaultMinUnreserved(options_.node_concurrency));
}

bool Scheduler::Admit(int memory_mb) {
  while (committed_mb_ + memory_mb > options_.memory_capacity_mb) {
    std::vector<EvictionCandidate> candidates;
    std::vector<std::pair<std::vector<Lease>*, size_t>> where;
    for (auto& [key, pool] : idle_) {
      for (size_t i = 0; i < pool.size(); ++i) {
        candidates.push_back({pool[i]->last_used, !pool[i]->provision_scope.empty()});
        where.emplace_back(&pool, i);
      }
    }
    const size_t victim = PickEvictionVictim(candidates);
    if (victim == static_cast<size_t>(-1)) return false;
    auto [pool, i] = where[victim];
    Lease l = (*pool)[i];
    pool->erase(pool->begin() + static_cast<long>(i));
    Destroy(std::move(l));
  }
  return true;
}

Scheduler::~Scheduler() { Shutdown(); }

void Scheduler::Start() {
  asio::co_spawn(io_, ReapLoop(), asio::detached);
  for (const auto& rt : options_.stem_runtimes) RefillStems(rt);
}

asio::awaitable<Result<Lease>> Scheduler::Acquire(const FunctionConfig& f) {
  if (stopped_) co_return MakeError(Errc::kUnavailable, "server is shutting down");
  // The slot is given back in Release, or below when no sandbox can be had.
  if (auto st = limits_.TryAcquire(f.name); !st) co_return st.error();
  auto acquired = co_await AcquireSandbox(f);
  if (!acquired) limits_.Release(f.name);
  co_return acquired;
}

asio::awaitable<Result<Lease>> Scheduler::AcquireSandbox(const FunctionConfig& f) {
  const std::string key = KeyOf(f);
  retired_functions_.erase(f.name);
  retired_functions_.erase(f.name + "@" + f.version);
  if (Lease lease = TakeIdle(key)) co_return lease;
  // Registered and awaited without a suspension in between: nothing can be delivered before the
  // wait starts (one I/O thread).
  auto waiter = std::make_shared<Waiter>(io_, f);
  waiters_[key].push_back(waiter);
  LaunchStarts();
  if (!waiter->result) {
    auto [ec] = co_await waiter->wake.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)ec;  // cancelled by Deliver
  }
  if (!waiter->result) co_return MakeError(Errc::kInternal, "woken without a sandbox");
  co_return std::move(*waiter->result);
}

Lease Scheduler::TakeIdle(const std::string& key) {
  auto found = idle_.find(key);
  if (found == idle_.end()) return nullptr;
  auto& pool = found->second;
  while (!pool.empty()) {
    std::vector<SteadyTime> times;
    for (const auto& l : pool) times.push_back(l->last_used);
    size_t i = PickIdle(times);
    Lease lease = pool[i];
    pool.erase(pool.begin() + static_cast<long>(i));
    if (lease->session->alive()) return lease;
    Destroy(std::move(lease));
  }
  return nullptr;
}

void Scheduler::LaunchStarts() {
  std::vector<std::string> keys;
  std::vector<StartDemand> demand;
  for (const auto& [key, queue] : waiters_) {
    keys.push_back(key);
    auto s = starting_.find(key);
    demand.push_back({static_cast<int>(queue.size()), s == starting_.end() ? 0 : s->second});
  }
  const auto plan = PlanStarts(demand, starts_in_flight_, options_.max_parallel_starts);
  for (size_t i = 0; i < keys.size(); ++i) LaunchFor(keys[i], waiters_[keys[i]], plan[i]);
  std::erase_if(waiters_, [](const auto& kv) { return kv.second.empty(); });
}

void Scheduler::LaunchFor(const std::string& key, std::deque<std::shared_ptr<Waiter>>& queue,
                          int n) {
  for (; n > 0 && !queue.empty(); --n) {
    const FunctionConfig f = queue.front()->function;  // every waiter of a key has the same
    if (!Admit(f.memory_mb)) {
      // The newest caller goes without: older ones may still get a sandbox under way.
      Deliver(key,
              MakeError(Errc::kThrottled, "Rate Exceeded. The node's sandbox memory (" +
                                              std::to_string(options_.memory_capacity_mb) +
                                              " MB) is in use"),
              /*newest=*/true);
      continue;
    }
    committed_mb_ += f.memory_mb;  // reserved while the sandbox starts
    ++starting_[key];
    ++starts_in_flight_;
    asio::co_spawn(io_, StartFor(f), asio::detached);
  }
}

asio::awaitable<void> Scheduler::StartFor(FunctionConfig f) {
  const std::string key = KeyOf(f);
  const SandboxSpec spec = SpecFor(f);
  cold_starts_[f.runtime].push_back(SteadyClock::now());
  // The package may still be on the node that took the upload only (a cluster): fetched first.
  Error failure;
  std::unique_ptr<Sandbox> sandbox;
  auto present = co_await RunBlocking(blocking_, [&] { return code_.Ensure(f.code_sha256_hex); });
  if (!present) {
    failure = present.error();
  } else {
    sandbox = co_await TakeStem(spec);
  }
  if (!sandbox && present) {
    auto started = co_await RunBlocking(blocking_, [&] { return driver_.Start(spec); });
    if (started) {
      sandbox = std::move(started.value());
    } else {
      failure = started.error();
    }
  }
  if (--starting_[key] == 0) starting_.erase(key);
  --starts_in_flight_;
  if (sandbox) {
    Lease lease = NewLease(f, std::move(sandbox), "");
    spdlog::debug("cold start {} for {}", lease->sandbox->id(), f.name);
    Offer(std::move(lease));
  } else {
    committed_mb_ -= f.memory_mb;
    Deliver(key, failure);
  }
  LaunchStarts();
  RefillStemsIfNobodyWaits();
}

bool Scheduler::Retired(const Instance& lease) const {
  return retired_functions_.count(lease.function_name) ||
         retired_functions_.count(lease.function_name + "@" + lease.function_version);
}

void Scheduler::Offer(Lease lease) {
  auto it = waiters_.find(lease->key);
  if (it != waiters_.end() && !it->second.empty()) {
    Deliver(lease->key, lease);
    return;
  }
  // Nobody waits (another sandbox served them first): a warm sandbox for the next invocation.
  if (stopped_ || Retired(*lease)) {
    Destroy(std::move(lease));
    return;
  }
  lease->last_used = SteadyClock::now();
  idle_[lease->key].push_back(std::move(lease));
}

void Scheduler::Deliver(const std::string& key, Result<Lease> result, bool newest) {
  auto it = waiters_.find(key);
  if (it == waiters_.end() || it->second.empty()) {
    if (result) Offer(std::move(result.value()));
    return;
  }
  std::shared_ptr<Waiter> w;
  if (newest) {
    w = std::move(it->second.back());
    it->second.pop_back();
  } else {
    w = std::move(it->second.front());
    it->second.pop_front();
  }
  w->result = std::move(result);
  w->wake.cancel();
}

Lease Scheduler::NewLease(const FunctionConfig& f, std::unique_ptr<Sandbox> sandbox,
                          const std::string& provision_scope) {
  auto lease = std::make_shared<Instance>();
  lease->memory_mb = f.memory_mb;
  lease->key = KeyOf(f);
  lease->function_name = f.name;
  lease->function_version = f.version;
  lease->sandbox = std::move(sandbox);
  lease->provision_scope = provision_scope;
  lease->cold = provision_scope.empty();
  Sandbox* sb = lease->sandbox.get();
  SessionOptions so;
  so.function_name = f.name;
  so.function_version = f.version;
  so.memory_mb = f.memory_mb;
  so.describe_exit = [sb](int status) { return sb->DescribeExit(status); };
  so.reap = [sb] { return sb->process().TryReap(); };
  so.peak_memory = [sb] { return sb->PeakMemoryBytes(); };
  so.oom_killed = [sb] { return sb->OomKilled(); };
  so.report_init = provision_scope.empty();
  so.runtime_api_max_connections = options_.runtime_api_max_connections;
  so.runtime_api_stats = options_.runtime_api_stats;
  lease->session = std::make_shared<RuntimeSession>(io_, sb->TakeRuntimeApiListener(),
                                                    sb->process().TakeOutput(),
                                                    sb->process().pidfd(), std::move(so));
  lease->session->Start();
  lease->last_used = SteadyClock::now();
  lease->started_at = lease->last_used;
  ++live_;
  return lease;
}

SandboxSpec Scheduler::SpecFor(const FunctionConfig& f, bool provisioned) const {
  SandboxSpec spec;
  spec.id = "alto-" + RandomHex(8);
  spec.function_name = f.name;
  spec.function_version = f.version;
  spec.runtime = f.runtime;
  spec.memory_mb = f.memory_mb;
  spec.ephemeral_storage_mb = f.ephemeral_storage_mb;
  spec.network = f.network_mode != "none";
  spec.code_dir = code_.CodeDir(f.code_sha256_hex);
  spec.runtimes_dir = options_.runtimes_dir;
  for (const auto& [k, v] : f.environment) spec.env.push_back(k + "=" + v);
  spec.env.push_back("_HANDLER=" + f.handler);
  spec.env.push_back("AWS_LAMBDA_FUNCTION_NAME=" + f.name);
  spec.env.push_back("AWS_LAMBDA_FUNCTION_VERSION=" + f.version);
  spec.env.push_back("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + std::to_string(f.memory_mb));
  spec.env.push_back("AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + f.name);
  spec.env.push_back("AWS_LAMBDA_LOG_STREAM_NAME=" + LogStreamName(f.version));
  spec.env.push_back(std::string("AWS_LAMBDA_INITIALIZATION_TYPE=") +
                     (provisioned ? "provisioned-concurrency" : "on-demand"));
  spec.env.push_back("AWS_REGION=" + options_.region);
  spec.env.push_back("AWS_DEFAULT_REGION=" + options_.region);
  return spec;
}

asio::awaitable<std::unique_ptr<Sandbox>> Scheduler::TakeStem(const SandboxSpec& spec) {
  std::unique_ptr<Sandbox> stem;
  if (spec.ephemeral_storage_mb == kStemEphemeralStorageMb && spec.network &&
      (!RuntimeHasZygote(spec.runtime) || FitsZygote(spec.env))) {
    auto& pool = stems_[spec.runtime];
    while (!stem && !pool.empty()) {
      stem = std::move(pool.back());
      pool.pop_back();
      if (stem->process().TryReap() != -1) {  // its runc exited: not usable
        asio::post(background_, [dead = std::move(stem)]() mutable { dead.reset(); });
      }
    }
  }
  if (!stem) {
    ++stem_counters_.misses;
    co_return nullptr;
  }
  Sandbox* raw = stem.get();
  const auto specialise_start = SteadyClock::now();
  auto st = co_await RunBlocking(blocking_, [&] { return driver_.Specialize(*raw, spec); });
  spdlog::debug(
      "specialised stem {} for {} in {:.2f} ms", raw->id(), spec.function_name,
      std::chrono::duration<double, std::milli>(SteadyClock::now() - specialise_start).count());
  if (!st) {
    spdlog::warn("stem cell {} could not be specialised: {}", raw->id(), st.error().message);
    ++stem_counters_.misses;
    asio::post(background_, [dead = std::move(stem)]() mutable { dead.reset(); });
    co_return nullptr;
  }
  ++stem_counters_.hits;
  co_return stem;
}

int Scheduler::StemTarget(const std::string& runtime) {
  auto& history = cold_starts_[runtime];
  auto horizon = SteadyClock::now() - kStemWindow;
  std::erase_if(history, [&](SteadyTime t) { return t < horizon; });
  const bool configured = std::find(options_.stem_runtimes.begin(), options_.stem_runtimes.end(),
                                    runtime) != options_.stem_runtimes.end();
  return StemPoolTarget(static_cast<int>(history.size()), configured ? options_.stem_floor : 0,
                        options_.stem_ceiling);
}

// Refills wait until no caller waits for a start: each costs a full sandbox start, and during a
// burst it would take the CPU from the callers' own starts (bench/scale_bench's held burst: 79
// sandboxes/s with refills beside it, 93/s with them deferred). Called when a start ends and at
// every reaper tick, so that a node that is never quite idle still refills between bursts.
void Scheduler::RefillStemsIfNobodyWaits() {
  if (!waiters_.empty()) return;
  for (const auto& runtime : options_.stem_runtimes) RefillStems(runtime);
  for (const auto& [runtime, history] : cold_starts_) RefillStems(runtime);
}

void Scheduler::RefillStems(const std::string& runtime) {
  if (stopped_) return;
  const int target = StemTarget(runtime);
  int& starting = stems_starting_[runtime];
  for (int have = static_cast<int>(stems_[runtime].size()) + starting; have < target; ++have) {
    ++starting;
    asio::co_spawn(io_, StartStem(runtime), asio::detached);
  }
}

// A member coroutine, not a lambda: a lambda's captures die with the closure before it resumes.
asio::awaitable<void> Scheduler::StartStem(std::string runtime) {
  auto stem = co_await RunBlocking(
      background_, [&] { return driver_.StartStem(runtime, options_.runtimes_dir); });
  --stems_starting_[runtime];
  if (!stem) {
    if (stem.error().code != Errc::kUnsupported) {
      spdlog::warn("stem cell for {}: {}", runtime, stem.error().message);
    }
    co_return;
  }
  ++stem_counters_.started;
  if (stopped_) {
    asio::post(background_, [s = std::move(stem.value())]() mutable { s.reset(); });
    co_return;
  }
  stems_[runtime].push_back(std::move(stem.value()));
}

size_t Scheduler::stem_count() const {
  size_t n = 0;
  for (const auto& [rt, pool] : stems_) n += pool.size();
  return n;
}

void Scheduler::Release(Lease lease, bool reusable) {
  lease->cold = false;
  limits_.Release(lease->function_name);
  if (!reusable || stopped_ || !lease->session->alive() || Retired(*lease)) {
    const std::string scope = lease->provision_scope;
    Destroy(std::move(lease));
    if (!scope.empty()) RefillProvisioned(scope);  // a provisioned sandbox died: replace it
    return;
  }
  if (!lease->provision_scope.empty()) {
    // Provisioning stopped or moved on while it served: an ordinary warm sandbox from now on.
    auto plan = provisions_.find(lease->provision_scope);
    if (plan == provisions_.end() || KeyOf(plan->second.version) != lease->key ||
        ProvisionedLive(plan->second) > plan->second.target) {
      lease->provision_scope.clear();
    }
  }
  Offer(std::move(lease));
}

void Scheduler::Retire(const std::string& function_name) { RetireKeys(function_name, ""); }

void Scheduler::RetireVersion(const std::string& function_name, const std::string& version) {
  RetireKeys(function_name, version);
}

void Scheduler::RetireKeys(const std::string& function_name, const std::string& version) {
  const std::string scope = version.empty() ? function_name : function_name + "@" + version;
  retired_functions_.insert(scope);
  // Provisioning of a deleted function or version ends with it.
  std::erase_if(provisions_, [&](const auto& kv) {
    const FunctionConfig& v = kv.second.version;
    return v.name == function_name && (version.empty() || v.version == version);
  });
  for (auto it = idle_.begin(); it != idle_.end();) {
    if (it->first.starts_with(scope + "@")) {
      for (auto& l : it->second) Destroy(std::move(l));
      it = idle_.erase(it);
    } else {
      ++it;
    }
  }
}

void Scheduler::Destroy(Lease lease) {
  if (!lease) return;
  lease->session->Close();
  --live_;
  committed_mb_ -= lease->memory_mb;
  // Teardown blocks (runc delete, unmounts): hand the sandbox to the blocking pool, which
  // first reads what it used (the cgroup outlives the processes until the teardown).
  const double lifetime_s =
      std::chrono::duration<double>(SteadyClock::now() - lease->started_at).count();
  SandboxUsage usage;
  usage.sandboxes = 1;
  usage.reserved_gb_seconds = lease->memory_mb / 1024.0 * lifetime_s;
  asio::post(background_, [sandbox = std::move(lease->sandbox), ledger = usage_,
                           function = lease->function_name, usage]() mutable {
    if (sandbox) {
      const int64_t cpu_ns = sandbox->CpuTimeNanos();
      if (cpu_ns > 0) usage.cpu_seconds = static_cast<double>(cpu_ns) / 1e9;
      usage.peak_memory_bytes = std::max<int64_t>(0, sandbox->PeakMemoryBytes());
      ledger->Add(function, usage);
    }
    sandbox.reset();
  });
}

asio::awaitable<void> Scheduler::ReapLoop() {
  auto interval = ReapInterval(options_.keep_alive);
  SteadyTime last_orphan_sweep{};
  while (!stopped_) {
    reap_timer_.expires_after(interval);
    auto [ec] = co_await reap_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec || stopped_) break;
    auto now = SteadyClock::now();
    // The oci driver makes the server a subreaper: reap orphans nobody waits for (process.h).
    if (now - last_orphan_sweep >= std::chrono::seconds(1)) {
      last_orphan_sweep = now;
      asio::post(background_, [] {
        if (int n = ReapOrphans(std::chrono::seconds(5)); n > 0)
          spdlog::info("reaped {} orphaned process(es)", n);
      });
    }
    for (auto it = idle_.begin(); it != idle_.end();) {
      auto& pool = it->second;
      for (size_t i = 0; i < pool.size();) {
        const bool kept = !pool[i]->provision_scope.empty();
        if (!pool[i]->session->alive() && pool[i]->sandbox) {
          // Nothing asked it to stop: say so, or sandboxes vanish without a trace.
          spdlog::warn("sandbox {} of {} ended while idle", pool[i]->sandbox->id(),
                       pool[i]->function_name);
        }
        if (!pool[i]->session->alive() ||
            (!kept && IdleExpired(pool[i]->last_used, now, options_.keep_alive))) {
          Destroy(std::move(pool[i]));
          pool.erase(pool.begin() + static_cast<long>(i));
        } else {
          ++i;
        }
      }
      it = pool.empty() ? idle_.erase(it) : std::next(it);
    }
    // Provisioned sandboxes that died idle (or whose start failed) are replaced.
    std::vector<std::string> scopes;
    for (const auto& [scope, plan] : provisions_) scopes.push_back(scope);
    for (const auto& scope : scopes) RefillProvisioned(scope);
    // Stem cells beyond what the recent cold starts call for go (oldest first).
    for (auto& [rt, stems] : stems_) {
      const size_t target = static_cast<size_t>(StemTarget(rt));
      while (stems.size() > target) {
        asio::post(background_, [s = std::move(stems.front())]() mutable { s.reset(); });
        stems.erase(stems.begin());
      }
    }
    RefillStemsIfNobodyWaits();
  }
}

void Scheduler::Shutdown() {
  if (stopped_) return;
  stopped_ = true;
  reap_timer_.cancel();
  for (auto& [key, pool] : idle_) {
    for (auto& l : pool) Destroy(std::move(l));
  }
  idle_.clear();
  for (auto& [rt, pool] : stems_) {
    for (auto& stem : pool) {
      asio::post(background_, [s = std::move(stem)]() mutable { s.reset(); });
    }
  }
  stems_.clear();
}

size_t Scheduler::idle_count() const {
  size_t n = 0;
  for (const auto& [k, v] : idle_) n += v.size();
  return n;
}

}  // namespace alto
