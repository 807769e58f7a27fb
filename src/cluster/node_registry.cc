#include "cluster/node_registry.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <mutex>

#include "common/blocking.h"
#include "common/json.h"

namespace alto::cluster {

namespace asio = boost::asio;

struct NodeRegistry::Shared {
  std::shared_ptr<state::StateStore> state;
  NodeInfo self;
  std::chrono::seconds ttl;
  asio::steady_timer timer;
  asio::thread_pool& blocking;
  std::mutex mu;  // guards lease and stopped (the loop runs state calls on the blocking pool)
  state::LeaseId lease = 0;
  bool stopped = false;

  Shared(std::shared_ptr<state::StateStore> s, NodeInfo n, std::chrono::seconds t,
         asio::any_io_executor ex, asio::thread_pool& pool)
      : state(std::move(s)), self(std::move(n)), ttl(t), timer(ex), blocking(pool) {}

  std::string Key() const { return std::string(kNodesPrefix) + self.id; }

  // A new lease and the entry on it.
  Status Announce() {
    auto lease_id = state->GrantLease(ttl.count());
    if (!lease_id) return lease_id.error();
    auto put = state->Put(Key(), DumpJson(nlohmann::json{{"url", self.url}}), *lease_id);
    if (!put) return put.error();
    std::lock_guard lock(mu);
    lease = *lease_id;
    return {};
  }

  Status Refresh() {
    state::LeaseId current;
    {
      std::lock_guard lock(mu);
      if (stopped) return {};
      current = lease;
    }
    auto st = state->KeepAlive(current);
    if (st || st.error().code != Errc::kNotFound) return st;
    spdlog::warn("cluster: this node's lease expired; registering again");
    return Announce();
  }
};

namespace {

asio::awaitable<void> KeepAliveLoop(std::shared_ptr<NodeRegistry::Shared> s) {
  bool warned = false;
  while (true) {
    s->timer.expires_after(s->ttl / 3);
    boost::system::error_code ec;
    co_await s->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    {
      std::lock_guard lock(s->mu);
      if (s->stopped) co_return;
    }
    Status st = co_await RunBlocking(s->blocking, [&] { return s->Refresh(); });
    if (!st && !warned) {
      spdlog::warn("cluster: cannot keep this node registered: {}", st.error().message);
      warned = true;
    } else if (st) {
      warned = false;
    }
  }
}

}  // namespace

Result<std::vector<NodeInfo>> ListNodes(state::StateStore& state) {
  auto r = state.Range(kNodesPrefix);
  if (!r) return r.error();
  std::vector<NodeInfo> out;
  for (const auto& kv : r->kvs) {
    auto j = ParseJson(kv.value, kApiJsonDepth);
    if (!j || !j->is_object() || !j->contains("url") || !(*j)["url"].is_string()) continue;
    out.push_back({kv.key.substr(kNodesPrefix.size()), (*j)["url"].get<std::string>()});
  }
  return out;
}

Result<std::unique_ptr<NodeRegistry>> NodeRegistry::Register(
    std::shared_ptr<state::StateStore> state, NodeInfo self, asio::any_io_executor executor,
    asio::thread_pool& blocking, std::chrono::seconds ttl) {
  if (ttl.count() < 3) ttl = std::chrono::seconds(3);
  auto shared =
      std::make_shared<Shared>(std::move(state), std::move(self), ttl, executor, blocking);
  if (auto st = shared->Announce(); !st) return st.error();
  asio::co_spawn(executor, KeepAliveLoop(shared), asio::detached);
  return std::unique_ptr<NodeRegistry>(new NodeRegistry(shared));
}

NodeRegistry::~NodeRegistry() {
  state::LeaseId lease;
  {
    std::lock_guard lock(shared_->mu);
    shared_->stopped = true;
    lease = shared_->lease;
  }
  shared_->timer.cancel();
  if (auto st = shared_->state->RevokeLease(lease); !st && st.error().code != Errc::kNotFound)
    spdlog::warn("cluster: could not deregister this node: {}", st.error().message);
}

const NodeInfo& NodeRegistry::self() const { return shared_->self; }

}  // namespace alto::cluster
