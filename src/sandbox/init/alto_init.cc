// alto-init: PID 1 of every oci sandbox (mounted read-only at /var/rapid/init, where Lambda keeps
// its own init). The kernel ignores signals a namespace's PID 1 has no handler for, and nothing
// else reaps orphans; so the runtime must not be PID 1. This init starts the runtime, forwards
// termination signals to it, reaps every orphan, and exits as the runtime did (128+N for a
// signal, as runc reports it).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

extern char** environ;

int main(int argc, char** argv) {
  // Options, then "--", then the command. --stdio-fd=N: the runtime's stdout and stderr.
  int stdio_fd = -1;
  int i = 1;
  for (; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
    if (std::strncmp(argv[i], "--stdio-fd=", 11) == 0) stdio_fd = std::atoi(argv[i] + 11);
  }
  if (i < argc)
    ++i;  // skip "--"
  else
    i = 1;  // no options given: everything is the command
  if (i >= argc) {
    std::fprintf(stderr, "usage: alto-init [--stdio-fd=N] -- COMMAND [ARG...]\n");
    return 2;
  }
  if (stdio_fd > 2) {
    dup2(stdio_fd, 1);
    dup2(stdio_fd, 2);
    close(stdio_fd);
  }
  char** command = argv + i;
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
    execve(command[0], command, environ);
    std::fprintf(stderr, "alto-init: cannot execute %s: ", command[0]);
    std::perror("");
    _exit(127);
  }
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
