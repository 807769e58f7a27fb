// Minimal HTTP/1.1 helpers shared by the benchmark client and the baseline echo server: blocking
// POSIX sockets, no dependencies beyond libstdc++. Not a general HTTP implementation; enough for
// Content-Length and chunked messages between well-behaved peers on loopback.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace bench {

// Splits "host:port" (port 0 allowed: "any"); returns false when there is no valid port.
inline bool SplitHostPort(const std::string& hp, std::string& host, int& port) {
  auto colon = hp.rfind(':');
  if (colon == std::string::npos) return false;
  host = hp.substr(0, colon);
  port = std::atoi(hp.c_str() + colon + 1);
  return colon + 1 < hp.size() && port >= 0 && port < 65536;
}

inline bool MakeAddr(const std::string& host, int port, sockaddr_in& addr) {
  addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return inet_pton(AF_INET, host.c_str(), &addr.sin_addr) == 1;
}

inline void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

inline bool SendAll(int fd, std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Value of header `name` in a raw header block (request/status line first, CRLF lines), or "".
inline std::string HeaderValue(std::string_view headers, std::string_view name) {
  size_t pos = headers.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < headers.size()) {
    pos += 2;
    size_t eol = headers.find("\r\n", pos);
    std::string_view line =
        headers.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        strncasecmp(line.data(), name.data(), name.size()) == 0) {
      size_t v = name.size() + 1;
      while (v < line.size() && (line[v] == ' ' || line[v] == '\t')) ++v;
      size_t e = line.size();
      while (e > v && (line[e - 1] == ' ' || line[e - 1] == '\t')) --e;
      return std::string(line.substr(v, e - v));
    }
    pos = eol;
  }
  return {};
}

// A connection's read side: a buffer that survives between messages (keep-alive, pipelining).
class Reader {
 public:
  explicit Reader(int fd) : fd_(fd) {}

  // Reads one message: `head` gets the start line and headers (without the blank line), `body`
  // the de-chunked body. A message with neither Content-Length nor chunked encoding has an empty
  // body (close-delimited responses are not supported). Returns false on EOF, error or timeout.
  bool ReadMessage(std::string& head, std::string& body) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (buf_.size() > (1u << 20) || !Fill()) return false;
    }
    head.assign(buf_, 0, end + 2);
    buf_.erase(0, end + 4);
    body.clear();
    std::string te = HeaderValue(head, "Transfer-Encoding");
    if (!te.empty() && strcasecmp(te.c_str(), "identity") != 0) return ReadChunked(body);
    std::string cl = HeaderValue(head, "Content-Length");
    size_t length = cl.empty() ? 0 : std::strtoull(cl.c_str(), nullptr, 10);
    while (buf_.size() < length) {
      if (!Fill()) return false;
    }
    body.assign(buf_, 0, length);
    buf_.erase(0, length);
    return true;
  }

 private:
  bool Fill() {
    char tmp[65536];
    for (;;) {
      ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
  }

  bool ReadLine(std::string& line) {
    size_t eol;
    while ((eol = buf_.find("\r\n")) == std::string::npos) {
      if (!Fill()) return false;
    }
    line.assign(buf_, 0, eol);
    buf_.erase(0, eol + 2);
    return true;
  }

  bool ReadChunked(std::string& body) {
    std::string line;
    for (;;) {
      if (!ReadLine(line)) return false;
      size_t size = std::strtoull(line.c_str(), nullptr, 16);
      if (size == 0) {
        // trailers until an empty line
        do {
          if (!ReadLine(line)) return false;
        } while (!line.empty());
        return true;
      }
      while (buf_.size() < size + 2) {
        if (!Fill()) return false;
      }
      body.append(buf_, 0, size);
      buf_.erase(0, size + 2);
    }
  }

  int fd_;
  std::string buf_;
};

}  // namespace bench
