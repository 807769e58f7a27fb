#include "http/client.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>

namespace alto::http {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

Result<Endpoint> ParseEndpoint(const std::string& url, bool allow_port_zero) {
  std::string_view s = url;
  bool tls = false;
  if (s.starts_with("http://")) {
    s.remove_prefix(7);
  } else if (s.starts_with("https://")) {
    if (allow_port_zero)
      return MakeError(Errc::kInvalidArgument,
                       "listen address '" + url + "': give host:port (TLS comes from --tls-cert)");
    s.remove_prefix(8);
    tls = true;
  }
  while (s.ends_with('/')) s.remove_suffix(1);
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return MakeError(Errc::kInvalidArgument, "endpoint '" + url + "' is not host:port");
  }
  Endpoint ep;
  ep.tls = tls;
  ep.host = std::string(s.substr(0, colon));
  // [v6]:port: the brackets are URL syntax, not part of the host.
  if (ep.host.size() > 2 && ep.host.front() == '[' && ep.host.back() == ']')
    ep.host = ep.host.substr(1, ep.host.size() - 2);
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

namespace {

template <typename Stream>
Response Exchange(Stream& stream, const Endpoint& endpoint, const Request& req) {
  bhttp::request<bhttp::string_body> out{bhttp::string_to_verb(req.method), req.target, 11};
  out.set(bhttp::field::host, endpoint.HostHeader());
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
  return res;
}

// OpenSSL's reason for a failed handshake ("certificate verify failed") instead of a bare
// "handshake failed".
std::string Describe(const boost::system::system_error& e) {
  std::string what = e.code().message();
  if (e.code().category() == asio::error::get_ssl_category()) {
    if (unsigned long err = ERR_get_error(); err != 0) {
      char buf[256];
      ERR_error_string_n(err, buf, sizeof buf);
      what += " (" + std::string(buf) + ")";
    }
  }
  return what;
}

}  // namespace

Result<Response> Fetch(const Endpoint& endpoint, const Request& req, const FetchOptions& options) {
  const std::string where = (endpoint.tls ? "https://" : "http://") + endpoint.HostHeader();
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    auto addresses = resolver.resolve(endpoint.host, std::to_string(endpoint.port));
    if (!endpoint.tls) {
      boost::beast::tcp_stream stream(io);
      stream.expires_after(options.connect_timeout);
      stream.connect(addresses);
      stream.expires_after(options.timeout);
      Response res = Exchange(stream, endpoint, req);
      boost::system::error_code ignored;
      stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
      return res;
    }
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                    asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    if (options.ca_file.empty()) {
      ctx.set_default_verify_paths();
    } else {
      boost::system::error_code ec;
      ctx.load_verify_file(options.ca_file, ec);
      if (ec)
        return MakeError(Errc::kInvalidArgument,
                         "cannot read the CA bundle " + options.ca_file + ": " + ec.message());
    }
    ctx.set_verify_mode(asio::ssl::verify_peer);
    boost::beast::ssl_stream<boost::beast::tcp_stream> stream(io, ctx);
    stream.set_verify_callback(asio::ssl::host_name_verification(endpoint.host));
    // SNI, for servers that pick their certificate by name.
    if (!SSL_set_tlsext_host_name(stream.native_handle(), endpoint.host.c_str()))
      return MakeError(Errc::kInvalidArgument, "bad TLS server name " + endpoint.host);
    auto& tcp = boost::beast::get_lowest_layer(stream);
    tcp.expires_after(options.connect_timeout);
    tcp.connect(addresses);
    stream.handshake(asio::ssl::stream_base::client);
    tcp.expires_after(options.timeout);
    Response res = Exchange(stream, endpoint, req);
    boost::system::error_code ignored;
    stream.shutdown(ignored);
    return res;
  } catch (const boost::system::system_error& e) {
    return Error{Errc::kUnavailable,
                 "cannot reach Alto at " + where + ": " + Describe(e),
                 e.code().value(),
                 {}};
  }
}

}  // namespace alto::http
