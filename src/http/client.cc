#include "http/client.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>

namespace alto::http {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

Result<Endpoint> ParseEndpoint(const std::string& url, bool allow_port_zero) {
  std::string_view s = url;
  if (s.starts_with("http://")) s.remove_prefix(7);
  while (s.ends_with('/')) s.remove_suffix(1);
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return MakeError(Errc::kInvalidArgument, "endpoint '" + url + "' is not host:port");
  }
  Endpoint ep;
  ep.host = std::string(s.substr(0, colon));
  unsigned port = 0;
  auto tail = s.substr(colon + 1);
  auto [p, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), port);
  if (ec != std::errc() || p != tail.data() + tail.size() || (port == 0 && !allow_port_zero) ||
      port > 65535) {
    return MakeError(Errc::kInvalidArgument, "endpoint '" + url + "' has a bad port");
  }
  ep.port = static_cast<uint16_t>(port);
  return ep;
}

Result<Response> Fetch(const Endpoint& endpoint, const Request& req) {
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    boost::beast::tcp_stream stream(io);
    stream.connect(resolver.resolve(endpoint.host, std::to_string(endpoint.port)));
    bhttp::request<bhttp::string_body> out{bhttp::string_to_verb(req.method), req.target, 11};
    out.set(bhttp::field::host, endpoint.host + ":" + std::to_string(endpoint.port));
    out.set(bhttp::field::user_agent, "alto-cli");
    for (const auto& h : req.headers) out.set(h.name, h.value);
    out.body() = req.body;
    out.prepare_payload();
    bhttp::write(stream, out);
    boost::beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(256 * 1024 * 1024);
    bhttp::read(stream, buffer, parser);
    auto& in = parser.get();
    Response res;
    res.status = static_cast<int>(in.result_int());
    for (const auto& f : in)
      res.headers.push_back({std::string(f.name_string()), std::string(f.value())});
    res.body = std::move(in.body());
    boost::system::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    return res;
  } catch (const boost::system::system_error& e) {
    return Error{Errc::kUnavailable,
                 "cannot reach Alto at " + endpoint.host + ":" + std::to_string(endpoint.port) +
                     ": " + e.code().message(),
                 e.code().value(),
                 {}};
  }
}

}  // namespace alto::http
