#include "http/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <charconv>
#include <unordered_set>

#include "common/encoding.h"
#include "http/body_stream.h"

namespace alto::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

std::string_view Request::HeaderValue(std::string_view name) const {
  for (const auto& h : headers) {
    if (IEquals(h.name, name)) return h.value;
  }
  return {};
}

bool Request::HasHeader(std::string_view name) const {
  for (const auto& h : headers) {
    if (IEquals(h.name, name)) return true;
  }
  return false;
}

std::optional<std::string> Request::QueryParam(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    size_t eq = pair.find('=');
    std::string key = PercentDecode(pair.substr(0, eq));
    if (key == name) {
      if (eq == std::string_view::npos) return std::string();
      std::string v(pair.substr(eq + 1));
      for (char& c : v) {
        if (c == '+') c = ' ';
      }
      return PercentDecode(v);
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

Response& Response::Set(std::string name, std::string value) {
  for (auto& h : headers) {
    if (IEquals(h.name, name)) {
      h.value = std::move(value);
      return *this;
    }
  }
  headers.push_back({std::move(name), std::move(value)});
  return *this;
}

std::string_view Response::HeaderValue(std::string_view name) const {
  for (const auto& h : headers) {
    if (IEquals(h.name, name)) return h.value;
  }
  return {};
}

Response JsonResponse(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers.push_back({"Content-Type", "application/json"});
  return r;
}

namespace {

using RequestParser = bhttp::request_parser<bhttp::string_body>;

// The body of a streamed request, pulled from the connection by the handler. The server detaches
// it when the handler returns: the socket, buffer and parser it reads through are the session's.
class ParserBodySource final : public BodySource {
 public:
  ParserBodySource(tcp::socket& socket, beast::flat_buffer& buffer, RequestParser& parser)
      : socket_(socket), buffer_(buffer), parser_(parser) {}

  asio::awaitable<Result<std::optional<std::string>>> Next() override {
    for (;;) {
      if (detached_) co_return MakeError(Errc::kUnavailable, "request is over");
      auto& body = parser_.get().body();
      if (!body.empty()) {
        std::string piece = std::move(body);
        body.clear();
        co_return std::optional<std::string>(std::move(piece));
      }
      if (parser_.is_done()) co_return std::optional<std::string>();
      auto [ec, n] = co_await bhttp::async_read_some(socket_, buffer_, parser_, kTuple);
      if (ec == bhttp::error::body_limit)
        co_return MakeError(Errc::kTooLarge, "request body over its limit");
      if (ec) co_return MakeError(Errc::kUnavailable, "reading request body: " + ec.message());
    }
  }

  std::string Trailer(std::string_view name) const override {
    if (detached_ || !parser_.is_done()) return {};
    auto it = parser_.get().find(beast::string_view(name.data(), name.size()));
    if (it == parser_.get().end()) return {};
    return std::string(it->value());
  }

  void Detach() { detached_ = true; }

 private:
  tcp::socket& socket_;
  beast::flat_buffer& buffer_;
  RequestParser& parser_;
  bool detached_ = false;
};

// Fields the server sets itself on a streamed response.
bool FramingHeader(std::string_view name) {
  return IEquals(name, "Content-Length") || IEquals(name, "Transfer-Encoding");
}

// Feeds the parser what the buffer already holds. A small body arrives with its head, and
// Beast's async_read would find that out only after a trip through the scheduler (a posted
// completion, and one more epoll_wait, per request).
boost::system::error_code ParseBuffered(beast::flat_buffer& buffer, RequestParser& parser) {
  boost::system::error_code ec;
  while (!parser.is_done() && buffer.size() > 0) {
    const size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == bhttp::error::need_more) return {};
    if (ec || used == 0) break;
  }
  return ec;
}

// 1xx, 204 and 304 responses have no body and no Content-Length.
bool BodyAllowed(int status) { return status / 100 != 1 && status != 204 && status != 304; }

// The head of a response with a whole body, as Beast's serializer writes it after keep_alive()
// and prepare_payload(), built in one string: Beast's fields container allocates per field and its
// serializer walks buffer sequences, about 5% of the server's CPU per invoke. The framing fields
// are the server's; handlers never set them (the URL gateway drops a function's).
std::string ResponseHead(const Response& res, unsigned version, bool keep_alive) {
  const auto reason =
      bhttp::obsolete_reason(bhttp::int_to_status(static_cast<unsigned>(res.status)));
  std::string head;
  size_t size = 64 + reason.size();
  for (const auto& h : res.headers) size += h.name.size() + h.value.size() + 4;
  head.reserve(size);
  head.append(version >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ");
  char num[24];
  auto end = std::to_chars(num, num + sizeof num, res.status).ptr;
  head.append(num, end).append(" ").append(reason.data(), reason.size()).append("\r\n");
  for (const auto& h : res.headers) {
    if (FramingHeader(h.name) || IEquals(h.name, "Connection")) continue;
    head.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  if (version >= 11 && !keep_alive) head.append("Connection: close\r\n");
  if (version < 11 && keep_alive) head.append("Connection: keep-alive\r\n");
  if (BodyAllowed(res.status)) {
    end = std::to_chars(num, num + sizeof num, res.body.size()).ptr;
    head.append("Content-Length: ").append(num, end).append("\r\n");
  }
  head.append("\r\n");
  return head;
}

}  // namespace

struct Server::State : std::enable_shared_from_this<Server::State> {
  State(asio::any_io_executor ex, Handler h, ServerOptions o)
      : executor(std::move(ex)), acceptor(executor), handler(std::move(h)), options(std::move(o)) {}

  asio::any_io_executor executor;
  tcp::acceptor acceptor;
  Handler handler;
  ServerOptions options;
  std::unordered_set<tcp::socket*> sockets;
  bool accepting = true;

  asio::awaitable<void> AcceptLoop() {
    auto self = shared_from_this();
    while (accepting) {
      auto [ec, socket] = co_await acceptor.async_accept(kTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
        spdlog::warn("http: accept failed: {}", ec.message());
        continue;
      }
      asio::co_spawn(executor, Session(std::move(socket)), asio::detached);
    }
  }

  static void WriteResponseHeaders(bhttp::response<bhttp::string_body>& out, const Response& res) {
    // insert, not set: repeated headers (one Set-Cookie per cookie) must all go out.
    for (const auto& h : res.headers) out.insert(h.name, h.value);
  }

  asio::awaitable<void> WriteTooLarge(tcp::socket& socket) {
    Response res = options.too_large();
    bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(res.status), 11};
    WriteResponseHeaders(out, res);
    out.body() = std::move(res.body);
    out.keep_alive(false);
    out.prepare_payload();
    auto [ec, n] = co_await bhttp::async_write(socket, out, kTuple);
    if (ec) co_return;
    // Lingering close: the client is usually still sending the oversized body; discard it for a
    // bounded time so it can finish and read the 413 instead of getting a reset.
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    asio::steady_timer limit(executor, std::chrono::seconds(2));
    limit.async_wait([&socket](const boost::system::error_code& e) {
      boost::system::error_code ig;
      if (!e) socket.cancel(ig);
    });
    std::array<char, 65536> sink;
    size_t discarded = 0;
    while (discarded < 64 * 1024 * 1024) {
      auto [rec, got] = co_await socket.async_read_some(asio::buffer(sink), kTuple);
      if (rec) break;
      discarded += got;
    }
    limit.cancel();
  }

  // Writes a response whose body continues with res.stream, chunk by chunk as the stream yields.
  // Returns whether the connection can carry another request.
  asio::awaitable<bool> WriteStreamed(tcp::socket& socket, Response& res, unsigned version,
                                      bool keep_alive) {
    auto stream = res.stream;
    const bool chunked = version >= 11;
    bhttp::response<bhttp::empty_body> out{static_cast<bhttp::status>(res.status), version};
    for (const auto& h : res.headers) {
      if (!FramingHeader(h.name)) out.insert(h.name, h.value);
    }
    out.keep_alive(keep_alive && chunked);
    if (chunked) out.chunked(true);
    bhttp::response_serializer<bhttp::empty_body> head{out};
    auto [hec, hn] = co_await bhttp::async_write_header(socket, head, kTuple);
    bool ok = !hec;
    std::optional<std::string> piece;
    if (!res.body.empty()) piece = std::move(res.body);
    while (ok) {
      if (!piece) piece = co_await stream->Read();
      if (!piece) break;
      boost::system::error_code wec;
      if (chunked) {
        auto [e, n] = co_await asio::async_write(
            socket, bhttp::make_chunk(asio::const_buffer(piece->data(), piece->size())), kTuple);
        wec = e;
      } else {
        auto [e, n] = co_await asio::async_write(socket, asio::buffer(*piece), kTuple);
        wec = e;
      }
      ok = !wec;
      piece.reset();
    }
    if (!ok) {
      stream->Abandon();  // the client is gone: the producer stops queueing
      co_return false;
    }
    // A stream that failed mid-way ends without the last chunk: the client sees it incomplete.
    if (stream->failed() || !chunked) co_return false;
    auto [lec, ln] = co_await asio::async_write(socket, bhttp::make_chunk_last(), kTuple);
    co_return !lec && out.keep_alive();
  }

  // Writes what the socket takes at once, then the rest asynchronously. A response usually fits
  // the socket's buffer whole, and an async_write that completes at once still costs a posted
  // completion: one more trip through the scheduler, and an epoll_wait, per response.
  template <class Buffers>
  static asio::awaitable<boost::system::error_code> WriteAll(tcp::socket& socket,
                                                             const Buffers& buffers) {
    boost::system::error_code ec;
    const size_t sent = socket.write_some(buffers, ec);  // the socket is non-blocking
    if (ec == asio::error::would_block) ec = {};
    if (ec || sent == asio::buffer_size(buffers)) co_return ec;
    beast::buffers_suffix<Buffers> rest(buffers);
    rest.consume(sent);
    auto [wec, n] = co_await asio::async_write(socket, rest, kTuple);
    co_return wec;
  }

  asio::awaitable<void> Session(tcp::socket socket) {
    auto self = shared_from_this();
    socket.set_option(tcp::no_delay(true));
    {
      boost::system::error_code ec;
      socket.non_blocking(true, ec);  // for WriteAll's first attempt
    }
    sockets.insert(&socket);
    std::string remote;
    {
      boost::system::error_code ec;
      auto ep = socket.remote_endpoint(ec);
      if (!ec) remote = ep.address().to_string();
    }
    const size_t head_limit = options.stream_request
                                  ? std::max(options.body_limit, options.stream_body_limit)
                                  : options.body_limit;
    beast::flat_buffer buffer;
    // Beast reads at most the free capacity (512 bytes at first): room for a whole signed SDK
    // request head (~1 KB) saves a connection's first request a second recv and a regrowth.
    buffer.reserve(4096);
    for (;;) {
      RequestParser parser;
      parser.header_limit(static_cast<uint32_t>(options.header_limit));
      parser.body_limit(head_limit);
      auto [hec, hn] = co_await bhttp::async_read_header(socket, buffer, parser, kTuple);
      // A declared Content-Length over the limit fails already at the header.
      if (hec == bhttp::error::body_limit) {
        co_await WriteTooLarge(socket);
        break;
      }
      if (hec) break;
      auto& in = parser.get();
      Request req;
      req.method = std::string(in.method_string());
      req.target = std::string(in.target());
      size_t q = req.target.find('?');
      req.path = req.target.substr(0, q);
      if (q != std::string::npos) req.query = req.target.substr(q + 1);
      req.headers.reserve(16);
      for (const auto& f : in)
        req.headers.push_back({std::string(f.name_string()), std::string(f.value())});
      req.remote_ip = remote;
      const bool streamed = options.stream_request && options.stream_request(req);
      if (!streamed) {
        auto declared = parser.content_length();
        if (declared && *declared > options.body_limit) {
          co_await WriteTooLarge(socket);
          break;
        }
        parser.body_limit(options.body_limit);
      }
      if (IEquals(in[bhttp::field::expect], "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(kContinue), kTuple);
        if (wec) break;
      }
      std::shared_ptr<ParserBodySource> source;
      if (streamed) {
        source = std::make_shared<ParserBodySource>(socket, buffer, parser);
        req.body_source = source;
      } else {
        boost::system::error_code ec = ParseBuffered(buffer, parser);
        if (!ec && !parser.is_done()) {
          auto [rec, n] = co_await bhttp::async_read(socket, buffer, parser, kTuple);
          ec = rec;
        }
        if (ec == bhttp::error::body_limit) {
          co_await WriteTooLarge(socket);
          break;
        }
        if (ec) break;
        req.body = std::move(in.body());
      }
      bool keep_alive = in.keep_alive();
      unsigned version = in.version();

      Response res = co_await handler(std::move(req));
      if (source) {
        source->Detach();
        // A handler that left part of the body unread leaves the connection unusable.
        if (!parser.is_done()) keep_alive = false;
      }
      if (!socket.is_open()) {
        if (res.stream) res.stream->Abandon();
        break;
      }
      if (res.stream) {
        bool reusable = co_await WriteStreamed(socket, res, version, keep_alive && accepting);
        if (!reusable) break;
        continue;
      }
      const bool reuse = keep_alive && accepting;
      const std::string head = ResponseHead(res, version, reuse);
      if (!BodyAllowed(res.status)) res.body.clear();
      // One gathered write: head and body leave in a single sendmsg.
      const std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(res.body)};
      auto wec = co_await WriteAll(socket, out);
      if (wec || !reuse) break;
    }
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    sockets.erase(&socket);
  }
};

Server::Server(asio::any_io_executor executor, Handler handler, ServerOptions options)
    : state_(std::make_shared<State>(std::move(executor), std::move(handler), std::move(options))) {
}

Server::~Server() { Stop(); }

Result<uint16_t> Server::Listen(const std::string& host, uint16_t port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return MakeError(Errc::kInvalidArgument, "invalid listen address '" + host + "'");
  tcp::endpoint ep(addr, port);
  auto& acc = state_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Error{Errc::kUnavailable,
                 "listen on " + host + ":" + std::to_string(port) + ": " + ec.message(),
                 ec.value(),
                 {}};
  }
  return acc.local_endpoint().port();
}

Status Server::Adopt(int fd) {
  boost::system::error_code ec;
  state_->acceptor.assign(tcp::v4(), fd, ec);
  if (ec) return Error{Errc::kInternal, "adopt listening socket: " + ec.message(), ec.value(), {}};
  return {};
}

void Server::Start() { asio::co_spawn(state_->executor, state_->AcceptLoop(), asio::detached); }

void Server::StopAccepting() {
  state_->accepting = false;
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
}

void Server::Stop() {
  StopAccepting();
  for (auto* s : state_->sockets) {
    boost::system::error_code ignored;
    s->cancel(ignored);
    s->shutdown(tcp::socket::shutdown_both, ignored);
  }
}

size_t Server::open_connections() const { return state_->sockets.size(); }

}  // namespace alto::http
