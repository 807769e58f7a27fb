// echo_server: the baseline for Alto's warm-invoke benchmark, "a direct loopback HTTP call to an
// equivalent C++ server". A minimal HTTP/1.1 keep-alive server (thread per connection, blocking
// sockets) that answers every request with a fixed small JSON body, the same shape as the no-op
// provided function's answer.
//
//   echo_server --listen 127.0.0.1:0 --ready-file FILE
//
// Writes the bound host:port to FILE (and stdout) once listening; runs until SIGINT/SIGTERM.
// GET /__stats answers {"requests":N,"cpu_ns":T}: requests served and the CPU time of the
// connection threads that have closed (taken once per connection, off the request path).
#include <time.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <thread>

#include "http_lite.h"

namespace {

const std::string kBody = R"({"message":"Hello from a custom runtime!","event":{}})";
std::atomic<long long> g_cpu_ns{0};
std::atomic<long long> g_requests{0};

long long ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

std::string Stats() {
  std::string body = "{\"requests\":" + std::to_string(g_requests.load()) +
                     ",\"cpu_ns\":" + std::to_string(g_cpu_ns.load()) + "}";
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: "
         "close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

void Serve(int fd) {
  bench::SetNoDelay(fd);
  bench::Reader reader(fd);
  const std::string keep = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                           std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
  const std::string last =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
      std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
  std::string head, body;
  long long served = 0;
  while (reader.ReadMessage(head, body)) {
    if (head.starts_with("GET /__stats ")) {
      bench::SendAll(fd, Stats());
      break;
    }
    ++served;
    std::string conn = bench::HeaderValue(head, "Connection");
    bool close_after =
        strcasecmp(conn.c_str(), "close") == 0 || head.find(" HTTP/1.0\r\n") != std::string::npos;
    if (!bench::SendAll(fd, close_after ? last : keep) || close_after) break;
  }
  ::close(fd);
  g_requests += served;
  g_cpu_ns += ThreadCpuNs();
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  std::string listen = "127.0.0.1:0", ready_file;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--listen" && i + 1 < argc) {
      listen = argv[++i];
    } else if (a == "--ready-file" && i + 1 < argc) {
      ready_file = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--listen HOST:PORT] [--ready-file FILE]\n", argv[0]);
      return 2;
    }
  }
  std::string host;
  int port;
  sockaddr_in addr;
  if (!bench::SplitHostPort(listen, host, port)) {
    std::fprintf(stderr, "bad --listen %s\n", listen.c_str());
    return 2;
  }
  if (!bench::MakeAddr(host, port, addr)) {
    std::fprintf(stderr, "bad address %s\n", host.c_str());
    return 2;
  }
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(lfd, 1024) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  socklen_t len = sizeof addr;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string bound = host + ":" + std::to_string(ntohs(addr.sin_port));
  if (!ready_file.empty()) {
    // Write then rename, so a watcher never sees a partial line.
    std::string tmp = ready_file + ".tmp";
    std::ofstream(tmp) << bound << "\n";
    std::rename(tmp.c_str(), ready_file.c_str());
  }
  std::printf("%s\n", bound.c_str());
  std::fflush(stdout);
  for (;;) {
    int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
      std::perror("accept");
      return 1;
    }
    std::thread(Serve, fd).detach();
  }
}
