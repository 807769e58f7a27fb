// A child process in its own session (process group), with stdout+stderr on one pipe and a
// pidfd that becomes readable when it exits. The destructor kills the group and reaps it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/result.h"
#include "sandbox/unique_fd.h"

namespace alto {

struct SpawnOptions {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // K=V, the whole environment
  std::string cwd;
  bool capture_output = true;       // stdout+stderr to a pipe; otherwise inherit ours
  bool output_also_on_fd3 = false;  // the same pipe as fd 3 too (runc --preserve-fds 1)
  int fd4 = -1;  // given to the child as fd 4 (needs output_also_on_fd3; runc --preserve-fds 2)
};

class ChildProcess {
 public:
  static Result<ChildProcess> Spawn(const SpawnOptions& options);
  // Takes over a process that is already our child (e.g. reparented to us as subreaper),
  // with `output` as the read end of its stdout pipe.
  static Result<ChildProcess> Adopt(pid_t pid, UniqueFd output);
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(ChildProcess&& o) noexcept;
  ChildProcess& operator=(ChildProcess&& o) noexcept;

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  UniqueFd TakeOutput() { return std::move(output_); }
  // SIGKILL to the whole process group.
  void Kill();
  // Reaps if exited; returns the wait status, or -1 while it runs.
  int TryReap();
  // Blocks until exit; returns the wait status.
  int Wait();

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  UniqueFd pidfd_;
  UniqueFd output_;
};

// Makes this process a child subreaper (PR_SET_CHILD_SUBREAPER): orphaned descendants, such as
// a container init whose `runc run --detach` exited, become our children, so that we can wait
// for them. Every such process must then be reaped by someone here (ChildProcess::Adopt).
Status BecomeChildSubreaper();

// As a subreaper, reaps exited children that no ChildProcess owns (orphans nobody else waits
// for) once they have been seen so for `grace` (an init between runc's exit and its adoption
// is one for a moment). Returns how many were reaped; does nothing unless a subreaper.
int ReapOrphans(std::chrono::milliseconds grace);

// Runs a command to completion and returns its exit code and combined output (blocking).
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
Result<CommandResult> RunCommand(const std::vector<std::string>& argv);

// Describes a wait status the way Lambda's errors do: "exit status 1", "signal: killed".
std::string DescribeWaitStatus(int status);

}  // namespace alto
