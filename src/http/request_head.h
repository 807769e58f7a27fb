// The rules of RFC 9112 that Beast's parser leaves to its user, applied to a request head before
// any handler sees it: HTTP version, Host, the request target's form, Transfer-Encoding with or
// without Content-Length, the number of header fields. Pure, so it is unit-tested and fuzzed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"

namespace alto::http {

struct HeadVerdict {
  int status = 0;      // 0: acceptable; else the status to answer before closing
  std::string reason;  // a short phrase for the answer's body
  bool ok() const { return status == 0; }
};

struct HeadLimits {
  size_t request_line = 8 * 1024;
  size_t fields = 200;
};

// version is Beast's: 10 * major + minor. A target in absolute-form (http://host/path) is
// rewritten to origin-form (/path), as a server must accept it (RFC 9112 3.2.2).
HeadVerdict CheckRequestHead(unsigned version, std::string_view method, std::string& target,
                             const std::vector<Header>& fields, const HeadLimits& limits);

// Judges the request line at the start of what a connection has sent of a head, before the
// parser takes it: -1 while the line is incomplete and within the limit, 0 when it is complete
// and well-formed (method SP target SP HTTP/d.d), else the status to answer: 414 for a line over
// the limit (complete or not), 505 for an HTTP major version other than 1, 400 for anything else
// (an HTTP/0.9 "GET /" waits for no further line, so it is answered at once).
int RequestLineVerdict(std::string_view buffered, size_t request_line_limit);

}  // namespace alto::http
