// Listening TCP sockets for sandboxes' Runtime API endpoints.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "sandbox/unique_fd.h"

namespace alto {

struct ListeningSocket {
  UniqueFd fd;
  uint16_t port = 0;
};

// Creates a close-on-exec TCP socket listening on ip:port (port 0 picks one) in the calling
// thread's network namespace.
Result<ListeningSocket> ListenTcp(const std::string& ip, uint16_t port);

}  // namespace alto
