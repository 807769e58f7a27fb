// What TLS costs Alto's HTTP server: requests/s and latency over keep-alive connections, and
// with a new connection per request (a full handshake each), plaintext against TLS on the same
// server code (alto::http::Server, one I/O thread as in `alto server`) with the same handler.
// Both listeners run in this process; rounds alternate between them so that other load on the
// machine hits both alike. The certificate is a P-256 self-signed one made at start (the kind
// Let's Encrypt issues by default is ECDSA P-256 too).
//
//   tls_bench [-n REQUESTS] [-c CONNECTIONS] [--rounds R] [--body BYTES] [--handshakes N]
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "http/server.h"
#include "http/tls.h"

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Args {
  int requests = 20000;  // per round and side, over all connections
  int connections = 1;
  int rounds = 5;
  size_t body = 100;
  int handshakes = 500;  // per round and side, for the new-connection rows
};

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> long {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", k.c_str());
        std::exit(2);
      }
      return std::strtol(argv[++i], nullptr, 10);
    };
    if (k == "-n") {
      a.requests = static_cast<int>(next());
    } else if (k == "-c") {
      a.connections = static_cast<int>(next());
    } else if (k == "--rounds") {
      a.rounds = static_cast<int>(next());
    } else if (k == "--body") {
      a.body = static_cast<size_t>(next());
    } else if (k == "--handshakes") {
      a.handshakes = static_cast<int>(next());
    } else {
      std::fprintf(stderr,
                   "usage: tls_bench [-n REQUESTS] [-c CONNECTIONS] [--rounds R] [--body BYTES] "
                   "[--handshakes N]\n");
      std::exit(2);
    }
  }
  a.connections = std::max(1, a.connections);
  return a;
}

// A self-signed P-256 certificate for localhost, as PEM files in dir.
void MakeCert(const fs::path& dir) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, key, EVP_sha256());
  std::FILE* f = std::fopen((dir / "cert.pem").c_str(), "w");
  PEM_write_X509(f, x);
  std::fclose(f);
  f = std::fopen((dir / "key.pem").c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(x);
  EVP_PKEY_free(key);
}

int Connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  return fd;
}

// One client connection, plaintext or TLS, blocking.
class Conn {
 public:
  Conn(uint16_t port, SSL_CTX* tls) : fd_(Connect(port)) {
    if (!tls) return;
    ssl_ = SSL_new(tls);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
    if (SSL_connect(ssl_) != 1) {
      ERR_print_errors_fp(stderr);
      std::exit(1);
    }
  }
  ~Conn() {
    if (ssl_) {
      SSL_shutdown(ssl_);
      SSL_free(ssl_);
    }
    ::close(fd_);
  }

  // One request and its whole response; false on any failure.
  bool RoundTrip(const std::string& request) {
    if (Write(request.data(), request.size()) != static_cast<long>(request.size())) return false;
    buf_.clear();
    size_t need = std::string::npos;
    char chunk[65536];
    while (buf_.size() < need) {
      const long n = Read(chunk, sizeof chunk);
      if (n <= 0) return false;
      buf_.append(chunk, static_cast<size_t>(n));
      if (need == std::string::npos) {
        const size_t end = buf_.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        const size_t cl = buf_.find("Content-Length: ");
        if (cl == std::string::npos || cl > end) return false;
        need = end + 4 + std::strtoul(buf_.c_str() + cl + 16, nullptr, 10);
      }
    }
    return buf_.compare(0, 12, "HTTP/1.1 200") == 0;
  }

 private:
  long Write(const char* p, size_t n) {
    if (ssl_) return SSL_write(ssl_, p, static_cast<int>(n));
    return ::send(fd_, p, n, MSG_NOSIGNAL);
  }
  long Read(char* p, size_t n) {
    if (ssl_) return SSL_read(ssl_, p, static_cast<int>(n));
    return ::recv(fd_, p, n, 0);
  }

  int fd_;
  SSL* ssl_ = nullptr;
  std::string buf_;
};

struct Samples {
  std::vector<double> latency_us;
  double seconds = 0;     // summed elapsed time of the rounds
  double server_cpu = 0;  // the server thread's CPU time in the rounds, seconds
  int requests = 0;
  int errors = 0;
};

// CPU time of a thread so far, seconds: unlike wall-clock rates, it barely moves with other load
// on the machine.
double ThreadCpu(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// requests over `connections` keep-alive connections (one thread each); new_each: a new
// connection for every request instead.
void Round(uint16_t port, SSL_CTX* tls, int requests, int connections, bool new_each,
           clockid_t server_clock, Samples& out) {
  const std::string req = "GET /bench HTTP/1.1\r\nHost: localhost\r\n\r\n";
  std::vector<std::vector<double>> lat(connections);
  std::atomic<int> errors{0};
  const auto t0 = Clock::now();
  const double cpu0 = ThreadCpu(server_clock);
  std::vector<std::thread> threads;
  for (int t = 0; t < connections; ++t) {
    threads.emplace_back([&, t] {
      const int mine = requests / connections;
      lat[t].reserve(mine);
      std::unique_ptr<Conn> conn;
      if (!new_each) conn = std::make_unique<Conn>(port, tls);
      for (int i = 0; i < mine; ++i) {
        const auto s = Clock::now();
        if (new_each) conn = std::make_unique<Conn>(port, tls);
        if (!conn->RoundTrip(req)) {
          errors.fetch_add(1);
          conn = std::make_unique<Conn>(port, tls);
        }
        if (new_each) conn.reset();
        lat[t].push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
      }
    });
  }
  for (auto& th : threads) th.join();
  out.server_cpu += ThreadCpu(server_clock) - cpu0;
  out.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  for (auto& l : lat) {
    out.latency_us.insert(out.latency_us.end(), l.begin(), l.end());
    out.requests += static_cast<int>(l.size());
  }
  out.errors += errors.load();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = Parse(argc, argv);
  std::string tmpl = (fs::temp_directory_path() / "alto-tls-bench-XXXXXX").string();
  const fs::path dir = ::mkdtemp(tmpl.data());
  MakeCert(dir);
  auto tls = alto::http::TlsContext::Load(dir / "cert.pem", dir / "key.pem");
  fs::remove_all(dir);
  if (!tls) {
    std::fprintf(stderr, "%s\n", tls.error().message.c_str());
    return 1;
  }

  asio::io_context io(1);
  auto guard = asio::make_work_guard(io);
  const std::string body =
      "{\"x\":\"" + std::string(args.body > 9 ? args.body - 8 : 1, 'x') + "\"}";
  auto handler = [&body](alto::http::Request) -> asio::awaitable<alto::http::Response> {
    co_return alto::http::JsonResponse(200, body);
  };
  alto::http::ServerOptions plain_opts, tls_opts;
  tls_opts.tls = *tls;
  alto::http::Server plain(io.get_executor(), handler, plain_opts);
  alto::http::Server secure(io.get_executor(), handler, tls_opts);
  auto plain_port = plain.Listen("127.0.0.1", 0);
  auto tls_port = secure.Listen("127.0.0.1", 0);
  if (!plain_port || !tls_port) return 1;
  plain.Start();
  secure.Start();
  std::thread server([&io] { io.run(); });
  clockid_t server_clock{};
  ::pthread_getcpuclockid(server.native_handle(), &server_clock);

  SSL_CTX* client = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(client, SSL_VERIFY_NONE, nullptr);
  // No session resumption: every new connection is a full handshake, the worst case.
  SSL_CTX_set_session_cache_mode(client, SSL_SESS_CACHE_OFF);

  std::printf(
      "tls_bench: %d rounds; keep-alive: %d requests over %d connection(s) per round; "
      "new connection per request: %d per round; response body %zu bytes; %s\n",
      args.rounds, args.requests, args.connections, args.handshakes, body.size(),
      OpenSSL_version(OPENSSL_VERSION));
  // Warm-up: both sides once, untimed.
  Samples ignore;
  Round(*plain_port, nullptr, 200, 1, false, server_clock, ignore);
  Round(*tls_port, client, 200, 1, false, server_clock, ignore);

  Samples keep[2], fresh[2];
  for (int r = 0; r < args.rounds; ++r) {
    for (int side = 0; side < 2; ++side) {
      const uint16_t port = side == 0 ? *plain_port : *tls_port;
      SSL_CTX* ctx = side == 0 ? nullptr : client;
      Round(port, ctx, args.requests, args.connections, false, server_clock, keep[side]);
      Round(port, ctx, args.handshakes, 1, true, server_clock, fresh[side]);
    }
  }

  auto row = [](const char* what, double a, double b, const char* unit) {
    std::printf("%-44s %12.1f %12.1f %9.2fx  %s\n", what, a, b, a > 0 ? b / a : 0.0, unit);
  };
  std::printf("\n%-44s %12s %12s %10s\n", "", "plaintext", "TLS", "TLS/plain");
  row("keep-alive: requests/s", keep[0].requests / keep[0].seconds,
      keep[1].requests / keep[1].seconds, "");
  row("keep-alive: latency p50", Percentile(keep[0].latency_us, 50),
      Percentile(keep[1].latency_us, 50), "us");
  row("keep-alive: latency p99", Percentile(keep[0].latency_us, 99),
      Percentile(keep[1].latency_us, 99), "us");
  row("keep-alive: server CPU per request", keep[0].server_cpu * 1e6 / keep[0].requests,
      keep[1].server_cpu * 1e6 / keep[1].requests, "us");
  row("new connection per request: requests/s", fresh[0].requests / fresh[0].seconds,
      fresh[1].requests / fresh[1].seconds, "");
  row("new connection per request: latency p50", Percentile(fresh[0].latency_us, 50),
      Percentile(fresh[1].latency_us, 50), "us");
  row("new connection per request: server CPU", fresh[0].server_cpu * 1e6 / fresh[0].requests,
      fresh[1].server_cpu * 1e6 / fresh[1].requests, "us");
  const int errors = keep[0].errors + keep[1].errors + fresh[0].errors + fresh[1].errors;
  std::printf("errors: %d\n", errors);

  asio::post(io, [&] {
    plain.Stop();
    secure.Stop();
  });
  guard.reset();
  io.stop();
  server.join();
  SSL_CTX_free(client);
  return errors == 0 ? 0 : 1;
}
