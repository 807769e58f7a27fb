// Minimal blocking HTTP/1.1 client for the CLI (one request per connection).
#pragma once

#include <string>

#include "common/result.h"
#include "http/message.h"

namespace alto::http {

struct Endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 9000;
};

// Parses "http://host:port" or "host:port". Port 0 ("pick one") only for listen addresses.
Result<Endpoint> ParseEndpoint(const std::string& url, bool allow_port_zero = false);

// Sends req (method, target, headers, body) and returns the whole response.
Result<Response> Fetch(const Endpoint& endpoint, const Request& req);

}  // namespace alto::http
