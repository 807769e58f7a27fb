#include "sandbox/netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "sandbox/listen.h"

namespace alto {

namespace {
Status BringLoopbackUp() {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return SysError("socket for lo");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) return SysError("SIOCGIFFLAGS lo");
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) return SysError("SIOCSIFFLAGS lo");
  return {};
}
}  // namespace

Result<UniqueFd> CreateIsolatedNetns(const std::filesystem::path& pin_path, uint16_t port) {
  // The network namespace is per thread: a short-lived thread enters a new one, builds what
  // must live there, pins it, and exits; the server's own threads never change namespace.
  Result<UniqueFd> result = MakeError(Errc::kInternal, "netns thread did not run");
  std::thread worker([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      result = SysError("unshare(CLONE_NEWNET)");
      return;
    }
    if (auto st = BringLoopbackUp(); !st) {
      result = st.error();
      return;
    }
    auto sock = ListenTcp("127.0.0.1", port);
    if (!sock) {
      result = sock.error();
      return;
    }
    UniqueFd pin(::open(pin_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0444));
    if (!pin.valid()) {
      result = SysError("create " + pin_path.string());
      return;
    }
    if (::mount("/proc/thread-self/ns/net", pin_path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      result = SysError("bind-mount netns at " + pin_path.string());
      ::unlink(pin_path.c_str());
      return;
    }
    result = std::move(sock->fd);
  });
  worker.join();
  return result;
}

void RemoveNetnsPin(const std::filesystem::path& pin_path) {
  ::umount2(pin_path.c_str(), MNT_DETACH);
  ::unlink(pin_path.c_str());
}

namespace {
sockaddr IpAddr(uint32_t host_order) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(host_order);
  sockaddr sa{};
  std::memcpy(&sa, &sin, sizeof sin);
  return sa;
}

Status ConfigureHere(const std::string& ifname, uint32_t addr, int prefix, uint32_t gateway) {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return SysError("socket for " + ifname);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  ifr.ifr_addr = IpAddr(addr);
  if (::ioctl(s.get(), SIOCSIFADDR, &ifr) != 0) return SysError("SIOCSIFADDR " + ifname);
  ifr.ifr_netmask = IpAddr(prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix));
  if (::ioctl(s.get(), SIOCSIFNETMASK, &ifr) != 0) return SysError("SIOCSIFNETMASK " + ifname);
  if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) return SysError("SIOCGIFFLAGS " + ifname);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) return SysError("SIOCSIFFLAGS " + ifname);
  rtentry rt{};
  rt.rt_dst = IpAddr(0);
  rt.rt_genmask = IpAddr(0);
  rt.rt_gateway = IpAddr(gateway);
  rt.rt_flags = RTF_UP | RTF_GATEWAY;
  if (::ioctl(s.get(), SIOCADDRT, &rt) != 0) return SysError("default route via gateway");
  return {};
}
}  // namespace

Status ConfigureNetnsInterface(const std::filesystem::path& pin_path, const std::string& ifname,
                               uint32_t addr, int prefix, uint32_t gateway) {
  // As above: only a short-lived thread ever changes namespace.
  Status result = MakeError(Errc::kInternal, "netns thread did not run");
  std::thread worker([&] {
    UniqueFd ns(::open(pin_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns.valid()) {
      result = SysError("open " + pin_path.string());
      return;
    }
    if (::setns(ns.get(), CLONE_NEWNET) != 0) {
      result = SysError("setns " + pin_path.string());
      return;
    }
    result = ConfigureHere(ifname, addr, prefix, gateway);
  });
  worker.join();
  return result;
}

}  // namespace alto
