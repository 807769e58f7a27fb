#include "api/state_follower.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "api/url_gateway.h"
#include "common/blocking.h"
#include "common/json.h"
#include "invoke/function_catalog.h"
#include "invoke/function_logs.h"
#include "invoke/invocation_metrics.h"
#include "schedule/scheduler.h"
#include "store/function.h"
#include "store/function_url.h"

namespace alto {
namespace {

namespace asio = boost::asio;

// A key under /acct/<account>/, split: "functions/<name>" is kind "functions", or
// "fn/<name>/<kind>/<rest>" (kind "v", "alias", "url", "provisioned", ...).
struct ParsedKey {
  std::string kind;
  std::string function;
  std::string rest;
};

std::optional<ParsedKey> Parse(std::string_view key) {
  constexpr std::string_view kAcct = "/acct/";
  if (!key.starts_with(kAcct)) return std::nullopt;
  key.remove_prefix(kAcct.size());
  auto slash = key.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  key.remove_prefix(slash + 1);  // past the account id
  if (key.starts_with("functions/")) {
    return ParsedKey{"functions", std::string(key.substr(10)), {}};
  }
  if (!key.starts_with("fn/")) return std::nullopt;
  key.remove_prefix(3);
  slash = key.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  ParsedKey out{{}, std::string(key.substr(0, slash)), {}};
  key.remove_prefix(slash + 1);
  slash = key.find('/');
  out.kind = std::string(key.substr(0, slash));
  if (slash != std::string_view::npos) out.rest = std::string(key.substr(slash + 1));
  return out;
}

std::string VersionOf(const std::string& padded) {
  size_t i = padded.find_first_not_of('0');
  return i == std::string::npos ? "0" : padded.substr(i);
}

}  // namespace

Status StateFollower::Start(state::Revision from_revision) {
  auto watch = d_.state->Watch("/acct/", from_revision, d_.io,
                               [this](state::WatchBatch batch) { Enqueue(std::move(batch)); });
  if (!watch) return watch.error();
  watch_ = std::move(*watch);
  return {};
}

void StateFollower::Enqueue(state::WatchBatch batch) {
  pending_.push_back(std::move(batch));
  if (draining_) return;
  draining_ = true;
  asio::co_spawn(d_.io, Drain(), asio::detached);
}

// One batch at a time, in order: applying a key reads the state on the blocking pool.
asio::awaitable<void> StateFollower::Drain() {
  while (!pending_.empty()) {
    state::WatchBatch batch = std::move(pending_.front());
    pending_.pop_front();
    if (batch.resync) {
      co_await Resync();
    } else {
      // A transaction touching one function's keys many times needs one look at each.
      std::vector<std::string> keys;
      for (const auto& e : batch.events) {
        if (std::find(keys.begin(), keys.end(), e.kv.key) == keys.end()) keys.push_back(e.kv.key);
      }
      for (const auto& key : keys) co_await Apply(key);
    }
    applied_ = std::max(applied_, batch.revision);
  }
  draining_ = false;
}

asio::awaitable<void> StateFollower::Resync() {
  spdlog::warn("state: the watch lost its place ({}); reloading every function",
               d_.state->Describe());
  d_.catalog.ForgetAll();
  auto urls = co_await RunBlocking(d_.blocking, [&] { return d_.state->Range("/acct/"); });
  if (urls) {
    for (const auto& kv : urls->kvs) {
      auto p = Parse(kv.key);
      if (!p || p->kind != "url") continue;
      FunctionUrlConfig u;
      if (DeserializeFunctionUrl(kv.value, u)) {
        d_.urls.Apply(std::make_shared<const FunctionUrlConfig>(std::move(u)));
      }
    }
  }
  co_await d_.restore_provisioned();
}

asio::awaitable<void> StateFollower::Apply(const std::string& key) {
  auto p = Parse(key);
  if (!p) co_return;
  if (p->kind != "functions" && p->kind != "v" && p->kind != "alias" && p->kind != "url" &&
      p->kind != "provisioned") {
    co_return;  // tags, sequence numbers, indexes: nothing on a node depends on them
  }
  auto now = co_await RunBlocking(d_.blocking, [&] { return d_.state->Get(key); });
  if (!now && now.error().code != Errc::kNotFound) {
    spdlog::warn("state: reading {}: {}", key, now.error().message);
    co_return;
  }
  const bool present = now.ok();
  const std::string& fn = p->function;
  if (p->kind == "functions") {
    if (!present) {
      d_.catalog.Forget(fn);
      d_.scheduler.Retire(fn);
      d_.scheduler.limits().SetReservation(fn, -1);
      for (const auto& u : d_.urls.ListFor(fn)) d_.urls.Remove(u->function, u->qualifier);
      d_.metrics.Forget(fn);
      d_.logs.Forget(fn);
      co_return;
    }
    FunctionConfig f;
    if (!DeserializeFunction(now->value, f)) co_return;
    if (d_.catalog.CachedRevision(fn) != f.revision_id) {
      d_.catalog.ForgetVersion(fn, "$LATEST");
      d_.scheduler.RetireVersion(fn, "$LATEST");
    }
    if (d_.scheduler.limits().reservation(fn) != f.reserved_concurrency) {
      d_.scheduler.limits().SetReservation(fn, f.reserved_concurrency);
    }
  } else if (p->kind == "v") {
    if (present) co_return;  // versions never change; a new one needs nothing here
    const std::string version = VersionOf(p->rest);
    d_.catalog.ForgetVersion(fn, version);
    d_.scheduler.RetireVersion(fn, version);
  } else if (p->kind == "alias") {
    d_.catalog.ForgetAlias(fn, p->rest);
    // Provisioned concurrency on the alias follows it to the version it now names.
    const std::string provisioned_key =
        key.substr(0, key.find("/fn/")) + "/fn/" + fn + "/provisioned/" + p->rest;
    auto config = co_await RunBlocking(d_.blocking, [&] { return d_.state->Get(provisioned_key); });
    if (config) co_await Apply(provisioned_key);
  } else if (p->kind == "url") {
    const std::string qualifier = p->rest == "$LATEST" ? std::string() : p->rest;
    FunctionUrlConfig u;
    if (present && DeserializeFunctionUrl(now->value, u)) {
      d_.urls.Apply(std::make_shared<const FunctionUrlConfig>(std::move(u)));
    } else {
      d_.urls.Remove(fn, qualifier);
    }
  } else if (p->kind == "provisioned") {
    int requested = 0;
    if (present) {
      auto j = ParseJson(now->value, kApiJsonDepth);
      if (j && j->is_object()) requested = j->value("requested", 0);
    }
    if (auto st = co_await d_.apply_provisioned(fn, p->rest, requested); !st) {
      spdlog::warn("provisioned concurrency for {}:{}: {}", fn, p->rest, st.error().message);
    }
  }
}

}  // namespace alto
