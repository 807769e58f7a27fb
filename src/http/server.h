// HTTP/1.1 server on Boost.Beast with C++20 coroutines: keep-alive, chunked bodies and trailers
// (Beast's parser), Expect: 100-continue. One instance per listener.
//
// Hostile clients are answered as nginx answers them: 400 for any framing or syntax error, 414
// for a request line over its limit, 431 for too many header bytes or fields, 413 for a body
// over its limit, 501 for a transfer coding other than chunked, 505 for an HTTP major version
// other than 1, 408 when a head or a body stalls past its timeout. Idle connections are closed,
// connections are capped in total and per client address (the excess gets 503 at once), and
// running out of file descriptors makes the accept loop back off instead of spinning.
//
// With ServerOptions::tls the listener speaks HTTPS only, and all of the above holds inside the
// TLS session; the handshake runs under the header timeout (its clock and the first request's
// are one), and a connection over a cap is closed without an answer (a plaintext 503 would mean
// nothing to a TLS client, and a handshake per refusal would cost CPU when the server can least
// spare it).
//
// The server runs on one thread: its executor must not run handlers concurrently.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "http/listener_stats.h"
#include "http/message.h"

namespace alto::http {

class TlsContext;

using Handler = std::function<boost::asio::awaitable<Response>(Request)>;

struct ServerOptions {
  size_t body_limit = 8 * 1024 * 1024;
  size_t header_limit = 64 * 1024;  // request line and header fields, in bytes
  size_t request_line_limit = 8 * 1024;
  size_t header_field_limit = 200;  // header fields in a request
  // The answer when a body exceeds body_limit, given the request's target (empty when the head
  // was not read far enough to know it); the connection is closed after it.
  std::function<Response(std::string_view target)> too_large = [](std::string_view) {
    return JsonResponse(413, R"({"message":"Request body too large"})");
  };
  // Requests whose handler reads the body itself as it arrives (Request::body_source), decided
  // from the request's head; up to stream_body_limit bytes. Other requests are read whole first.
  std::function<bool(const Request&)> stream_request;
  size_t stream_body_limit = 200 * 1024 * 1024;

  // Timeouts; zero disables one. A handler's own run time is never limited here.
  // From a request's first byte to its whole head; for a new connection, from the accept to its
  // first request's whole head (its TLS handshake included).
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds keepalive_timeout{std::chrono::seconds(60)};  // idle between requests
  std::chrono::milliseconds body_timeout{std::chrono::seconds(30)};   // no body byte for this long
  std::chrono::milliseconds write_timeout{std::chrono::seconds(60)};  // client reads nothing

  size_t max_connections = 4096;          // open connections on this listener
  size_t max_connections_per_client = 0;  // per remote address; 0: no per-client cap

  // When set, the listener speaks TLS only, with the context's current certificate at each
  // accept (see tls.h).
  std::shared_ptr<TlsContext> tls;

  // Where this listener counts; servers of one family may share one.
  std::shared_ptr<ListenerStats> stats = std::make_shared<ListenerStats>();
  std::string name = "api";  // in log lines
};

class Server {
 public:
  Server(boost::asio::any_io_executor executor, Handler handler, ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens; port 0 picks a free port. Returns the bound port.
  Result<uint16_t> Listen(const std::string& host, uint16_t port);
  // Takes ownership of an already listening socket (for example one created in a sandbox's netns).
  Status Adopt(int listening_fd);
  void Start();
  // Stops accepting and closes every open connection; in-flight handlers see their socket closed.
  void Stop();
  // Stops accepting new connections; open connections finish their current request.
  void StopAccepting();
  size_t open_connections() const;
  const ListenerStats& stats() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace alto::http
