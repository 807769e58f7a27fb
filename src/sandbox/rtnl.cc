#include "sandbox/rtnl.h"

#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/socket.h>

namespace alto {

namespace {

struct LinkFree {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkFree>;

// libnl returns negative NLE_* codes (not errno); nl_geterror names them.
Error NlError(int err) {
  Errc code = Errc::kInternal;
  if (err == -NLE_EXIST) code = Errc::kConflict;
  if (err == -NLE_NODEV || err == -NLE_OBJ_NOTFOUND) code = Errc::kNotFound;
  return MakeError(code, nl_geterror(err));
}

}  // namespace

void RtnlSocket::Free::operator()(nl_sock* s) const { nl_socket_free(s); }

Result<RtnlSocket> RtnlSocket::Open() {
  std::unique_ptr<nl_sock, Free> sock(nl_socket_alloc());
  if (!sock) return MakeError(Errc::kInternal, "cannot allocate a netlink socket");
  // Opened with SOCK_CLOEXEC by libnl, so runc's children never inherit it.
  if (int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0) {
    Error e = NlError(err);
    e.message = "connect to rtnetlink: " + e.message;
    return e;
  }
  return RtnlSocket(std::move(sock));
}

Status RtnlSocket::AddVeth(const std::string& name, int master, const std::string& peer,
                           int netns_fd) {
  // As `ip link add NAME master BR up type veth peer name PEER netns NS`: one RTM_NEWLINK.
  LinkPtr link(rtnl_link_veth_alloc());
  if (!link) return MakeError(Errc::kInternal, "cannot allocate a veth link object");
  rtnl_link_set_name(link.get(), name.c_str());
  rtnl_link_set_master(link.get(), master);
  rtnl_link_set_flags(link.get(), IFF_UP);
  LinkPtr peer_link(rtnl_link_veth_get_peer(link.get()));  // a new reference
  if (!peer_link) return MakeError(Errc::kInternal, "veth link object without a peer");
  rtnl_link_set_name(peer_link.get(), peer.c_str());
  rtnl_link_set_ns_fd(peer_link.get(), netns_fd);
  if (int err = rtnl_link_add(sock_.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0)
    return NlError(err);
  return {};
}

Status RtnlSocket::DeleteLink(const std::string& name) {
  LinkPtr link(rtnl_link_alloc());
  if (!link) return MakeError(Errc::kInternal, "cannot allocate a link object");
  rtnl_link_set_name(link.get(), name.c_str());  // RTM_DELLINK by IFLA_IFNAME
  if (int err = rtnl_link_delete(sock_.get(), link.get()); err < 0) return NlError(err);
  return {};
}

}  // namespace alto
