// alto-init: PID 1 of every oci sandbox (mounted read-only at /var/rapid/init, where Lambda keeps
// its own init). The kernel ignores signals a namespace's PID 1 has no handler for, and nothing
// else reaps orphans; so the runtime must not be PID 1. This init starts the runtime, forwards
// termination signals to it, reaps every orphan, and exits as the runtime did (128+N for a
// signal, as runc reports it).
//
// A stem cell (a sandbox started before its function is known) runs `alto-init --spec-fd=N`
// without a command: init waits until Alto writes the function's command and environment to
// fd N ("A<arg>\0" and "E<name=value>\0" records, then EOF) after mounting the code at
// /var/task, and then starts it as above. fd N is a socket: init first writes one byte on it
// to say the sandbox is up (runc applies cgroup limits and mounts before it executes init, so
// from then on Alto's own limits and code mount are not raced by runc's setup).
//
// With --zygote (and a command), a stem cell starts its runtime at once and leaves the spec fd to
// it: the runtime reads the records itself when Alto writes them (Python's bootstrap.py
// --zygote-fd), so the interpreter's start-up is done before the function is known.
//
// With --seccomp, init first installs the sandbox's seccomp filter (compiled from
// src/sandbox/profile/seccomp.json at build time and embedded here), so it covers init and
// everything init starts. If the filter cannot be installed, init exits: a sandbox never runs
// unfiltered.
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

extern char** environ;

namespace {

const sock_filter kSandboxSeccompFilter[] = {
#include "seccomp_filter.inc"
};

// The kernel accepts an unprivileged filter only with no_new_privs, which runc sets already
// (noNewPrivileges in config.json); setting it again here keeps that true whoever starts init.
bool InstallSeccompFilter() {
  sock_fprog program{static_cast<unsigned short>(std::size(kSandboxSeccompFilter)),
                     const_cast<sock_filter*>(kSandboxSeccompFilter)};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

// Reads the specialisation records; false on a read error or an empty command.
bool ReadSpec(int fd, std::vector<std::string>& args, std::vector<std::string>& env) {
  std::string data;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > (1u << 22)) return false;  // 4 MiB: far beyond any real environment
  }
  close(fd);
  size_t pos = 0;
  while (pos < data.size()) {
    size_t end = data.find('\0', pos);
    if (end == std::string::npos) return false;
    std::string record = data.substr(pos + 1, end - pos - 1);
    if (data[pos] == 'A') args.push_back(std::move(record));
    if (data[pos] == 'E') env.push_back(std::move(record));
    pos = end + 1;
  }
  return !args.empty();
}

}  // namespace

int main(int argc, char** argv) {
  // Options, then "--", then the command. --stdio-fd=N: the runtime's stdout and stderr.
  int stdio_fd = -1;
  int spec_fd = -1;
  bool zygote = false;
  bool seccomp = false;
  int i = 1;
  for (; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
    if (std::strcmp(argv[i], "--seccomp") == 0) seccomp = true;
    if (std::strncmp(argv[i], "--stdio-fd=", 11) == 0) stdio_fd = std::atoi(argv[i] + 11);
    if (std::strncmp(argv[i], "--spec-fd=", 10) == 0) spec_fd = std::atoi(argv[i] + 10);
    if (std::strcmp(argv[i], "--zygote") == 0) zygote = true;
  }
  if (i < argc)
    ++i;  // skip "--"
  else if (spec_fd < 0)
    i = 1;  // no options given: everything is the command
  if (seccomp && !InstallSeccompFilter()) {
    std::perror("alto-init: cannot install the seccomp filter");
    return 126;
  }
  if (stdio_fd > 2) {
    dup2(stdio_fd, 1);
    dup2(stdio_fd, 2);
    close(stdio_fd);
  }
  std::vector<std::string> spec_args, spec_env;
  std::vector<char*> spec_argv, spec_envp;
  char** command = argv + i;
  if (spec_fd >= 0) {
    const char ready = 'R';
    while (write(spec_fd, &ready, 1) < 0 && errno == EINTR) {
    }
  }
  if (spec_fd >= 0 && zygote) {
    if (i >= argc) {
      std::fprintf(stderr, "alto-init: --zygote needs a command\n");
      return 2;
    }
  } else if (spec_fd >= 0) {
    if (!ReadSpec(spec_fd, spec_args, spec_env)) {
      std::fprintf(stderr, "alto-init: no function was given to this sandbox\n");
      return 2;
    }
    for (auto& a : spec_args) spec_argv.push_back(a.data());
    spec_argv.push_back(nullptr);
    for (auto& e : spec_env) spec_envp.push_back(e.data());
    spec_envp.push_back(nullptr);
    command = spec_argv.data();
    environ = spec_envp.data();
    // The working directory was the empty mount point under the code; enter the code itself.
    if (chdir("/var/task") != 0) std::perror("alto-init: chdir /var/task");
  } else if (i >= argc) {
    std::fprintf(stderr, "usage: alto-init [--stdio-fd=N] [--spec-fd=N] -- COMMAND [ARG...]\n");
    return 2;
  }
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, nullptr);
  pid_t child = fork();
  if (child < 0) {
    std::perror("alto-init: fork");
    return 1;
  }
  if (child == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (zygote) fcntl(spec_fd, F_SETFD, 0);  // the runtime reads the spec
    execve(command[0], command, environ);
    std::fprintf(stderr, "alto-init: cannot execute %s: ", command[0]);
    std::perror("");
    _exit(127);
  }
  if (zygote) close(spec_fd);
  for (;;) {
    int sig = 0;
    if (sigwait(&all, &sig) != 0) continue;
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    for (;;) {
      int status = 0;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      if (pid == child) {
        // Leaving PID 1 ends the namespace: the kernel kills whatever is left.
        if (WIFSIGNALED(status)) _exit(128 + WTERMSIG(status));
        _exit(WEXITSTATUS(status));
      }
    }
  }
}
