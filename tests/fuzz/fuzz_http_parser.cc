// Beast's request parser with the server's limits, fed the input in pieces (as a socket delivers
// it): a cheaper, deeper look at request framing than the loopback harness. The first byte picks
// the piece size, so the fuzzer explores the parser's need_more paths too.
#include <boost/beast/core/error.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <string>

#include "check.h"
#include "http/server.h"

namespace bhttp = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;
  ++data;
  --size;
  const alto::http::ServerOptions limits;
  size_t offset = 0;
  // Pipelined requests: parse as many as the bytes hold, as the server's keep-alive loop does.
  for (int requests = 0; requests < 16 && offset < size; ++requests) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(limits.header_limit));
    parser.body_limit(limits.body_limit);
    boost::system::error_code ec;
    std::string pending;
    while (!parser.is_done() && offset < size) {
      const size_t take = std::min(piece, size - offset);
      pending.append(reinterpret_cast<const char*>(data) + offset, take);
      offset += take;
      const size_t used = parser.put(boost::asio::buffer(pending), ec);
      FUZZ_CHECK(used <= pending.size(), "the parser consumes at most what it was given");
      pending.erase(0, used);
      if (ec == bhttp::error::need_more) {
        ec = {};
        continue;
      }
      if (ec) break;
    }
    if (!ec && !parser.is_done() && parser.is_header_done()) {
      // The connection closed: a body delimited by the end of the stream ends here.
      parser.put_eof(ec);
    }
    if (ec || !parser.is_done()) return 0;
    const auto& req = parser.get();
    FUZZ_CHECK(req.body().size() <= limits.body_limit, "the body limit holds");
    if (auto declared = parser.content_length()) {
      FUZZ_CHECK(req.body().size() == *declared, "a Content-Length body has exactly that size");
    }
    // What the server reads from every request.
    std::string target(req.target());
    (void)req.keep_alive();
    (void)req.version();
    for (const auto& f : req) (void)f.name_string().size();
    // Bytes the parser was given but did not use belong to the next request.
    offset -= pending.size();
  }
  return 0;
}
