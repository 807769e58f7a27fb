#include "state/etcd/etcd_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>

#include "common/json.h"

namespace alto::state::etcd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using json = nlohmann::json;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
using TcpStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

Error TransportError(const boost::system::error_code& ec, std::string_view what) {
  if (ec == beast::error::timeout) {
    return MakeError(Errc::kUnavailable, std::string(what) + ": timed out");
  }
  if (ec == bhttp::error::body_limit) {
    return MakeError(Errc::kTooLarge, std::string(what) + ": answer over " +
                                          std::to_string(kMaxResponseBytes) + " bytes");
  }
  return Error{Errc::kUnavailable, std::string(what) + ": " + ec.message(), ec.value(), {}};
}

bhttp::request<bhttp::string_body> MakeRequest(const HostPort& peer, std::string_view target,
                                               std::string body, const std::string& token) {
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, target, 11};
  req.set(bhttp::field::host, peer.text);
  req.set(bhttp::field::content_type, "application/json");
  req.keep_alive(true);
  // grpc-gateway hands the Authorization header to etcd as the "authorization" metadata, which
  // etcd 3.4 reads as the auth token when "token" is absent.
  if (!token.empty()) req.set(bhttp::field::authorization, token);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

template <class Stream>
asio::awaitable<Result<HttpReply>> PostOn(Stream& stream, TcpStream& tcp, beast::flat_buffer& buf,
                                          bhttp::request<bhttp::string_body> req, Deadline deadline,
                                          bool& keep) {
  tcp.expires_at(deadline);
  auto [wec, wn] = co_await bhttp::async_write(stream, req, kTuple);
  if (wec) co_return TransportError(wec, "sending");
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  auto [rec, rn] = co_await bhttp::async_read(stream, buf, parser, kTuple);
  if (rec) co_return TransportError(rec, "reading the answer");
  tcp.expires_never();
  auto res = parser.release();
  keep = res.keep_alive();
  co_return HttpReply{static_cast<int>(res.result_int()), std::move(res.body())};
}

template <class Stream>
asio::awaitable<Result<int>> StartOn(Stream& stream, TcpStream& tcp, beast::flat_buffer& buf,
                                     bhttp::request<bhttp::string_body> req, Deadline deadline,
                                     bhttp::response_parser<bhttp::buffer_body>& parser) {
  tcp.expires_at(deadline);
  auto [wec, wn] = co_await bhttp::async_write(stream, req, kTuple);
  if (wec) co_return TransportError(wec, "sending");
  auto [rec, rn] = co_await bhttp::async_read_header(stream, buf, parser, kTuple);
  if (rec) co_return TransportError(rec, "reading the answer");
  // A watch waits for events as long as it takes; a dead peer shows up through TCP keepalive.
  tcp.expires_never();
  co_return static_cast<int>(parser.get().result_int());
}

template <class Stream>
asio::awaitable<boost::system::error_code> ReadSomeOn(
    Stream& stream, beast::flat_buffer& buf, bhttp::response_parser<bhttp::buffer_body>& parser) {
  auto [ec, n] = co_await bhttp::async_read_some(stream, buf, parser, kTuple);
  co_return ec;
}

}  // namespace

Result<HostPort> ParseHostPort(std::string_view text) {
  HostPort hp;
  hp.text = std::string(text);
  std::string_view port;
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return MakeError(Errc::kInvalidArgument, "etcd endpoint '" + hp.text + "' is not [v6]:port");
    }
    hp.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || text.find(':') != colon) {
      return MakeError(Errc::kInvalidArgument, "etcd endpoint '" + hp.text + "' is not host:port");
    }
    hp.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (hp.host.empty() || port.empty() || ec != std::errc() || p != port.data() + port.size() ||
      value == 0 || value > 65535) {
    return MakeError(Errc::kInvalidArgument, "etcd endpoint '" + hp.text + "' has a bad port");
  }
  for (char c : hp.host) {
    if (c == '/' || c == '@' || c == ' ' || c == '?' || c == '#') {
      return MakeError(Errc::kInvalidArgument, "etcd endpoint '" + hp.text + "' has a bad host");
    }
  }
  hp.port = std::to_string(value);
  return hp;
}

int64_t JsonInt(const json& object, const char* field) {
  if (!object.is_object()) return 0;
  auto it = object.find(field);
  if (it == object.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    int64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
  }
  return 0;
}

struct EtcdConn::Impl {
  asio::any_io_executor executor;
  std::shared_ptr<asio::ssl::context> tls_context;
  std::unique_ptr<TcpStream> tcp;
  std::unique_ptr<TlsStream> tls;
  beast::flat_buffer buffer;
  std::unique_ptr<bhttp::response_parser<bhttp::buffer_body>> stream_parser;
  std::string pending;  // streamed bytes not yet returned as lines

  TcpStream* Lowest() { return tls ? &tls->next_layer() : tcp.get(); }
};

EtcdConn::EtcdConn(asio::any_io_executor executor, std::shared_ptr<asio::ssl::context> tls)
    : impl_(std::make_unique<Impl>()) {
  impl_->executor = std::move(executor);
  impl_->tls_context = std::move(tls);
}

EtcdConn::~EtcdConn() { Close(); }

bool EtcdConn::IsOpen() const {
  auto* tcp = impl_->Lowest();
  return tcp && tcp->socket().is_open();
}

bool EtcdConn::LooksClosed() const {
  if (!IsOpen()) return true;
  pollfd p{impl_->Lowest()->socket().native_handle(), POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) != 0;
}

void EtcdConn::Close() {
  if (auto* tcp = impl_->Lowest()) {
    boost::system::error_code ignored;
    tcp->socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    tcp->socket().close(ignored);
  }
  impl_->tls.reset();
  impl_->tcp.reset();
  impl_->buffer.clear();
  impl_->stream_parser.reset();
  impl_->pending.clear();
}

asio::awaitable<Status> EtcdConn::Connect(const HostPort& to, Deadline deadline, bool keepalive) {
  Close();
  peer_ = to;
  auto& im = *impl_;
  // Names resolve through getaddrinfo, which cannot be cancelled: a hung resolver is the one
  // wait not bounded by the deadline. Endpoints are usually IP addresses, resolved at once.
  asio::ip::tcp::resolver resolver(im.executor);
  auto [rec, results] = co_await resolver.async_resolve(to.host, to.port, kTuple);
  if (rec) co_return TransportError(rec, "resolving " + to.text);
  if (im.tls_context) {
    im.tls = std::make_unique<TlsStream>(im.executor, *im.tls_context);
  } else {
    im.tcp = std::make_unique<TcpStream>(im.executor);
  }
  TcpStream& tcp = *im.Lowest();
  tcp.expires_at(deadline);
  auto [cec, ep] = co_await tcp.async_connect(results, kTuple);
  if (cec) {
    Close();
    co_return TransportError(cec, "connecting to " + to.text);
  }
  boost::system::error_code ignored;
  tcp.socket().set_option(asio::ip::tcp::no_delay(true), ignored);
  if (keepalive) {
    // Long-lived streams notice a peer that vanished without a FIN in about 20 s.
    int fd = tcp.socket().native_handle();
    int on = 1, idle = 10, interval = 5, count = 2;
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  }
  if (im.tls) {
    if (!SSL_set_tlsext_host_name(im.tls->native_handle(), to.host.c_str())) {
      Close();
      co_return MakeError(Errc::kInvalidArgument, "TLS: bad server name " + to.host);
    }
    im.tls->set_verify_callback(asio::ssl::host_name_verification(to.host));
    auto [hec] = co_await im.tls->async_handshake(asio::ssl::stream_base::client, kTuple);
    if (hec) {
      Close();
      co_return TransportError(hec, "TLS handshake with " + to.text);
    }
  }
  tcp.expires_never();
  co_return Status{};
}

asio::awaitable<Result<HttpReply>> EtcdConn::Post(std::string_view target, std::string body,
                                                  const std::string& token, Deadline deadline) {
  auto& im = *impl_;
  if (!IsOpen()) co_return MakeError(Errc::kUnavailable, "not connected");
  auto req = MakeRequest(peer_, target, std::move(body), token);
  bool keep = false;
  // Not a conditional expression: GCC 12 destroys a co_await's result twice inside `?:`.
  Result<HttpReply> r = MakeError(Errc::kInternal, "unset");
  if (im.tls) {
    r = co_await PostOn(*im.tls, *im.Lowest(), im.buffer, std::move(req), deadline, keep);
  } else {
    r = co_await PostOn(*im.tcp, *im.Lowest(), im.buffer, std::move(req), deadline, keep);
  }
  if (!r || !keep) Close();
  co_return r;
}

asio::awaitable<Result<int>> EtcdConn::StartStream(std::string_view target, std::string body,
                                                   const std::string& token, Deadline deadline) {
  auto& im = *impl_;
  if (!IsOpen()) co_return MakeError(Errc::kUnavailable, "not connected");
  auto req = MakeRequest(peer_, target, std::move(body), token);
  im.stream_parser = std::make_unique<bhttp::response_parser<bhttp::buffer_body>>();
  im.stream_parser->body_limit(boost::none);  // each message is bounded instead
  im.pending.clear();
  Result<int> r = MakeError(Errc::kInternal, "unset");
  if (im.tls) {
    r = co_await StartOn(*im.tls, *im.Lowest(), im.buffer, std::move(req), deadline,
                         *im.stream_parser);
  } else {
    r = co_await StartOn(*im.tcp, *im.Lowest(), im.buffer, std::move(req), deadline,
                         *im.stream_parser);
  }
  if (!r) Close();
  co_return r;
}

asio::awaitable<Result<std::string>> EtcdConn::NextLine() {
  auto& im = *impl_;
  char chunk[16 * 1024];
  for (;;) {
    if (!im.stream_parser || !IsOpen()) co_return MakeError(Errc::kUnavailable, "stream closed");
    size_t nl = im.pending.find('\n');
    if (nl != std::string::npos) {
      std::string line = im.pending.substr(0, nl);
      im.pending.erase(0, nl + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      co_return line;
    }
    if (im.pending.size() > kMaxStreamMessageBytes) {
      Close();
      co_return MakeError(Errc::kTooLarge, "stream message over " +
                                               std::to_string(kMaxStreamMessageBytes) + " bytes");
    }
    if (im.stream_parser->is_done()) {
      std::string rest = std::move(im.pending);
      Close();
      if (rest.find_first_not_of(" \r\t") != std::string::npos) co_return rest;
      co_return MakeError(Errc::kUnavailable, "stream ended");
    }
    auto& body = im.stream_parser->get().body();
    body.data = chunk;
    body.size = sizeof chunk;
    boost::system::error_code ec;
    if (im.tls) {
      ec = co_await ReadSomeOn(*im.tls, im.buffer, *im.stream_parser);
    } else {
      ec = co_await ReadSomeOn(*im.tcp, im.buffer, *im.stream_parser);
    }
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) {
      Close();
      co_return TransportError(ec, "reading the stream");
    }
    im.pending.append(chunk, sizeof chunk - body.size);
  }
}

// --- the client ---

struct EtcdClient::Pooled {
  explicit Pooled(std::shared_ptr<asio::ssl::context> tls)
      : io(1), conn(io.get_executor(), std::move(tls)) {}
  asio::io_context io;
  EtcdConn conn;
};

EtcdClient::EtcdClient(EtcdOptions options) : options_(std::move(options)) {}
EtcdClient::~EtcdClient() = default;

Result<std::shared_ptr<EtcdClient>> EtcdClient::Create(EtcdOptions options) {
  if (options.endpoints.empty()) {
    return MakeError(Errc::kInvalidArgument, "etcd: no endpoints");
  }
  if (options.request_timeout.count() <= 0) {
    return MakeError(Errc::kInvalidArgument, "etcd: request_timeout must be positive");
  }
  std::shared_ptr<EtcdClient> client(new EtcdClient(std::move(options)));
  for (const auto& e : client->options_.endpoints) {
    auto hp = ParseHostPort(e);
    if (!hp) return hp.error();
    client->endpoints_.push_back(std::move(*hp));
  }
  const auto& o = client->options_;
  if (!o.ca_file.empty()) {
    try {
      auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
      ctx->load_verify_file(o.ca_file);
      if (!o.cert_file.empty()) ctx->use_certificate_chain_file(o.cert_file);
      if (!o.key_file.empty()) ctx->use_private_key_file(o.key_file, asio::ssl::context::pem);
      ctx->set_verify_mode(asio::ssl::verify_peer);
      client->tls_ = std::move(ctx);
    } catch (const boost::system::system_error& e) {
      return MakeError(Errc::kInvalidArgument, "etcd TLS files: " + std::string(e.what()));
    }
  } else if (!o.cert_file.empty() || !o.key_file.empty()) {
    return MakeError(Errc::kInvalidArgument, "etcd: a client certificate needs ca_file (TLS)");
  }
  return client;
}

std::string EtcdClient::Describe() const {
  std::string out = "etcd://";
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    if (i) out += ',';
    out += endpoints_[i].text;
  }
  return out;
}

std::string EtcdClient::Token() const {
  std::lock_guard lock(mu_);
  return token_;
}

asio::awaitable<Status> EtcdClient::ConnectAny(EtcdConn& conn, Deadline deadline, bool keepalive) {
  size_t n = endpoints_.size();
  size_t start = preferred_.load();
  std::string last;
  for (size_t i = 0; i < n; ++i) {
    auto now = Clock::now();
    if (now >= deadline) {
      last = "timed out";
      break;
    }
    size_t idx = (start + i) % n;
    // A fair share of what is left, so that one black-holed member cannot use up the deadline.
    auto st = co_await conn.Connect(endpoints_[idx], now + (deadline - now) / (n - i), keepalive);
    if (st) {
      preferred_.store(idx);
      co_return Status{};
    }
    last = st.error().message;
  }
  co_return MakeError(Errc::kUnavailable, "etcd unreachable at " + Describe() + " (" + last + ")");
}

namespace {

// etcd's errors come as {"error", "message", "code"} with the gRPC status code.
Error ErrorFromReply(const HttpReply& reply, std::string_view path) {
  // With --client-cert-auth and auth enabled, etcd's gateway refuses any client certificate that
  // has a CommonName (its fix of CVE-2018-16886), in plain text. Say what to do about it.
  if (reply.body.find("CommonName of client sending a request against gateway") !=
      std::string::npos) {
    return MakeError(Errc::kInvalidArgument,
                     "etcd refuses a client certificate with a CommonName on its JSON gateway "
                     "while authentication is enabled: give Alto a client certificate without a "
                     "CN (--state-cert); its etcd user comes from ALTO_STATE_USER and "
                     "ALTO_STATE_PASSWORD");
  }
  auto parsed = ParseJson(reply.body);
  if (!parsed || !parsed->is_object() || !parsed->contains("code")) {
    return MakeError(Errc::kInternal, "etcd " + std::string(path) + ": HTTP " +
                                          std::to_string(reply.status) + ": " +
                                          reply.body.substr(0, 200));
  }
  int64_t code = JsonInt(*parsed, "code");
  std::string message = parsed->value("message", std::string());
  Error e = MakeError(Errc::kInternal, "etcd: " + message);
  switch (code) {
    case 3:  // InvalidArgument, which also carries etcd's size and operation-count limits
      e.code = message.find("too large") != std::string::npos ||
                       message.find("too many operations") != std::string::npos
                   ? Errc::kTooLarge
                   : Errc::kInvalidArgument;
      break;
    case 5:
      e.code = Errc::kNotFound;
      break;
    case 4:   // DeadlineExceeded
    case 14:  // Unavailable: no leader, request timed out inside the cluster
      e.code = Errc::kUnavailable;
      break;
    case 8:
      e.code = Errc::kThrottled;
      break;
    case 11:  // OutOfRange: the revision was compacted
      e.code = Errc::kConflict;
      e.reason = "compacted";
      break;
    case 16:
      e.code = Errc::kUnavailable;
      e.reason = "unauthenticated";
      break;
    default:
      break;
  }
  return e;
}

}  // namespace

asio::awaitable<Status> EtcdClient::Authenticate(EtcdConn& conn, Deadline deadline) {
  if (!conn.IsOpen() || conn.LooksClosed()) {
    auto st = co_await ConnectAny(conn, deadline, false);
    if (!st) co_return st;
  }
  json body{{"name", options_.user}, {"password", options_.password}};
  auto reply = co_await conn.Post("/v3/auth/authenticate", DumpJson(body), "", deadline);
  if (!reply) co_return reply.error();
  if (reply->status != 200) co_return ErrorFromReply(*reply, "authenticate");
  auto parsed = ParseJson(reply->body);
  if (!parsed || !parsed->is_object() || !(*parsed)["token"].is_string()) {
    co_return MakeError(Errc::kInternal, "etcd authenticate: no token in the answer");
  }
  std::lock_guard lock(mu_);
  token_ = (*parsed)["token"].get<std::string>();
  co_return Status{};
}

asio::awaitable<Result<json>> EtcdClient::Call(EtcdConn& conn, std::string_view path,
                                               const json& body, bool idempotent,
                                               Deadline deadline) {
  std::string text = DumpJson(body);
  bool retried = false, reauthenticated = false;
  for (;;) {
    if (!conn.IsOpen() || conn.LooksClosed()) {
      auto st = co_await ConnectAny(conn, deadline, false);
      if (!st) co_return st.error();
    }
    auto reply = co_await conn.Post(path, text, Token(), deadline);
    if (!reply) {
      if (reply.error().code == Errc::kUnavailable && idempotent && !retried &&
          Clock::now() < deadline) {
        retried = true;
        continue;
      }
      Error e = reply.error();
      e.message = "etcd at " + conn.peer().text + " " + std::string(path) + ": " + e.message;
      co_return e;
    }
    if (reply->status == 200) {
      auto parsed = ParseJson(reply->body);
      if (!parsed || !parsed->is_object()) {
        co_return MakeError(Errc::kInternal, "etcd " + std::string(path) + ": malformed answer");
      }
      co_return std::move(*parsed);
    }
    Error e = ErrorFromReply(*reply, path);
    if (e.reason == "unauthenticated" && !options_.user.empty() && !reauthenticated) {
      // Simple tokens expire (5 minutes by default): get a new one; the request was refused
      // before it was applied, so even a write can be sent again.
      reauthenticated = true;
      auto st = co_await Authenticate(conn, deadline);
      if (!st) co_return st.error();
      continue;
    }
    co_return e;
  }
}

std::unique_ptr<EtcdClient::Pooled> EtcdClient::Acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto p = std::move(idle_.back());
      idle_.pop_back();
      return p;
    }
  }
  return std::make_unique<Pooled>(tls_);
}

void EtcdClient::Release(std::unique_ptr<Pooled> pooled) {
  // Enough idle connections for the blocking pool's threads; more are closed.
  constexpr size_t kMaxIdle = 8;
  if (!pooled->conn.IsOpen()) return;
  std::lock_guard lock(mu_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(pooled));
}

Status EtcdClient::RunPooled(std::function<asio::awaitable<void>(EtcdConn&)> fn) {
  auto owned = Acquire();
  Pooled& pooled = *owned;
  std::exception_ptr failure;
  asio::co_spawn(pooled.io, fn(pooled.conn), [&](std::exception_ptr e) { failure = e; });
  pooled.io.restart();
  pooled.io.run();
  if (failure) pooled.conn.Close();  // mid-request: not reusable
  Release(std::move(owned));
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      return MakeError(Errc::kInternal, std::string("etcd call failed: ") + e.what());
    } catch (...) {
      return MakeError(Errc::kInternal, "etcd call failed");
    }
  }
  return {};
}

}  // namespace alto::state::etcd
