#include "sandbox/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

extern "C" char** environ;  // NOLINT: POSIX global

namespace alto {

namespace {
int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

// Children owned by a ChildProcess (ReapOrphans leaves them to their owner), and unowned
// zombies with the time they were first seen.
std::mutex g_mu;
std::unordered_set<pid_t> g_owned;
std::unordered_map<pid_t, std::chrono::steady_clock::time_point> g_suspects;
std::atomic<bool> g_subreaper{false};

void Own(pid_t pid) {
  std::lock_guard lock(g_mu);
  g_owned.insert(pid);
}
void Disown(pid_t pid) {
  std::lock_guard lock(g_mu);
  g_owned.erase(pid);
}

// Our exited, unreaped children, from every thread's /proc children list.
std::vector<pid_t> ZombieChildren() {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream children(task.path() / "children");
    for (pid_t pid; children >> pid;) {
      std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
      std::string line;
      std::getline(stat, line);
      auto close = line.rfind(')');
      if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z')
        out.push_back(pid);
    }
  }
  return out;
}

std::vector<char*> CStrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}
}  // namespace

Result<ChildProcess> ChildProcess::Spawn(const SpawnOptions& o) {
  if (o.argv.empty()) return MakeError(Errc::kInvalidArgument, "spawn: empty argv");
  int pipefd[2] = {-1, -1};
  if (o.capture_output && ::pipe2(pipefd, O_CLOEXEC) != 0) return SysError("pipe2");
  UniqueFd read_end(pipefd[0]);
  UniqueFd write_end(pipefd[1]);

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  // Own session so the whole tree can be killed; default signal mask and dispositions, since
  // the server blocks and handles SIGTERM/SIGINT itself.
  sigset_t empty;
  sigemptyset(&empty);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  int first_closed = 3;
  if (o.capture_output) {
    posix_spawn_file_actions_adddup2(&fa, write_end.get(), 1);
    posix_spawn_file_actions_adddup2(&fa, write_end.get(), 2);
    if (o.output_also_on_fd3) {
      posix_spawn_file_actions_adddup2(&fa, 1,
                                       3);  // from 1: never the same fd, so CLOEXEC is cleared
      first_closed = 4;
      if (o.fd4 >= 0) {
        // dup2 onto a different number clears CLOEXEC; fd 4 itself would keep it.
        posix_spawn_file_actions_adddup2(&fa, o.fd4, 4);
        first_closed = 5;
      }
    }
  }
  // Nothing of the server (sockets, the store, other sandboxes' pipes) leaks into the child.
  posix_spawn_file_actions_addclosefrom_np(&fa, first_closed);
  if (!o.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, o.cwd.c_str());

  auto argv = CStrings(o.argv);
  auto envp = CStrings(o.env);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return SysError("spawn " + o.argv[0], rc);

  Own(pid);
  ChildProcess child;
  child.pid_ = pid;
  child.pidfd_ = UniqueFd(PidfdOpen(pid));
  if (!child.pidfd_.valid()) return SysError("pidfd_open");
  child.output_ = std::move(read_end);
  return child;
}

Result<ChildProcess> ChildProcess::Adopt(pid_t pid, UniqueFd output) {
  if (pid <= 0) return MakeError(Errc::kInvalidArgument, "adopt: bad pid");
  Own(pid);
  ChildProcess child;
  child.pid_ = pid;
  child.output_ = std::move(output);
  child.pidfd_ = UniqueFd(PidfdOpen(pid));
  if (!child.pidfd_.valid()) {
    Disown(pid);
    child.pid_ = -1;  // not ours to kill or wait for
    return SysError("pidfd_open " + std::to_string(pid));
  }
  return child;
}

Status BecomeChildSubreaper() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return SysError("PR_SET_CHILD_SUBREAPER");
  g_subreaper = true;
  return {};
}

int ReapOrphans(std::chrono::milliseconds grace) {
  if (!g_subreaper) return 0;
  const auto now = std::chrono::steady_clock::now();
  std::vector<pid_t> zombies = ZombieChildren();
  int reaped = 0;
  std::lock_guard lock(g_mu);
  std::unordered_map<pid_t, std::chrono::steady_clock::time_point> still;
  for (pid_t pid : zombies) {
    if (g_owned.contains(pid)) continue;
    auto it = g_suspects.find(pid);
    const auto first = it == g_suspects.end() ? now : it->second;
    int st = 0;
    if (now - first >= grace && ::waitpid(pid, &st, WNOHANG) == pid) {
      ++reaped;
    } else {
      still.emplace(pid, first);
    }
  }
  g_suspects = std::move(still);
  return reaped;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && status_ < 0) {
    Kill();
    Wait();
  }
}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      status_(std::exchange(o.status_, -1)),
      pidfd_(std::move(o.pidfd_)),
      output_(std::move(o.output_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    this->~ChildProcess();
    new (this) ChildProcess(std::move(o));
  }
  return *this;
}

void ChildProcess::Kill() {
  if (pid_ > 0 && status_ < 0) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
  }
}

int ChildProcess::TryReap() {
  if (pid_ <= 0 || status_ >= 0) return status_;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) {
    status_ = st;
    Disown(pid_);
  }
  return status_;
}

int ChildProcess::Wait() {
  if (pid_ <= 0 || status_ >= 0) return status_;
  int st = 0;
  while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  status_ = st;
  Disown(pid_);
  return status_;
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  auto child = ChildProcess::Spawn({argv, env, "", true});
  if (!child) return child.error();
  UniqueFd out = child->TakeOutput();
  CommandResult r;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(out.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    r.output.append(buf, static_cast<size_t>(n));
  }
  int st = child->Wait();
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    if (sig == SIGKILL) return "signal: killed";
    const char* abbrev = sigabbrev_np(sig);
    std::string name = abbrev ? abbrev : std::to_string(sig);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return "signal: " + name;
  }
  return "unknown status";
}

}  // namespace alto
