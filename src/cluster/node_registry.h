// This node's entry in the cluster's state: /nodes/<id> -> {"url": how peers reach its API}, on a
// lease kept alive while the node runs, so a node that dies drops out within the lease's TTL and
// one that stops drops out at once. Other components ask it who the peers are (code fetches).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "state/state.h"

namespace alto::cluster {

inline constexpr std::string_view kNodesPrefix = "/nodes/";

struct NodeInfo {
  std::string id;
  std::string url;  // http(s)://host:port of its API listener
};

// The nodes registered now, this one included, in id order.
Result<std::vector<NodeInfo>> ListNodes(state::StateStore& state);

class NodeRegistry {
 public:
  // Writes /nodes/<id> on a new lease of `ttl` and keeps the lease alive from `executor` (the
  // state calls run on `blocking`); when the lease is lost anyway (etcd unreachable past the TTL)
  // the entry is written again on a new one.
  static Result<std::unique_ptr<NodeRegistry>> Register(std::shared_ptr<state::StateStore> state,
                                                        NodeInfo self,
                                                        boost::asio::any_io_executor executor,
                                                        boost::asio::thread_pool& blocking,
                                                        std::chrono::seconds ttl);
  // Revokes the lease: peers stop asking this node at once.
  ~NodeRegistry();
  NodeRegistry(const NodeRegistry&) = delete;
  NodeRegistry& operator=(const NodeRegistry&) = delete;

  const NodeInfo& self() const;

  struct Shared;  // what the keep-alive loop shares with the registry

 private:
  explicit NodeRegistry(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  std::shared_ptr<Shared> shared_;
};

}  // namespace alto::cluster
