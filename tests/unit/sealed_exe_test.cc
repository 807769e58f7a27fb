// The sealed copy runc runs from: it executes (also from another process, through the server's
// /proc entry), carries exactly the seals runc checks for, and refuses every change.
#include "sandbox/sealed_exe.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "sandbox/process.h"

namespace alto {
namespace {

TEST(SealedExecutable, RunsFromTheServersProcEntryAndCannotBeChanged) {
  auto copy = SealedExecutable::Copy("/bin/echo");
  ASSERT_TRUE(copy) << copy.error().message;
  EXPECT_EQ(copy->path(),
            "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(copy->fd()));

  // Executed by a shell, as the background group's prefix does: the path is not the shell's own.
  auto run = RunCommand({"/bin/sh", "-c", "exec \"$0\" sealed-copy-ran", copy->path()});
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->exit_code, 0);
  EXPECT_EQ(run->output, "sealed-copy-ran\n");

  EXPECT_EQ(::fcntl(copy->fd(), F_GET_SEALS),
            F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
  EXPECT_EQ(std::filesystem::file_size(copy->path()), std::filesystem::file_size("/bin/echo"));
  // Not writable, not even by root through a new open of the path.
  int w = ::open(copy->path().c_str(), O_WRONLY | O_CLOEXEC);
  if (w >= 0) {
    EXPECT_EQ(::write(w, "x", 1), -1);
    EXPECT_EQ(errno, EPERM);
    ::close(w);
  }
  EXPECT_EQ(::ftruncate(copy->fd(), 0), -1);
  EXPECT_EQ(::fcntl(copy->fd(), F_ADD_SEALS, 0), -1);  // F_SEAL_SEAL: no more changes to seals
}

TEST(SealedExecutable, ReportsWhatIsMissingOrNotAFile) {
  auto missing = SealedExecutable::Copy("/nonexistent/runc");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/nonexistent/runc"), std::string::npos);
  auto dir = SealedExecutable::Copy("/usr");
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message.find("not a regular file"), std::string::npos);
}

}  // namespace
}  // namespace alto
