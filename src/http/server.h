// HTTP/1.1 server on Boost.Beast with C++20 coroutines: keep-alive, chunked bodies and trailers
// (Beast's parser), Expect: 100-continue, header and body limits. One instance per listener.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "http/message.h"

namespace alto::http {

using Handler = std::function<boost::asio::awaitable<Response>(Request)>;

struct ServerOptions {
  size_t body_limit = 8 * 1024 * 1024;
  size_t header_limit = 64 * 1024;
  // The answer when a body exceeds body_limit; the connection is closed after it.
  std::function<Response()> too_large = [] {
    return JsonResponse(413, R"({"message":"Request body too large"})");
  };
  // Requests whose handler reads the body itself as it arrives (Request::body_source), decided
  // from the request's head; up to stream_body_limit bytes. Other requests are read whole first.
  std::function<bool(const Request&)> stream_request;
  size_t stream_body_limit = 200 * 1024 * 1024;
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

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace alto::http
