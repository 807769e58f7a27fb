// The HTTP server against hostile and broken clients, over real loopback sockets: the status it
// answers for each kind of bad head or body, its timeouts and its connection caps. The server
// runs on its own thread; the test is a blocking raw-socket client.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "http/server.h"

namespace alto::http {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class Fixture {
 public:
  explicit Fixture(ServerOptions options) {
    server_ = std::make_unique<Server>(
        io_.get_executor(),
        [](Request r) -> asio::awaitable<Response> {
          co_return JsonResponse(
              200, "{\"path\":\"" + r.path + "\",\"body\":" + std::to_string(r.body.size()) + "}");
        },
        std::move(options));
    auto port = server_->Listen("127.0.0.1", 0);
    EXPECT_TRUE(port.ok());
    port_ = *port;
    server_->Start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Fixture() {
    asio::post(io_, [this] { server_->Stop(); });
    guard_.reset();
    io_.stop();
    thread_.join();
  }

  int Connect() const {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  }

  // Everything the server sends until it closes (or 5 s pass).
  static std::string ReadAll(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  // Sends raw bytes on a new connection and returns the status the server answered (0: none)
  // and whether it closed the connection.
  std::pair<int, bool> Exchange(const std::string& raw, bool half_close = false) const {
    int fd = Connect();
    size_t sent = 0;
    while (sent < raw.size()) {
      ssize_t n = ::send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    if (half_close) ::shutdown(fd, SHUT_WR);
    std::string got = ReadAll(fd);
    ::close(fd);
    int status = 0;
    if (got.rfind("HTTP/1.", 0) == 0 && got.size() >= 12) status = std::stoi(got.substr(9, 3));
    return {status, true};
  }

  Server& server() { return *server_; }

 private:
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_{io_.get_executor()};
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::thread thread_;
};

int Status(const Fixture& f, const std::string& raw) { return f.Exchange(raw).first; }

TEST(HttpServerHostile, AnswersEachBadHeadWithItsStatus) {
  Fixture f{ServerOptions{}};
  const std::string ok = "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
  EXPECT_EQ(Status(f, ok), 200);
  EXPECT_EQ(Status(f, "\r\n" + ok), 200) << "a leading empty line is ignored";
  EXPECT_EQ(Status(f, "GET /\r\n\r\n"), 400) << "HTTP/0.9";
  EXPECT_EQ(Status(f, "GET /\r\n"), 400) << "HTTP/0.9 is answered without waiting";
  EXPECT_EQ(Status(f, "G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(Status(f, "GET / HTTP/1.1\r\n\r\n"), 400) << "no Host";
  EXPECT_EQ(Status(f, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
  EXPECT_EQ(Status(f, "GET x HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(Status(f, "GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
  EXPECT_EQ(Status(f, "GET / HTTP/1.1\r\nHost: a\r\nBad Name: v\r\n\r\n"), 400);
  EXPECT_EQ(Status(f,
                   "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01"
                   "b\r\n\r\n"),
            400);
  EXPECT_EQ(Status(f, "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n"), 414);
  EXPECT_EQ(Status(f, "GET /" + std::string(70000, 'a')), 414) << "an endless request line";
  EXPECT_EQ(Status(f, "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(70000, 'a') + "\r\n\r\n"),
            431);
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 300; ++i) many += "X" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(Status(f, many + "\r\n"), 431);
  EXPECT_EQ(Status(f, "GET http://h/abs HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 200);
}

TEST(HttpServerHostile, AnswersEachBadFramingWithItsStatus) {
  Fixture f{ServerOptions{}};
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\n";
  EXPECT_EQ(Status(f, head + "Content-Length: abc\r\n\r\n"), 400);
  EXPECT_EQ(Status(f, head + "Content-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(Status(f, head + "Content-Length: 99999999999999999999999\r\n\r\n"), 400);
  EXPECT_EQ(Status(f, head + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab"), 400);
  EXPECT_EQ(Status(f, head + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            400);
  EXPECT_EQ(Status(f, head + "Transfer-Encoding: gzip\r\n\r\n"), 501);
  EXPECT_EQ(Status(f, head + "Transfer-Encoding: xchunked\r\n\r\n"), 501);
  EXPECT_EQ(Status(f, head + "Transfer-Encoding: chunked, identity\r\n\r\n"), 501);
  EXPECT_EQ(Status(f, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400);
  EXPECT_EQ(Status(f, head + "Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n"), 400);
  EXPECT_EQ(Status(f, head + "Content-Length: 9000000\r\n\r\n"), 413);
  EXPECT_EQ(Status(f, head + "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "3\r\nabc\r\n0\r\n\r\n"),
            200);
}

TEST(HttpServerHostile, HeadsThatParsersDisagreeOnAreRefused) {
  Fixture f{ServerOptions{}};
  std::string big = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 100; ++i)
    big += "X" + std::to_string(i) + ": " + std::string(680, 'v') + "\r\n";
  EXPECT_EQ(Status(f, big + "\r\n"), 431) << "64 KiB in total, over many fields";
  EXPECT_EQ(Status(f, "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\nY: c\r\n\r\n"), 400)
      << "obs-fold";
  EXPECT_EQ(Status(f, "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n"), 400);
  EXPECT_EQ(Status(f, "GET / HTTP/1.9\r\nHost: a\r\nConnection: close\r\n\r\n"), 200)
      << "a higher minor version is read as 1.1";
  EXPECT_EQ(Status(f, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
  const std::string post = "POST / HTTP/1.1\r\nHost: a\r\n";
  EXPECT_EQ(Status(f, post + "Content-Length: 2\r\nContent-Length: 2\r\n\r\nab"), 400);
  EXPECT_EQ(Status(f, post + "Transfer-Encoding: chunked\r\n\r\n3;x=" + std::string(2000, 'e') +
                          "\r\nabc\r\n0\r\n\r\n"),
            400)
      << "a long chunk extension";
  EXPECT_EQ(Status(f, post + "Transfer-Encoding: chunked\r\n\r\n" + std::string(100000, '0')), 400)
      << "an endless chunk-size line";
}

TEST(HttpServerHostile, HeadThatStallsGets408AndSilentNewConnectionIsClosed) {
  ServerOptions o;
  o.header_timeout = 200ms;
  o.keepalive_timeout = 200ms;
  Fixture f{o};
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Status(f, "GET / HTTP/1.1\r\nHost: a\r\n"), 408);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Status(f, ""), 0) << "a connection that sends nothing is closed without an answer";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(f.server().stats().timeouts[ListenerStats::kHeader].load(), 2u);
}

TEST(HttpServerHostile, IdleKeepAliveConnectionIsClosed) {
  ServerOptions o;
  o.keepalive_timeout = 200ms;
  Fixture f{o};
  int fd = f.Connect();
  const std::string req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  auto t0 = std::chrono::steady_clock::now();
  std::string got = Fixture::ReadAll(fd);  // the answer, then the close
  ::close(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(f.server().stats().timeouts[ListenerStats::kIdle].load(), 1u);
}

TEST(HttpServerHostile, StalledBodyGets408) {
  ServerOptions o;
  o.body_timeout = 200ms;
  Fixture f{o};
  EXPECT_EQ(Status(f, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"), 408);
}

TEST(HttpServerHostile, ConnectionsOverTheCapsGet503AtOnce) {
  ServerOptions o;
  o.max_connections = 3;
  o.max_connections_per_client = 2;
  Fixture f{o};
  int a = f.Connect(), b = f.Connect();
  std::this_thread::sleep_for(100ms);  // both registered
  auto [status, closed] = f.Exchange("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(status, 503);
  EXPECT_EQ(f.server().stats().refused_per_client.load(), 1u);
  ::close(a);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(Status(f, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 200);
  ::close(b);
}

TEST(HttpServerHostile, HeadersThatWouldSplitTheResponseAreNotWritten) {
  asio::io_context io;
  Server server(io.get_executor(), [](Request) -> asio::awaitable<Response> {
    Response r = JsonResponse(200, "{}");
    r.headers.push_back({"X-A", "a\r\nSet-Cookie: evil=1"});
    r.headers.push_back({"X-B\r\nX-C", "c"});
    r.headers.push_back({"X-D", "ok"});
    co_return r;
  });
  auto port = server.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  server.Start();
  std::string got;
  std::thread client([&] {
    asio::io_context cio;
    asio::ip::tcp::socket s(cio);
    s.connect({asio::ip::make_address("127.0.0.1"), *port});
    const std::string req = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    asio::write(s, asio::buffer(req));
    boost::system::error_code ec;
    asio::read(s, asio::dynamic_buffer(got), ec);
  });
  io.run_for(std::chrono::seconds(3));
  client.join();
  EXPECT_EQ(got.find("evil"), std::string::npos) << got;
  EXPECT_EQ(got.find("X-C"), std::string::npos) << got;
  EXPECT_NE(got.find("X-D: ok\r\n"), std::string::npos) << got;
}

TEST(HttpServerHostile, MetricsNameEveryListener) {
  ServerOptions o;
  Fixture f{o};
  EXPECT_EQ(Status(f, "GET / HTTP/1.1\r\n\r\n"), 400);
  std::string text = ListenerMetrics({{"api", &f.server().stats()}});
  EXPECT_NE(text.find("alto_http_rejected_requests_total{listener=\"api\",status=\"400\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("alto_http_connections_refused_total{listener=\"api\",reason=\"total\"} 0"),
            std::string::npos);
}

}  // namespace
}  // namespace alto::http
