// The `process` driver: the runtime runs as a plain child of the server. It isolates nothing
// and exists for unprivileged development; the server says so loudly at start.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "sandbox/listen.h"
#include "sandbox/runtimes.h"
#include "sandbox/sandbox.h"

namespace alto {

namespace fs = std::filesystem;

Result<ListeningSocket> ListenTcp(const std::string& ip, uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return SysError("socket");
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    return MakeError(Errc::kInvalidArgument, "bad address " + ip);
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return SysError("bind " + ip + ":" + std::to_string(port));
  }
  if (::listen(fd.get(), 64) != 0) return SysError("listen");
  socklen_t len = sizeof addr;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  return ListeningSocket{std::move(fd), ntohs(addr.sin_port)};
}

namespace {

// Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), to tell a
// leftover runtime from an unrelated process that reused its pid.
std::string ProcessStartTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return {};
  std::istringstream rest(stat.substr(paren + 2));
  std::string field;
  for (int i = 3; i <= 22 && (rest >> field); ++i) {
  }
  return field;
}

// Removes the pid file that lets a restarted server find this runtime after a crash.
class ProcessResources final : public SandboxResources {
 public:
  ProcessResources(fs::path pid_file, pid_t pid) : pid_file_(std::move(pid_file)), pid_(pid) {}
  // The runtime process's own high-water mark (its children are not counted without a cgroup).
  int64_t PeakMemoryBytes() const override {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string key;
    int64_t kb = 0;
    while (in >> key) {
      if (key == "VmHWM:" && in >> kb) return kb * 1024;
      in.ignore(4096, '\n');
    }
    return -1;
  }
  // The runtime process's own user and system time (children it reaped included).
  int64_t CpuTimeNanos() const override {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
    std::string line;
    if (!std::getline(in, line)) return -1;
    size_t paren = line.rfind(')');  // the command name may contain spaces
    if (paren == std::string::npos) return -1;
    std::istringstream fields(line.substr(paren + 2));
    std::string f;
    int64_t utime = 0, stime = 0, cutime = 0, cstime = 0;
    for (int i = 3; i <= 17 && fields >> f; ++i) {
      if (i == 14) utime = std::stoll(f);
      if (i == 15) stime = std::stoll(f);
      if (i == 16) cutime = std::stoll(f);
      if (i == 17) cstime = std::stoll(f);
    }
    const int64_t ticks = utime + stime + cutime + cstime;
    return ticks * (1000000000 / ::sysconf(_SC_CLK_TCK));
  }
  ~ProcessResources() override {
    std::error_code ec;
    fs::remove(pid_file_, ec);
  }

 private:
  fs::path pid_file_;
  pid_t pid_;
};

class ProcessDriver final : public Driver {
 public:
  explicit ProcessDriver(DriverOptions options) : options_(std::move(options)) {}
  std::string_view name() const override { return "process"; }

  Result<std::unique_ptr<Sandbox>> Start(const SandboxSpec& spec) override {
    const RuntimeInfo* rt = FindRuntime(spec.runtime);
    if (!rt) return MakeError(Errc::kInvalidArgument, "unknown runtime " + spec.runtime);
    auto sock = ListenTcp("127.0.0.1", 0);
    if (!sock) return sock.error();
    std::string runtime_dir = rt->dir.empty() ? "" : (spec.runtimes_dir / rt->dir).string();
    std::string task_root = spec.code_dir.string();
    SpawnOptions so;
    so.argv = ExpandArgv(*rt, runtime_dir, task_root, spec.memory_mb);
    so.env =
        BaseRuntimeEnv(spec, task_root, runtime_dir, "127.0.0.1:" + std::to_string(sock->port));
    so.cwd = task_root;
    auto child = ChildProcess::Spawn(so);
    if (!child) return child.error();
    fs::path pid_file = PidDir() / (spec.id + ".pid");
    {
      std::ofstream out(pid_file);
      out << child->pid() << " " << ProcessStartTime(child->pid()) << "\n";
    }
    return std::make_unique<Sandbox>(spec.id, std::move(child.value()), std::move(sock->fd),
                                     std::make_unique<ProcessResources>(pid_file, child->pid()),
                                     false);
  }

  void CleanupStale() override {
    std::error_code ec;
    fs::create_directories(PidDir(), ec);
    for (const auto& e : fs::directory_iterator(PidDir(), ec)) {
      std::ifstream in(e.path());
      pid_t pid = 0;
      std::string start;
      if (in >> pid >> start && pid > 1 && ProcessStartTime(pid) == start) {
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
      }
      fs::remove(e.path(), ec);
    }
  }

 private:
  fs::path PidDir() const { return options_.state_dir / "process-sandboxes"; }
  DriverOptions options_;
};

}  // namespace

std::unique_ptr<Driver> MakeProcessDriver(const DriverOptions& options) {
  return std::make_unique<ProcessDriver>(options);
}

}  // namespace alto
