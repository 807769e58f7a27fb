// HTTP request/response values shared by the server, the client and every route handler.
// Kept free of Beast types so that only src/http/*.cc pays Beast's compile time.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace alto::http {

class BodyStream;

// A request body read piece by piece from the connection, for the requests the server was told
// to stream (ServerOptions::stream_request); valid only while the handler runs.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // The next piece of the body; nullopt at its end; an error when the connection failed or the
  // body went over its limit (kTooLarge).
  virtual boost::asio::awaitable<Result<std::optional<std::string>>> Next() = 0;
  // A trailer field of a chunked body, once Next has returned the end; empty when absent.
  virtual std::string Trailer(std::string_view name) const = 0;
};

struct Header {
  std::string name;
  std::string value;
};

bool IEquals(std::string_view a, std::string_view b);

struct Request {
  std::string method;
  std::string target;  // as received: path and query
  std::string path;    // raw (still percent-encoded) path
  std::string query;   // raw query string, no '?'
  std::vector<Header> headers;
  std::string body;  // empty when body_source is set
  std::string remote_ip;
  std::shared_ptr<BodySource> body_source;  // streamed requests only

  // First value of a header, case-insensitive; empty when absent.
  std::string_view HeaderValue(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  // Decoded value of a query parameter.
  std::optional<std::string> QueryParam(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::vector<Header> headers;
  std::string body;
  // When set, the body continues with what this stream yields, sent chunked as it arrives; a
  // stream that fails mid-way ends the connection without the last chunk, so the client sees an
  // incomplete response rather than a short one that looks whole.
  std::shared_ptr<BodyStream> stream;

  Response& Set(std::string name, std::string value);
  std::string_view HeaderValue(std::string_view name) const;
};

Response JsonResponse(int status, std::string body);

}  // namespace alto::http
