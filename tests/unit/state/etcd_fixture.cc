#include "etcd_fixture.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "http/client.h"

namespace alto::state::testing {

namespace fs = std::filesystem;

namespace {

constexpr const char* kEtcd = "/usr/bin/etcd";

// A port the kernel had free a moment ago; etcd may still lose it to a race (then Start retries).
uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 1500 ? s.substr(s.size() - 1500) : s;
}

}  // namespace

EtcdProcess::EtcdProcess() {
  if (::access(kEtcd, X_OK) != 0) {
    error_ = std::string(kEtcd) + " is missing: run scripts/install-deps (etcd-server)";
    return;
  }
  char tmpl[] = "/tmp/alto-etcd-test.XXXXXX";
  if (!::mkdtemp(tmpl)) {
    error_ = "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  // Fresh ports each attempt: another process may take a port between FreePort and etcd's bind.
  for (int attempt = 0; attempt < 5; ++attempt) {
    client_port_ = FreePort();
    peer_port_ = FreePort();
    if (client_port_ == peer_port_) continue;
    auto st = StartOnce();
    if (st) return;
    error_ = st.error().message;
    Stop();
    std::error_code ec;
    fs::remove_all(dir_ + "/data", ec);
  }
}

EtcdProcess::~EtcdProcess() {
  Stop();
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string EtcdProcess::endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }

void EtcdProcess::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

Status EtcdProcess::Start() {
  auto st = StartOnce();
  error_ = st ? "" : st.error().message;
  return st;
}

Status EtcdProcess::StartOnce() {
  std::string client = "http://" + endpoint();
  std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
  std::string log = dir_ + "/etcd.log";
  // Short raft timings: a single member elects itself in ~0.1 s instead of ~1 s, which keeps a
  // fresh etcd per test cheap. They also lower etcd's minimum lease TTL to 1 s.
  std::vector<std::string> args = {kEtcd,
                                   "--name=alto-test",
                                   "--data-dir=" + dir_ + "/data",
                                   "--listen-client-urls=" + client,
                                   "--advertise-client-urls=" + client,
                                   "--listen-peer-urls=" + peer,
                                   "--initial-advertise-peer-urls=" + peer,
                                   "--initial-cluster=alto-test=" + peer,
                                   "--heartbeat-interval=10",
                                   "--election-timeout=100"};
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return SysError("fork");
  if (pid == 0) {
    // A test binary that crashes (or is killed) takes its etcd with it: no stray server keeps the
    // ports and the temp dir. (The signal follows the forking thread: tests fork from theirs.)
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // it died before prctl
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(kEtcd, argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  http::Endpoint ep{"127.0.0.1", client_port_};
  http::Request req;
  req.method = "POST";
  req.target = "/v3/maintenance/status";
  req.body = "{}";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return MakeError(Errc::kUnavailable, "etcd exited at start: " + Tail(log));
    }
    auto res = http::Fetch(ep, req);
    if (res && res->status == 200) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return MakeError(Errc::kTimeout, "etcd did not answer within 15 s: " + Tail(log));
}

Status EtcdProcess::Compact(Revision revision) {
  http::Request req;
  req.method = "POST";
  req.target = "/v3/kv/compaction";
  req.body = "{\"revision\":\"" + std::to_string(revision) + "\",\"physical\":true}";
  auto res = http::Fetch(http::Endpoint{"127.0.0.1", client_port_}, req);
  if (!res) return res.error();
  if (res->status != 200) return MakeError(Errc::kInternal, "compaction: " + res->body);
  return {};
}

}  // namespace alto::state::testing
