// Streamed bodies: the BodyStream pipe on its own, and the HTTP server streaming a request body
// into its handler and a response body out to a client, over real loopback sockets.
#include "http/body_stream.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <string>
#include <vector>

#include "http/server.h"

namespace alto::http {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// Runs a coroutine to completion on io, with a bound on wall time.
template <class F>
void RunFor(asio::io_context& io, F coroutine) {
  bool done = false;
  io.restart();
  asio::co_spawn(io, coroutine(), [&](std::exception_ptr e) {
    done = true;
    io.stop();  // a listening server would keep run_for busy to its bound
    if (e) std::rethrow_exception(e);
  });
  io.run_for(std::chrono::seconds(10));
  ASSERT_TRUE(done) << "timed out";
}

TEST(BodyStreamTest, WriterWaitsAboveHighWaterUntilTheReaderCatchesUp) {
  asio::io_context io;
  BodyStream stream(io.get_executor(), 10);
  std::vector<std::string> events;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 3; ++i) {
          bool ok = co_await stream.Write(std::string(8, static_cast<char>('a' + i)));
          events.push_back(ok ? "wrote" : "refused");
        }
        stream.Finish();
      },
      asio::detached);
  io.poll();
  // 8 bytes then 16 queued: the third write waits (16 > 10).
  EXPECT_EQ(events.size(), 2u);
  RunFor(io, [&]() -> asio::awaitable<void> {
    std::string all;
    while (auto piece = co_await stream.Read()) all += *piece;
    EXPECT_EQ(all, std::string(8, 'a') + std::string(8, 'b') + std::string(8, 'c'));
    EXPECT_FALSE(stream.failed());
  });
  EXPECT_EQ(events, (std::vector<std::string>{"wrote", "wrote", "wrote"}));
  EXPECT_EQ(stream.bytes_written(), 24u);
}

TEST(BodyStreamTest, FailureIsSeenAfterTheQueuedData) {
  asio::io_context io;
  BodyStream stream(io.get_executor());
  RunFor(io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE(co_await stream.Write("partial"));
    stream.Finish("Custom.Error");
    stream.Finish();  // only the first counts
    EXPECT_FALSE(co_await stream.Write("late"));
    auto piece = co_await stream.Read();
    EXPECT_EQ(piece.value_or(""), "partial");
    EXPECT_FALSE((co_await stream.Read()).has_value());
    EXPECT_TRUE(stream.failed());
    EXPECT_EQ(stream.error(), "Custom.Error");
  });
}

TEST(BodyStreamTest, AbandonReleasesAWaitingWriter) {
  asio::io_context io;
  BodyStream stream(io.get_executor(), 1);
  bool second = true;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await stream.Write("xx");
        second = co_await stream.Write("yy");  // waits: 2 bytes over a 1-byte high water
      },
      asio::detached);
  io.poll();
  stream.Abandon();
  io.run_for(std::chrono::seconds(2));
  EXPECT_FALSE(second);
  EXPECT_TRUE(stream.abandoned());
}

// A raw HTTP/1.1 exchange over loopback: sends `request`, returns everything read until the
// server closes or `until` appears.
std::string Exchange(asio::io_context& io, uint16_t port, const std::string& request,
                     const std::string& until) {
  std::string got;
  RunFor(io, [&]() -> asio::awaitable<void> {
    tcp::socket s(io);
    co_await s.async_connect({asio::ip::make_address("127.0.0.1"), port}, asio::use_awaitable);
    co_await asio::async_write(s, asio::buffer(request), asio::use_awaitable);
    char buf[4096];
    for (;;) {
      auto [ec, n] =
          co_await s.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
      if (ec) break;
      got.append(buf, n);
      if (got.find(until) != std::string::npos) break;
    }
  });
  return got;
}

TEST(ServerStreamingTest, HandlerReadsAChunkedBodyPieceByPieceWithItsTrailers) {
  asio::io_context io;
  std::vector<std::string> pieces;
  std::string trailer;
  ServerOptions options;
  options.body_limit = 4;  // the streamed request below is larger: the stream limit applies
  options.stream_request = [](const Request& r) { return r.path == "/stream"; };
  Server server(
      io.get_executor(),
      [&](Request req) -> asio::awaitable<Response> {
        EXPECT_TRUE(req.body_source);
        for (;;) {
          auto piece = co_await req.body_source->Next();
          EXPECT_TRUE(piece.ok());
          if (!piece.ok() || !*piece) break;
          pieces.push_back(**piece);
        }
        trailer = req.body_source->Trailer("X-Error");
        co_return JsonResponse(202, "{}");
      },
      options);
  auto port = server.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  server.Start();
  std::string reply = Exchange(io, *port,
                               "POST /stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                               "Trailer: X-Error\r\n\r\n5\r\nhello\r\n6\r\n world\r\n"
                               "0\r\nX-Error: boom\r\n\r\n",
                               "{}");
  EXPECT_NE(reply.find("HTTP/1.1 202"), std::string::npos) << reply;
  std::string all;
  for (const auto& p : pieces) all += p;
  EXPECT_EQ(all, "hello world");
  EXPECT_EQ(trailer, "boom");
  server.Stop();
}

TEST(ServerStreamingTest, StreamedResponseIsChunkedAndAFailedOneLacksTheLastChunk) {
  asio::io_context io;
  bool fail = false;
  Server server(io.get_executor(), [&](Request) -> asio::awaitable<Response> {
    auto ex = co_await asio::this_coro::executor;
    auto stream = std::make_shared<BodyStream>(ex);
    Response res;
    res.Set("Content-Type", "text/plain");
    res.Set("Content-Length", "999");  // the server frames a streamed body itself
    res.body = "head;";
    res.stream = stream;
    asio::co_spawn(
        ex,
        [stream, f = fail]() -> asio::awaitable<void> {
          co_await stream->Write("one;");
          co_await stream->Write("two");
          stream->Finish(f ? "Broken" : "");
        },
        asio::detached);
    co_return res;
  });
  auto port = server.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  server.Start();
  std::string ok = Exchange(io, *port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "0\r\n\r\n");
  EXPECT_NE(ok.find("Transfer-Encoding: chunked"), std::string::npos) << ok;
  EXPECT_EQ(ok.find("Content-Length"), std::string::npos) << ok;
  EXPECT_NE(ok.find("5\r\nhead;\r\n4\r\none;\r\n3\r\ntwo\r\n0\r\n\r\n"), std::string::npos) << ok;
  fail = true;
  std::string cut = Exchange(io, *port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "never");
  EXPECT_NE(cut.find("3\r\ntwo\r\n"), std::string::npos) << cut;
  EXPECT_EQ(cut.find("0\r\n\r\n"), std::string::npos) << cut;
  server.Stop();
}

}  // namespace
}  // namespace alto::http
