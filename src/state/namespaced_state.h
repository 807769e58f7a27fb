// One etcd cluster can hold the state of several Alto clusters (or test runs), each under a key
// namespace of its own: `--state etcd://host:2379/team-a` keeps every key under "/team-a". This
// wrapper adds the namespace to every key it sends and strips it from every key it returns, like
// etcd's own clientv3/namespace, so the typed stores never see it.
#pragma once

#include <memory>
#include <string>

#include "state/state.h"

namespace alto::state {

// `ns` must start with '/' and not end with one ("/team-a"); keys are "/team-a" + key.
std::unique_ptr<StateStore> Namespaced(std::unique_ptr<StateStore> inner, std::string ns);

}  // namespace alto::state
