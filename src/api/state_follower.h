// The node's follower of the state: it watches every change to functions and what belongs to them
// (by this node's API or by any other node sharing the state) and brings this node's caches and
// sandboxes in line with the state as it now is. This node's API applies its own changes at once
// as well (so an answer is followed by the new behaviour without waiting for the watch); the
// follower is what makes a second node see them. It reconciles rather than replays: for each
// changed key it reads the key's current value and acts on that, so an event delivered late (a
// delete seen after the function was created again) does no harm, and acting twice on one change
// is harmless.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>
#include <functional>
#include <memory>

#include "state/state.h"

namespace alto {

class FunctionCatalog;
class UrlCatalog;
class Scheduler;
class InvocationMetrics;
class FunctionLogs;

struct StateFollowerDeps {
  std::shared_ptr<state::StateStore> state;
  boost::asio::any_io_executor io;  // the one I/O thread the catalogs and scheduler live on
  boost::asio::thread_pool& blocking;
  FunctionCatalog& catalog;
  UrlCatalog& urls;
  Scheduler& scheduler;
  InvocationMetrics& metrics;
  FunctionLogs& logs;
  // Provisioned concurrency for (function, qualifier): requested 0 stops it.
  std::function<boost::asio::awaitable<Status>(std::string, std::string, int)> apply_provisioned;
  // After a resync (the watch lost its place): re-applies every provisioned config.
  std::function<boost::asio::awaitable<void>()> restore_provisioned;
};

class StateFollower {
 public:
  explicit StateFollower(StateFollowerDeps deps) : d_(std::move(deps)) {}
  // Watches from `from_revision` (the revision the node's start-up reads were made at, plus one).
  Status Start(state::Revision from_revision);
  void Stop() { watch_.reset(); }
  // The newest revision whose changes have been applied here.
  state::Revision applied() const { return applied_; }

 private:
  void Enqueue(state::WatchBatch batch);
  boost::asio::awaitable<void> Drain();
  boost::asio::awaitable<void> Apply(const std::string& key);
  boost::asio::awaitable<void> Resync();

  StateFollowerDeps d_;
  std::unique_ptr<state::WatchHandle> watch_;
  std::deque<state::WatchBatch> pending_;
  bool draining_ = false;
  state::Revision applied_ = 0;
};

}  // namespace alto
