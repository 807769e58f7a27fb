#include "sandbox/rtnl.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <thread>

#include "sandbox/process.h"
#include "sandbox/unique_fd.h"

namespace alto {
namespace {

// Runs `body` on a thread in a fresh network namespace of its own, so the links the test makes
// never touch the host's; sockets and `ip` children made there belong to that namespace.
void InPrivateNetns(const std::function<void()>& body) {
  std::thread t([&] {
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET)";
    body();
  });
  t.join();
}

// RunCommand does no PATH lookup.
std::string Ip() { return ::access("/sbin/ip", X_OK) == 0 ? "/sbin/ip" : "/bin/ip"; }

std::string IpLinkShow(const std::string& name) {
  auto r = RunCommand({Ip(), "-o", "link", "show", name});
  return r && r->exit_code == 0 ? r->output : std::string();
}

TEST(Rtnl, AddsVethOnBridgeAndDeletesBothEnds) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
  InPrivateNetns([] {
    auto br = RunCommand({Ip(), "link", "add", "testbr", "type", "bridge"});
    ASSERT_TRUE(br && br->exit_code == 0);
    const int master = static_cast<int>(::if_nametoindex("testbr"));
    ASSERT_GT(master, 0);
    // The peer goes to the namespace the fd names; here the test's own, so it is visible.
    UniqueFd ns(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(ns.valid());
    auto rtnl = RtnlSocket::Open();
    ASSERT_TRUE(rtnl.ok()) << rtnl.error().message;

    auto missing = rtnl->DeleteLink("altovnosuch");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, Errc::kNotFound) << missing.error().message;

    auto st = rtnl->AddVeth("altovtest", master, "vpeer", ns.get());
    ASSERT_TRUE(st.ok()) << st.error().message;
    const std::string host = IpLinkShow("altovtest");
    EXPECT_NE(host.find("master testbr"), std::string::npos) << host;
    EXPECT_NE(host.find(",UP"), std::string::npos) << host;  // the flag, not LOWER_UP
    EXPECT_NE(IpLinkShow("vpeer"), "");

    auto again = rtnl->AddVeth("altovtest", master, "vpeer2", ns.get());
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, Errc::kConflict) << again.error().message;
    EXPECT_EQ(IpLinkShow("vpeer2"), "");

    ASSERT_TRUE(rtnl->DeleteLink("altovtest").ok());
    EXPECT_EQ(::if_nametoindex("altovtest"), 0u);
    EXPECT_EQ(::if_nametoindex("vpeer"), 0u);  // deleting one end deletes the pair
  });
}

TEST(Rtnl, MovesPeerIntoAnotherNamespace) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
  InPrivateNetns([] {
    auto br = RunCommand({Ip(), "link", "add", "testbr", "type", "bridge"});
    ASSERT_TRUE(br && br->exit_code == 0);
    // A second namespace, held by an fd, as a sandbox's pin holds it.
    UniqueFd here(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(here.valid());
    UniqueFd other;
    std::thread([&] {
      if (::unshare(CLONE_NEWNET) == 0)
        other = UniqueFd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    }).join();
    ASSERT_TRUE(other.valid());
    auto rtnl = RtnlSocket::Open();
    ASSERT_TRUE(rtnl.ok()) << rtnl.error().message;
    auto st = rtnl->AddVeth("altovtest", static_cast<int>(::if_nametoindex("testbr")), "eth0",
                            other.get());
    ASSERT_TRUE(st.ok()) << st.error().message;
    EXPECT_NE(IpLinkShow("altovtest"), "");
    EXPECT_EQ(IpLinkShow("eth0"), "");  // not here: in the other namespace
    ASSERT_EQ(::setns(other.get(), CLONE_NEWNET), 0);
    EXPECT_GT(::if_nametoindex("eth0"), 0u);
    ASSERT_EQ(::setns(here.get(), CLONE_NEWNET), 0);
    ASSERT_TRUE(rtnl->DeleteLink("altovtest").ok());
  });
}

}  // namespace
}  // namespace alto
