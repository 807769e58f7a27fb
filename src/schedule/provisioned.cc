// Provisioned concurrency: initialised sandboxes kept for a version (or an alias's version). They
// live in the ordinary idle pools, so an invoke takes them like any warm sandbox; what sets them
// apart is that the reaper and the memory eviction leave them alone, and that a dead one is
// replaced.
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>

#include "common/blocking.h"
#include "schedule/scheduler.h"

namespace alto {

namespace asio = boost::asio;

int Scheduler::ProvisionedLive(ProvisionPlan& plan) const {
  std::erase_if(plan.members, [](const std::weak_ptr<Instance>& w) {
    auto l = w.lock();
    return !l || !l->sandbox || l->provision_scope.empty() || !l->session->alive();
  });
  return static_cast<int>(plan.members.size());
}

void Scheduler::Provision(const std::string& scope, const FunctionConfig& version, int count) {
  auto it = provisions_.find(scope);
  if (count <= 0) {
    if (it == provisions_.end()) return;
    DropIdleProvisioned(scope, 0);
    provisions_.erase(it);
    return;
  }
  if (it != provisions_.end() && (it->second.version.version != version.version ||
                                  it->second.version.revision_id != version.revision_id)) {
    // The alias moved to another version: the old version's sandboxes are no longer kept.
    DropIdleProvisioned(scope, 0);
    it->second.members.clear();
  }
  ProvisionPlan& plan = provisions_[scope];
  plan.version = version;
  plan.target = count;
  plan.failure.clear();
  DropIdleProvisioned(scope, static_cast<size_t>(count));
  RefillProvisioned(scope);
}

void Scheduler::DropIdleProvisioned(const std::string& scope, size_t keep) {
  auto plan = provisions_.find(scope);
  if (plan == provisions_.end()) return;
  size_t live = static_cast<size_t>(ProvisionedLive(plan->second));
  for (auto& [key, pool] : idle_) {
    for (size_t i = 0; i < pool.size() && live > keep;) {
      if (pool[i]->provision_scope == scope) {
        Lease l = pool[i];
        pool.erase(pool.begin() + static_cast<long>(i));
        l->provision_scope.clear();
        Destroy(std::move(l));
        --live;
      } else {
        ++i;
      }
    }
  }
}

ProvisionedStatus Scheduler::provisioned(const std::string& scope) const {
  ProvisionedStatus st;
  auto it = provisions_.find(scope);
  if (it == provisions_.end()) return st;
  st.requested = it->second.target;
  st.failure = it->second.failure;
  for (const auto& w : it->second.members) {
    auto l = w.lock();
    if (!l || !l->sandbox || l->provision_scope != scope || !l->session->alive()) continue;
    ++st.allocated;
    if (l->session->initialized()) ++st.available;
  }
  return st;
}

void Scheduler::RefillProvisioned(const std::string& scope) {
  if (stopped_) return;
  auto it = provisions_.find(scope);
  if (it == provisions_.end()) return;
  ProvisionPlan& plan = it->second;
  for (int have = ProvisionedLive(plan) + plan.starting; have < plan.target; ++have) {
    ++plan.starting;
    asio::co_spawn(io_, StartProvisioned(scope), asio::detached);
  }
}

// A member coroutine, not a lambda: a lambda's captures die with the closure before it resumes.
asio::awaitable<void> Scheduler::StartProvisioned(std::string scope) {
  auto it = provisions_.find(scope);
  if (it == provisions_.end()) co_return;
  const FunctionConfig f = it->second.version;
  std::string failure;
  std::unique_ptr<Sandbox> sandbox;
  if (!Admit(f.memory_mb)) {
    failure = "The node's sandbox memory (" + std::to_string(options_.memory_capacity_mb) +
              " MB) is in use";
  } else {
    committed_mb_ += f.memory_mb;
    // Never from the stem pool: stems are for unforeseen cold starts, these are planned.
    const SandboxSpec spec = SpecFor(f, /*provisioned=*/true);
    auto started = co_await RunBlocking(blocking_, [&] { return driver_.Start(spec); });
    if (started) {
      sandbox = std::move(started.value());
    } else {
      committed_mb_ -= f.memory_mb;
      failure = started.error().message;
    }
  }
  it = provisions_.find(scope);  // the map may have changed while the sandbox started
  const bool wanted = it != provisions_.end() && !stopped_ &&
                      it->second.version.version == f.version &&
                      it->second.version.revision_id == f.revision_id;
  if (it != provisions_.end() && it->second.starting > 0) --it->second.starting;
  if (!sandbox) {
    if (it != provisions_.end()) it->second.failure = failure;
    spdlog::warn("provisioned concurrency for {}: {}", scope, failure);
    co_return;  // the reaper's next pass tries again
  }
  Lease lease = NewLease(f, std::move(sandbox), wanted ? scope : std::string());
  if (!wanted) {
    Destroy(std::move(lease));
    co_return;
  }
  it->second.members.push_back(lease);
  it->second.failure.clear();
  spdlog::debug("provisioned {} for {}", lease->sandbox->id(), scope);
  idle_[lease->key].push_back(std::move(lease));
}

}  // namespace alto
