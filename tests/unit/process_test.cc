// Subreaper orphan reaping: unowned zombies go, a ChildProcess's own child is left to it.
#include "sandbox/process.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace alto {
namespace {

using namespace std::chrono_literals;

char StateOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return '?';
  auto close = line.rfind(')');
  return close + 2 < line.size() ? line[close + 2] : '?';
}

bool AwaitZombie(pid_t pid) {
  for (int i = 0; i < 200 && StateOf(pid) != 'Z'; ++i) std::this_thread::sleep_for(25ms);
  return StateOf(pid) == 'Z';
}

TEST(ReapOrphansTest, ReapsOnlyUnownedZombiesAfterGrace) {
  ASSERT_TRUE(BecomeChildSubreaper().ok());
  auto owned = ChildProcess::Spawn({{"/bin/true"}, {}, "", false});
  ASSERT_TRUE(owned.ok());
  // sh exits at once; its background sleep, orphaned, is reparented to us (the subreaper).
  auto launcher =
      ChildProcess::Spawn({{"/bin/sh", "-c", "/bin/sleep 0.1 >/dev/null 2>&1 & echo $!"}, {}, ""});
  ASSERT_TRUE(launcher.ok());
  UniqueFd out = launcher->TakeOutput();
  std::string text;
  char buf[64];
  for (ssize_t n; (n = ::read(out.get(), buf, sizeof buf)) > 0;) text.append(buf, n);
  launcher->Wait();
  const pid_t orphan = std::stoi(text);
  ASSERT_TRUE(AwaitZombie(orphan)) << "the orphan should become our zombie child";
  ASSERT_TRUE(AwaitZombie(owned->pid()));

  EXPECT_EQ(ReapOrphans(1h), 0);  // within its grace: kept
  EXPECT_EQ(StateOf(orphan), 'Z');
  EXPECT_EQ(ReapOrphans(0ms), 1);
  EXPECT_EQ(StateOf(orphan), '?');  // gone
  // The owned child's status was not stolen.
  const int st = owned->TryReap();
  ASSERT_GE(st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

}  // namespace
}  // namespace alto
