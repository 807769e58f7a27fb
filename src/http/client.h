// Minimal blocking HTTP/1.1 client for the CLI (one request per connection).
#pragma once

#include <chrono>
#include <string>

#include "common/result.h"
#include "http/message.h"

namespace alto::http {

struct Endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 9000;
  bool tls = false;  // https://
  // host:port as a Host header carries it ([v6]:port).
  std::string HostHeader() const {
    return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
           std::to_string(port);
  }
};

// Parses "http://host:port", "https://host:port" or "host:port". Port 0 ("pick one") only for
// listen addresses, which take no https:// (a listener's TLS comes from --tls-cert).
Result<Endpoint> ParseEndpoint(const std::string& url, bool allow_port_zero = false);

struct FetchOptions {
  // For https: the CA certificates to verify the server against (PEM file); empty: the system's.
  std::string ca_file;
  std::chrono::seconds connect_timeout{10};
  // The whole exchange; an Invoke may run for a function's 900 s timeout.
  std::chrono::seconds timeout{960};
};

// Sends req (method, target, headers, body) and returns the whole response. Over https the
// server's certificate must verify against the CAs and name the endpoint's host.
Result<Response> Fetch(const Endpoint& endpoint, const Request& req,
                       const FetchOptions& options = {});

}  // namespace alto::http
