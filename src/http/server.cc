#include "http/server.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/flat_stream.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <charconv>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "common/encoding.h"
#include "common/log_throttle.h"
#include "http/body_stream.h"
#include "http/request_head.h"
#include "http/tls.h"

namespace alto::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// ASCII case folding, inline: header names are ASCII, and std::tolower is a libc call per
// character on a path every request takes several times.
bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
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
using SteadyClock = std::chrono::steady_clock;

// Where a connection is; the sweeper holds each phase to its timeout.
enum class Phase : uint8_t { kFresh, kIdle, kHead, kBody, kHandler, kWrite, kLinger };

// After an error answer, the client's unread bytes are discarded this long (and at most
// kLingerBytes) so that it can read the answer instead of getting a reset.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 64 * 1024 * 1024;
constexpr size_t kReadChunk = 64 * 1024;
// A chunked body's framing (a chunk-size line, the trailer section) that the parser has not
// taken yet: Beast waits for a whole line, so without this bound an endless chunk-size line or
// extension would be buffered whole.
constexpr size_t kMaxUnparsedFraming = 64 * 1024;
constexpr size_t kMaxChunkExtension = 1024;

// A TLS session over a connection's socket. Beast's flat_stream gathers a write's buffers (a
// response's head and body, a chunk and its framing) into one TLS record; Asio's SSL stream alone
// would make a record, and a send, of each buffer.
using TlsStream = beast::flat_stream<asio::ssl::stream<tcp::socket&>>;

// One accepted connection, owned by its session coroutine and listed in the server's set.
struct Conn {
  explicit Conn(tcp::socket s) : socket(std::move(s)) {}
  // Timeouts, shedding and Stop cancel and shut down the socket, under TLS as well.
  tcp::socket socket;
  // On a TLS listener: the context the connection started with (a reload swaps in another for
  // new connections only) and the session.
  std::shared_ptr<asio::ssl::context> tls_context;
  std::optional<TlsStream> tls;
  // A read or write failed other than by a timeout: the client left or broke the stream, so no
  // TLS close_notify is sent.
  bool failed = false;
  std::string client;
  Phase phase = Phase::kFresh;
  SteadyClock::time_point since = SteadyClock::now();
  // Set by the sweeper (or when shed) as it cancels the socket's pending operation, so that the
  // session tells a timeout from a client that left.
  bool expired = false;

  void Enter(Phase p) {
    phase = p;
    since = SteadyClock::now();
    expired = false;
  }
};

// Starts an I/O operation on the connection's byte stream: the TLS session on a TLS listener,
// the socket otherwise. op is called with either and must yield the same awaitable type for both
// (an Asio or Beast operation with kTuple does); it runs when awaited.
template <class Op>
auto OnStream(Conn& c, Op&& op) {
  if (c.tls) return op(*c.tls);
  return op(c.socket);
}

// Reads what the connection has (up to kReadChunk) into buffer.
asio::awaitable<boost::system::error_code> ReadSome(Conn& c, beast::flat_buffer& buffer) {
  const size_t room = buffer.capacity() - buffer.size();
  const size_t want = std::clamp<size_t>(room, 1024, kReadChunk);
  auto [ec, n] = co_await OnStream(
      c, [&](auto& stream) { return stream.async_read_some(buffer.prepare(want), kTuple); });
  buffer.commit(n);
  if (ec && !c.expired) c.failed = true;
  co_return ec;
}

std::string_view Buffered(const beast::flat_buffer& buffer) {
  auto d = buffer.data();
  return {static_cast<const char*>(d.data()), d.size()};
}

// A client may send empty lines before a request line (RFC 9112 2.2); Beast would call them a
// bad method.
void DropLeadingEmptyLines(beast::flat_buffer& buffer) {
  std::string_view b = Buffered(buffer);
  size_t n = 0;
  while (n < b.size() && (b[n] == '\r' || b[n] == '\n')) ++n;
  buffer.consume(n);
}

// Parses what the buffer holds of a request's head; stops once the head is done. Adds the bytes
// the parser took to consumed.
boost::system::error_code ParseHead(beast::flat_buffer& buffer, RequestParser& parser,
                                    size_t& consumed) {
  boost::system::error_code ec;
  while (!parser.is_header_done() && buffer.size() > 0) {
    const size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    consumed += used;
    if (ec || used == 0) break;
  }
  return ec;
}

// An obs-fold (a header line continued on the next one, starting with a space or tab) in what
// the buffer holds of a head. Beast accepts folds; RFC 9112 5.2 lets a server refuse them with
// 400, which leaves no folded value for a handler or a function to misread. The parser consumes
// whole lines, so a fold also shows as a blank at the start of what is left.
bool HasObsFold(std::string_view head_so_far, bool after_a_line) {
  size_t end = head_so_far.find("\r\n\r\n");
  if (end == std::string_view::npos) end = head_so_far.find("\n\n");
  std::string_view head = head_so_far.substr(0, end);
  if (after_a_line && !head.empty() && (head.front() == ' ' || head.front() == '\t')) return true;
  return head.find("\n ") != std::string_view::npos || head.find("\n\t") != std::string_view::npos;
}

// HTTP/1.2 to 1.9 are read as 1.1, the highest minor version Alto implements (RFC 9110 2.5);
// Beast knows only 1.0 and 1.1. The request line has been judged well-formed already.
void ReadHigherMinorAsEleven(beast::flat_buffer& buffer) {
  auto d = buffer.data();
  char* p = static_cast<char*>(d.data());
  std::string_view b(p, d.size());
  size_t lf = b.find('\n');
  if (lf == std::string_view::npos) return;
  size_t minor = (lf > 0 && b[lf - 1] == '\r') ? lf - 2 : lf - 1;
  if (minor >= 7 && b.substr(minor - 7, 7) == "HTTP/1." && p[minor] > '1') p[minor] = '1';
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

// The body of a streamed request, pulled from the connection by the handler. The server detaches
// it when the handler returns: the connection, buffer and parser it reads through are the
// session's.
class ParserBodySource final : public BodySource {
 public:
  ParserBodySource(Conn& conn, beast::flat_buffer& buffer, RequestParser& parser)
      : conn_(conn), buffer_(buffer), parser_(parser) {}

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
      auto ec = ParseBuffered(buffer_, parser_);
      if (ec == bhttp::error::body_limit)
        co_return MakeError(Errc::kTooLarge, "request body over its limit");
      if (ec) co_return MakeError(Errc::kInvalidArgument, "request body: " + ec.message());
      if (buffer_.size() > kMaxUnparsedFraming)
        co_return MakeError(Errc::kInvalidArgument, "request body: a chunk line is too long");
      if (!body.empty() || parser_.is_done()) continue;
      conn_.Enter(Phase::kBody);
      auto rec = co_await ReadSome(conn_, buffer_);
      const bool timed_out = rec && conn_.expired;
      conn_.Enter(Phase::kHandler);
      if (timed_out) co_return MakeError(Errc::kUnavailable, "request body timed out");
      if (rec) co_return MakeError(Errc::kUnavailable, "reading request body: " + rec.message());
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
  Conn& conn_;
  beast::flat_buffer& buffer_;
  RequestParser& parser_;
  bool detached_ = false;
};

// Fields the server sets itself on a streamed response.
bool FramingHeader(std::string_view name) {
  return IEquals(name, "Content-Length") || IEquals(name, "Transfer-Encoding");
}

// A header that would split the response: a CR or LF (or NUL) in its name or value. Handlers
// refuse what functions send (the URL gateway answers 502 for it); this is the last line, so
// that no handler's mistake can let a client or a function write a second response.
bool Splits(const Header& h) {
  // A plain loop: find_first_of with a set runs a memchr per character.
  auto bad = [](std::string_view s) {
    for (char c : s) {
      if (c == '\r' || c == '\n' || c == '\0') return true;
    }
    return false;
  };
  return h.name.empty() || bad(h.name) || bad(h.value);
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
    if (FramingHeader(h.name) || IEquals(h.name, "Connection") || Splits(h)) continue;
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

// The body of an answer the server gives itself: a JSON message of printable ASCII only (the
// reason may quote a client's bytes).
std::string ErrorBody(int status, std::string_view reason) {
  const auto phrase = bhttp::obsolete_reason(bhttp::int_to_status(static_cast<unsigned>(status)));
  std::string body = R"({"message":")";
  body.append(phrase.data(), phrase.size());
  if (!reason.empty()) body.append(": ");
  for (char ch : reason.substr(0, 200)) {
    const bool printable = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\';
    body.push_back(printable ? ch : '?');
  }
  body.append("\"}");
  return body;
}

// Sent to a connection over a cap, without reading its request.
constexpr std::string_view kRefusal =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    "Connection: close\r\nContent-Length: 42\r\n\r\n{\"message\":\"Too many connections, "
    "retry\"}\n";

constexpr size_t kMaxLingeringRefusals = 64;
constexpr auto kRefusalLinger = std::chrono::milliseconds(500);

bool OutOfDescriptors(const boost::system::error_code& ec) {
  return ec == asio::error::no_descriptors || ec.value() == ENFILE ||
         ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
}

}  // namespace

struct Server::State : std::enable_shared_from_this<Server::State> {
  State(asio::any_io_executor ex, Handler h, ServerOptions o)
      : executor(std::move(ex)),
        acceptor(executor),
        sweep_timer(executor),
        handler(std::move(h)),
        options(std::move(o)),
        stats(options.stats ? options.stats : std::make_shared<ListenerStats>()) {}

  asio::any_io_executor executor;
  tcp::acceptor acceptor;
  asio::steady_timer sweep_timer;
  Handler handler;
  ServerOptions options;
  std::shared_ptr<ListenerStats> stats;
  std::unordered_set<Conn*> conns;
  std::unordered_map<std::string, size_t> per_client;
  bool accepting = true;
  bool running = true;
  bool sweeper_parked = false;  // waiting for a first connection, not ticking
  LogThrottle accept_log{std::chrono::seconds(10)};
  LogThrottle refuse_log{std::chrono::seconds(10)};
  LogThrottle handshake_log{std::chrono::seconds(10)};
  size_t lingering_refusals = 0;
  int fd_ceiling = -1;  // read once, at the first accept (the server raises its limit before)

  // Descriptors at or above this number are not used for connections: a quarter of the soft
  // limit, at most 256, stays free for everything else.
  int FdCeiling() {
    if (fd_ceiling < 0) {
      rlimit lim{};
      if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY ||
          lim.rlim_cur > (1u << 30)) {
        fd_ceiling = 1 << 30;
      } else {
        const int soft = static_cast<int>(lim.rlim_cur);
        fd_ceiling = soft - std::min(256, soft / 4);
      }
    }
    return fd_ceiling;
  }

  std::chrono::milliseconds LimitFor(Phase p) const {
    switch (p) {
      case Phase::kFresh:
      case Phase::kHead:
        return options.header_timeout;
      case Phase::kIdle:
        return options.keepalive_timeout;
      case Phase::kBody:
        return options.body_timeout;
      case Phase::kWrite:
        return options.write_timeout;
      case Phase::kLinger:
        return std::chrono::duration_cast<std::chrono::milliseconds>(kLingerTime);
      case Phase::kHandler:
        break;
    }
    return std::chrono::milliseconds(0);
  }

  static std::optional<ListenerStats::Timeout> TimeoutKind(Phase p) {
    switch (p) {
      case Phase::kFresh:
      case Phase::kHead:
        return ListenerStats::kHeader;
      case Phase::kIdle:
        return ListenerStats::kIdle;
      case Phase::kBody:
        return ListenerStats::kBody;
      case Phase::kWrite:
        return ListenerStats::kWrite;
      default:
        return std::nullopt;
    }
  }

  // How often the sweeper looks: a quarter of the shortest timeout, within [20 ms, 1 s].
  std::chrono::milliseconds SweepTick() const {
    std::chrono::milliseconds shortest(1000);
    for (auto t : {options.header_timeout, options.keepalive_timeout, options.body_timeout,
                   options.write_timeout}) {
      if (t.count() > 0) shortest = std::min(shortest, t / 4);
    }
    return std::max(shortest, std::chrono::milliseconds(20));
  }

  // Holds every connection to its phase's timeout. One timer per listener rather than one per
  // connection: re-arming a timer per request phase would cost a posted cancellation each time.
  asio::awaitable<void> Sweep() {
    auto self = shared_from_this();
    const auto tick = SweepTick();
    while (running) {
      sweeper_parked = conns.empty();
      if (sweeper_parked) {
        sweep_timer.expires_at(SteadyClock::time_point::max());
      } else {
        sweep_timer.expires_after(tick);
      }
      co_await sweep_timer.async_wait(kTuple);
      sweeper_parked = false;
      if (!running) break;
      const auto now = SteadyClock::now();
      for (Conn* c : conns) {
        const auto limit = LimitFor(c->phase);
        if (limit.count() == 0 || c->expired || now - c->since < limit) continue;
        c->expired = true;
        if (auto kind = TimeoutKind(c->phase))
          stats->timeouts[*kind].fetch_add(1, std::memory_order_relaxed);
        boost::system::error_code ignored;
        c->socket.cancel(ignored);
      }
    }
  }

  // Out of descriptors: close the connection that has waited longest for a request, so that the
  // listener can take new ones.
  void ShedOldestIdle() {
    Conn* oldest = nullptr;
    for (Conn* c : conns) {
      if ((c->phase == Phase::kIdle || c->phase == Phase::kFresh) && !c->expired &&
          (!oldest || c->since < oldest->since))
        oldest = c;
    }
    if (!oldest) return;
    oldest->expired = true;
    stats->shed.fetch_add(1, std::memory_order_relaxed);
    boost::system::error_code ignored;
    oldest->socket.cancel(ignored);
  }

  // Answers a connection over a cap with 503 without reading its request. The socket lingers
  // briefly (reading and dropping what the client sends) so that the client reads the 503
  // instead of a reset; only a few linger at once, so refusals cannot hold descriptors. On a TLS
  // listener the connection is closed at once instead (see server.h).
  void Refuse(tcp::socket socket, const std::string& client, const char* why, bool linger = true) {
    if (auto n = refuse_log.Admit(SteadyClock::now())) {
      spdlog::warn("http {}: refused a connection from {}: {} ({} more since the last report)",
                   options.name, client, why, *n);
    }
    if (options.tls) return;  // closed here
    boost::system::error_code ec;
    socket.non_blocking(true, ec);
    socket.write_some(asio::buffer(kRefusal), ec);
    socket.shutdown(tcp::socket::shutdown_send, ec);
    stats->CountStatus(503);
    if (!linger || lingering_refusals >= kMaxLingeringRefusals) return;  // closed here
    ++lingering_refusals;
    asio::co_spawn(executor, LingerRefused(std::move(socket)), asio::detached);
  }

  asio::awaitable<void> LingerRefused(tcp::socket socket) {
    auto self = shared_from_this();
    asio::steady_timer limit(executor, kRefusalLinger);
    limit.async_wait([&socket](const boost::system::error_code& e) {
      boost::system::error_code ignored;
      if (!e) socket.cancel(ignored);
    });
    std::array<char, 4096> sink;
    for (int reads = 0; reads < 16; ++reads) {
      auto [rec, got] = co_await socket.async_read_some(asio::buffer(sink), kTuple);
      if (rec) break;
    }
    limit.cancel();
    --lingering_refusals;
  }

  asio::awaitable<void> AcceptLoop() {
    auto self = shared_from_this();
    asio::steady_timer pause(executor);
    std::chrono::milliseconds backoff(0);
    while (accepting) {
      auto [ec, socket] = co_await acceptor.async_accept(kTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
        stats->accept_errors.fetch_add(1, std::memory_order_relaxed);
        const bool exhausted = OutOfDescriptors(ec);
        if (auto n = accept_log.Admit(SteadyClock::now())) {
          spdlog::warn("http {}: accept failed: {} ({} more failures since the last report){}",
                       options.name, ec.message(), *n,
                       exhausted ? "; backing off and shedding idle connections" : "");
        }
        if (exhausted) {
          // Spinning on accept would burn a core and change nothing: wait for descriptors to
          // free up, longer each time it fails again.
          ShedOldestIdle();
          backoff = std::clamp(backoff * 2, std::chrono::milliseconds(10),
                               std::chrono::milliseconds(1000));
          pause.expires_after(backoff);
          co_await pause.async_wait(kTuple);
        }
        continue;
      }
      backoff = std::chrono::milliseconds(0);
      stats->accepted.fetch_add(1, std::memory_order_relaxed);
      std::string client;
      {
        boost::system::error_code rec;
        auto ep = socket.remote_endpoint(rec);
        if (!rec) client = ep.address().to_string();
      }
      // Linux hands out the lowest free descriptor: one this high means the process is nearly
      // out of them. Refusing here keeps headroom for what else needs descriptors (sandbox starts,
      // the stores, the sanitizers' own pipes) instead of letting connections take the last one.
      if (socket.native_handle() >= FdCeiling()) {
        stats->refused_fds.fetch_add(1, std::memory_order_relaxed);
        Refuse(std::move(socket), client, "file descriptors nearly exhausted", /*linger=*/false);
        continue;
      }
      if (conns.size() >= options.max_connections) {
        stats->refused_total.fetch_add(1, std::memory_order_relaxed);
        Refuse(std::move(socket), client, "over the listener's connection cap");
        continue;
      }
      if (options.max_connections_per_client > 0) {
        auto it = per_client.find(client);
        if (it != per_client.end() && it->second >= options.max_connections_per_client) {
          stats->refused_per_client.fetch_add(1, std::memory_order_relaxed);
          Refuse(std::move(socket), client, "over the per-client connection cap");
          continue;
        }
      }
      asio::co_spawn(executor, Session(std::move(socket), std::move(client)), asio::detached);
    }
  }

  // Writes what the socket takes at once, then the rest asynchronously, each write under the
  // write timeout. A response usually fits the socket's buffer whole, and an async_write that
  // completes at once still costs a posted completion: one more trip through the scheduler, and
  // an epoll_wait, per response.
  //
  // Under TLS every write is asynchronous: a record must leave whole, and Asio's synchronous SSL
  // write on a non-blocking socket drops the part of a record the socket did not take.
  template <class Buffers>
  static asio::awaitable<boost::system::error_code> WriteAll(Conn& c, const Buffers& buffers) {
    boost::system::error_code ec;
    // The socket is non-blocking.
    const size_t sent = c.tls ? 0 : c.socket.write_some(buffers, ec);
    if (ec == asio::error::would_block) ec = {};
    if (ec || sent == asio::buffer_size(buffers)) {
      if (ec) c.failed = true;
      co_return ec;
    }
    beast::buffers_suffix<Buffers> rest(buffers);
    rest.consume(sent);
    while (asio::buffer_size(rest) > 0) {
      c.Enter(Phase::kWrite);  // per write: a slow reader that keeps reading is not cut off
      auto [wec, n] =
          co_await OnStream(c, [&](auto& stream) { return stream.async_write_some(rest, kTuple); });
      if (wec) {
        if (!c.expired) c.failed = true;
        co_return wec;
      }
      rest.consume(n);
    }
    co_return ec;
  }

  // The TLS handshake of a new connection, under the header timeout. A failure is counted and
  // logged, rate-limited: scanners, plaintext clients and clients that do not trust the
  // certificate cause them all day.
  asio::awaitable<bool> Handshake(Conn& c) {
    auto [ec] =
        co_await c.tls->next_layer().async_handshake(asio::ssl::stream_base::server, kTuple);
    if (!ec) co_return true;
    c.failed = true;
    if (c.expired) co_return false;  // the sweeper counted a header timeout (or a shed)
    stats->tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
    if (auto n = handshake_log.Admit(SteadyClock::now())) {
      spdlog::warn("http {}: TLS handshake with {} failed: {} ({} more since the last report)",
                   options.name, c.client, ec.message(), *n);
    }
    co_return false;
  }

  // Ends a TLS session with close_notify, so that the client can tell the end from a truncation.
  // The client's own close_notify is not waited for (RFC 8446 6.1 lets a server close after
  // sending its own): marking it received makes SSL_shutdown complete once ours is written.
  static asio::awaitable<void> SendCloseNotify(Conn& c) {
    if (!c.tls || c.failed) co_return;
    SSL* ssl = c.tls->next_layer().native_handle();
    if ((::SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN) != 0) co_return;
    ::SSL_set_shutdown(ssl, SSL_RECEIVED_SHUTDOWN);
    c.Enter(Phase::kWrite);
    auto [ec] = co_await c.tls->next_layer().async_shutdown(kTuple);
    if (ec) c.failed = true;
  }

  // Answers a request the server refuses itself, then closes: lingering, so that a client still
  // sending reads the answer instead of a reset.
  asio::awaitable<void> AnswerAndClose(Conn& c, int status, std::string_view reason,
                                       std::string_view target = {}) {
    Response res =
        status == 413 ? options.too_large(target) : JsonResponse(status, ErrorBody(status, reason));
    stats->CountStatus(res.status);
    const std::string head = ResponseHead(res, 11, false);
    const std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(res.body)};
    if (auto ec = co_await WriteAll(c, out)) co_return;
    co_await SendCloseNotify(c);
    boost::system::error_code ignored;
    c.socket.shutdown(tcp::socket::shutdown_send, ignored);
    // Under TLS too the linger reads the socket itself: the session is over, and what the client
    // still sends only has to be drained, not decrypted.
    c.Enter(Phase::kLinger);
    std::array<char, 16384> sink;
    size_t discarded = 0;
    while (discarded < kLingerBytes) {
      auto [rec, got] = co_await c.socket.async_read_some(asio::buffer(sink), kTuple);
      if (rec) break;
      discarded += got;
    }
  }

  // Reads a request's head into parser. Returns 0 once it is parsed, a status to answer, or -1
  // to close without an answer (the client left, or sent nothing before its timeout).
  asio::awaitable<int> ReadHead(Conn& c, beast::flat_buffer& buffer, RequestParser& parser,
                                bool first) {
    // The request line is judged here before the parser takes it (the parser consumes it as
    // soon as it is complete, and would wait for the whole head to refuse an HTTP/0.9 line).
    bool line_ok = false;
    size_t consumed = 0;  // head bytes the parser has taken
    for (;;) {
      if (!line_ok) DropLeadingEmptyLines(buffer);
      if (buffer.size() > 0) {
        if (!line_ok) {
          const int line = RequestLineVerdict(Buffered(buffer), options.request_line_limit);
          if (line > 0) co_return line;
          line_ok = line == 0;
          if (line_ok) ReadHigherMinorAsEleven(buffer);
        }
        if (HasObsFold(Buffered(buffer), consumed > 0)) co_return 400;
        auto ec = ParseHead(buffer, parser, consumed);
        // Beast holds the header limit for an incomplete head only; a whole head that came in
        // pieces is held to it here.
        if (ec == bhttp::error::header_limit || consumed > options.header_limit ||
            (!parser.is_header_done() && consumed + buffer.size() > options.header_limit))
          co_return 431;
        // A declared Content-Length over the limit fails already at the head.
        if (ec == bhttp::error::body_limit) co_return 413;
        if (ec && ec != bhttp::error::need_more) co_return 400;
        if (parser.is_header_done()) co_return 0;
        // The clock runs from the first byte of the head, or from the accept for a new
        // connection's first request (as nginx's client_header_timeout).
        if (c.phase == Phase::kFresh) {
          c.phase = Phase::kHead;
        } else if (c.phase != Phase::kHead) {
          c.Enter(Phase::kHead);
        }
      } else if (!(first && c.phase == Phase::kFresh)) {
        // A new connection's clock keeps running from the accept, through a TLS handshake.
        c.Enter(first ? Phase::kFresh : Phase::kIdle);
      }
      auto ec = co_await ReadSome(c, buffer);
      if (ec) co_return (c.expired && c.phase == Phase::kHead) ? 408 : -1;
    }
  }

  // Writes a response whose body continues with res.stream, chunk by chunk as the stream yields.
  // Returns whether the connection can carry another request.
  asio::awaitable<bool> WriteStreamed(Conn& c, Response& res, unsigned version, bool keep_alive) {
    auto stream = res.stream;
    const bool chunked = version >= 11;
    bhttp::response<bhttp::empty_body> out{static_cast<bhttp::status>(res.status), version};
    for (const auto& h : res.headers) {
      if (!FramingHeader(h.name) && !Splits(h)) out.insert(h.name, h.value);
    }
    out.keep_alive(keep_alive && chunked);
    if (chunked) out.chunked(true);
    bhttp::response_serializer<bhttp::empty_body> head{out};
    c.Enter(Phase::kWrite);
    auto [hec, hn] = co_await OnStream(
        c, [&](auto& stream) { return bhttp::async_write_header(stream, head, kTuple); });
    bool ok = !hec;
    std::optional<std::string> piece;
    if (!res.body.empty()) piece = std::move(res.body);
    while (ok) {
      if (!piece) {
        c.Enter(Phase::kHandler);
        piece = co_await stream->Read();
      }
      if (!piece) break;
      boost::system::error_code wec;
      c.Enter(Phase::kWrite);  // per chunk: the timeout is for a client that reads nothing
      const asio::const_buffer bytes(piece->data(), piece->size());
      if (chunked) {
        auto [e, n] = co_await OnStream(c, [&](auto& stream) {
          return asio::async_write(stream, bhttp::make_chunk(bytes), kTuple);
        });
        wec = e;
      } else {
        auto [e, n] = co_await OnStream(
            c, [&](auto& stream) { return asio::async_write(stream, bytes, kTuple); });
        wec = e;
      }
      ok = !wec;
      piece.reset();
    }
    if (!ok) {
      if (!c.expired) c.failed = true;
      stream->Abandon();  // the client is gone: the producer stops queueing
      co_return false;
    }
    // A stream that failed mid-way ends without the last chunk: the client sees it incomplete.
    if (stream->failed() || !chunked) co_return false;
    c.Enter(Phase::kWrite);
    auto [lec, ln] = co_await OnStream(c, [&](auto& stream) {
      return asio::async_write(stream, bhttp::make_chunk_last(), kTuple);
    });
    if (lec && !c.expired) c.failed = true;
    co_return !lec && out.keep_alive();
  }

  void Register(Conn& c) {
    conns.insert(&c);
    ++per_client[c.client];
    stats->open.fetch_add(1, std::memory_order_relaxed);
    if (sweeper_parked) {
      sweeper_parked = false;
      sweep_timer.cancel();
    }
  }

  void Unregister(Conn& c) {
    conns.erase(&c);
    if (auto it = per_client.find(c.client); it != per_client.end() && --it->second == 0)
      per_client.erase(it);
    stats->open.fetch_sub(1, std::memory_order_relaxed);
  }

  asio::awaitable<void> Session(tcp::socket socket, std::string client) {
    auto self = shared_from_this();
    Conn c(std::move(socket));
    c.client = std::move(client);
    {
      boost::system::error_code ec;
      c.socket.set_option(tcp::no_delay(true), ec);
      c.socket.non_blocking(true, ec);  // for WriteAll's first attempt
    }
    if (options.tls) {
      c.tls_context = options.tls->Current();
      c.tls.emplace(c.socket, *c.tls_context);
    }
    Register(c);
    const size_t head_limit = options.stream_request
                                  ? std::max(options.body_limit, options.stream_body_limit)
                                  : options.body_limit;
    const HeadLimits limits{options.request_line_limit, options.header_field_limit};
    beast::flat_buffer buffer;
    // Room for a whole signed SDK request head (~1 KB) in the first read.
    buffer.reserve(4096);
    // Beast takes chunk extensions of any length; nothing in Alto reads them.
    std::function<void(std::uint64_t, beast::string_view, boost::system::error_code&)>
        chunk_header =
            [](std::uint64_t, beast::string_view extensions, boost::system::error_code& ec) {
              if (extensions.size() > kMaxChunkExtension) ec = bhttp::error::bad_chunk_extension;
            };
    const bool ready = !c.tls || co_await Handshake(c);
    for (bool first = true; ready; first = false) {
      RequestParser parser;
      parser.on_chunk_header(chunk_header);
      parser.header_limit(static_cast<uint32_t>(options.header_limit));
      parser.body_limit(head_limit);
      const int got = co_await ReadHead(c, buffer, parser, first);
      if (got < 0) break;
      if (got > 0) {
        // Past a 413 the parser has read the request line: the target is known.
        const std::string target = got == 413 ? std::string(parser.get().target()) : "";
        co_await AnswerAndClose(c, got, got == 408 ? "the request head did not arrive in time" : "",
                                target);
        break;
      }
      auto& in = parser.get();
      Request req;
      req.method = std::string(in.method_string());
      req.target = std::string(in.target());
      req.headers.reserve(16);
      for (const auto& f : in)
        req.headers.push_back({std::string(f.name_string()), std::string(f.value())});
      const unsigned version = in.version();
      if (auto verdict = CheckRequestHead(version, req.method, req.target, req.headers, limits);
          !verdict.ok()) {
        co_await AnswerAndClose(c, verdict.status, verdict.reason);
        break;
      }
      size_t q = req.target.find('?');
      req.path = req.target.substr(0, q);
      if (q != std::string::npos) req.query = req.target.substr(q + 1);
      req.remote_ip = c.client;
      const bool streamed = options.stream_request && options.stream_request(req);
      if (!streamed) {
        auto declared = parser.content_length();
        if (declared && *declared > options.body_limit) {
          co_await AnswerAndClose(c, 413, "", req.target);
          break;
        }
        parser.body_limit(options.body_limit);
      }
      if (IEquals(in[bhttp::field::expect], "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        const std::array<asio::const_buffer, 1> cont{asio::buffer(kContinue)};
        if (auto wec = co_await WriteAll(c, cont)) break;
      }
      std::shared_ptr<ParserBodySource> source;
      if (streamed) {
        source = std::make_shared<ParserBodySource>(c, buffer, parser);
        req.body_source = source;
      } else {
        boost::system::error_code ec = ParseBuffered(buffer, parser);
        bool timed_out = false, left = false;
        while (!ec && !parser.is_done()) {
          c.Enter(Phase::kBody);  // per read: the timeout is for a body that stalls
          if (auto rec = co_await ReadSome(c, buffer)) {
            (c.expired ? timed_out : left) = true;
            break;
          }
          ec = ParseBuffered(buffer, parser);
          if (!ec && buffer.size() > kMaxUnparsedFraming) ec = bhttp::error::bad_chunk;
        }
        if (left) break;
        if (timed_out) {
          co_await AnswerAndClose(c, 408, "the request body stalled");
          break;
        }
        if (ec == bhttp::error::body_limit) {
          co_await AnswerAndClose(c, 413, "", req.target);
          break;
        }
        if (ec) {
          co_await AnswerAndClose(c, 400, "malformed body: " + ec.message());
          break;
        }
        req.body = std::move(in.body());
      }
      bool keep_alive = in.keep_alive();

      c.Enter(Phase::kHandler);
      Response res = co_await handler(std::move(req));
      if (source) {
        source->Detach();
        // A handler that left part of the body unread leaves the connection unusable.
        if (!parser.is_done()) keep_alive = false;
      }
      if (!c.socket.is_open()) {
        if (res.stream) res.stream->Abandon();
        break;
      }
      if (res.stream) {
        bool reusable = co_await WriteStreamed(c, res, version, keep_alive && accepting);
        if (!reusable) break;
        continue;
      }
      const bool reuse = keep_alive && accepting;
      const std::string head = ResponseHead(res, version, reuse);
      if (!BodyAllowed(res.status)) res.body.clear();
      // One gathered write: head and body leave in a single sendmsg.
      const std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(res.body)};
      auto wec = co_await WriteAll(c, out);
      if (wec || !reuse) break;
    }
    if (ready) co_await SendCloseNotify(c);
    boost::system::error_code ignored;
    c.socket.shutdown(tcp::socket::shutdown_both, ignored);
    c.socket.close(ignored);
    Unregister(c);
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

void Server::Start() {
  asio::co_spawn(state_->executor, state_->AcceptLoop(), asio::detached);
  asio::co_spawn(state_->executor, state_->Sweep(), asio::detached);
}

void Server::StopAccepting() {
  state_->accepting = false;
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
}

void Server::Stop() {
  StopAccepting();
  state_->running = false;
  state_->sweep_timer.cancel();
  for (auto* c : state_->conns) {
    boost::system::error_code ignored;
    c->socket.cancel(ignored);
    c->socket.shutdown(tcp::socket::shutdown_both, ignored);
  }
}

size_t Server::open_connections() const { return state_->conns.size(); }

const ListenerStats& Server::stats() const { return *state_->stats; }

}  // namespace alto::http
