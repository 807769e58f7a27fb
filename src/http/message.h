// HTTP request/response values shared by the server, the client and every route handler.
// Kept free of Beast types so that only src/http/*.cc pays Beast's compile time.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace alto::http {

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
  std::string body;
  std::string remote_ip;

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

  Response& Set(std::string name, std::string value);
  std::string_view HeaderValue(std::string_view name) const;
};

Response JsonResponse(int status, std::string body);

}  // namespace alto::http
