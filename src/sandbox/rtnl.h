// In-process rtnetlink (libnl-route-3) for the veth pair of each sandbox. Sandbox start and
// teardown used to fork+exec iproute2's `ip` for this, about 6% of host CPU during scale-out;
// a netlink request costs microseconds.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"

struct nl_sock;

namespace alto {

// One NETLINK_ROUTE socket. libnl sockets are not thread-safe: open one per call (a socket and
// a bind) and never share it between threads.
class RtnlSocket {
 public:
  static Result<RtnlSocket> Open();

  // Creates the veth pair `name` <-> `peer`: `name` up and enslaved to the bridge with ifindex
  // `master`, `peer` moved into the network namespace open at `netns_fd`. kConflict when a link
  // of either name exists already. Messages are libnl's error text; callers add the context.
  Status AddVeth(const std::string& name, int master, const std::string& peer, int netns_fd);
  // Deletes the link `name` (both ends, for a veth). kNotFound when there is none.
  Status DeleteLink(const std::string& name);

 private:
  struct Free {
    void operator()(nl_sock* s) const;
  };
  explicit RtnlSocket(std::unique_ptr<nl_sock, Free> sock) : sock_(std::move(sock)) {}
  std::unique_ptr<nl_sock, Free> sock_;
};

}  // namespace alto
