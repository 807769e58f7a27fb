#include "sandbox/netns.h"

#include <fcntl.h>
#include <net/if.h>
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

}  // namespace alto
